"""pycoreos.wal: the write-ahead log (etcd's ``server/storage/wal``).

See ``docs/design/wal.md`` for the on-disk format and the torn-tail rules.
"""

from __future__ import annotations

from pycoreos.wal.errors import (
    CorruptError,
    CRCMismatchError,
    MetadataConflictError,
    SegmentNotFoundError,
    SnapshotMismatchError,
    SnapshotNotFoundError,
    TornWriteError,
    WalError,
    WalExistsError,
)
from pycoreos.wal.record import WalSnapshot
from pycoreos.wal.wal import SEGMENT_SIZE, WAL, purge, valid_snapshot_entries

__all__ = [
    "SEGMENT_SIZE",
    "WAL",
    "CRCMismatchError",
    "CorruptError",
    "MetadataConflictError",
    "SegmentNotFoundError",
    "SnapshotMismatchError",
    "SnapshotNotFoundError",
    "TornWriteError",
    "WalError",
    "WalExistsError",
    "WalSnapshot",
    "purge",
    "valid_snapshot_entries",
]
