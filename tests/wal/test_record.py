"""The pure record codec: round trips, CRC chaining, torn tails versus corruption."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycoreos.raft.types import ConfState, Entry, EntryType, HardState
from pycoreos.wal.errors import CorruptError, CRCMismatchError, TornWriteError
from pycoreos.wal.record import (
    Encoder,
    RecordType,
    Tail,
    WalSnapshot,
    decode_entry,
    decode_hard_state,
    decode_segment,
    decode_snapshot,
    encode_entry,
    encode_hard_state,
    encode_snapshot,
)

U64 = st.integers(min_value=0, max_value=2**64 - 1)
entries = st.builds(Entry, U64, U64, st.sampled_from(list(EntryType)), st.binary(max_size=64))
hard_states = st.builds(HardState, U64, U64, U64)
conf_states = st.builds(
    ConfState,
    st.lists(U64, max_size=5).map(tuple),
    st.lists(U64, max_size=3).map(tuple),
)
wal_snaps = st.builds(WalSnapshot, U64, U64, st.none() | conf_states)
record_types = st.sampled_from([RecordType.METADATA, RecordType.ENTRY, RecordType.STATE])
records = st.lists(st.tuples(record_types, st.binary(max_size=40)), max_size=12)


def segment(recs: list[tuple[RecordType, bytes]], crc: int = 0) -> tuple[bytes, list[int]]:
    """A segment's bytes (leading CRC record first) and the end offset of every frame."""
    enc = Encoder(crc)
    frames = [enc.frame(RecordType.CRC)] + [enc.frame(t, d) for t, d in recs]
    ends, pos = [], 0
    for f in frames:
        pos += len(f)
        ends.append(pos)
    return b"".join(frames), ends


@given(entries)
def test_entry_round_trip(e: Entry) -> None:
    assert decode_entry(encode_entry(e)) == e


@given(hard_states)
def test_hard_state_round_trip(s: HardState) -> None:
    assert decode_hard_state(encode_hard_state(s)) == s


@given(wal_snaps)
def test_snapshot_marker_round_trip(s: WalSnapshot) -> None:
    assert decode_snapshot(encode_snapshot(s)) == s


def test_codecs_reject_malformed_data() -> None:
    with pytest.raises(ValueError, match="too short"):
        decode_entry(b"\x01" * 16)
    with pytest.raises(ValueError, match="unknown entry type"):
        decode_entry(struct.pack("<QQB", 1, 1, 9))
    with pytest.raises(ValueError, match="24"):
        decode_hard_state(b"\x00" * 23)
    with pytest.raises(ValueError, match="conf state"):
        decode_snapshot(encode_snapshot(WalSnapshot(1, 1, ConfState((1, 2), ())))[:-1])


@given(records, U64.map(lambda x: x & 0xFFFFFFFF))
def test_frames_round_trip_and_are_aligned(recs: list[tuple[RecordType, bytes]], crc: int) -> None:
    buf, ends = segment(recs, crc)
    assert all(e % 8 == 0 for e in ends)
    scan = decode_segment(buf, crc=crc, last=False)
    assert scan.tail is Tail.CLEAN
    assert scan.end == len(buf)
    assert [(r.type, r.data) for r in scan.records[1:]] == recs
    assert [r.offset for r in scan.records] == [0, *ends[:-1]]
    # The running CRC chains over every data record, as etcd's encoder does.
    expect = crc
    for _, d in recs:
        expect = zlib.crc32(d, expect)
    assert scan.crc == expect


def test_length_word_is_etcds_frame() -> None:
    frame = Encoder().frame(RecordType.METADATA, b"abc")  # 8 header + 3 data -> 5 padding
    (word,) = struct.unpack_from("<Q", frame)
    assert word & ((1 << 56) - 1) == 11
    assert word >> 56 == 0x80 | 5
    assert len(frame) == 8 + 11 + 5
    (word,) = struct.unpack_from("<Q", Encoder().frame(RecordType.METADATA, b"12345678"))
    assert word == 16  # no padding: top byte is zero


def test_crc_record_must_match_running_crc() -> None:
    buf, _ = segment([(RecordType.METADATA, b"m")], crc=1234)
    decode_segment(buf, crc=1234, last=False)  # chained correctly
    decode_segment(buf, crc=0, last=False)  # unknown running CRC: trusted
    with pytest.raises(CRCMismatchError, match="crc mismatch in seg at offset 0"):
        decode_segment(buf, crc=999, last=False, path="seg")


def test_segment_must_start_with_crc_record() -> None:
    enc = Encoder()
    buf = enc.frame(RecordType.METADATA, b"m")
    with pytest.raises(CorruptError, match="does not start with a crc record"):
        decode_segment(buf, last=True)


RECS = [
    (RecordType.METADATA, b"metadata"),
    (RecordType.ENTRY, encode_entry(Entry(1, 1, data=b"hello world"))),
    (RecordType.STATE, encode_hard_state(HardState(1, 2, 1))),
    (RecordType.ENTRY, encode_entry(Entry(1, 2, data=b"x" * 37))),
    (RecordType.ENTRY, encode_entry(Entry(2, 3, data=b"\xff" * 3))),
]


