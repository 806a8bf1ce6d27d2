"""Per-unit journals: one JSON-lines file per unit, with timestamps, plus live followers.

Each line is ``{"ts": <unix seconds>, "pid": N, "id": "<identifier>", "msg": "<text>"}``.
JSON keeps arbitrary bytes from services safe (undecodable bytes are replaced). A file is
rotated to ``NAME.jsonl.1`` when it passes ``max_bytes``; reads look at both.

Rendering follows ``journalctl -o short``: ``Nov 26 21:43:12 HOST ident[pid]: message``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections import deque
from pathlib import Path

from pycoreos._clock import Clock, RealClock
from pycoreos.units.manager import JournalEntry

__all__ = ["Journal", "render_short"]


def render_short(e: JournalEntry, hostname: str) -> str:
    """One entry the way ``journalctl`` prints it by default."""
    stamp = time.strftime("%b %d %H:%M:%S", time.localtime(e.ts))
    who = f"{e.identifier}[{e.pid}]" if e.pid else e.identifier
    return f"{stamp} {hostname} {who}: {e.message}"


class Journal:
    """Append-only per-unit logs under ``directory``. Not thread-safe; one event loop."""

    def __init__(
        self, directory: Path, *, clock: Clock | None = None, max_bytes: int = 8 << 20
    ) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.clock = clock or RealClock()
        self.max_bytes = max_bytes
        self._fds: dict[str, int] = {}
        self._followers: dict[str, set[asyncio.Queue[JournalEntry]]] = {}

    def _path(self, unit: str) -> Path:
        return self.dir / f"{unit}.jsonl"

    def append(self, unit: str, pid: int, identifier: str, message: str) -> JournalEntry:
        """Record one line (without its newline) and wake followers."""
        entry = JournalEntry(
            ts=self.clock.wall(), unit=unit, pid=pid, identifier=identifier, message=message
        )
        rec = json.dumps(
            {"ts": round(entry.ts, 6), "pid": pid, "id": identifier, "msg": message},
            ensure_ascii=False,
        )
        fd = self._fds.get(unit)
        if fd is None:
            fd = os.open(self._path(unit), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            self._fds[unit] = fd
        os.write(fd, (rec + "\n").encode("utf-8", "surrogateescape"))
        if os.fstat(fd).st_size > self.max_bytes:
            os.close(fd)
            del self._fds[unit]
            os.replace(self._path(unit), self.dir / f"{unit}.jsonl.1")
        for q in self._followers.get(unit, ()):
            q.put_nowait(entry)
        return entry

    def read(self, unit: str, lines: int | None = None) -> list[JournalEntry]:
        """The last ``lines`` entries of ``unit`` (all when None), oldest first."""
        out: deque[JournalEntry] = deque(maxlen=lines)
        if lines == 0:
            return []
        for p in (self.dir / f"{unit}.jsonl.1", self._path(unit)):
            with (
                contextlib.suppress(FileNotFoundError),
                p.open(encoding="utf-8", errors="replace") as f,
            ):
                for raw in f:
                    try:
                        d = json.loads(raw)
                        out.append(
                            JournalEntry(
                                ts=float(d["ts"]),
                                unit=unit,
                                pid=int(d["pid"]),
                                identifier=str(d["id"]),
                                message=str(d["msg"]),
                            )
                        )
                    except (ValueError, KeyError, TypeError):
                        continue  # a torn last line after a crash
        return list(out)

    def subscribe(self, unit: str) -> asyncio.Queue[JournalEntry]:
        """A queue receiving every later entry of ``unit``; call :meth:`unsubscribe` after."""
        q: asyncio.Queue[JournalEntry] = asyncio.Queue()
        self._followers.setdefault(unit, set()).add(q)
        return q

    def unsubscribe(self, unit: str, q: asyncio.Queue[JournalEntry]) -> None:
        """Stop delivering to ``q``."""
        self._followers.get(unit, set()).discard(q)

    def close(self) -> None:
        """Close the open files."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
