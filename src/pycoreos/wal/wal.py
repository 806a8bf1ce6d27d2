"""The write-ahead log: Raft hard states and entries, durable before they are acknowledged.

Layout (see docs/design/wal.md): a directory of segments ``%016x-%016x.wal`` (sequence, first
index). Every segment starts with a ``CRC`` record carrying the running CRC, then the metadata
record (and, after a cut, the current hard state). ``WAL.create`` also writes an empty snapshot
marker so that opening at index 0 matches.

Lifecycle: ``create`` -> appending; ``open`` -> reading -> ``read_all`` -> appending;
``close`` -> closed. Calling a method in the wrong state raises ``WalError``/``ClosedError``.

Invariants:

- ``save`` does exactly one write and at most one fsync (plus a cut when the segment is full):
  it is the group-commit point, and nothing it wrote may be acknowledged before it returns with
  ``sync=True``.
- A new segment is written as ``<name>.tmp``, fsynced, renamed, and the directory fsynced before
  anything is appended to it (PACE, etcd #6368).
- Every segment from the one holding the open snapshot onward is locked (``Disk.try_lock``) until
  ``release_lock_to``/``close``, so :func:`purge` never removes a segment still needed.
- After a write or fsync fails the WAL is broken: every later call raises ``BrokenError``
  (retrying an fsync after EIO can report success for lost data, "fsyncgate").
- The writing methods (``save``, ``save_snapshot``, ``sync``, ``release_lock_to``, ``close``)
  hold one mutex, as etcd's ``wal.mu``: the member writes from the event loop and from its I/O
  thread (snapshot markers, purges), and two interleaved writes would reuse one offset and
  break the CRC chain (robustness track record #5).
"""

from __future__ import annotations

import enum
import posixpath
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pycoreos._failpoints import failpoint
from pycoreos.errors import BrokenError, ClosedError
from pycoreos.raft.types import Entry, HardState
from pycoreos.storage.disk import Disk, DiskFile, FileLock, LockedError
from pycoreos.wal.errors import (
    CorruptError,
    SegmentNotFoundError,
    SnapshotNotFoundError,
    TornWriteError,
    WalError,
    WalExistsError,
)
from pycoreos.wal.record import (
    Encoder,
    RecordType,
    SegmentScan,
    Tail,
    WalSnapshot,
    decode_hard_state,
    decode_segment,
    decode_snapshot,
    encode_hard_state,
    encode_snapshot,
)
from pycoreos.wal.repair import repair_tail
from pycoreos.wal.replay import Replay
from pycoreos.wal.segment import (
    is_valid_sequence,
    parse_segment_name,
    search_index,
    segment_name,
    segment_names,
)

__all__ = ["SEGMENT_SIZE", "WAL", "purge", "valid_snapshot_entries"]

SEGMENT_SIZE = 64 * 1024 * 1024
"""Cut a new segment once the current one reaches this many bytes (etcd's SegmentSizeBytes)."""


class _Mode(enum.Enum):
    READING = "reading"
    APPENDING = "appending"
    CLOSED = "closed"
    BROKEN = "broken"


@dataclass(slots=True)
class _Segment:
    name: str
    lock: FileLock | None


