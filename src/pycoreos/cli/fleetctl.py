"""``pycoreos fleetctl``: fleet's command-line client (API driver, or etcd driver in-process).

Global flags (env ``FLEETCTL_<FLAG>``): ``--endpoint``, ``--driver=api|etcd``,
``--request-timeout``, ``--ca-file/--cert-file/--key-file``, ``--etcd-key-prefix``,
``--debug``, ``--version``. Exit codes: 0 ok, 1 error (``Error ...`` on stderr), 2 usage.
Blocking commands poll until the state is reached (``--block-attempts=0``: forever).
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
from typing import Any

from pycoreos.cli.fleetctl_client import ApiClient, APIError
from pycoreos.cli.fleetctl_lifecycle import UsageError, cmd_lifecycle
from pycoreos.cli.fleetctl_output import (
    MACHINE_FIELDS,
    UNIT_FIELDS,
    UNIT_FILE_FIELDS,
    tabwrite,
)

VERSION = "1.0.0-pycoreos"
_GLOBAL_FLAGS = {
    "endpoint": "unix:///var/run/fleet.sock",
    "driver": "api",
    "request_timeout": "3.0",
    "ca_file": "",
    "cert_file": "",
    "key_file": "",
    "etcd_key_prefix": "/_coreos.com/fleet/",
    "tunnel": "",
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fleetctl", add_help=True)
    for flag, default in _GLOBAL_FLAGS.items():
        env = os.environ.get("FLEETCTL_" + flag.upper())
        p.add_argument(
            "--" + flag.replace("_", "-"), dest=flag, default=env if env is not None else default
        )
    p.add_argument("--etcd-cafile", dest="ca_file")
    p.add_argument("--etcd-certfile", dest="cert_file")
    p.add_argument("--etcd-keyfile", dest="key_file")
    p.add_argument("--debug", action="store_true")
    p.add_argument("--version", action="store_true")
    p.add_argument("--experimental-api", default="true")
    sub = p.add_subparsers(dest="cmd")
    for name in ("list-machines", "list-units", "list-unit-files"):
        s = sub.add_parser(name)
        s.add_argument("-l", "--full", action="store_true")
        s.add_argument("--no-legend", action="store_true")
        s.add_argument("--fields", default="")
    for name in ("submit", "load", "start", "stop", "unload", "destroy", "restart"):
        s = sub.add_parser(name)
        s.add_argument("units", nargs="*")
        s.add_argument("--no-block", action="store_true")
        s.add_argument("--block-attempts", type=int, default=0)
        s.add_argument("--replace", action="store_true")
        s.add_argument("--sign", action="store_true")
    s = sub.add_parser("status")
    s.add_argument("units", nargs="+")
    s.add_argument("--ssh-port", type=int, default=22)
    s = sub.add_parser("cat")
    s.add_argument("unit")
    s = sub.add_parser("journal")
    s.add_argument("unit")
    s.add_argument("--lines", type=int, default=10)
    s.add_argument("-f", "--follow", action="store_true")
    s.add_argument("--output", default="short")
    s.add_argument("--ssh-port", type=int, default=22)
    s.add_argument("--sudo", action="store_true")
    s = sub.add_parser("ssh")
    s.add_argument("target", nargs="?")
    s.add_argument("command", nargs=argparse.REMAINDER)
    s.add_argument("--machine", default="")
    s.add_argument("--unit", default="")
    s.add_argument("-A", "--forward-agent", action="store_true")
    s.add_argument("--ssh-port", type=int, default=22)
    sub.add_parser("verify").add_argument("unit", nargs="?")
    sub.add_parser("version")
    return p


def _client(a: argparse.Namespace) -> ApiClient:
    timeout = float(a.request_timeout)
    ctx = None
    if a.ca_file or a.cert_file:
        ctx = ssl.create_default_context(cafile=a.ca_file or None)
        if a.cert_file:
            ctx.load_cert_chain(a.cert_file, a.key_file or None)
    if a.driver.lower() == "etcd":
        from pycoreos.cli.fleetctl_etcd import EtcdDriverClient

        ep = (
            a.endpoint
            if a.endpoint != _GLOBAL_FLAGS["endpoint"]
            else "http://127.0.0.1:2379,http://127.0.0.1:4001"
        )
        return EtcdDriverClient(ep.split(","), a.etcd_key_prefix, timeout, ctx)
    if a.driver.lower() != "api":
        raise UsageError(f"unrecognized driver {a.driver!r}")
    endpoints = [e.strip() for e in a.endpoint.split(",") if e.strip()]
    if len(endpoints) > 1:
        # fleetctl's API driver talks to one endpoint; like the original, warn and use the
        # first rather than fail on a comma-separated list.
        print(
            f"WARNING: multiple endpoints provided but only the first ({endpoints[0]}) is used",
            file=sys.stderr,
        )
    return ApiClient(endpoints[0] if endpoints else a.endpoint, timeout, ctx)


# -- listing ------------------------------------------------------------------------------


def _fields(spec: str, default: str, table: dict[str, Any]) -> list[str]:
    names = [f.strip() for f in (spec or default).split(",") if f.strip()]
    for n in names:
        if n not in table:
            raise UsageError(f"invalid field {n!r}")
    return names


def cmd_list_machines(c: ApiClient, a: argparse.Namespace) -> int:
    fields = _fields(a.fields, "machine,ip,metadata", MACHINE_FIELDS)
    rows = [] if a.no_legend else [[MACHINE_FIELDS[f][0] for f in fields]]
    rows.extend(
        [MACHINE_FIELDS[f][1](m, a.full) for f in fields]
        for m in sorted(c.machines(), key=lambda m: m["id"])
    )
    sys.stdout.write(tabwrite(rows))
    return 0


def _machines(c: ApiClient) -> dict[str, dict[str, Any]]:
    return {m["id"]: m for m in c.machines()}


def cmd_list_units(c: ApiClient, a: argparse.Namespace) -> int:
    fields = _fields(a.fields, "unit,machine,active,sub", UNIT_FIELDS)
    ms = _machines(c)
    rows = [] if a.no_legend else [[UNIT_FIELDS[f][0] for f in fields]]
    rows.extend(
        [UNIT_FIELDS[f][1](s, ms, a.full) for f in fields]
        for s in sorted(c.states(), key=lambda s: (s["name"], s["machineID"]))
    )
    sys.stdout.write(tabwrite(rows))
    return 0


def cmd_list_unit_files(c: ApiClient, a: argparse.Namespace) -> int:
    fields = _fields(a.fields, "unit,hash,dstate,state,target", UNIT_FILE_FIELDS)
    ms = _machines(c)
    rows = [] if a.no_legend else [[UNIT_FILE_FIELDS[f][0] for f in fields]]
    rows.extend(
        [UNIT_FILE_FIELDS[f][1](u, ms, a.full) for f in fields]
        for u in sorted(c.units(), key=lambda u: u["name"])
    )
    sys.stdout.write(tabwrite(rows))
    return 0


# -- remote: cat, status, journal, ssh ------------------------------------------------------


def cmd_cat(c: ApiClient, a: argparse.Namespace) -> int:
    from pycoreos.fleet.api.schema import options_from_json
    from pycoreos.fleet.unit import default_unit_name

    u = c.unit(default_unit_name(a.unit))
    if u is None:
        print(f"Unit {a.unit} not found", file=sys.stderr)
        return 1
    sys.stdout.write(options_from_json(u["options"]).serialize())
    return 0


def _where(c: ApiClient, unit: str) -> tuple[str, str | None]:
    """(machine ID, API endpoint or None for the local one) of a unit's machine."""
    states = [s for s in c.states() if s["name"] == unit]
    u = c.unit(unit)
    mid = (u or {}).get("machineID") or (states[0]["machineID"] if states else "")
    if not mid:
        raise APIError(0, f"Unit {unit} does not appear to be running.")
    m = _machines(c).get(mid, {})
    return mid, m.get("apiEndpoint") or None


