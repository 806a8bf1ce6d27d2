"""A member's restart path: snapshot files + WAL markers + purge, through crashes (SimDisk)."""

from __future__ import annotations

import random

import pytest

from pycoreos.raft.types import ConfState, Entry, HardState, Snapshot, SnapshotMetadata
from pycoreos.snap import Snapshotter
from pycoreos.testing.sim.disk import SimDisk
from pycoreos.wal import WAL, WalSnapshot, purge, valid_snapshot_entries

WAL_DIR = "/d/member/wal"
SNAP_DIR = "/d/member/snap"
CS = ConfState(voters=(1, 2, 3))


def restart(disk: SimDisk) -> tuple[Snapshot | None, WAL, HardState, list[Entry]]:
    """What a restarting member does (etcd's bootstrap with an existing WAL)."""
    snap = Snapshotter(disk, SNAP_DIR).load_newest_available(valid_snapshot_entries(disk, WAL_DIR))
    at = WalSnapshot() if snap is None else WalSnapshot(snap.metadata.index, snap.metadata.term)
    w = WAL.open(disk, WAL_DIR, at)
    _, hs, es = w.read_all()
    return snap, w, hs, es


@pytest.mark.parametrize("seed", range(6))
def test_restart_after_snapshots_purges_and_crashes(seed: int) -> None:
    rng = random.Random(seed)
    disk = SimDisk(rng)
    disk.makedirs("/d/member")
    w = WAL.create(disk, WAL_DIR, b"member-1", segment_size=1500)
    snapper = Snapshotter(disk, SNAP_DIR)
    applied = 0
    index = 0
    for _ in range(12):
        batch = [Entry(1, index + i + 1, data=rng.randbytes(40)) for i in range(rng.randint(1, 9))]
        index += len(batch)
        w.save(HardState(1, 1, index), batch)
        applied = index
        if rng.random() < 0.5:
            # etcd's order: snapshot file, then WAL marker, then release and purge.
            snapper.save(Snapshot(f"state@{applied}".encode(), SnapshotMetadata(CS, applied, 1)))
            w.save_snapshot(WalSnapshot(applied, 1, CS))
            w.release_lock_to(applied)
            purge(disk, WAL_DIR, keep=2)
            snapper.purge(keep=2)
        if rng.random() < 0.3:
            disk.crash(tear=True, zero_fill=rng.random() < 0.5)
            snap, w, hs, es = restart(disk)
            assert hs.commit == index  # every save above was fsynced
            first = 1 if snap is None else snap.metadata.index + 1
            assert [e.index for e in es] == list(range(first, index + 1))
            if snap is not None:
                assert snap.data == f"state@{snap.metadata.index}".encode()
    w.close()


def test_snapshot_newer_than_the_wal_marker_is_skipped() -> None:
    disk = SimDisk()
    disk.makedirs("/d/member")
    w = WAL.create(disk, WAL_DIR, b"m")
    w.save(HardState(1, 1, 10), [Entry(1, i) for i in range(1, 11)])
    snapper = Snapshotter(disk, SNAP_DIR)
    snapper.save(Snapshot(b"s5", SnapshotMetadata(CS, 5, 1)))
    w.save_snapshot(WalSnapshot(5, 1, CS))
    snapper.save(Snapshot(b"s10", SnapshotMetadata(CS, 10, 1)))
    w.close()  # crashed before the marker for 10 was written
    snap, w, _, es = restart(disk)
    assert snap is not None
    assert snap.data == b"s5"
    assert [e.index for e in es] == list(range(6, 11))
    w.close()
