"""Replaying decoded records into (metadata, hard state, entries). PURE: no I/O.

Rules, as etcd's ``WAL.ReadAll``:

- an entry at or below the open snapshot's index is skipped; one above it replaces every entry
  from its index on (Raft log truncation); an index beyond the end + 1 is corruption (a
  malicious or damaged record must not make a huge gap, TOB-ETCD-006);
- the last hard state wins; all metadata records must be equal;
- a snapshot marker at the open snapshot's index must have its term.
"""

from __future__ import annotations

from pycoreos.raft.types import Entry, HardState
from pycoreos.wal.errors import CorruptError, MetadataConflictError, SnapshotMismatchError
from pycoreos.wal.record import (
    Record,
    RecordType,
    WalSnapshot,
    decode_entry,
    decode_hard_state,
    decode_snapshot,
)

__all__ = ["Replay"]


class Replay:
    """Accumulates the records of a WAL opened at snapshot ``start``.

    Attributes:
        metadata: the metadata record's data (None until one is seen).
        state: the last hard state seen.
        entries: entries after ``start.index``.
        matched: whether a marker equal to ``start`` was seen.
        last_index: index of the last entry record seen (skipped ones included).
    """

    def __init__(self, start: WalSnapshot) -> None:
        self.start = start
        self.metadata: bytes | None = None
        self.state = HardState()
        self.entries: list[Entry] = []
        self.matched = False
        self.last_index = 0

    def apply(self, rec: Record, path: str) -> None:
        """Apply one record read from ``path``.

        Raises:
            CorruptError: undecodable data or an entry index gap.
            MetadataConflictError: metadata differs from an earlier record's.
            SnapshotMismatchError: the marker at the start index has another term.
        """
        try:
            self._apply(rec, path)
        except ValueError as exc:
            raise CorruptError(str(exc), path=path, offset=rec.offset) from exc

    def _apply(self, rec: Record, path: str) -> None:
        t = rec.type
        start = self.start
        if t is RecordType.ENTRY:
            e = decode_entry(rec.data)
            if e.index > start.index:
                ents = self.entries
                up = e.index - start.index - 1
                if up > len(ents):
                    raise CorruptError(
                        f"entry index {e.index} leaves a gap after {start.index + len(ents)}",
                        path=path,
                        offset=rec.offset,
                    )
                del ents[up:]
                ents.append(e)
            self.last_index = e.index
        elif t is RecordType.STATE:
            self.state = decode_hard_state(rec.data)
        elif t is RecordType.METADATA:
            if self.metadata is not None and self.metadata != rec.data:
                raise MetadataConflictError(
                    "conflicting metadata found", path=path, offset=rec.offset
                )
            self.metadata = rec.data
        elif t is RecordType.SNAPSHOT:
            snap = decode_snapshot(rec.data)
            if snap.index == start.index:
                if snap.term != start.term:
                    raise SnapshotMismatchError(
                        f"snapshot mismatch (index {snap.index}: term {snap.term}, "
                        f"want {start.term})",
                        path=path,
                        offset=rec.offset,
                    )
                self.matched = True
        # CRC records were checked by the decoder.