def cmd_status(c: ApiClient, a: argparse.Namespace) -> int:
    from pycoreos.fleet.unit import default_unit_name

    for arg in a.units:
        name = default_unit_name(arg)
        _, ep = _where(c, name)
        _, body = c.call("GET", f"/fleet/v1/_local/status/{name}", endpoint=ep)
        sys.stdout.write(body.decode(errors="replace"))
    return 0


def cmd_journal(c: ApiClient, a: argparse.Namespace) -> int:
    from pycoreos.fleet.unit import default_unit_name

    name = default_unit_name(a.unit)
    _, ep = _where(c, name)
    path = f"/fleet/v1/_local/journal/{name}?lines={a.lines}" + ("&follow=true" if a.follow else "")
    if not a.follow:
        _, body = c.call("GET", path, endpoint=ep)
        sys.stdout.write(body.decode(errors="replace"))
        return 0
    conn = c._conn(ep, timeout=None)  # follow: no deadline, until interrupted
    conn.timeout = None
    conn.request("GET", path)
    resp = conn.getresponse()
    try:
        while chunk := resp.read1(65536):
            sys.stdout.write(chunk.decode(errors="replace"))
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    return 0


def cmd_ssh(c: ApiClient, a: argparse.Namespace) -> int:
    """Run one command on a machine (ID prefix) or a unit's machine, through that machine's
    fleet API (``_local/exec``, enabled by ``enable_remote_exec`` in its fleet.conf) rather
    than SSH. As fleetctl, the words are joined and run by the remote shell, and its exit
    status is ours. Interactive sessions need real SSH."""
    from pycoreos.fleet.unit import default_unit_name

    words = ([a.target] if a.target else []) + list(a.command)
    if not (a.unit or a.machine):
        if not words:
            raise UsageError("ssh: a machine or unit is required")
        target, words = words[0], words[1:]
    else:
        target = a.unit or a.machine
    if not words:
        raise UsageError(
            "ssh through the fleet API runs one command: fleetctl ssh {MACHINE|UNIT} COMMAND... "
            "(interactive sessions need SSH)"
        )
    if a.unit or (not a.machine and ("." in target or "@" in target)):
        _, ep = _where(c, default_unit_name(target))
    else:
        ms = [m for m in c.machines() if m["id"].startswith(target)]
        if len(ms) != 1:
            raise APIError(
                0,
                f"Unable to find machine {target}" if not ms else f"Ambiguous machine ID {target}",
            )
        ep = ms[0].get("apiEndpoint") or None
    argv = ["/bin/sh", "-c", " ".join(words)]
    status, body = c.call("POST", "/fleet/v1/_local/exec", {"argv": argv}, endpoint=ep, timeout=60)
    if status != 200:
        try:
            msg = json.loads(body)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            msg = body.decode(errors="replace").strip()
        raise APIError(status, msg)
    res = json.loads(body)
    sys.stdout.write(res["output"])
    return int(res["exitCode"])


COMMANDS = {
    "list-machines": cmd_list_machines,
    "list-units": cmd_list_units,
    "list-unit-files": cmd_list_unit_files,
    "cat": cmd_cat,
    "status": cmd_status,
    "journal": cmd_journal,
    "ssh": cmd_ssh,
}


def main(argv: list[str]) -> int:
    """Entry point; returns the exit code."""
    p = _parser()
    try:
        a = p.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    if a.version or a.cmd == "version":
        print(f"fleetctl version {VERSION}")
        return 0
    if a.cmd is None:
        p.print_help()
        return 2
    if a.cmd == "verify":
        print("WARNING: The verify command is deprecated and has no effect.", file=sys.stderr)
        return 2
    try:
        c = _client(a)
        fn = COMMANDS.get(a.cmd, cmd_lifecycle)
        return fn(c, a)
    except UsageError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    except APIError as e:
        print(f"Error: {e.message}", file=sys.stderr)
        return 1
    except Exception as e:  # one line for the user, as fleetctl does
        from pycoreos.fleet.errors import FleetError

        if isinstance(e, (FleetError, OSError)):
            print(f"Error: {e}", file=sys.stderr)
            return 1
        raise
