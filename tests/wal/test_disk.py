"""The Disk contract, checked on RealDisk and SimDisk alike, plus SimDisk's crash model."""

from __future__ import annotations

import errno
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from pycoreos.storage import Disk, LockedError, RealDisk
from pycoreos.testing.sim.disk import SimDisk


@pytest.fixture(params=["real", "sim"])
def disk_root(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Disk, str]:
    if request.param == "real":
        return RealDisk(), str(tmp_path)
    return SimDisk(random.Random(0)), "/data"


def test_write_read_truncate_size(disk_root: tuple[Disk, str]) -> None:
    disk, root = disk_root
    disk.makedirs(f"{root}/a/b")
    p = f"{root}/a/b/f"
    with pytest.raises(FileNotFoundError):
        disk.open_file(p)
    f = disk.open_file(p, create=True)
    f.write_at(0, b"hello")
    f.write_at(10, b"world")  # a gap reads as zeros
    assert f.size() == 15
    assert disk.read_file(p) == b"hello\0\0\0\0\0world"
    f.truncate(3)
    f.fsync()
    assert disk.read_file(p) == b"hel"
    disk.truncate(p, 5)
    assert disk.read_file(p) == b"hel\0\0"
    assert disk.file_size(p) == 5
    f.close()
    assert disk.open_file(p, create=True).size() == 5  # create does not clobber


def test_namespace_operations(disk_root: tuple[Disk, str]) -> None:
    disk, root = disk_root
    disk.makedirs(f"{root}/d")
    disk.makedirs(f"{root}/d")  # idempotent
    for n in ("b", "a", "c"):
        disk.open_file(f"{root}/d/{n}", create=True).close()
    assert disk.list_dir(f"{root}/d") == ["a", "b", "c"]
    disk.rename(f"{root}/d/a", f"{root}/d/b")  # replaces
    assert disk.list_dir(f"{root}/d") == ["b", "c"]
    disk.remove(f"{root}/d/c")
    assert not disk.exists(f"{root}/d/c")
    with pytest.raises(FileNotFoundError):
        disk.remove(f"{root}/d/c")
    disk.rename(f"{root}/d", f"{root}/e")
    assert disk.is_dir(f"{root}/e")
    assert disk.list_dir(f"{root}/e") == ["b"]
    disk.fsync_dir(f"{root}/e")
    disk.remove_tree(f"{root}/e")
    disk.remove_tree(f"{root}/e")  # missing is fine
    assert not disk.exists(f"{root}/e")


def test_lock_is_exclusive_until_released(disk_root: tuple[Disk, str]) -> None:
    disk, root = disk_root
    p = f"{root}/lockme"
    disk.makedirs(root)
    disk.open_file(p, create=True).close()
    lock = disk.try_lock(p)
    with pytest.raises(LockedError):
        disk.try_lock(p)
    lock.release()
    lock.release()  # idempotent
    disk.try_lock(p).release()


# -- SimDisk crash model --------------------------------------------------------------------------


def sim_with_file(content: bytes = b"", *, durable_entry: bool = True) -> SimDisk:
    disk = SimDisk(random.Random(7))
    disk.makedirs("/d")
    f = disk.open_file("/d/f", create=True)
    f.write_at(0, content)
    f.fsync()
    if durable_entry:
        disk.fsync_dir("/d")
    return disk


def test_crash_drops_unsynced_bytes_and_keeps_synced_ones() -> None:
    disk = sim_with_file(b"synced")
    f = disk.open_file("/d/f")
    f.write_at(6, b"-lost")
    assert disk.read_file("/d/f") == b"synced-lost"
    disk.crash()
    assert disk.read_file("/d/f") == b"synced"


def test_crash_loses_a_file_whose_directory_was_not_fsynced() -> None:
    disk = sim_with_file(b"data", durable_entry=False)
    disk.crash()
    assert not disk.exists("/d/f")
    assert disk.is_dir("/d")  # makedirs is durable


def test_crash_undoes_unsynced_rename_and_remove() -> None:
    disk = sim_with_file(b"x")
    disk.rename("/d/f", "/d/g")
    disk.crash()
    assert disk.list_dir("/d") == ["f"]
    disk.remove("/d/f")
    disk.crash()
    assert disk.list_dir("/d") == ["f"]
    disk.remove("/d/f")
    disk.fsync_dir("/d")
    disk.crash()
    assert disk.list_dir("/d") == []


def test_handles_and_locks_die_in_a_crash() -> None:
    disk = sim_with_file(b"x")
    f = disk.open_file("/d/f")
    disk.try_lock("/d/f")
    disk.crash()
    with pytest.raises(OSError, match="closed") as info:
        f.write_at(0, b"y")
    assert info.value.errno == errno.EBADF
    disk.try_lock("/d/f").release()


def tear_results(make: Callable[[], SimDisk], **kw: bool) -> set[bytes]:
    seen = set()
    for _ in range(60):
        disk = make()
        disk.crash(tear=True, **kw)
        seen.add(disk.read_file("/d/f"))
    return seen


def test_tear_keeps_a_random_prefix_of_the_unsynced_writes() -> None:
    rng = random.Random(3)

    def make() -> SimDisk:
        disk = SimDisk(rng)
        disk.makedirs("/d")
        f = disk.open_file("/d/f", create=True)
        f.write_at(0, b"AB")
        f.fsync()
        disk.fsync_dir("/d")
        f.write_at(2, b"cdef")
        f.write_at(6, b"gh")
        return disk

    full = b"ABcdefgh"
    seen = tear_results(make)
    assert seen <= {full[:k] for k in range(2, 9)}
    assert len(seen) > 4  # the cut really is random
    zero = tear_results(make, zero_fill=True)
    assert zero <= {full[:k] + bytes(8 - k) for k in range(2, 9)}
    assert all(len(z) == 8 for z in zero)


def test_tear_is_deterministic_for_a_seed() -> None:
    def run(seed: int) -> bytes:
        disk = SimDisk(random.Random(seed))
        disk.makedirs("/d")
        f = disk.open_file("/d/f", create=True)
        disk.fsync_dir("/d")
        f.write_at(0, bytes(range(200)))
        disk.crash(tear=True)
        return disk.read_file("/d/f")

    assert run(11) == run(11)
    assert len({run(s) for s in range(10)}) > 1


def test_tear_needs_an_rng() -> None:
    with pytest.raises(ValueError, match="rng"):
        SimDisk().crash(tear=True)


def test_counters_and_flip_bit() -> None:
    disk = sim_with_file(b"\x00\x00")
    assert (disk.writes, disk.fsyncs, disk.dir_fsyncs) == (1, 1, 1)
    disk.flip_bit("/d/f", 1, 3)
    disk.crash()
    assert disk.read_file("/d/f") == b"\x00\x08"