def test_truncation_at_every_offset_keeps_exactly_the_complete_prefix() -> None:
    buf, ends = segment(RECS)
    for k in range(len(buf) + 1):
        scan = decode_segment(buf[:k], last=True)
        complete = sum(1 for e in ends if e <= k)
        assert len(scan.records) == complete, k
        assert scan.end == (ends[complete - 1] if complete else 0)
        assert scan.tail is (Tail.CLEAN if k == scan.end else Tail.TORN)
        if k != scan.end:
            # Not the last segment: an incomplete record there is corruption, never repaired.
            with pytest.raises(TornWriteError):
                decode_segment(buf[:k], last=False)


@pytest.mark.parametrize("extra", [0, 1, 7, 8, 100, 600])
def test_zero_filled_tear_at_every_offset_keeps_the_intact_prefix(extra: int) -> None:
    buf, ends = segment(RECS)
    for k in range(len(buf) + 1):
        torn = buf[:k] + bytes(len(buf) - k + extra)
        scan = decode_segment(torn, last=True)
        # Frames that survived byte-for-byte (zero padding/zero data bytes may survive a tear).
        intact = 0
        while intact < len(ends) and torn[: ends[intact]] == buf[: ends[intact]]:
            intact += 1
        assert len(scan.records) == intact, k
        assert scan.tail in (Tail.ZEROS, Tail.TORN, Tail.CLEAN)


@given(records, st.data())
@settings(max_examples=200)
def test_any_single_tear_keeps_exactly_the_intact_prefix(
    recs: list[tuple[RecordType, bytes]], data: st.DataObject
) -> None:
    buf, ends = segment(recs)
    k = data.draw(st.integers(0, len(buf)))
    fill = data.draw(st.integers(0, 2 * len(buf)))
    torn = buf[:k] + bytes(fill)
    scan = decode_segment(torn, last=True)
    intact = 0
    while intact < len(ends) and torn[: ends[intact]] == buf[: ends[intact]]:
        intact += 1
    assert [(r.type, r.data) for r in scan.records[1:]] == recs[: max(0, intact - 1)]


def test_bit_flip_in_a_middle_record_is_refused_with_file_and_offset() -> None:
    buf, ends = segment(RECS)
    victim = 2  # RECS[1], an entry with 4 bytes of padding, followed by three more records
    start, stop = ends[victim - 1], ends[victim]
    data_end = start + 8 + (struct.unpack_from("<Q", buf, start)[0] & ((1 << 56) - 1))
    assert stop - data_end == 4
    for off in range(start, stop):
        for bit in range(8):
            bad = bytearray(buf)
            bad[off] ^= 1 << bit
            if off >= data_end:
                # Padding is covered by no check (as in etcd) and carries no information.
                scan = decode_segment(bytes(bad), last=True)
                assert [(r.type, r.data) for r in scan.records[1:]] == RECS
                continue
            with pytest.raises(CorruptError) as info:
                decode_segment(bytes(bad), last=True, path="/d/wal/x.wal")
            assert info.value.offset == start
            assert f"in /d/wal/x.wal at offset {start}" in str(info.value)


def test_bit_flip_in_a_non_last_segment_is_always_refused() -> None:
    buf, ends = segment(RECS)
    last_start = ends[-2]
    bad = bytearray(buf)
    bad[last_start + 20] ^= 0x10
    with pytest.raises(CRCMismatchError):
        decode_segment(bytes(bad), last=False)


def test_bit_flip_in_the_last_record_never_yields_wrong_data() -> None:
    buf, ends = segment(RECS)
    last_start = ends[-2]
    for off in range(last_start, len(buf)):
        bad = bytearray(buf)
        bad[off] ^= 0x04
        try:
            scan = decode_segment(bytes(bad), last=True)
        except CorruptError:
            continue
        got = [(r.type, r.data) for r in scan.records[1:]]
        assert got in (RECS, RECS[:-1])


def test_zeroed_length_word_followed_by_data_is_corruption() -> None:
    buf, ends = segment(RECS)
    bad = bytearray(buf)
    bad[ends[1] : ends[1] + 8] = bytes(8)
    with pytest.raises(CorruptError):
        decode_segment(bytes(bad), last=True)


def test_unwritten_sector_inside_a_record_is_a_torn_tail() -> None:
    big = (RecordType.ENTRY, encode_entry(Entry(1, 9, data=b"\x01" * 3000)))
    buf, ends = segment([*RECS, big])
    bad = bytearray(buf)
    first_sector = -(-(ends[-2] + 16) // 512) * 512
    bad[first_sector : first_sector + 512] = bytes(512)  # a later sector did reach the disk
    scan = decode_segment(bytes(bad), last=True)
    assert scan.tail is Tail.TORN
    assert len(scan.records) == len(ends) - 1
