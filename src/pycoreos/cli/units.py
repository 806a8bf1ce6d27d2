"""``pycoreos units``: drive one node's unit manager by hand, like ``systemctl``.

The commands talk to a running supervisor daemon (``pycoreos units daemon --root DIR``)
over its unix socket: ``--socket PATH``, else ``--root DIR`` (socket at
``DIR/run/pycoreos/units.sock``), else ``$PYCOREOS_UNITS_SOCKET``, else ``/``'s socket.

Exit codes follow systemctl: 0 success; 1 failure; 3 for ``status``/``is-active`` of a unit
that is not active; 4 when ``status`` names no such unit; 5 when a job names no such unit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from pycoreos.units.client import UnitClient
from pycoreos.units.daemon import DaemonConfig, default_socket, serve
from pycoreos.units.errors import (
    JobError,
    ManagerUnavailableError,
    NoSuchUnitError,
    UnitError,
    UnitLoadError,
    UnitMaskedError,
)
from pycoreos.units.journal import render_short
from pycoreos.units.manager import JobResult
from pycoreos.units.render import job_failure, render_list, render_status

# error type -> exit code (translated once, here)
EXIT_CODES: dict[type[Exception], int] = {
    NoSuchUnitError: 5,
    UnitMaskedError: 1,
    UnitLoadError: 1,
    JobError: 1,
    ManagerUnavailableError: 1,
    UnitError: 1,
    ValueError: 1,
}


def _parser() -> argparse.ArgumentParser:
    # --socket/--root are accepted before or after the subcommand.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--socket", type=Path, default=argparse.SUPPRESS, help="the daemon's socket"
    )
    common.add_argument("--root", type=Path, default=argparse.SUPPRESS, help="node root directory")
    p = argparse.ArgumentParser(
        prog="pycoreos units", description=__doc__.split("\n\n")[0], parents=[common]
    )
    real_add = argparse._SubParsersAction.add_parser
    sub = p.add_subparsers(dest="cmd", required=True)

    def add_parser(name: str, **kw: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = real_add(sub, name, parents=[common], **kw)
        return parser

    sub.add_parser = add_parser  # type: ignore[method-assign]
    for verb in ("start", "stop", "restart", "reload"):
        s = sub.add_parser(verb, help=f"{verb} units")
        s.add_argument("units", nargs="+")
    s = sub.add_parser("status", help="show a unit's state and recent journal")
    s.add_argument("units", nargs="+")
    s.add_argument("-n", "--lines", type=int, default=10)
    s = sub.add_parser("is-active", help="print the active state; exit 0 if active")
    s.add_argument("units", nargs="+")
    s = sub.add_parser("list", help="list loaded units (list-units)")
    s.add_argument("-a", "--all", action="store_true")
    s = sub.add_parser("journal", help="show a unit's journal (journalctl -u)")
    s.add_argument("unit", nargs="?")
    s.add_argument("-u", "--unit", dest="unit_opt")
    s.add_argument("-n", "--lines", type=int, default=None)
    s.add_argument("-f", "--follow", action="store_true")
    for verb in ("enable", "disable", "mask", "unmask", "reset-failed"):
        s = sub.add_parser(verb, help=f"{verb} units")
        s.add_argument("units", nargs="+")
        if verb in ("enable", "mask"):
            s.add_argument("--runtime", action="store_true")
    sub.add_parser("daemon-reload", help="re-read unit files")
    s = sub.add_parser("daemon", help="run the node's supervisor daemon")
    s.add_argument("--tracker", default="auto", choices=["auto", "cgroup2", "cgroup1", "pgroup"])
    return p


def _socket_path(args: argparse.Namespace) -> Path:
    if getattr(args, "socket", None):
        return Path(args.socket)
    if getattr(args, "root", None):
        return default_socket(Path(args.root))
    env = os.environ.get("PYCOREOS_UNITS_SOCKET")
    return Path(env) if env else default_socket(Path("/"))


async def _run(args: argparse.Namespace) -> int:
    c = UnitClient(_socket_path(args))
    cmd = args.cmd
    if cmd in ("start", "stop", "restart", "reload"):
        rc = 0
        for name in args.units:
            try:
                res = await getattr(c, cmd)(name)
            except UnitError as e:
                print(f"Failed to {cmd} {name}: {e}", file=sys.stderr)
                rc = rc or _code(e)
                continue
            if res is not JobResult.DONE:
                print(job_failure(cmd, name, res, await c.status(name)), file=sys.stderr)
                rc = 1
        return rc
    if cmd == "status":
        rc = 0
        for i, name in enumerate(args.units):
            st = await c.status(name)
            if st.load_state == "not-found" and st.active_state == "inactive":
                print(f"Unit {name} could not be found.", file=sys.stderr)
                rc = rc or 4
                continue
            entries = await c.journal(name, args.lines)
            if i:
                print()
            print(render_status(st, entries, now=time.time(), hostname=socket.gethostname()))
            if st.active_state not in ("active", "reloading"):
                rc = rc or 3
        return rc
    if cmd == "is-active":
        rc = 0
        for name in args.units:
            st = await c.status(name)
            print(st.active_state)
            if st.active_state not in ("active", "reloading"):
                rc = 3
        return rc
    if cmd == "list":
        print(render_list(await c.list_units(all=args.all)))
        return 0
    if cmd == "journal":
        name = args.unit_opt or args.unit
        if not name:
            print("journal: a unit name is required (-u NAME)", file=sys.stderr)
            return 2
        host = socket.gethostname()
        if args.follow:
            async for entry in c.follow(name, 10 if args.lines is None else args.lines):
                print(render_short(entry, host), flush=True)
            return 0
        for entry in await c.journal(name, args.lines):
            print(render_short(entry, host))
        return 0
    if cmd in ("enable", "disable", "mask", "unmask"):
        for name in args.units:
            kwargs = {"runtime": args.runtime} if cmd in ("enable", "mask") else {}
            for line in await getattr(c, cmd)(name, **kwargs):
                print(line)
        return 0
    if cmd == "reset-failed":
        for name in args.units:
            await c.reset_failed(name)
        return 0
    if cmd == "daemon-reload":
        await c.daemon_reload()
        return 0
    raise AssertionError(cmd)  # pragma: no cover


def _code(e: Exception) -> int:
    for t in type(e).__mro__:
        if t in EXIT_CODES:
            return EXIT_CODES[t]
    return 1


def main(argv: list[str]) -> int:
    """Entry point of ``pycoreos units``."""
    args = _parser().parse_args(argv)
    if args.cmd == "daemon":
        root = getattr(args, "root", None)
        if not root:
            print("daemon: --root DIR is required", file=sys.stderr)
            return 2
        cfg = DaemonConfig(Path(root), getattr(args, "socket", None), args.tracker)
        # The stdlib loop on purpose: uvloop reserves SIGCHLD, which the subreaper needs.
        asyncio.run(serve(cfg))
        return 0
    try:
        return asyncio.run(_run(args))
    except (UnitError, ValueError) as e:
        print(f"Error: {e}", file=sys.stderr)
        return _code(e)
    except KeyboardInterrupt:
        return 130
