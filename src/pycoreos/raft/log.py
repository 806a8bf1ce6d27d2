"""RaftLog: the stable Storage plus the Unstable tail, with commit/applied cursors.

Invariants:

- ``first_index() - 1 <= applied <= committed <= last_index()``.
- Committed entries are never truncated (``append`` below ``committed`` is fail-stop).
- ``term(i)`` is 0 for indexes outside ``[first_index()-1, last_index()]``; it raises
  ``CompactedError``/``UnavailableError`` only when storage lost the entry concurrently.
"""

from __future__ import annotations

from collections.abc import Sequence

from pycoreos.raft.config import NO_LIMIT
from pycoreos.raft.errors import CompactedError, RaftInvariantError, UnavailableError
from pycoreos.raft.log_unstable import Unstable
from pycoreos.raft.storage import Storage, limit_size
from pycoreos.raft.types import Entry, Snapshot


class RaftLog:
    """The node's view of the whole log."""

    def __init__(self, storage: Storage, max_next_ents_size: int = NO_LIMIT) -> None:
        self.storage = storage
        first = storage.first_index()
        last = storage.last_index()
        self.unstable = Unstable(last + 1)
        # Everything in storage up to the snapshot is committed and applied by definition.
        self.committed = first - 1
        self.applied = first - 1
        self.max_next_ents_size = max_next_ents_size

    def __repr__(self) -> str:
        return (
            f"committed={self.committed}, applied={self.applied}, "
            f"unstable.offset={self.unstable.offset}, "
            f"len(unstable.entries)={len(self.unstable.entries)}"
        )

    # -- appending ----------------------------------------------------------------------

    def maybe_append(
        self, index: int, log_term: int, committed: int, ents: Sequence[Entry]
    ) -> int | None:
        """Append ``ents`` after ``(index, log_term)`` if that entry matches.

        Returns:
            The index of the last new entry, or None if the log does not match (reject).
        """
        if not self.match_term(index, log_term):
            return None
        last_new = index + len(ents)
        ci = self.find_conflict(ents)
        if ci != 0:
            if ci <= self.committed:
                raise RaftInvariantError(
                    f"entry {ci} conflict with committed entry [committed({self.committed})]"
                )
            self.append(ents[ci - (index + 1) :])
        self.commit_to(min(committed, last_new))
        return last_new

    def append(self, ents: Sequence[Entry]) -> int:
        """Append (truncating a conflicting tail); returns the new last index."""
        if not ents:
            return self.last_index()
        after = ents[0].index - 1
        if after < self.committed:
            raise RaftInvariantError(
                f"after({after}) is out of range [committed({self.committed})]"
            )
        self.unstable.truncate_and_append(ents)
        return self.last_index()

    def find_conflict(self, ents: Sequence[Entry]) -> int:
        """Index of the first entry of ``ents`` that is new or conflicts; 0 if none."""
        for e in ents:
            if not self.match_term(e.index, e.term):
                return e.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> int:
        """Largest index ``<= index`` whose term is ``<= term`` (fast back-tracking hint)."""
        if index > self.last_index():
            return index
        while True:
            try:
                log_term = self.term(index)
            except (CompactedError, UnavailableError):
                break
            if log_term <= term:
                break
            index -= 1
        return index

    # -- reading ------------------------------------------------------------------------

    def unstable_entries(self) -> tuple[Entry, ...]:
        """Entries not yet persisted."""
        return tuple(self.unstable.entries)

    def next_ents(self) -> tuple[Entry, ...]:
        """Committed entries not yet applied (bounded by ``max_next_ents_size``)."""
        off = max(self.applied + 1, self.first_index())
        if self.committed + 1 > off:
            try:
                return self.slice(off, self.committed + 1, self.max_next_ents_size)
            except CompactedError as e:
                raise RaftInvariantError(
                    f"unexpected error when getting unapplied entries: {e}"
                ) from e
        return ()

    def has_next_ents(self) -> bool:
        """Whether committed entries are waiting to be applied."""
        off = max(self.applied + 1, self.first_index())
        return self.committed + 1 > off

    def has_pending_snapshot(self) -> bool:
        """Whether an incoming snapshot waits to be persisted."""
        s = self.unstable.snapshot
        return s is not None and not s.is_empty()

    def snapshot(self) -> Snapshot:
        """The pending incoming snapshot, else storage's snapshot."""
        if self.unstable.snapshot is not None:
            return self.unstable.snapshot
        return self.storage.snapshot()

    def first_index(self) -> int:
        """First index available in the log."""
        i = self.unstable.maybe_first_index()
        return i if i is not None else self.storage.first_index()

    def last_index(self) -> int:
        """Last index in the log."""
        i = self.unstable.maybe_last_index()
        return i if i is not None else self.storage.last_index()

    def last_term(self) -> int:
        """Term of the last entry."""
        try:
            return self.term(self.last_index())
        except (CompactedError, UnavailableError) as e:
            raise RaftInvariantError(f"unexpected error when getting the last term: {e}") from e

    def term(self, i: int) -> int:
        """Term of entry ``i``; 0 when out of range.

        Raises:
            CompactedError: storage compacted ``i`` meanwhile.
            UnavailableError: storage does not have ``i``.
        """
        dummy = self.first_index() - 1
        if i < dummy or i > self.last_index():
            return 0
        t = self.unstable.maybe_term(i)
        if t is not None:
            return t
        return self.storage.term(i)

    def term_or_zero(self, i: int) -> int:
        """``term(i)``, or 0 if compacted (etcd's ``zeroTermOnErrCompacted``)."""
        try:
            return self.term(i)
        except CompactedError:
            return 0

    def entries(self, i: int, max_size: int) -> tuple[Entry, ...]:
        """Entries from ``i`` to the end, limited to ``max_size`` bytes.

        Raises:
            CompactedError: ``i`` was compacted (the leader must send a snapshot).
        """
        if i > self.last_index():
            return ()
        return self.slice(i, self.last_index() + 1, max_size)

    def all_entries(self) -> tuple[Entry, ...]:
        """Every available entry (tests and debugging)."""
        while True:
            try:
                return self.entries(self.first_index(), NO_LIMIT)
            except CompactedError:
                # Storage compacted concurrently; retry from the new first index.
                continue

    def is_up_to_date(self, lasti: int, term: int) -> bool:
        """Whether a log ending at ``(lasti, term)`` is at least as up-to-date (§5.4.1)."""
        lt = self.last_term()
        return term > lt or (term == lt and lasti >= self.last_index())

    def match_term(self, i: int, term: int) -> bool:
        """Whether entry ``i`` exists with ``term``."""
        try:
            return self.term(i) == term
        except (CompactedError, UnavailableError):
            return False

    def slice(self, lo: int, hi: int, max_size: int) -> tuple[Entry, ...]:
        """Entries ``[lo, hi)`` limited to ``max_size`` bytes.

        Raises:
            CompactedError: ``lo`` predates the first index.
        """
        self._check_out_of_bounds(lo, hi)
        if lo == hi:
            return ()
        ents: list[Entry] = []
        uoff = self.unstable.offset
        if lo < uoff:
            try:
                stored = self.storage.entries(lo, min(hi, uoff), max_size)
            except UnavailableError as e:
                raise RaftInvariantError(
                    f"entries[{lo}:{min(hi, uoff)}) is unavailable from storage"
                ) from e
            if len(stored) < min(hi, uoff) - lo:
                # Storage hit the size limit.
                return stored
            ents.extend(stored)
        if hi > uoff:
            ents.extend(self.unstable.slice(max(lo, uoff), hi))
        return limit_size(ents, max_size)

    def _check_out_of_bounds(self, lo: int, hi: int) -> None:
        if lo > hi:
            raise RaftInvariantError(f"invalid slice {lo} > {hi}")
        fi = self.first_index()
        if lo < fi:
            raise CompactedError()
        if hi > self.last_index() + 1:
            raise RaftInvariantError(f"slice[{lo},{hi}) out of bound [{fi},{self.last_index()}]")

    # -- cursors ------------------------------------------------------------------------

    def commit_to(self, to_commit: int) -> None:
        """Advance ``committed`` (never decreases)."""
        if self.committed < to_commit:
            if self.last_index() < to_commit:
                raise RaftInvariantError(
                    f"tocommit({to_commit}) is out of range [lastIndex({self.last_index()})]. "
                    "Was the raft log corrupted, truncated, or lost?"
                )
            self.committed = to_commit

    def maybe_commit(self, max_index: int, term: int) -> bool:
        """Commit up to ``max_index`` if that entry is from ``term`` (§5.4.2)."""
        if max_index > self.committed and self.term_or_zero(max_index) == term:
            self.commit_to(max_index)
            return True
        return False

    def applied_to(self, i: int) -> None:
        """Record that entries up to ``i`` were applied."""
        if i == 0:
            return
        if self.committed < i or i < self.applied:
            raise RaftInvariantError(
                f"applied({i}) is out of range [prevApplied({self.applied}), "
                f"committed({self.committed})]"
            )
        self.applied = i

    def stable_to(self, i: int, t: int) -> None:
        """Entries up to ``(i, t)`` are persisted."""
        self.unstable.stable_to(i, t)

    def stable_snap_to(self, i: int) -> None:
        """The snapshot at ``i`` is persisted."""
        self.unstable.stable_snap_to(i)

    def restore(self, s: Snapshot) -> None:
        """Reset the log to the snapshot ``s`` (follower receiving MsgSnap)."""
        self.committed = s.metadata.index
        self.unstable.restore(s)
