"""The ``UnitManager`` interface every implementation offers, and its value types.

Implementations: :class:`pycoreos.units.supervisor.Supervisor` (built in, the default where
PID 1 is not systemd), :class:`pycoreos.units.client.UnitClient` (the same interface over a
running supervisor daemon's socket). Names and states are systemd's, so fleet's agent and
the CLI are written once.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

__all__ = ["JobResult", "JournalEntry", "UnitManager", "UnitStatus"]


class JobResult(enum.StrEnum):
    """How a job ended (systemd's ``JobResult``)."""

    DONE = "done"
    CANCELED = "canceled"
    TIMEOUT = "timeout"
    FAILED = "failed"
    DEPENDENCY = "dependency"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitStatus:
    """What ``systemctl status``/``list-units`` show for one unit."""

    name: str
    description: str = ""
    load_state: str = "not-found"
    active_state: str = "inactive"
    sub_state: str = "dead"
    result: str = "success"
    unit_file_state: str = ""
    fragment_path: str = ""
    dropin_paths: tuple[str, ...] = ()
    load_error: str = ""
    main_pid: int = 0
    control_pid: int = 0
    exec_main_status: int | None = None
    exec_main_code: str = ""
    n_restarts: int = 0
    state_change_timestamp: float = 0.0
    active_enter_timestamp: float = 0.0
    tasks: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalEntry:
    """One journal line. ``pid`` 0 and identifier ``pycoreos`` mark manager messages."""

    ts: float
    unit: str
    pid: int
    identifier: str
    message: str


class UnitManager(Protocol):
    """A node's unit manager, as fleet's agent and the ``pycoreos units`` CLI use it.

    Job methods wait for the job to finish, like ``systemctl start`` without ``--no-block``,
    and return its :class:`JobResult`. Errors: ``NoSuchUnitError``, ``UnitMaskedError``,
    ``UnitLoadError``, ``JobError``.
    """

    async def start(self, name: str) -> JobResult: ...

    async def stop(self, name: str) -> JobResult: ...

    async def restart(self, name: str) -> JobResult: ...

    async def reload(self, name: str) -> JobResult: ...

    async def status(self, name: str) -> UnitStatus: ...

    async def list_units(self, *, all: bool = False) -> list[UnitStatus]: ...

    async def journal(self, name: str, lines: int | None = None) -> list[JournalEntry]: ...

    def follow(self, name: str, lines: int = 10) -> AsyncIterator[JournalEntry]: ...

    async def enable(self, name: str, *, runtime: bool = False) -> list[str]: ...

    async def disable(self, name: str) -> list[str]: ...

    async def mask(self, name: str, *, runtime: bool = False) -> list[str]: ...

    async def unmask(self, name: str) -> list[str]: ...

    async def daemon_reload(self) -> None: ...

    async def reset_failed(self, name: str) -> None: ...

    async def write_unit(self, name: str, text: str, *, runtime: bool = True) -> None: ...

    async def remove_unit(self, name: str, *, runtime: bool = True) -> None: ...

    async def close(self) -> None: ...
