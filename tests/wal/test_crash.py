"""Crash consistency: torn and zeroed tails are repaired to the complete prefix; corruption is not."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from pycoreos.errors import BrokenError
from pycoreos.raft.types import Entry, HardState
from pycoreos.storage import RealDisk
from pycoreos.testing.sim.disk import SimDisk
from pycoreos.wal import WAL, CorruptError, CRCMismatchError, WalSnapshot
from pycoreos.wal.record import RecordType, decode_entry, decode_hard_state, decode_segment

DIR = "/data/member/wal"


def make_wal(disk: SimDisk, **kw: int) -> WAL:
    disk.makedirs("/data/member")
    return WAL.create(disk, DIR, b"meta", **kw)  # type: ignore[arg-type]


def overwrite(disk: SimDisk, path: str, content: bytes) -> None:
    f = disk.open_file(path)
    f.truncate(0)
    f.write_at(0, content)
    f.fsync()
    f.close()


def read(disk: SimDisk, at: WalSnapshot | None = None) -> tuple[HardState, list[Entry]]:
    w = WAL.open(disk, DIR, at or WalSnapshot())
    _, hs, es = w.read_all()
    w.close()
    return hs, es


def expected_prefix(content: bytes, k: int) -> tuple[HardState, list[Entry]]:
    """Hard state and entries of the records wholly inside content[:k]."""
    recs = decode_segment(content, last=True).records
    hs, es = HardState(), []
    for i, r in enumerate(recs):
        end = recs[i + 1].offset if i + 1 < len(recs) else len(content)
        if end > k:
            break
        if r.type is RecordType.ENTRY:
            es.append(decode_entry(r.data))
        elif r.type is RecordType.STATE:
            hs = decode_hard_state(r.data)
    return hs, es


def populated() -> tuple[SimDisk, str, bytes, int]:
    disk = SimDisk()
    w = make_wal(disk)
    for i in range(1, 6):
        w.save(HardState(1, 1, i - 1), [Entry(1, i, data=b"e" * (i * 3))])
    mark = w._offset  # the last three saves (several records each) start here
    w.save(HardState(1, 1, 5), [Entry(1, 6, data=b"six"), Entry(1, 7, data=b"seven!!!")])
    w.save(None, [Entry(2, 8, data=bytes(range(40)))])
    w.save(HardState(2, 1, 8), [])
    name = w.segment_names[-1]
    w.close()
    path = f"{DIR}/{name}"
    return disk, path, disk.read_file(path), mark


def test_truncation_at_every_offset_opens_with_exactly_the_complete_prefix() -> None:
    disk, path, content, mark = populated()
    for k in range(mark, len(content) + 1):
        overwrite(disk, path, content[:k])
        want = expected_prefix(content, k)
        assert read(disk) == want, k
        # The repaired WAL appends after the last complete record and reads back.
        w = WAL.open(disk, DIR, WalSnapshot())
        _, _, es = w.read_all()
        nxt = Entry(3, len(es) + 1, data=b"after-repair")
        w.save(HardState(3, 1, 0), [nxt])
        w.close()
        assert read(disk) == (HardState(3, 1, 0), [*want[1], nxt]), k


def test_torn_tail_is_kept_as_broken_evidence() -> None:
    disk, path, content, _ = populated()
    overwrite(disk, path, content[:-5])
    read(disk)
    assert disk.read_file(path + ".broken") == content[:-5]
    assert len(disk.read_file(path)) < len(content) - 5


@pytest.mark.parametrize("zeros", [1, 8, 4096])
def test_zero_filled_tail_opens_and_appends(zeros: int) -> None:
    disk, path, content, _ = populated()
    overwrite(disk, path, content + bytes(zeros))
    assert read(disk) == expected_prefix(content, len(content))
    assert disk.read_file(path) == content  # zeros trimmed, nothing else touched
    assert not disk.exists(path + ".broken")


def test_zero_filled_tear_inside_the_last_records() -> None:
    disk, path, content, mark = populated()
    for k in range(mark, len(content)):
        overwrite(disk, path, content[:k] + bytes(len(content) - k + 64))
        _, es = read(disk)
        _, want_es = expected_prefix(content, k)
        # Zero bytes of the last record may survive a tear intact, so allow one more record.
        assert es[: len(want_es)] == want_es
        assert len(es) - len(want_es) <= 1, k


def test_bit_flip_in_the_middle_is_refused_naming_file_and_offset() -> None:
    disk, path, content, _ = populated()
    recs = decode_segment(content, last=True).records
    victim = next(r for r in recs if r.type is RecordType.ENTRY)
    disk.flip_bit(path, victim.offset + 20, 1)
    with pytest.raises(CRCMismatchError) as info:
        read(disk)
    msg = str(info.value)
    assert msg == f"wal: crc mismatch in {path} at offset {victim.offset}"
    assert info.value.path == path
    assert info.value.offset == victim.offset
    # Refusing does not hold the WAL's locks.
    disk.flip_bit(path, victim.offset + 20, 1)
    read(disk)


def test_corruption_in_an_earlier_segment_is_refused() -> None:
    disk = SimDisk()
    w = make_wal(disk, segment_size=1024)
    for i in range(1, 40):
        w.save(HardState(1, 1, i), [Entry(1, i, data=b"x" * 50)])
    names = w.segment_names
    w.close()
    first = f"{DIR}/{names[1]}"
    disk.flip_bit(first, disk.file_size(first) - 30)  # inside its last record
    with pytest.raises(CorruptError, match=f"in {first} at offset"):
        read(disk)
    disk.flip_bit(first, disk.file_size(first) - 30)
    # A segment whose leading CRC record does not chain from the previous one.
    second = f"{DIR}/{names[2]}"
    disk.flip_bit(second, 9)  # the CRC field of its CRC record
    with pytest.raises(CorruptError, match=f"in {second} at offset 0"):
        read(disk)


@pytest.mark.parametrize("seed", range(25))
def test_random_crashes_keep_every_synced_save(seed: int) -> None:
    rng = random.Random(seed)
    disk = SimDisk(rng)
    w = make_wal(disk, segment_size=rng.choice([512, 2048, 1 << 20]))
    log: list[Entry] = []
    synced = 0  # entries acknowledged: the WAL returned from a save with sync=True
    term = 1
    for _ in range(60):
        if rng.random() < 0.15:
            disk.crash(tear=rng.random() < 0.7, zero_fill=rng.random() < 0.5)
            w = WAL.open(disk, DIR, WalSnapshot())
            _, hs, es = w.read_all()
            assert es == log[: len(es)], f"seed={seed}: recovered entries are not a prefix"
            assert len(es) >= synced, f"seed={seed}: lost acknowledged entries"
            # A state record is written after its batch's entries, in the same write.
            assert hs.commit <= len(es), f"seed={seed}: state survived without its entries"
            log = es
            synced = len(es)
            term += 1
            continue
        n = rng.randint(1, 8)
        batch = [
            Entry(term, len(log) + 1 + i, data=rng.randbytes(rng.randint(0, 90))) for i in range(n)
        ]
        sync = rng.random() < 0.6
        w.save(HardState(term, 1, len(log)), batch, sync=sync)
        log += batch
        if sync:
            synced = len(log)
    w.close()
    _, _, es = WAL.open(disk, DIR, WalSnapshot()).read_all()
    assert es == log


def test_crash_in_the_middle_of_a_cut_keeps_every_synced_entry() -> None:
    class DirSyncFails(SimDisk):
        fail = False

        def fsync_dir(self, path: str) -> None:
            if self.fail:
                raise OSError("injected EIO")
            super().fsync_dir(path)

    disk = DirSyncFails()
    w = make_wal(disk, segment_size=1024)
    saved: list[Entry] = []
    for i in range(1, 12):
        e = Entry(1, i, data=b"z" * 60)
        w.save(HardState(1, 1, i), [e])
        saved.append(e)
    disk.fail = True
    big = [Entry(1, 12 + i, data=b"y" * 100) for i in range(10)]  # forces a cut
    with pytest.raises(BrokenError, match="cutting segment"):
        w.save(HardState(1, 1, 12), big)
    with pytest.raises(BrokenError):  # fail-stop: the WAL refuses further use
        w.save(None, [Entry(1, 22)])
    disk.fail = False
    disk.crash()
    hs, es = read(disk)
    # The old tail was fsynced before the cut began, so the big batch survived with it.
    assert es == saved + big
    assert hs == HardState(1, 1, 12)


def test_write_error_breaks_the_wal() -> None:
    disk = SimDisk()
    w = make_wal(disk)
    w.save(HardState(1, 1, 0), [Entry(1, 1)])
    assert w._tail is not None
    w._tail.close()  # the handle goes bad under the WAL (EBADF on the next write)
    with pytest.raises(BrokenError, match="write failed"):
        w.save(None, [Entry(1, 2)])
    with pytest.raises(BrokenError):
        w.sync()


def test_torn_tail_on_real_files(tmp_path: Path) -> None:
    disk = RealDisk()
    d = str(tmp_path / "wal")
    w = WAL.create(disk, d, b"m")
    w.save(HardState(1, 1, 1), [Entry(1, 1, data=b"a" * 30)])
    mark = w._offset
    w.save(HardState(1, 1, 2), [Entry(1, 2, data=b"b" * 30)])
    path = f"{d}/{w.segment_names[-1]}"
    w.close()
    content = Path(path).read_bytes()
    for k in range(mark, len(content), 7):
        Path(path).write_bytes(content[:k])
        r = WAL.open(disk, d, WalSnapshot())
        _, hs, es = r.read_all()
        r.close()
        entry2_end = mark + 64  # 16-byte header + 17 + 30 data bytes + 1 padding
        survived = [1, 2] if k >= entry2_end else [1]
        assert (hs, [e.index for e in es]) == (HardState(1, 1, 1), survived), k
        assert os.path.getsize(path) == (entry2_end if k >= entry2_end else mark)
