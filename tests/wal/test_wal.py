"""WAL create/save/open/read_all, snapshot markers, cuts, locks and purge."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from pycoreos._failpoints import FailpointError, arm, disarm
from pycoreos.errors import ClosedError
from pycoreos.raft.types import ConfState, Entry, HardState
from pycoreos.storage import Disk, LockedError, RealDisk
from pycoreos.testing.sim.disk import SimDisk
from pycoreos.wal import (
    WAL,
    MetadataConflictError,
    SegmentNotFoundError,
    SnapshotMismatchError,
    SnapshotNotFoundError,
    WalError,
    WalExistsError,
    WalSnapshot,
    purge,
    valid_snapshot_entries,
)
from pycoreos.wal.record import RecordType, decode_entry, decode_segment
from pycoreos.wal.segment import parse_segment_name, segment_name


@pytest.fixture(params=["sim", "real"])
def disk_dir(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Disk, str]:
    if request.param == "real":
        return RealDisk(), str(tmp_path / "member" / "wal")
    disk = SimDisk(random.Random(0))
    disk.makedirs("/data/member")
    return disk, "/data/member/wal"


def ents(lo: int, hi: int, term: int = 1, size: int = 10) -> list[Entry]:
    return [Entry(term, i, data=bytes([i % 256]) * size) for i in range(lo, hi + 1)]


def reopen(
    disk: Disk, d: str, at: WalSnapshot | None = None, **kw: int
) -> tuple[WAL, bytes, HardState, list[Entry]]:
    w = WAL.open(disk, d, at or WalSnapshot(), **kw)  # type: ignore[arg-type]
    md, hs, es = w.read_all()
    return w, md, hs, es


def test_create_save_reopen(disk_dir: tuple[Disk, str]) -> None:
    disk, d = disk_dir
    assert not WAL.exists(disk, d)
    w = WAL.create(disk, d, b"cluster-meta")
    assert WAL.exists(disk, d)
    assert not disk.exists(d + ".tmp")
    w.save(HardState(1, 1, 0), ents(1, 3))
    w.save(HardState(1, 1, 3), [])
    w.close()
    w, md, hs, es = reopen(disk, d)
    assert md == b"cluster-meta"
    assert hs == HardState(1, 1, 3)
    assert es == ents(1, 3)
    assert w.last_index == 3
    w.save(None, ents(4, 5))
    w.close()
    w, _, hs, es = reopen(disk, d)
    assert es == ents(1, 5)
    assert hs == HardState(1, 1, 3)
    w.close()


def test_create_refuses_an_existing_wal(disk_dir: tuple[Disk, str]) -> None:
    disk, d = disk_dir
    WAL.create(disk, d, b"m").close()
    with pytest.raises(WalExistsError, match="wal: file already exists"):
        WAL.create(disk, d, b"m")


def test_wal_is_locked_while_open(disk_dir: tuple[Disk, str]) -> None:
    disk, d = disk_dir
    w = WAL.create(disk, d, b"m")
    with pytest.raises(LockedError):
        WAL.open(disk, d, WalSnapshot())
    w.close()
    w.close()  # idempotent
    WAL.open(disk, d, WalSnapshot()).close()


def test_lifecycle_errors() -> None:
    disk = SimDisk()
    disk.makedirs("/m")
    WAL.create(disk, "/m/wal", b"m").close()
    w = WAL.open(disk, "/m/wal", WalSnapshot())
    with pytest.raises(WalError, match="read_all must be called"):
        w.save(HardState(1, 0, 0), [])
    w.read_all()
    with pytest.raises(WalError, match="read_all in state appending"):
        w.read_all()
    w.close()
    with pytest.raises(ClosedError):
        w.save(None, ents(1, 1))


def test_later_entries_overwrite_from_their_index() -> None:
    disk = SimDisk()
    disk.makedirs("/m")
    w = WAL.create(disk, "/m/wal", b"m")
    w.save(HardState(1, 1, 1), ents(1, 5, term=1))
    w.save(HardState(2, 2, 1), ents(3, 4, term=2))  # a new leader truncated 3..5
    w.close()
    _, _, hs, es = reopen(disk, "/m/wal")
    assert es == ents(1, 2, term=1) + ents(3, 4, term=2)
    assert hs == HardState(2, 2, 1)


def test_one_write_and_one_fsync_per_save() -> None:
    disk = SimDisk()
    disk.makedirs("/m")
    w = WAL.create(disk, "/m/wal", b"m")
    w0, f0 = disk.writes, disk.fsyncs
    w.save(HardState(1, 1, 0), ents(1, 64))
    assert (disk.writes - w0, disk.fsyncs - f0) == (1, 1)
    w.save(HardState(1, 1, 64), ents(65, 65), sync=False)
    assert (disk.writes - w0, disk.fsyncs - f0) == (2, 1)
    w.save(None, [])  # nothing to write
    w.save(HardState(), [])
    assert (disk.writes - w0, disk.fsyncs - f0) == (2, 1)
    w.sync()
    assert disk.fsyncs - f0 == 2


def test_snapshot_markers() -> None:
    disk = SimDisk()
    disk.makedirs("/m")
    w = WAL.create(disk, "/m/wal", b"m")
    w.save(HardState(1, 1, 5), ents(1, 10))
    snap = WalSnapshot(5, 1, ConfState(voters=(1, 2, 3)))
    w.save_snapshot(snap)
    w.save(HardState(1, 1, 10), [])
    w.close()
    w, _, hs, es = reopen(disk, "/m/wal", snap)
    assert es == ents(6, 10)  # only entries after the snapshot
    assert hs.commit == 10
    w.close()
    with pytest.raises(
        SnapshotMismatchError, match=r"term 1, want 2\) in /m/wal/0+-0+\.wal at offset"
    ):
        reopen(disk, "/m/wal", WalSnapshot(5, 2))
    with pytest.raises(SnapshotNotFoundError, match="index 7"):
        reopen(disk, "/m/wal", WalSnapshot(7, 1))
    assert valid_snapshot_entries(disk, "/m/wal") == [WalSnapshot(0, 0), snap]


def test_valid_snapshot_entries_skip_uncommitted_markers() -> None:
    disk = SimDisk()
    disk.makedirs("/m")
    w = WAL.create(disk, "/m/wal", b"m")
    w.save(HardState(1, 1, 3), ents(1, 5))
    w.save_snapshot(WalSnapshot(5, 1))  # index 5 is past commit 3
    w.close()
    assert valid_snapshot_entries(disk, "/m/wal") == [WalSnapshot(0, 0)]


def test_conflicting_metadata_is_refused() -> None:
    disk = SimDisk()
    disk.makedirs("/m")
    w = WAL.create(disk, "/m/wal", b"one", segment_size=1024)
    w._metadata = b"two"  # as if a buggy writer changed it; the next cut records it
    w.save(HardState(1, 1, 1), ents(1, 20, size=100))
    w.close()
    with pytest.raises(MetadataConflictError):
        reopen(disk, "/m/wal")


def test_segments_are_cut_named_and_read_back(disk_dir: tuple[Disk, str]) -> None:
    disk, d = disk_dir
    w = WAL.create(disk, d, b"m", segment_size=2048)
    for i in range(1, 101):
        w.save(HardState(1, 1, i - 1), ents(i, i, size=50))
    names = w.segment_names
    assert len(names) > 3
    assert [parse_segment_name(n)[0] for n in names] == list(range(len(names)))
    # Each segment is named after the index of its first entry.
    for n in names[1:]:
        first = parse_segment_name(n)[1]
        assert segment_entries(disk, f"{d}/{n}")[0].index == first
    w.close()
    w, _, hs, es = reopen(disk, d)
    assert es == [e for i in range(1, 101) for e in ents(i, i, size=50)]
    assert hs == HardState(1, 1, 99)
    assert all(disk.file_size(f"{d}/{n}") < 2048 + 200 for n in names)
    w.close()


def segment_entries(disk: Disk, path: str) -> list[Entry]:
    scan = decode_segment(disk.read_file(path), last=False)
    return [decode_entry(r.data) for r in scan.records if r.type is RecordType.ENTRY]


def test_preallocated_segments_reopen_and_cut() -> None:
    disk = SimDisk()
    disk.makedirs("/m")
    w = WAL.create(disk, "/m/wal", b"m", segment_size=4096, preallocate=True)
    assert disk.file_size(f"/m/wal/{segment_name(0, 0)}") == 4096
    w.save(HardState(1, 1, 0), ents(1, 3))
    w.close()
    w, _, _, es = reopen(disk, "/m/wal", segment_size=4096, preallocate=True)
    assert es == ents(1, 3)
    for i in range(4, 80):
        w.save(HardState(1, 1, i - 1), ents(i, i, size=40))
    names = w.segment_names
    assert len(names) > 1
    assert disk.file_size(f"/m/wal/{names[0]}") < 4096 + 100  # cut trims the preallocation
    assert disk.file_size(f"/m/wal/{names[-1]}") == 4096
    w.close()
    w, _, _, es = reopen(disk, "/m/wal", segment_size=4096, preallocate=True)
    assert [e.index for e in es] == list(range(1, 80))
    w.close()


def build_segments(disk: Disk, d: str) -> WAL:
    w = WAL.create(disk, d, b"m", segment_size=1024)
    for i in range(1, 61):
        w.save(HardState(1, 1, i), ents(i, i, size=60))
    return w


def test_release_lock_to_and_purge(disk_dir: tuple[Disk, str]) -> None:
    disk, d = disk_dir
    w = build_segments(disk, d)
    names = w.segment_names
    assert len(names) >= 6
    assert purge(disk, d, keep=2) == []  # everything is still locked
    target = parse_segment_name(names[4])[1] + 1  # an index inside segment 4
    w.release_lock_to(target)
    assert w.segment_names == names[4:]  # keeps the segment holding the index
    assert purge(disk, d, keep=1) == names[:4]
    assert disk.list_dir(d)[0] == names[4]
    w.release_lock_to(parse_segment_name(names[5])[1])  # exactly a segment's first index
    assert w.segment_names == names[4:]  # etcd keeps the one before it too
    w.save_snapshot(WalSnapshot(target, 1))
    w.close()
    w, _, _, es = reopen(disk, d, WalSnapshot(target, 1))
    assert [e.index for e in es] == list(range(target + 1, 61))
    w.close()
    with pytest.raises(SegmentNotFoundError, match="no segment covers index 0"):
        WAL.open(disk, d, WalSnapshot())


def test_release_lock_to_never_releases_the_tail() -> None:
    disk = SimDisk()
    disk.makedirs("/m")
    w = build_segments(disk, "/m/wal")
    w.release_lock_to(10**9)
    assert len(w.segment_names) == 1
    w.close()


def test_missing_middle_segment_is_refused() -> None:
    disk = SimDisk()
    disk.makedirs("/m")
    w = build_segments(disk, "/m/wal")
    names = w.segment_names
    w.close()
    disk.remove(f"/m/wal/{names[2]}")
    with pytest.raises(SegmentNotFoundError, match=f"broken before {names[3]}"):
        WAL.open(disk, "/m/wal", WalSnapshot())
    with pytest.raises(SegmentNotFoundError):
        valid_snapshot_entries(disk, "/m/wal")


def test_open_missing_directory() -> None:
    with pytest.raises(SegmentNotFoundError):
        WAL.open(SimDisk(), "/nowhere", WalSnapshot())


def test_failpoints_around_the_fsync() -> None:
    disk = SimDisk()
    disk.makedirs("/m")
    w = WAL.create(disk, "/m/wal", b"m")
    w.save(HardState(1, 1, 1), ents(1, 1))
    arm("wal_before_fsync", "raise")
    try:
        with pytest.raises(FailpointError):
            w.save(HardState(1, 1, 2), ents(2, 2))
    finally:
        disarm("wal_before_fsync")
    disk.crash()  # the process died before the fsync: entry 2 was never durable
    _, _, hs, es = reopen(disk, "/m/wal")
    assert es == ents(1, 1)
    assert hs == HardState(1, 1, 1)

    disk2 = SimDisk()
    disk2.makedirs("/m")
    w = WAL.create(disk2, "/m/wal", b"m")
    arm("wal_after_fsync", "raise")
    try:
        with pytest.raises(FailpointError):
            w.save(HardState(1, 1, 1), ents(1, 1))
    finally:
        disarm("wal_after_fsync")
    disk2.crash()  # died after the fsync: the entry is durable
    _, _, _, es = reopen(disk2, "/m/wal")
    assert es == ents(1, 1)


def test_create_is_atomic_under_crash() -> None:
    class RenameFails(SimDisk):
        def rename(self, src: str, dst: str) -> None:
            raise OSError("injected")

    disk = RenameFails()
    disk.makedirs("/m")
    with pytest.raises(OSError, match="injected"):
        WAL.create(disk, "/m/wal", b"m")
    disk.crash()
    assert not WAL.exists(disk, "/m/wal")  # a crash mid-create leaves no WAL
    good = SimDisk()
    good.makedirs("/m")
    good_wal = WAL.create(good, "/m/wal", b"m")
    good.crash()  # create made everything durable, including the rename
    assert WAL.exists(good, "/m/wal")
    _, md, _, _ = reopen(good, "/m/wal")
    assert md == b"m"
    del good_wal


def test_create_refuses_a_non_empty_directory_but_reuses_an_empty_one() -> None:
    disk = SimDisk()
    disk.makedirs("/m/wal")
    WAL.create(disk, "/m/wal", b"m").close()  # empty leftover directory: fine
    disk.makedirs("/n/wal")
    disk.open_file("/n/wal/notes.txt", create=True).close()
    with pytest.raises(WalExistsError):
        WAL.create(disk, "/n/wal", b"m")
    assert disk.list_dir("/n/wal") == ["notes.txt"]


def test_read_only_open_neither_locks_nor_repairs() -> None:
    disk = SimDisk()
    disk.makedirs("/m")
    w = WAL.create(disk, "/m/wal", b"m")
    w.save(HardState(1, 1, 1), ents(1, 2))
    path = f"/m/wal/{w.segment_names[-1]}"
    size = disk.file_size(path)
    disk.truncate(path, size - 3)  # torn tail
    r = WAL.open(disk, "/m/wal", WalSnapshot(), read_only=True)  # while w holds the locks
    md, hs, es = r.read_all()
    assert (md, hs, es) == (b"m", HardState(), ents(1, 2))  # the state record was torn
    assert disk.file_size(path) == size - 3
    with pytest.raises(ClosedError):
        r.save(None, ents(3, 3))
    w.close()


@pytest.mark.parametrize(
    "module", ["pycoreos.wal", "pycoreos.snap", "pycoreos.storage", "pycoreos.wal.record"]
)
def test_exported_names(module: str) -> None:
    import importlib

    mod = importlib.import_module(module)
    public = {
        n
        for n, v in vars(mod).items()
        if not n.startswith("_")
        and getattr(v, "__module__", module).startswith(module)
        and not isinstance(v, type(importlib))
    }
    assert set(mod.__all__) >= public - {"annotations"}
    assert all(hasattr(mod, n) for n in mod.__all__)


def test_writes_from_the_loop_and_the_io_thread_are_serialized() -> None:
    """Track record #5 (torture T4 seed 1): the member saves entries on its event loop while
    its I/O thread writes a snapshot marker. Unserialized, the marker was written at the offset
    the loop's batch was about to use, chained from that batch's CRC: the member never opened
    its WAL again (``crc mismatch``)."""
    disk = SimDisk()
    disk.makedirs("/m")
    w = WAL.create(disk, "/m/wal", b"m")
    w.save(HardState(1, 1, 0), ents(1, 5))
    entered, release = threading.Event(), threading.Event()

    def hold_the_loop_inside_its_write() -> None:
        if threading.current_thread().name == "loop":
            entered.set()
            release.wait(5)

    snap = WalSnapshot(5, 1, ConfState(voters=(1,)))
    arm("wal_before_write", hold_the_loop_inside_its_write)
    try:
        loop = threading.Thread(target=w.save, args=(HardState(1, 1, 5), ents(6, 10)), name="loop")
        loop.start()
        assert entered.wait(5)
        io = threading.Thread(target=w.save_snapshot, args=(snap,), name="io")
        io.start()
        io.join(0.2)  # unserialized, the marker is written now, inside the loop's write
        release.set()
        loop.join(5)
        io.join(5)
    finally:
        release.set()
        disarm("wal_before_write")
    w.close()
    w, _, hs, es = reopen(disk, "/m/wal", snap)
    assert es == ents(6, 10)
    assert hs.commit == 5
    w.close()
