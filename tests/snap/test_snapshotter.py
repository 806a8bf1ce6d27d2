"""Snapshotter: durable save, newest-valid load with .broken fallback, WAL-matching load, purge."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycoreos.raft.types import ConfState, Snapshot, SnapshotMetadata
from pycoreos.snap import SnapCorruptError, Snapshotter, snapshot_name
from pycoreos.snap.snapshotter import decode_snapshot_file, encode_snapshot_file
from pycoreos.storage import Disk, RealDisk
from pycoreos.testing.sim.disk import SimDisk
from pycoreos.wal import WalSnapshot

U64 = st.integers(min_value=0, max_value=2**64 - 1)


def snap(
    term: int, index: int, data: bytes = b"state", voters: tuple[int, ...] = (1, 2, 3)
) -> Snapshot:
    return Snapshot(data, SnapshotMetadata(ConfState(voters=voters, learners=(9,)), index, term))


@pytest.fixture(params=["sim", "real"])
def disk_dir(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Disk, str]:
    if request.param == "real":
        return RealDisk(), str(tmp_path / "snap")
    return SimDisk(random.Random(0)), "/data/member/snap"


@given(
    st.binary(max_size=200),
    U64,
    U64,
    st.lists(U64, max_size=4).map(tuple),
    st.lists(U64, max_size=2).map(tuple),
)
def test_file_codec_round_trip(
    data: bytes, index: int, term: int, voters: tuple[int, ...], learners: tuple[int, ...]
) -> None:
    s = Snapshot(data, SnapshotMetadata(ConfState(voters, learners), index, term))
    assert decode_snapshot_file(encode_snapshot_file(s)) == s


def test_file_codec_detects_any_single_bit_flip() -> None:
    raw = encode_snapshot_file(snap(3, 42, b"some application state"))
    for off in range(len(raw)):
        bad = bytearray(raw)
        bad[off] ^= 0x20
        if off in (5, 6, 7):  # reserved header bytes carry nothing
            continue
        with pytest.raises(SnapCorruptError, match=r"in f\.snap"):
            decode_snapshot_file(bytes(bad), "f.snap")


def test_save_and_load_newest(disk_dir: tuple[Disk, str]) -> None:
    disk, d = disk_dir
    s = Snapshotter(disk, d)
    assert s.load() is None
    s.save(snap(1, 10))
    s.save(snap(2, 20, b"newer"))
    s.save(snap(1, 15))
    assert s.names() == [snapshot_name(2, 20), snapshot_name(1, 15), snapshot_name(1, 10)]
    assert s.load() == snap(2, 20, b"newer")
    assert not any(n.endswith(".tmp") for n in disk.list_dir(d))


def test_empty_snapshot_is_ignored() -> None:
    disk = SimDisk()
    s = Snapshotter(disk, "/snap")
    s.save(Snapshot())
    assert disk.list_dir("/snap") == []


def test_corrupt_newest_falls_back_and_is_renamed_broken(disk_dir: tuple[Disk, str]) -> None:
    disk, d = disk_dir
    s = Snapshotter(disk, d)
    s.save(snap(1, 10))
    s.save(snap(1, 20))
    newest = f"{d}/{snapshot_name(1, 20)}"
    raw = bytearray(disk.read_file(newest))
    raw[-1] ^= 0xFF
    f = disk.open_file(newest)
    f.write_at(0, bytes(raw))
    f.fsync()
    f.close()
    assert s.load() == snap(1, 10)
    assert disk.list_dir(d) == [snapshot_name(1, 10), snapshot_name(1, 20) + ".broken"]


def test_truncated_file_falls_back() -> None:
    disk = SimDisk()
    s = Snapshotter(disk, "/snap")
    s.save(snap(1, 10))
    s.save(snap(1, 20))
    disk.truncate(f"/snap/{snapshot_name(1, 20)}", 10)
    assert s.load() == snap(1, 10)


def test_load_newest_available_matches_the_wal() -> None:
    disk = SimDisk()
    s = Snapshotter(disk, "/snap")
    for i in (10, 20, 30):
        s.save(snap(1, i))
    # The WAL only knows markers up to 20 (a crash after saving snapshot 30, before its marker).
    walsnaps = [WalSnapshot(0, 0), WalSnapshot(10, 1), WalSnapshot(20, 1)]
    assert s.load_newest_available(walsnaps) == snap(1, 20)
    assert s.load_newest_available([WalSnapshot(20, 2)]) is None  # same index, other term
    assert s.load_newest_available([]) is None


def test_save_is_durable_across_a_crash() -> None:
    disk = SimDisk(random.Random(1))
    s = Snapshotter(disk, "/snap")
    s.save(snap(1, 10))
    disk.crash(tear=True)
    assert Snapshotter(disk, "/snap").load() == snap(1, 10)


def test_purge_keeps_the_newest() -> None:
    disk = SimDisk()
    s = Snapshotter(disk, "/snap")
    for i in range(1, 9):
        s.save(snap(1, i))
    disk.open_file("/snap/" + snapshot_name(1, 99) + ".tmp", create=True).close()  # crash debris
    removed = s.purge(keep=5)
    assert sorted(removed) == sorted(
        [snapshot_name(1, i) for i in (1, 2, 3)] + [snapshot_name(1, 99) + ".tmp"]
    )
    assert s.names() == [snapshot_name(1, i) for i in range(8, 3, -1)]
    assert s.purge(keep=5) == []
