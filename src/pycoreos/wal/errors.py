"""The WAL's error tree. Messages start with ``wal:`` and name the file and byte offset.

::

    WalError
    ├── CorruptError            a record that cannot be right (bad frame, bad codec, bad order)
    │   ├── CRCMismatchError    a record's CRC (or the chained CRC) does not match
    │   └── TornWriteError      an incomplete/zeroed record where it cannot be a torn tail
    ├── SegmentNotFoundError    no segment covers the index, or a gap in the sequence
    ├── SnapshotMismatchError   the WAL's snapshot record at that index has another term
    ├── SnapshotNotFoundError   the WAL has no snapshot record for the requested index
    ├── MetadataConflictError   two metadata records disagree
    └── WalExistsError          create() over an existing WAL
"""

from __future__ import annotations

from pycoreos.errors import StackError


class WalError(StackError):
    """Root of WAL errors. ``path`` and ``offset`` locate the problem when known."""

    def __init__(self, message: str, *, path: str = "", offset: int | None = None) -> None:
        self.path = path
        self.offset = offset
        where = ""
        if path:
            where = f" in {path}"
            if offset is not None:
                where += f" at offset {offset}"
        super().__init__(f"wal: {message}{where}")


class CorruptError(WalError):
    """A record that cannot be right: bad frame, undecodable data, impossible index."""


class CRCMismatchError(CorruptError):
    """A record's CRC, or the CRC chained from the previous segment, does not match."""


class TornWriteError(CorruptError):
    """An incomplete or zero-filled record that is not at the tail of the last segment."""


class SegmentNotFoundError(WalError):
    """No segment covers the requested index, or a segment is missing from the sequence."""


class SnapshotMismatchError(WalError):
    """The WAL has a snapshot record at the requested index, but with another term."""


class SnapshotNotFoundError(WalError):
    """The WAL has no snapshot record matching the requested snapshot."""


class MetadataConflictError(WalError):
    """Two metadata records in the WAL differ."""


class WalExistsError(WalError):
    """``WAL.create`` was asked to create a WAL where one already exists."""