class WAL:
    """A write-ahead log in one directory. Build it with :meth:`create` or :meth:`open`."""

    def __init__(
        self,
        disk: Disk,
        dirpath: str,
        segments: list[_Segment],
        *,
        start: WalSnapshot,
        segment_size: int,
        preallocate: bool,
        read_only: bool,
    ) -> None:
        self._disk = disk
        self._dir = dirpath
        self._segments = segments
        self._start = start
        self._segment_size = segment_size
        self._preallocate = preallocate
        self._read_only = read_only
        self._mode = _Mode.READING
        self._metadata = b""
        self._state = HardState()
        self._enti = 0  # index of the last entry written or read
        self._encoder = Encoder(0)
        self._tail: DiskFile | None = None
        self._offset = 0  # write offset in the tail segment
        # Serializes every write (track record #5): callers are the loop and the I/O thread.
        self._mu = threading.Lock()

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        disk: Disk,
        dirpath: str,
        metadata: bytes,
        *,
        segment_size: int = SEGMENT_SIZE,
        preallocate: bool = False,
    ) -> WAL:
        """Create a new WAL in ``dirpath``, durably, ready to append.

        The WAL is built in ``dirpath + ".tmp"`` and renamed into place, so a crash leaves either
        no WAL or a complete one.

        Raises:
            WalExistsError: ``dirpath`` exists and is not an empty directory.
        """
        if disk.exists(dirpath) and (not disk.is_dir(dirpath) or disk.list_dir(dirpath)):
            raise WalExistsError("file already exists", path=dirpath)
        tmp = dirpath + ".tmp"
        disk.remove_tree(tmp)
        disk.makedirs(tmp)
        name = segment_name(0, 0)
        f = disk.open_file(posixpath.join(tmp, name), create=True)
        try:
            if preallocate:
                f.truncate(segment_size)
            enc = Encoder(0)
            data = b"".join(
                (
                    enc.frame(RecordType.CRC),
                    enc.frame(RecordType.METADATA, metadata),
                    enc.frame(RecordType.SNAPSHOT, encode_snapshot(WalSnapshot())),
                )
            )
            f.write_at(0, data)
            f.fsync()
        finally:
            f.close()
        disk.fsync_dir(tmp)
        if disk.exists(dirpath):
            disk.remove_tree(dirpath)  # an empty directory (checked above)
        disk.rename(tmp, dirpath)
        disk.fsync_dir(posixpath.dirname(dirpath) or ".")
        path = posixpath.join(dirpath, name)
        w = cls(
            disk,
            dirpath,
            [_Segment(name, disk.try_lock(path))],
            start=WalSnapshot(),
            segment_size=segment_size,
            preallocate=preallocate,
            read_only=False,
        )
        w._metadata = metadata
        w._encoder = enc
        w._tail = disk.open_file(path)
        w._offset = len(data)
        w._mode = _Mode.APPENDING
        return w

    @staticmethod
    def exists(disk: Disk, dirpath: str) -> bool:
        """Whether ``dirpath`` holds at least one WAL segment."""
        return disk.is_dir(dirpath) and bool(segment_names(disk.list_dir(dirpath)))

    @classmethod
    def open(
        cls,
        disk: Disk,
        dirpath: str,
        at: WalSnapshot,
        *,
        segment_size: int = SEGMENT_SIZE,
        preallocate: bool = False,
        read_only: bool = False,
    ) -> WAL:
        """Open the WAL at snapshot ``at``; call :meth:`read_all` next.

        With ``read_only`` the segments are not locked, a torn tail is not repaired and the WAL
        cannot be appended to (for inspection tools).

        Raises:
            SegmentNotFoundError: no segment covers ``at.index``, or a segment is missing.
            LockedError: another holder has the WAL open.
        """
        names = _select(disk, dirpath, at.index)
        segments: list[_Segment] = []
        try:
            for n in names:
                lock = None if read_only else disk.try_lock(posixpath.join(dirpath, n))
                segments.append(_Segment(n, lock))
        except BaseException:
            for s in segments:
                if s.lock is not None:
                    s.lock.release()
            raise
        return cls(
            disk,
            dirpath,
            segments,
            start=at,
            segment_size=segment_size,
            preallocate=preallocate,
            read_only=read_only,
        )

    # -- reading --------------------------------------------------------------------------

    def read_all(self) -> tuple[bytes, HardState, list[Entry]]:
        """Read every record after the open snapshot; then the WAL is ready to append.

        Entries with an index at or below the snapshot's are skipped; a later entry overwrites
        earlier ones from its index on (raft log truncation), as in etcd.

        Returns:
            ``(metadata, last hard state, entries after the snapshot)``.

        Raises:
            CorruptError: any damage that is not a torn tail of the last segment (the message
                names the file and byte offset); subclasses say which.
            SnapshotMismatchError: the WAL's marker at the snapshot's index has another term.
            SnapshotNotFoundError: the WAL has no marker for the snapshot.
            MetadataConflictError: two metadata records differ.

        On any error the WAL is closed (its locks released).
        """
        if self._mode is not _Mode.READING:
            raise WalError(f"read_all in state {self._mode.value}", path=self._dir)
        try:
            return self._read_all()
        except BaseException:
            self.close()
            raise

    def _read_all(self) -> tuple[bytes, HardState, list[Entry]]:
        replay = Replay(self._start)
        last: SegmentScan | None = None
        for path, scan in _scan(self._disk, self._dir, [s.name for s in self._segments]):
            last = scan
            for rec in scan.records:
                replay.apply(rec, path)
        assert last is not None  # _select returns at least one segment
        tail_path = posixpath.join(self._dir, self._segments[-1].name)
        if not last.records:
            raise TornWriteError("last segment lost its header records", path=tail_path, offset=0)
        if not replay.matched:
            start = self._start
            raise SnapshotNotFoundError(
                f"snapshot not found (index {start.index}, term {start.term})", path=self._dir
            )
        self._metadata = replay.metadata or b""
        self._state = replay.state
        self._enti = replay.last_index
        if self._read_only:
            self._mode = _Mode.CLOSED
        else:
            self._open_tail(tail_path, last)
            self._mode = _Mode.APPENDING
        return self._metadata, replay.state, replay.entries

    def _open_tail(self, path: str, scan: SegmentScan) -> None:
        size = self._disk.file_size(path)
        if scan.tail is Tail.TORN:
            repair_tail(self._disk, path, scan.end)
        elif scan.end < size and not self._preallocate:
            # Only zeros follow the last record: drop them so the file ends at a record.
            repair_tail(self._disk, path, scan.end, keep_broken=False)
        f = self._disk.open_file(path)
        if self._preallocate and f.size() < self._segment_size:
            f.truncate(self._segment_size)
        self._tail = f
        self._offset = scan.end
        self._encoder = Encoder(scan.crc)

    # -- writing --------------------------------------------------------------------------

    def save(
        self, hard_state: HardState | None, entries: Sequence[Entry], *, sync: bool = True
    ) -> None:
        """Append ``entries`` then ``hard_state`` in one write, and fsync once if ``sync``.

        Nothing is written when there are no entries and the hard state is None or empty. The
        segment is cut (and fsynced) when it has reached the segment size.

        Raises:
            ClosedError: the WAL is closed.
            BrokenError: an earlier or this write/fsync failed; the WAL is unusable.
        """
        with self._mu:
            tail = self._appending()
            has_state = hard_state is not None and not hard_state.is_empty()
            if not entries and not has_state:
                return
            out: list[bytes] = []
            enc = self._encoder
            if entries:
                enc.frame_entries(entries, out)
            if has_state:
                assert hard_state is not None
                out.append(enc.frame(RecordType.STATE, encode_hard_state(hard_state)))
                self._state = hard_state
            data = b"".join(out)
            failpoint("wal_before_write")
            self._write(tail, data)
            if entries:
                self._enti = entries[-1].index
            if self._offset >= self._segment_size:
                self._cut()
            elif sync:
                self._fsync(tail)

    def save_snapshot(self, snap: WalSnapshot) -> None:
        """Append a snapshot marker and fsync.

        The marker says a snapshot at ``(index, term)`` was saved; ``open`` at that snapshot
        later checks it. Save the snapshot file first, then the marker (etcd's order).
        """
        with self._mu:
            tail = self._appending()
            self._write(tail, self._encoder.frame(RecordType.SNAPSHOT, encode_snapshot(snap)))
            self._enti = max(self._enti, snap.index)
            self._fsync(tail)

    def sync(self) -> None:
        """Fsync the tail segment."""
        with self._mu:
            self._fsync(self._appending())

    def _appending(self) -> DiskFile:
        if self._mode is _Mode.APPENDING and self._tail is not None:
            return self._tail
        if self._mode is _Mode.CLOSED:
            raise ClosedError("wal: closed")
        if self._mode is _Mode.BROKEN:
            raise BrokenError("wal: broken by an earlier write or fsync failure")
        raise WalError("read_all must be called before appending", path=self._dir)

    def _write(self, tail: DiskFile, data: bytes) -> None:
        try:
            tail.write_at(self._offset, data)
        except OSError as exc:
            self._mode = _Mode.BROKEN
            raise BrokenError(f"wal: write failed: {exc}") from exc
        self._offset += len(data)

    def _fsync(self, tail: DiskFile) -> None:
        failpoint("wal_before_fsync")
        try:
            tail.fsync()
        except OSError as exc:
            self._mode = _Mode.BROKEN
            raise BrokenError(f"wal: fsync failed: {exc}") from exc
        failpoint("wal_after_fsync")

    def _cut(self) -> None:
        tail = self._tail
        assert tail is not None
        disk = self._disk
        try:
            tail.truncate(self._offset)  # drop preallocated space of an early cut
        except OSError as exc:
            self._mode = _Mode.BROKEN
            raise BrokenError(f"wal: truncate failed: {exc}") from exc
        self._fsync(tail)
        seq = parse_segment_name(self._segments[-1].name)[0] + 1
        name = segment_name(seq, self._enti + 1)
        path = posixpath.join(self._dir, name)
        tmp = path + ".tmp"
        enc = Encoder(self._encoder.crc)
        parts = [enc.frame(RecordType.CRC), enc.frame(RecordType.METADATA, self._metadata)]
        if not self._state.is_empty():
            parts.append(enc.frame(RecordType.STATE, encode_hard_state(self._state)))
        data = b"".join(parts)
        try:
            f = disk.open_file(tmp, create=True)
            try:
                f.truncate(self._segment_size if self._preallocate else 0)
                f.write_at(0, data)
                f.fsync()
            finally:
                f.close()
            disk.rename(tmp, path)
            disk.fsync_dir(self._dir)
            lock = disk.try_lock(path)
            new_tail = disk.open_file(path)
        except OSError as exc:
            self._mode = _Mode.BROKEN
            raise BrokenError(f"wal: cutting segment {path} failed: {exc}") from exc
        tail.close()
        self._segments.append(_Segment(name, lock))
        self._tail = new_tail
        self._offset = len(data)
        self._encoder = enc

    # -- release and close ----------------------------------------------------------------

    def release_lock_to(self, index: int) -> None:
        """Unlock segments wholly before ``index`` so :func:`purge` may remove them.

        As etcd's ``ReleaseLockTo``: keeps every segment from the last one named below
        ``index`` (with locks on segments named 1..6, ``release_lock_to(4)`` releases 1 and 2
        and keeps 3). The tail is never released.
        """
        with self._mu:
            segs = self._segments
            smaller = len(segs) - 1
            for i, s in enumerate(segs):
                if parse_segment_name(s.name)[1] >= index:
                    smaller = i - 1
                    break
            if smaller <= 0:
                return
            for s in segs[:smaller]:
                if s.lock is not None:
                    s.lock.release()
            del segs[:smaller]
            failpoint("wal_after_release")

    def close(self) -> None:
        """Fsync the tail (if appending), release every lock. Idempotent."""
        with self._mu:
            if self._mode is _Mode.CLOSED and self._tail is None and not self._segments:
                return
            try:
                if self._mode is _Mode.APPENDING and self._tail is not None:
                    self._fsync(self._tail)
            finally:
                if self._tail is not None:
                    self._tail.close()
                    self._tail = None
                for s in self._segments:
                    if s.lock is not None:
                        s.lock.release()
                self._segments = []
                self._mode = _Mode.CLOSED

    @property
    def dir(self) -> str:
        """The WAL directory."""
        return self._dir

    @property
    def last_index(self) -> int:
        """Index of the last entry (or snapshot marker) written or read."""
        return self._enti

    @property
    def segment_names(self) -> list[str]:
        """Names of the segments this WAL holds locked, oldest first."""
        return [s.name for s in self._segments]


