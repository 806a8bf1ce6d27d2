"""``UnitClient``: the :class:`~pycoreos.units.manager.UnitManager` interface over a running
supervisor daemon's socket (see :mod:`.wire`). One connection per request."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from pycoreos.units.errors import ManagerUnavailableError
from pycoreos.units.manager import JobResult, JournalEntry, UnitStatus
from pycoreos.units.wire import MAX_LINE, decode_error, encode, entry_from, status_from

__all__ = ["UnitClient"]


class UnitClient:
    """Talks to ``pycoreos units daemon`` at ``socket``."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            return await asyncio.open_unix_connection(str(self.socket), limit=MAX_LINE)
        except (FileNotFoundError, ConnectionRefusedError) as e:
            raise ManagerUnavailableError(
                f"units: cannot reach the unit manager at {self.socket}: {e.strerror}"
            ) from None

    async def call(self, op: str, **args: Any) -> Any:
        """One request; returns the value or raises the daemon's error."""
        reader, writer = await self._open()
        try:
            writer.write(encode({"op": op, **args}))
            await writer.drain()
            line = await reader.readline()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        if not line:
            raise ManagerUnavailableError("units: the unit manager closed the connection")
        resp = json.loads(line)
        if not resp.get("ok"):
            raise decode_error(resp.get("error", {}))
        return resp.get("value")

    async def ping(self) -> dict[str, Any]:
        """The daemon's PID and process tracker."""
        value: dict[str, Any] = await self.call("ping")
        return value

    async def start(self, name: str) -> JobResult:
        return JobResult(await self.call("start", unit=name))

    async def stop(self, name: str) -> JobResult:
        return JobResult(await self.call("stop", unit=name))

    async def restart(self, name: str) -> JobResult:
        return JobResult(await self.call("restart", unit=name))

    async def reload(self, name: str) -> JobResult:
        return JobResult(await self.call("reload", unit=name))

    async def status(self, name: str) -> UnitStatus:
        return status_from(await self.call("status", unit=name))

    async def list_units(self, *, all: bool = False) -> list[UnitStatus]:
        return [status_from(d) for d in await self.call("list", all=all)]

    async def journal(self, name: str, lines: int | None = None) -> list[JournalEntry]:
        return [entry_from(d) for d in await self.call("journal", unit=name, lines=lines)]

    async def follow(self, name: str, lines: int = 10) -> AsyncIterator[JournalEntry]:
        reader, writer = await self._open()
        try:
            writer.write(encode({"op": "follow", "unit": name, "lines": lines}))
            await writer.drain()
            while line := await reader.readline():
                yield entry_from(json.loads(line)["entry"])
        finally:
            writer.close()

    async def enable(self, name: str, *, runtime: bool = False) -> list[str]:
        return list(await self.call("enable", unit=name, runtime=runtime))

    async def disable(self, name: str) -> list[str]:
        return list(await self.call("disable", unit=name))

    async def mask(self, name: str, *, runtime: bool = False) -> list[str]:
        return list(await self.call("mask", unit=name, runtime=runtime))

    async def unmask(self, name: str) -> list[str]:
        return list(await self.call("unmask", unit=name))

    async def daemon_reload(self) -> None:
        await self.call("daemon-reload")

    async def reset_failed(self, name: str) -> None:
        await self.call("reset-failed", unit=name)

    async def write_unit(self, name: str, text: str, *, runtime: bool = True) -> None:
        await self.call("write-unit", unit=name, text=text, runtime=runtime)

    async def remove_unit(self, name: str, *, runtime: bool = True) -> None:
        await self.call("remove-unit", unit=name, runtime=runtime)

    async def close(self) -> None:
        """Nothing to release: connections are per request."""
