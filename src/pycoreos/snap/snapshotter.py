"""Snapshot files: save, load the newest valid one, purge old ones (etcd's ``snap`` package).

File ``%016x-%016x.snap`` (term, index), so names sort by (term, index). Layout, little endian::

    magic "PCSN" | version u8 = 1 | 3 zero bytes | crc32 u32 of the body | body
    body = index u64 | term u64 | n_voters u32 | n_learners u32 | ids u64... | data

Invariants:

- A snapshot file is written as ``<name>.tmp``, fsynced, renamed, and the directory fsynced, so
  a file with a ``.snap`` name is always complete (etcd writes in place; the rename is safer).
- ``load`` never raises on a damaged file: it renames it ``<name>.broken`` (as etcd) and falls
  back to the next older one, so the member can still start from an older snapshot plus the WAL.
"""

from __future__ import annotations

import logging
import posixpath
import struct
import zlib
from collections.abc import Callable, Sequence

from pycoreos.raft.types import ConfState, Snapshot, SnapshotMetadata
from pycoreos.snap.errors import SnapCorruptError
from pycoreos.storage.disk import Disk
from pycoreos.wal.record import WalSnapshot

__all__ = ["Snapshotter", "decode_snapshot_file", "encode_snapshot_file", "snapshot_name"]

log = logging.getLogger("pycoreos.snap")

SUFFIX = ".snap"
_MAGIC = b"PCSN"
_HEAD = struct.Struct("<4sB3xI")
_BODY = struct.Struct("<QQII")


def snapshot_name(term: int, index: int) -> str:
    """File name of the snapshot at ``(term, index)``."""
    return f"{term:016x}-{index:016x}{SUFFIX}"


def encode_snapshot_file(snapshot: Snapshot) -> bytes:
    """The bytes of a snapshot file (pure)."""
    m = snapshot.metadata
    cs = m.conf_state
    ids = (*cs.voters, *cs.learners)
    body = b"".join(
        (
            _BODY.pack(m.index, m.term, len(cs.voters), len(cs.learners)),
            struct.pack(f"<{len(ids)}Q", *ids),
            snapshot.data,
        )
    )
    return _HEAD.pack(_MAGIC, 1, zlib.crc32(body)) + body


def decode_snapshot_file(raw: bytes, path: str = "") -> Snapshot:
    """Inverse of :func:`encode_snapshot_file` (pure).

    Raises:
        SnapCorruptError: bad magic/version, CRC mismatch or malformed body.
    """
    if len(raw) < _HEAD.size + _BODY.size:
        raise SnapCorruptError("snapshot file too short", path=path)
    magic, version, crc = _HEAD.unpack_from(raw)
    if magic != _MAGIC or version != 1:
        raise SnapCorruptError("not a snapshot file", path=path)
    body = raw[_HEAD.size :]
    if zlib.crc32(body) != crc:
        raise SnapCorruptError("crc mismatch", path=path)
    index, term, nv, nl = _BODY.unpack_from(body)
    start = _BODY.size + 8 * (nv + nl)
    if start > len(body):
        raise SnapCorruptError("malformed conf state", path=path)
    ids = struct.unpack_from(f"<{nv + nl}Q", body, _BODY.size)
    cs = ConfState(voters=ids[:nv], learners=ids[nv:])
    return Snapshot(
        data=body[start:], metadata=SnapshotMetadata(conf_state=cs, index=index, term=term)
    )


class Snapshotter:
    """Saves and loads snapshot files in one directory (created if missing).

    Args:
        disk: where the files live.
        dirpath: the snapshot directory (etcd's ``member/snap``).
    """

    def __init__(self, disk: Disk, dirpath: str) -> None:
        self._disk = disk
        self._dir = dirpath
        disk.makedirs(dirpath)

    @property
    def dir(self) -> str:
        """The snapshot directory."""
        return self._dir

    def save(self, snapshot: Snapshot) -> None:
        """Write ``snapshot`` durably (an empty snapshot is ignored, as etcd).

        Save the snapshot file *before* the WAL's snapshot marker, so the marker never points at
        a missing file.
        """
        if snapshot.is_empty():
            return
        m = snapshot.metadata
        path = posixpath.join(self._dir, snapshot_name(m.term, m.index))
        tmp = path + ".tmp"
        f = self._disk.open_file(tmp, create=True)
        try:
            f.truncate(0)
            f.write_at(0, encode_snapshot_file(snapshot))
            f.fsync()
        finally:
            f.close()
        self._disk.rename(tmp, path)
        self._disk.fsync_dir(self._dir)

    def names(self) -> list[str]:
        """Snapshot file names, newest first."""
        return sorted(
            (n for n in self._disk.list_dir(self._dir) if n.endswith(SUFFIX)), reverse=True
        )

    def load(self) -> Snapshot | None:
        """The newest valid snapshot, or None. Damaged files are renamed ``.broken``."""
        return self._load_matching(lambda _s: True)

    def load_newest_available(self, wal_snapshots: Sequence[WalSnapshot]) -> Snapshot | None:
        """The newest valid snapshot whose (term, index) is among ``wal_snapshots``, or None.

        Pass :func:`pycoreos.wal.valid_snapshot_entries`: this picks a snapshot that the WAL
        can be opened at, skipping files newer than the WAL knows (a crash between the two
        saves).
        """
        wanted = {(s.term, s.index) for s in wal_snapshots}
        return self._load_matching(lambda s: (s.metadata.term, s.metadata.index) in wanted)

    def _load_matching(self, match: Callable[[Snapshot], bool]) -> Snapshot | None:
        for name in self.names():
            path = posixpath.join(self._dir, name)
            try:
                snap = decode_snapshot_file(self._disk.read_file(path), path)
            except SnapCorruptError as exc:
                log.warning("%s; renaming it %s.broken", exc, name)
                self._disk.rename(path, path + ".broken")
                continue
            if match(snap):
                return snap
        return None

    def purge(self, keep: int = 5) -> list[str]:
        """Remove all but the ``keep`` newest snapshot files, and leftover temp files.

        Returns:
            The names removed.
        """
        names = self.names()
        removed = names[keep:]
        removed += [n for n in self._disk.list_dir(self._dir) if n.endswith(SUFFIX + ".tmp")]
        for n in removed:
            self._disk.remove(posixpath.join(self._dir, n))
        if removed:
            self._disk.fsync_dir(self._dir)
        return removed
