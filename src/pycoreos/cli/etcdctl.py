"""``pycoreos etcdctl``: etcd's v2 ``etcdctl`` (``ETCDCTL_API=2``) rebuilt on our v2 client.

Same commands, flags, output text, streams and exit codes as etcd 3.4's
``etcdctl/ctlv2``, whose CLI framework is urfave/cli v1: global flags come before the command,
command flags may be mixed with arguments (see :func:`reorder_args`), usage errors print
``Incorrect Usage`` and the help to stdout and the Go error to stderr, exit 1; an unknown
command prints ``No help topic for '<name>'`` and exits 3.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

from pycoreos import __version__
from pycoreos.cli import etcdctl_keys as keys
from pycoreos.cli import etcdctl_members as members
from pycoreos.cli.etcdctl_context import Context
from pycoreos.cli.etcdctl_flags import FlagSpec, UsageError, parse_flags, render_columns
from pycoreos.cli.etcdctl_flags import reorder_args as reorder_args
from pycoreos.cli.etcdctl_output import Exit

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
_HELP_FLAG = _b("help, h", "show help")

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
_HELP_COMMAND = Command("help, h", "Shows a list of commands or help for one command", "[command]")


def app_help() -> str:
    """The top-level help (urfave AppHelpTemplate as etcdctl renders it)."""
    cmds = render_columns([(c.name, c.usage) for c in (*COMMANDS, _HELP_COMMAND)])
    flags = render_columns([f.help_line() for f in GLOBAL_FLAGS])
    return (
        "NAME:\n   etcdctl - A simple command line client for etcd.\n\n"
        "USAGE:\n   etcdctl [global options] command [command options] [arguments...]\n\n"
        f"VERSION:\n   {__version__}\n\n"
        "COMMANDS:\n" + "\n".join(cmds) + "\n\n"
        "GLOBAL OPTIONS:\n" + "\n".join(flags) + "\n"
    )


def command_help(cmd: Command, parent: str = "") -> str:
    """Help of one command (urfave CommandHelpTemplate)."""
    full = f"etcdctl {parent}{cmd.name}"
    text = f"NAME:\n   {full} - {cmd.usage}\n\nUSAGE:\n   {full}"
    text += " [command options]" if cmd.flags else ""
    text += f" {cmd.args_usage or '[arguments...]'}"
    if cmd.description:
        text += f"\n\nDESCRIPTION:\n   {cmd.description}"
    if cmd.flags:
        text += (
            "\n\nOPTIONS:\n"
            + "".join(f"{ln}\n" for ln in render_columns([f.help_line() for f in cmd.flags]))
            + "   "
        )
    return text + "\n"


def subcommands_help(cmd: Command) -> str:
    """Help of a command with subcommands (urfave SubcommandHelpTemplate)."""
    rows = render_columns([(c.name, c.usage) for c in cmd.subcommands])
    opts = render_columns([_HELP_FLAG.help_line()])
    return (
        f"NAME:\n   etcdctl {cmd.name} - {cmd.usage}\n\n"
        f"USAGE:\n   etcdctl {cmd.name} command [command options] [arguments...]\n\n"
        "COMMANDS:\n" + "\n".join(rows) + "\n\n"
        "OPTIONS:\n" + "\n".join(opts) + "\n   \n"
    )


def subapp_help(cmd: Command) -> str:
    """``etcdctl <group> help``: urfave renders the sub-app with the app template."""
    rows = render_columns([(c.name, c.usage) for c in cmd.subcommands])
    opts = render_columns([_HELP_FLAG.help_line()])
    return (
        f"NAME:\n   etcdctl {cmd.name} - {cmd.usage}\n\n"
        f"USAGE:\n   etcdctl {cmd.name} [global options] command [command options] "
        f"[arguments...]\n\nVERSION:\n   {__version__}\n\n"
        "COMMANDS:\n" + "\n".join(rows) + "\n\n"
        "GLOBAL OPTIONS:\n" + "\n".join(opts) + "\n"
    )


def _find(cmds: Sequence[Command], name: str) -> Command | None:
    return next((c for c in cmds if c.name == name), None)


def _no_topic(name: str, err: TextIO) -> int:
    print(f"No help topic for '{name}'", file=err)
    return 3


def _run_command(cmd: Command, args: list[str], ctx: Context, parent: str = "") -> int:
    out = ctx.stdout
    if cmd.subcommands:
        if (args and args[0] in ("-h", "--help", "help", "h")) or not args:
            if len(args) > 1 and args[0] in ("help", "h"):
                sub = _find(cmd.subcommands, args[1])
                if sub is None:
                    return _no_topic(args[1], ctx.stderr)
                out.write(command_help(sub, f"{cmd.name} "))
                return 0
            if args and args[0] in ("help", "h"):
                out.write(subapp_help(cmd))
            else:
                out.write(subcommands_help(cmd))
            return 0
        sub = _find(cmd.subcommands, args[0])
        if sub is None:
            return _no_topic(args[0], ctx.stderr)
        return _run_command(sub, args[1:], ctx, f"{cmd.name} ")
    try:
        specs = (*cmd.flags, _HELP_FLAG)
        values, rest = parse_flags(specs, reorder_args(specs, args))
    except UsageError as e:
        print(f"Incorrect Usage: {e}\n", file=out)
        out.write(command_help(cmd, parent))
        print(e, file=ctx.stderr)
        return 1
    if values.pop("help"):
        out.write(command_help(cmd, parent))
        return 0
    ctx.flags, ctx.args = values, rest
    assert cmd.action is not None
    try:
        return cmd.action(ctx)
    except Exit as e:
        return e.code


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run etcdctl with ``argv`` (without the program name); returns the exit code."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        values, rest = parse_flags(GLOBAL_FLAGS, argv)
    except UsageError as e:
        print(f"Incorrect Usage. {e}\n", file=out)
        out.write(app_help())
        print(e, file=err)
        return 1
    if values["help"]:
        out.write(app_help())
        return 0
    if values["version"]:
        print(f"etcdctl version: {__version__}\nAPI version: 2", file=out)
        return 0
    if not rest:
        out.write(app_help())
        return 0
    ctx = Context(
        globals=values,
        env=os.environ if env is None else env,
        stdin=stdin if stdin is not None else sys.stdin,
        stdout=out,
        stderr=err,
    )
    name = rest[0]
    if name in ("help", "h"):
        if len(rest) < 2:
            out.write(app_help())
            return 0
        cmd = _find(COMMANDS, rest[1])
        if cmd is None:
            return _no_topic(rest[1], err)
        out.write(command_help(cmd))
        return 0
    cmd = _find(COMMANDS, name)
    if cmd is None:
        return _no_topic(name, err)
    try:
        return _run_command(cmd, rest[1:], ctx)
    finally:
        ctx.close()
        out.flush()


def main(argv: list[str]) -> int:
    """Entry point for ``pycoreos etcdctl``."""
    try:
        return run(argv)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        return 1
