"""The Storage protocol Raft reads its stable log through, and an in-memory implementation.

Invariants of ``MemoryStorage`` (as etcd-io/raft's):

- ``_ents[0]`` is a dummy entry holding the index and term of the last compaction point
  (the snapshot), so ``first_index() == _ents[0].index + 1`` and ``term(first_index() - 1)``
  is always answerable.
- ``_ents[k].index == _ents[0].index + k`` (contiguous).

Strategy: the driver appends every ``Ready.entries`` batch here after persisting it (WAL),
applies received snapshots with ``apply_snapshot``, and compacts after taking snapshots.
Raft only reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pycoreos.raft.errors import (
    CompactedError,
    RaftInvariantError,
    SnapshotOutOfDateError,
    UnavailableError,
)
from pycoreos.raft.types import (
    ConfState,
    Entry,
    HardState,
    Snapshot,
    SnapshotMetadata,
)


def _varint_size(v: int) -> int:
    n = 1
    while v >= 0x80:
        v >>= 7
        n += 1
    return n


def entry_size(e: Entry) -> int:
    """Encoded size of ``e`` as raftpb would marshal it (used for message size budgets)."""
    n = 3 + _varint_size(int(e.type)) + _varint_size(e.term) + _varint_size(e.index)
    if e.data:
        n += 1 + _varint_size(len(e.data)) + len(e.data)
    return n


def payload_size(entries: Sequence[Entry]) -> int:
    """Total bytes of entry data (the uncommitted-size quota counts only payload)."""
    return sum(len(e.data) for e in entries)


def limit_size(ents: Sequence[Entry], max_size: int) -> tuple[Entry, ...]:
    """The longest prefix of ``ents`` within ``max_size`` bytes; never fewer than 1 entry."""
    if not ents:
        return ()
    size = entry_size(ents[0])
    limit = 1
    while limit < len(ents):
        size += entry_size(ents[limit])
        if size > max_size:
            break
        limit += 1
    return tuple(ents[:limit])


class Storage(Protocol):
    """Read-only view of the stable log, implemented by the application.

    All methods are synchronous. Errors: ``CompactedError`` for indexes before
    ``first_index()``, ``UnavailableError`` for indexes past ``last_index()``.
    """

    def initial_state(self) -> tuple[HardState, ConfState]:
        """The persisted hard state and the membership at the snapshot."""
        ...

    def entries(self, lo: int, hi: int, max_size: int) -> tuple[Entry, ...]:
        """Entries in ``[lo, hi)``, at least one if any, limited to ``max_size`` bytes."""
        ...

    def term(self, i: int) -> int:
        """Term of entry ``i``, for ``first_index()-1 <= i <= last_index()``."""
        ...

    def first_index(self) -> int:
        """Index of the first entry available (snapshot index + 1)."""
        ...

    def last_index(self) -> int:
        """Index of the last entry."""
        ...

    def snapshot(self) -> Snapshot:
        """The most recent snapshot."""
        ...


class MemoryStorage:
    """In-memory ``Storage``, filled by the driver (from WAL at boot, then per Ready)."""

    def __init__(self, *, conf_state: ConfState | None = None) -> None:
        """Create an empty storage.

        Args:
            conf_state: initial membership (as if held by an index-0 snapshot). Tests and
                tools use it to start a cluster without bootstrap entries.
        """
        self._hard_state = HardState()
        self._snapshot = Snapshot()
        if conf_state is not None:
            self._snapshot = Snapshot(metadata=SnapshotMetadata(conf_state=conf_state))
        self._ents: list[Entry] = [Entry(term=0, index=0)]

    # -- Storage protocol -------------------------------------------------------------

    def initial_state(self) -> tuple[HardState, ConfState]:
        """See ``Storage.initial_state``."""
        return self._hard_state, self._snapshot.metadata.conf_state

    def entries(self, lo: int, hi: int, max_size: int) -> tuple[Entry, ...]:
        """See ``Storage.entries``.

        Raises:
            CompactedError: ``lo`` is at or before the compaction point.
            UnavailableError: the storage holds no entries past the compaction point.
        """
        offset = self._ents[0].index
        if lo <= offset:
            raise CompactedError()
        if hi > self.last_index() + 1:
            raise RaftInvariantError(
                f"entries' hi({hi}) is out of bound lastindex({self.last_index()})"
            )
        if len(self._ents) == 1:
            raise UnavailableError()
        return limit_size(self._ents[lo - offset : hi - offset], max_size)

    def term(self, i: int) -> int:
        """See ``Storage.term``."""
        offset = self._ents[0].index
        if i < offset:
            raise CompactedError()
        if i - offset >= len(self._ents):
            raise UnavailableError()
        return self._ents[i - offset].term

    def first_index(self) -> int:
        """See ``Storage.first_index``."""
        return self._ents[0].index + 1

    def last_index(self) -> int:
        """See ``Storage.last_index``."""
        return self._ents[0].index + len(self._ents) - 1

    def snapshot(self) -> Snapshot:
        """See ``Storage.snapshot``."""
        return self._snapshot

    # -- mutation (driver only) -------------------------------------------------------

    def set_hard_state(self, hs: HardState) -> None:
        """Record the persisted hard state."""
        self._hard_state = hs

    def apply_snapshot(self, snap: Snapshot) -> None:
        """Replace the contents with ``snap`` (drops all entries).

        Raises:
            SnapshotOutOfDateError: ``snap`` is not newer than the current snapshot.
        """
        if self._snapshot.metadata.index >= snap.metadata.index:
            raise SnapshotOutOfDateError()
        self._snapshot = snap
        self._ents = [Entry(term=snap.metadata.term, index=snap.metadata.index)]

    def create_snapshot(self, i: int, cs: ConfState | None, data: bytes) -> Snapshot:
        """Make a snapshot at applied index ``i``; the caller compacts separately.

        Raises:
            SnapshotOutOfDateError: ``i`` is not past the current snapshot.
        """
        if i <= self._snapshot.metadata.index:
            raise SnapshotOutOfDateError()
        if i > self.last_index():
            raise RaftInvariantError(f"snapshot {i} is out of bound lastindex({self.last_index()})")
        offset = self._ents[0].index
        meta = SnapshotMetadata(
            conf_state=cs if cs is not None else self._snapshot.metadata.conf_state,
            index=i,
            term=self._ents[i - offset].term,
        )
        self._snapshot = Snapshot(data=data, metadata=meta)
        return self._snapshot

    def compact(self, compact_index: int) -> None:
        """Discard entries before ``compact_index`` (it becomes the dummy entry).

        Raises:
            CompactedError: already compacted at or past ``compact_index``.
        """
        offset = self._ents[0].index
        if compact_index <= offset:
            raise CompactedError()
        if compact_index > self.last_index():
            raise RaftInvariantError(
                f"compact {compact_index} is out of bound lastindex({self.last_index()})"
            )
        i = compact_index - offset
        head = Entry(term=self._ents[i].term, index=self._ents[i].index)
        self._ents = [head, *self._ents[i + 1 :]]

    def append(self, entries: Sequence[Entry]) -> None:
        """Append ``entries``, truncating any conflicting suffix first.

        Entries at or before the compaction point are ignored. A gap raises
        ``RaftInvariantError``.
        """
        if not entries:
            return
        first = self.first_index()
        last = entries[0].index + len(entries) - 1
        if last < first:
            return
        if first > entries[0].index:
            entries = entries[first - entries[0].index :]
        offset = entries[0].index - self._ents[0].index
        if len(self._ents) > offset:
            self._ents = [*self._ents[:offset], *entries]
        elif len(self._ents) == offset:
            self._ents.extend(entries)
        else:
            raise RaftInvariantError(
                f"missing log entry [last: {self.last_index()}, append at: {entries[0].index}]"
            )
