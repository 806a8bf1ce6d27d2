"""The command table of ``pycoreos etcdctl``: commands, flags and usage texts of etcd 3.4's
``etcdctl/ctlv2`` (``ctl.go`` and ``command/*.go``), as data.

Order matters: it is the order of ``etcdctl -h``. Texts are verbatim, including urfave's
back-quote placeholder in ``--output``'s usage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pycoreos.cli import etcdctl_keys as keys
from pycoreos.cli import etcdctl_members as members
from pycoreos.cli.etcdctl_context import Context
from pycoreos.cli.etcdctl_flags import FlagSpec

Action = Callable[[Context], int]


@dataclass(frozen=True, slots=True)
class Command:
    """One (sub)command as urfave/cli describes it."""

    name: str
    usage: str
    args_usage: str = ""
    flags: tuple[FlagSpec, ...] = ()
    action: Action | None = None
    description: str = ""
    subcommands: tuple[Command, ...] = ()


def _unsupported(name: str) -> Action:
    def run(ctx: Context) -> int:
        print(f"Error:  {name}: not supported by pycoreos etcdctl", file=ctx.stderr)
        return 1

    return run


def _stubs(group: str, names: tuple[tuple[str, str], ...]) -> tuple[Command, ...]:
    # v2 auth administration is not implemented; the commands exist so help matches.
    return tuple(Command(n, u, action=_unsupported(f"{group} {n}")) for n, u in names)


def _b(names: str, usage: str) -> FlagSpec:
    return FlagSpec(tuple(n.strip() for n in names.split(",")), "bool", usage)


def _i(names: str, usage: str) -> FlagSpec:
    return FlagSpec(tuple(n.strip() for n in names.split(",")), "int", usage, 0)


def _s(names: str, usage: str, default: str = "", placeholder: str = "") -> FlagSpec:
    return FlagSpec(
        tuple(n.strip() for n in names.split(",")), "string", usage, default, placeholder
    )


_TTL = _i("ttl", "key time-to-live in seconds")
_RECURSIVE = "recursive, r"
_AFTER = _i("after-index", "watch after the given index")
_SET_DESCRIPTION = """Set sets the value of a key.

   When <value> begins with '-', <value> is interpreted as a flag.
   Insert '--' for workaround:

   $ set -- <key> <value>"""

GLOBAL_FLAGS: tuple[FlagSpec, ...] = (
    _b("debug", "output cURL commands which can be used to reproduce the request"),
    _b("no-sync", "don't synchronize cluster information before sending request"),
    _s(
        "output, o",
        "output response in the given format (simple, `extended` or `json`)",
        "simple",
        "simple",
    ),
    _s("discovery-srv, D", "domain name to query for SRV records describing cluster endpoints"),
    _b("insecure-discovery", "accept insecure SRV records describing cluster endpoints"),
    _s("peers, C", 'DEPRECATED - "--endpoints" should be used instead'),
    _s("endpoint", 'DEPRECATED - "--endpoints" should be used instead'),
    _s(
        "endpoints",
        "a comma-delimited list of machine addresses in the cluster (default: "
        '"http://127.0.0.1:2379,http://127.0.0.1:4001")',
    ),
    _s("cert-file", "identify HTTPS client using this SSL certificate file"),
    _s("key-file", "identify HTTPS client using this SSL key file"),
    _s("ca-file", "verify certificates of HTTPS-enabled servers using this CA bundle"),
    _s("username, u", "provide username[:password] and prompt if password is not supplied."),
    FlagSpec(("timeout",), "duration", "connection timeout per request", 2.0),
    FlagSpec(
        ("total-timeout",), "duration", "timeout for the command execution (except watch)", 5.0
    ),
    _b("help, h", "show help"),
    _b("version, v", "print the version"),
)
HELP_FLAG = _b("help, h", "show help")

COMMANDS: tuple[Command, ...] = (
    Command(
        "backup",
        "backup an etcd directory",
        " ",
        (
            _s("data-dir", "Path to the etcd data dir"),
            _s("wal-dir", "Path to the etcd wal dir"),
            _s("backup-dir", "Path to the backup dir"),
            _s("backup-wal-dir", "Path to the backup wal dir"),
            _b("with-v3", "Backup v3 backend data"),
        ),
        _unsupported("backup"),
    ),
    Command(
        "cluster-health",
        "check the health of the etcd cluster",
        " ",
        (_b("forever, f", "forever check the health every 10 second until CTRL+C"),),
        members.cmd_cluster_health,
    ),
    Command(
        "mk",
        "make a new key with a given value",
        "<key> <value>",
        (_b("in-order", "create in-order key under directory <key>"), _TTL),
        keys.cmd_mk,
    ),
    Command("mkdir", "make a new directory", "<key>", (_TTL,), keys.cmd_mkdir),
    Command(
        "rm",
        "remove a key or a directory",
        "<key>",
        (
            _b("dir", "removes the key if it is an empty directory or a key-value pair"),
            _b(_RECURSIVE, "removes the key and all child keys(if it is a directory)"),
            _s("with-value", "previous value"),
            _i("with-index", "previous index"),
        ),
        keys.cmd_rm,
    ),
    Command(
        "rmdir",
        "removes the key if it is an empty directory or a key-value pair",
        "<key>",
        (),
        keys.cmd_rmdir,
    ),
    Command(
        "get",
        "retrieve the value of a key",
        "<key>",
        (
            _b("sort", "returns result in sorted order"),
            _b("quorum, q", "require quorum for get request"),
        ),
        keys.cmd_get,
    ),
    Command(
        "ls",
        "retrieve a directory",
        "[key]",
        (
            _b("sort", "returns result in sorted order"),
            _b(_RECURSIVE, "returns all key names recursively for the given path"),
            _b("p", "append slash (/) to directories"),
            _b("quorum, q", "require quorum for get request"),
        ),
        keys.cmd_ls,
    ),
    Command(
        "set",
        "set the value of a key",
        "<key> <value>",
        (
            _TTL,
            _s("swap-with-value", "previous value"),
            _i("swap-with-index", "previous index"),
        ),
        keys.cmd_set,
        _SET_DESCRIPTION,
    ),
    Command(
        "setdir",
        "create a new directory or update an existing directory TTL",
        "<key>",
        (_TTL,),
        keys.cmd_setdir,
    ),
    Command(
        "update",
        "update an existing key with a given value",
        "<key> <value>",
        (_TTL,),
        keys.cmd_update,
    ),
    Command(
        "updatedir", "update an existing directory", "<key> <value>", (_TTL,), keys.cmd_updatedir
    ),
    Command(
        "watch",
        "watch a key for changes",
        "<key>",
        (
            _b("forever, f", "forever watch a key until CTRL+C"),
            _AFTER,
            _b(_RECURSIVE, "returns all values for key and child keys"),
        ),
        keys.cmd_watch,
    ),
    Command(
        "exec-watch",
        "watch a key for changes and exec an executable",
        "<key> <command> [args...]",
        (_AFTER, _b(_RECURSIVE, "watch all values for key and child keys")),
        keys.cmd_exec_watch,
    ),
    Command(
        "member",
        "member add, remove and list subcommands",
        subcommands=(
            Command("list", "enumerate existing cluster members", " ", (), members.cmd_member_list),
            Command(
                "add",
                "add a new member to the etcd cluster",
                "<name> <peerURL>",
                (),
                members.cmd_member_add,
            ),
            Command(
                "remove",
                "remove an existing member from the etcd cluster",
                "<memberID>",
                (),
                members.cmd_member_remove,
            ),
            Command(
                "update",
                "update an existing member in the etcd cluster",
                "<memberID> <peerURLs>",
                (),
                members.cmd_member_update,
            ),
        ),
    ),
    Command(
        "user",
        "user add, grant and revoke subcommands",
        subcommands=_stubs(
            "user",
            (
                ("add", "add a new user for the etcd cluster"),
                ("get", "get details for a user"),
                ("list", "list all current users"),
                ("remove", "remove a user for the etcd cluster"),
                ("grant", "grant roles to an etcd user"),
                ("revoke", "revoke roles for an etcd user"),
                ("passwd", "change password for a user"),
            ),
        ),
    ),
    Command(
        "role",
        "role add, grant and revoke subcommands",
        subcommands=_stubs(
            "role",
            (
                ("add", "add a new role for the etcd cluster"),
                ("get", "get details for a role"),
                ("list", "list all roles"),
                ("remove", "remove a role from the etcd cluster"),
                ("grant", "grant path matches to an etcd role"),
                ("revoke", "revoke path matches for an etcd role"),
            ),
        ),
    ),
    Command(
        "auth",
        "overall auth controls",
        subcommands=_stubs(
            "auth",
            (
                ("enable", "enable auth access controls"),
                ("disable", "disable auth access controls"),
            ),
        ),
    ),
)
HELP_COMMAND = Command("help, h", "Shows a list of commands or help for one command", "[command]")
