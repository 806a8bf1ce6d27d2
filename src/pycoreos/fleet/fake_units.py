"""``FakeUnitManager``: the :class:`~pycoreos.units.manager.UnitManager` interface in memory.

For fleet tests and simulations where no process should run: units "start" instantly and
count their starts and stops, so tests can assert that nothing was restarted. A unit file
whose ``ExecStart`` contains ``fail`` fails to start.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from pycoreos.units.errors import NoSuchUnitError
from pycoreos.units.manager import JobResult, JournalEntry, UnitStatus

__all__ = ["FakeUnitManager"]


@dataclass
class _FakeUnit:
    text: str
    active: bool = False
    failed: bool = False
    enabled: bool = False
    starts: int = 0
    stops: int = 0
    journal: list[JournalEntry] = field(default_factory=list)


class FakeUnitManager:
    """In-memory unit manager; ``starts``/``stops`` count jobs per unit."""

    def __init__(self) -> None:
        self.files: dict[str, str] = {}
        self.units: dict[str, _FakeUnit] = {}
        self.starts: dict[str, int] = {}
        self.stops: dict[str, int] = {}
        self.reloads = 0
        self._seq = 0.0

    def _get(self, name: str) -> _FakeUnit:
        u = self.units.get(name)
        if u is None:
            raise NoSuchUnitError(f"Unit {name} not found.")
        return u

    def _log(self, u: _FakeUnit, name: str, msg: str) -> None:
        self._seq += 1
        u.journal.append(
            JournalEntry(ts=self._seq, unit=name, pid=0, identifier="fake", message=msg)
        )

    async def start(self, name: str) -> JobResult:
        u = self._get(name)
        if u.active:
            return JobResult.DONE
        self.starts[name] = self.starts.get(name, 0) + 1
        if "fail" in u.text:
            u.failed = True
            self._log(u, name, "failed")
            return JobResult.FAILED
        u.active, u.failed = True, False
        self._log(u, name, f"Started {name}.")
        return JobResult.DONE

    async def stop(self, name: str) -> JobResult:
        u = self._get(name)
        if u.active:
            self.stops[name] = self.stops.get(name, 0) + 1
            self._log(u, name, f"Stopped {name}.")
        u.active = False
        return JobResult.DONE

    async def restart(self, name: str) -> JobResult:
        await self.stop(name)
        return await self.start(name)

    async def reload(self, name: str) -> JobResult:
        self._get(name)
        return JobResult.DONE

    async def status(self, name: str) -> UnitStatus:
        u = self.units.get(name)
        if u is None:
            return UnitStatus(name=name)
        active = "active" if u.active else "failed" if u.failed else "inactive"
        sub = "running" if u.active else "failed" if u.failed else "dead"
        return UnitStatus(name=name, load_state="loaded", active_state=active, sub_state=sub)

    async def list_units(self, *, all: bool = False) -> list[UnitStatus]:
        return [await self.status(n) for n in sorted(self.units) if all or self.units[n].active]

    async def journal(self, name: str, lines: int | None = None) -> list[JournalEntry]:
        j = self._get(name).journal
        return j[-lines:] if lines else list(j)

    async def follow(self, name: str, lines: int = 10) -> AsyncIterator[JournalEntry]:
        for e in await self.journal(name, lines):
            yield e
        await asyncio.Event().wait()  # the fake never logs on its own: block until cancelled

    async def enable(self, name: str, *, runtime: bool = False) -> list[str]:
        self._get(name).enabled = True
        return [name]

    async def disable(self, name: str) -> list[str]:
        self._get(name).enabled = False
        return [name]

    async def mask(self, name: str, *, runtime: bool = False) -> list[str]:
        return []

    async def unmask(self, name: str) -> list[str]:
        return []

    async def daemon_reload(self) -> None:
        self.reloads += 1
        for name, text in self.files.items():
            u = self.units.get(name)
            if u is None:
                self.units[name] = _FakeUnit(text)
            else:
                u.text = text
        for name in [n for n in self.units if n not in self.files and not self.units[n].active]:
            del self.units[name]

    async def reset_failed(self, name: str) -> None:
        self._get(name).failed = False

    async def write_unit(self, name: str, text: str, *, runtime: bool = True) -> None:
        self.files[name] = text

    async def remove_unit(self, name: str, *, runtime: bool = True) -> None:
        self.files.pop(name, None)

    async def close(self) -> None:
        for name, u in self.units.items():
            if u.active:
                await self.stop(name)