# -- module helpers ------------------------------------------------------------------------------


def _select(disk: Disk, dirpath: str, index: int) -> list[str]:
    if not disk.is_dir(dirpath):
        raise SegmentNotFoundError("file not found", path=dirpath)
    names = segment_names(disk.list_dir(dirpath))
    i = search_index(names, index)
    if i is None:
        raise SegmentNotFoundError(
            f"file not found (no segment covers index {index})", path=dirpath
        )
    names = names[i:]
    gap = is_valid_sequence(names)
    if gap is not None:
        raise SegmentNotFoundError(
            f"file not found (segment sequence broken before {gap})", path=dirpath
        )
    return names


def _scan(disk: Disk, dirpath: str, names: list[str]) -> Iterator[tuple[str, SegmentScan]]:
    crc = 0
    for i, n in enumerate(names):
        path = posixpath.join(dirpath, n)
        scan = decode_segment(disk.read_file(path), crc=crc, last=i == len(names) - 1, path=path)
        crc = scan.crc
        yield path, scan


def valid_snapshot_entries(disk: Disk, dirpath: str) -> list[WalSnapshot]:
    """Snapshot markers in the WAL whose index is committed by the last hard state.

    Reads every segment without locking or repairing (a torn tail is tolerated), as etcd's
    ``ValidSnapshotEntries``; pass the result to ``Snapshotter.load_newest_available``.

    Raises:
        CorruptError: damage that is not a torn tail.
        SegmentNotFoundError: the WAL directory is missing or has a gap.
    """
    names = segment_names(disk.list_dir(dirpath)) if disk.is_dir(dirpath) else []
    if not names:
        raise SegmentNotFoundError("file not found", path=dirpath)
    gap = is_valid_sequence(names)
    if gap is not None:
        raise SegmentNotFoundError(
            f"file not found (segment sequence broken before {gap})", path=dirpath
        )
    snaps: list[WalSnapshot] = []
    state = HardState()
    for path, scan in _scan(disk, dirpath, names):
        for rec in scan.records:
            try:
                if rec.type is RecordType.SNAPSHOT:
                    snaps.append(decode_snapshot(rec.data))
                elif rec.type is RecordType.STATE:
                    state = decode_hard_state(rec.data)
            except ValueError as exc:
                raise CorruptError(str(exc), path=path, offset=rec.offset) from exc
    return [s for s in snaps if s.index <= state.commit]


def purge(disk: Disk, dirpath: str, keep: int = 5) -> list[str]:
    """Remove the oldest segments beyond ``keep``, stopping at the first one still locked.

    As etcd's ``fileutil.PurgeFile``: a segment is removed only when its lock can be taken, so
    segments a live WAL still holds (see :meth:`WAL.release_lock_to`) are never removed.

    Returns:
        The names removed, oldest first.
    """
    names = segment_names(disk.list_dir(dirpath))
    removed: list[str] = []
    for n in names[: max(0, len(names) - keep)]:
        path = posixpath.join(dirpath, n)
        try:
            lock = disk.try_lock(path)
        except LockedError:
            break
        try:
            disk.remove(path)
        finally:
            lock.release()
        removed.append(n)
    if removed:
        disk.fsync_dir(dirpath)
    return removed
