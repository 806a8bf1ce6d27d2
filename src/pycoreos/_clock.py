"""Injected time: every component that needs "now" takes a :class:`Clock`.

Pure cores never call ``time`` themselves; drivers pass a ``RealClock`` and simulations pass a
virtual one, so a seeded run reproduces exactly.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Source of time. ``monotonic`` for intervals, ``wall`` (Unix seconds) for timestamps."""

    def monotonic(self) -> float: ...

    def wall(self) -> float: ...


class RealClock:
    """The operating system's clocks."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to; for tests and simulations."""

    def __init__(self, wall: float = 1_700_000_000.0, monotonic: float = 0.0) -> None:
        self._wall = wall
        self._mono = monotonic

    def monotonic(self) -> float:
        return self._mono

    def wall(self) -> float:
        return self._wall

    def advance(self, seconds: float) -> None:
        self._wall += seconds
        self._mono += seconds
