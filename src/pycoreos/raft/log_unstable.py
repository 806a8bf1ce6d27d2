"""Unstable: the tail of the log (and an incoming snapshot) not yet persisted by the driver.

Invariants:

- ``entries[k].index == offset + k``.
- If ``snapshot`` is set, ``offset == snapshot.metadata.index + 1`` at the time it was
  restored (entries may follow it).
- Everything here is handed to the driver in ``Ready`` and dropped from here by
  ``stable_to``/``stable_snap_to`` after ``advance()``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pycoreos.raft.errors import RaftInvariantError
from pycoreos.raft.types import Entry, Snapshot


class Unstable:
    """Entries and snapshot that the driver has not yet persisted."""

    __slots__ = ("entries", "offset", "snapshot")

    def __init__(self, offset: int) -> None:
        self.snapshot: Snapshot | None = None
        self.entries: list[Entry] = []
        self.offset = offset

    def maybe_first_index(self) -> int | None:
        """First index if a snapshot is pending (``snapshot.index + 1``), else None."""
        if self.snapshot is not None:
            return self.snapshot.metadata.index + 1
        return None

    def maybe_last_index(self) -> int | None:
        """Last index held here (entries, else snapshot), or None."""
        if self.entries:
            return self.offset + len(self.entries) - 1
        if self.snapshot is not None:
            return self.snapshot.metadata.index
        return None

    def maybe_term(self, i: int) -> int | None:
        """Term of ``i`` if this structure knows it."""
        if i < self.offset:
            if self.snapshot is not None and self.snapshot.metadata.index == i:
                return self.snapshot.metadata.term
            return None
        last = self.maybe_last_index()
        if last is None or i > last:
            return None
        return self.entries[i - self.offset].term

    def stable_to(self, i: int, t: int) -> None:
        """Entries up to ``i`` (with term ``t``) are persisted.

        Ignored if the entry at ``i`` was since replaced by one of another term (the
        driver persisted entries that raft has meanwhile truncated).
        """
        gt = self.maybe_term(i)
        if gt is None:
            return
        if gt == t and i >= self.offset:
            del self.entries[: i + 1 - self.offset]
            self.offset = i + 1

    def stable_snap_to(self, i: int) -> None:
        """The pending snapshot at ``i`` is persisted."""
        if self.snapshot is not None and self.snapshot.metadata.index == i:
            self.snapshot = None

    def restore(self, s: Snapshot) -> None:
        """Replace everything with the snapshot ``s``."""
        self.offset = s.metadata.index + 1
        self.entries = []
        self.snapshot = s

    def truncate_and_append(self, ents: Sequence[Entry]) -> None:
        """Append ``ents``, replacing any existing entries at or after ``ents[0].index``."""
        after = ents[0].index
        if after == self.offset + len(self.entries):
            self.entries.extend(ents)
        elif after <= self.offset:
            # The log is being truncated to before our offset: replace everything.
            self.offset = after
            self.entries = list(ents)
        else:
            keep = self.slice(self.offset, after)
            self.entries = [*keep, *ents]

    def slice(self, lo: int, hi: int) -> list[Entry]:
        """Entries ``[lo, hi)``, which must lie within this structure."""
        upper = self.offset + len(self.entries)
        if lo > hi:
            raise RaftInvariantError(f"invalid unstable.slice {lo} > {hi}")
        if lo < self.offset or hi > upper:
            raise RaftInvariantError(
                f"unstable.slice[{lo},{hi}) out of bound [{self.offset},{upper}]"
            )
        return self.entries[lo - self.offset : hi - self.offset]
