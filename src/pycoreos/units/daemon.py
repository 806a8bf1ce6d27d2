"""``pycoreos units daemon``: a node's supervisor behind a unix socket.

The daemon is the only process that forks units: it becomes a child subreaper, reaps every
orphan and keeps unit state across CLI invocations. It serves :mod:`.wire` requests, one
per connection line, each running concurrently (a long ``start`` does not block
``status``). SIGTERM/SIGINT stop every unit, then exit.

:class:`UnitSocketServer` (and :func:`serve_connection` for one connection) is the public
way to put any :class:`~pycoreos.units.manager.UnitManager` behind such a socket: the
daemon serves its supervisor with it, and a node serves its unit manager (the built-in
supervisor or host systemd) so that ``pycoreos units --socket`` and fleetd drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from pycoreos.units.loader import UnitPaths
from pycoreos.units.manager import UnitManager
from pycoreos.units.supervisor import Supervisor, SupervisorConfig
from pycoreos.units.wire import MAX_LINE, encode, encode_error, entry_to, status_to

__all__ = ["DaemonConfig", "UnitSocketServer", "default_socket", "serve", "serve_connection"]


def default_socket(root: Path) -> Path:
    """Where the daemon for node root ``root`` listens."""
    return root / "run/pycoreos/units.sock"


class DaemonConfig:
    """Daemon settings: node root, socket path, process tracker."""

    def __init__(self, root: Path, socket: Path | None = None, tracker: str = "auto") -> None:
        self.root = root
        self.socket = socket or default_socket(root)
        self.tracker = tracker


async def _dispatch(sup: UnitManager, req: dict[str, Any], tracker: str) -> Any:
    op = req.get("op")
    unit = str(req.get("unit", ""))
    match op:
        case "ping":
            return {"pid": os.getpid(), "tracker": tracker}
        case "start" | "stop" | "restart" | "reload":
            return (await getattr(sup, op)(unit)).value
        case "status":
            return status_to(await sup.status(unit))
        case "list":
            return [status_to(s) for s in await sup.list_units(all=bool(req.get("all")))]
        case "journal":
            lines = req.get("lines")
            return [
                entry_to(e) for e in await sup.journal(unit, None if lines is None else int(lines))
            ]
        case "enable" | "mask":
            return await getattr(sup, op)(unit, runtime=bool(req.get("runtime")))
        case "disable" | "unmask":
            return await getattr(sup, op)(unit)
        case "daemon-reload":
            await sup.daemon_reload()
            return None
        case "reset-failed":
            await sup.reset_failed(unit)
            return None
        case "write-unit":
            await sup.write_unit(unit, str(req["text"]), runtime=bool(req.get("runtime", True)))
            return None
        case "remove-unit":
            await sup.remove_unit(unit, runtime=bool(req.get("runtime", True)))
            return None
    raise ValueError(f"unknown op {op!r}")


async def serve_connection(
    manager: UnitManager,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    tracker: str = "",
) -> None:
    """Serve one client connection of the :mod:`.wire` protocol, then close it.

    One request line per connection; ``follow`` streams journal entries until the client
    goes away. Errors of the manager are sent to the client, never raised here.

    Args:
        manager: the unit manager the requests act on.
        reader: the connection's reader (created with ``limit=MAX_LINE``).
        writer: the connection's writer.
        tracker: what ``ping`` reports as the process tracker (``cgroup2``, ``systemd``...).
    """
    try:
        line = await reader.readline()
        if not line:
            return
        try:
            req = json.loads(line)
            if not isinstance(req, dict):
                raise ValueError("request must be a JSON object")
        except ValueError as e:
            writer.write(
                encode({"ok": False, "error": encode_error(ValueError(f"bad request: {e}"))})
            )
            return
        if req.get("op") == "follow":
            await _follow(manager, req, reader, writer)
            return
        try:
            value = await _dispatch(manager, req, tracker)
            writer.write(encode({"ok": True, "value": value}))
        except Exception as e:  # translated once, here, for the wire
            writer.write(encode({"ok": False, "error": encode_error(e)}))
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(ConnectionError):
            writer.close()
            await writer.wait_closed()


class UnitSocketServer:
    """A unit manager served on a unix socket (the :mod:`.wire` protocol).

    Use ``async with UnitSocketServer(manager, path):`` or :meth:`start`/:meth:`close`.
    A stale socket file at ``path`` is replaced; :meth:`close` removes it.

    Args:
        manager: the unit manager to serve (not closed by the server).
        path: the socket's path (must fit in ``sun_path``).
        tracker: what ``ping`` reports as the process tracker.
    """

    def __init__(self, manager: UnitManager, path: Path, *, tracker: str = "") -> None:
        self.manager = manager
        self.path = path
        self.tracker = tracker
        self._server: asyncio.Server | None = None

    async def start(self) -> UnitSocketServer:
        """Listen on :attr:`path` (its directory is created)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._server = await asyncio.start_unix_server(
            lambda r, w: serve_connection(self.manager, r, w, tracker=self.tracker),
            path=str(self.path),
            limit=MAX_LINE,
        )
        return self

    async def close(self) -> None:
        """Stop listening and remove the socket file (connections in flight finish)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def __aenter__(self) -> UnitSocketServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def _follow(
    sup: UnitManager,
    req: dict[str, Any],
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    gone = asyncio.ensure_future(reader.read())  # EOF: the client went away
    agen = sup.follow(str(req.get("unit", "")), int(req.get("lines", 10)))
    try:
        while True:
            nxt = asyncio.ensure_future(agen.__anext__())
            done, _ = await asyncio.wait({nxt, gone}, return_when=asyncio.FIRST_COMPLETED)
            if gone in done:
                nxt.cancel()
                return
            writer.write(encode({"entry": entry_to(nxt.result())}))
            await writer.drain()
    finally:
        gone.cancel()
        if isinstance(agen, AsyncGenerator):  # both managers' follow() are generators
            await agen.aclose()


async def serve(cfg: DaemonConfig, *, ready: asyncio.Event | None = None) -> None:
    """Run the daemon until SIGTERM/SIGINT."""
    paths = UnitPaths.under(cfg.root)
    sup_cfg = SupervisorConfig(
        paths=paths,
        state_dir=cfg.root / "var/lib/pycoreos-units",
        tracker=cfg.tracker,
        reap_all=True,
        cgroup_root=f"pycoreos-units-{os.getpid()}",
    )
    sup = Supervisor(sup_cfg)
    await sup.open()
    server = await UnitSocketServer(sup, cfg.socket, tracker=sup.tracker_kind).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await sup.boot()
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        await server.close()
        await sup.close()
