"""WAL record framing and codecs. PURE: bytes in, records out; no I/O, no clock.

Frame (8-byte aligned, so a length word never straddles a sector and cannot be torn alone)::

    0        8        12   13   14     16             16+len(data)     frame end
    | length | crc    |type|rsv | hchk | data ...      | zero padding |
      u64 LE   u32 LE  u8   u8   u16 LE                  0..7 bytes

- ``length`` is etcd's length word: the low 56 bits hold the body length (``8 + len(data)``);
  when padding is needed its top byte is ``0x80 | pad``.
- ``crc`` is the **chained** CRC-32 (zlib polynomial): ``crc32(data, previous record's crc)``,
  continued across segments. A segment starts with a ``CRC`` record (no data) whose ``crc``
  field carries the running value, so a segment can be read on its own; when a reader already
  has a running CRC the carried value must equal it.
- ``hchk`` is the low 16 bits of ``crc32`` over the first 14 header bytes. etcd has no header
  check; we add it so a flipped bit in a length word is *detected* instead of making the rest of
  a segment look like one torn record (which would silently drop it).

Torn tail versus corruption (only the **last** segment can have a torn tail). The first damaged
frame at offset ``off`` is a torn tail when the damage is explained by one write cut at a point
``t`` with nothing (end of file) or zeros after ``t``, or by an unwritten 512-byte sector:

1. fewer than 16 bytes remain, or the length word is zero and only zeros follow it;
2. the header check fails and no non-zero byte follows the 16-byte header, or the rest of
   ``off``'s sector is zero;
3. the header is valid but the frame runs past the end of the file;
4. the header is valid, the data CRC fails, and everything from inside the data to the end of the
   file is zero, or the frame contains a whole zero sector (etcd's ``isTornEntry``).

Anything else (a CRC failure followed by non-zero data, a bad header followed by data, any damage
in a non-last segment) is corruption. A bit flip in the very last record whose data happens to
end in a zero byte is indistinguishable from a torn write and is treated as one.
"""

from __future__ import annotations

import enum
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from pycoreos.raft.types import ConfState, Entry, EntryType, HardState
from pycoreos.wal.errors import CorruptError, CRCMismatchError, TornWriteError

__all__ = [
    "HEADER_SIZE",
    "SECTOR_SIZE",
    "Encoder",
    "Record",
    "RecordType",
    "SegmentScan",
    "Tail",
    "WalSnapshot",
    "decode_entry",
    "decode_hard_state",
    "decode_segment",
    "decode_snapshot",
    "encode_entry",
    "encode_hard_state",
    "encode_snapshot",
]

HEADER_SIZE = 16
SECTOR_SIZE = 512

_HEAD14 = struct.Struct("<QIBB")
_U16 = struct.Struct("<H")
_HEADER = struct.Struct("<QIBBH")
_ENTRY = struct.Struct("<QQB")
_STATE = struct.Struct("<QQQ")
_SNAP = struct.Struct("<QQ")
_CONF = struct.Struct("<BII")
_PADS = tuple(bytes(i) for i in range(8))
_LEN_MASK = (1 << 56) - 1
_ZERO_SECTOR = bytes(SECTOR_SIZE)
_ZERO8 = bytes(8)
_ENTRY_TYPES = {int(t): t for t in EntryType}


class RecordType(enum.IntEnum):
    """Record kinds, numbered as etcd's walpb record types."""

    METADATA = 1
    ENTRY = 2
    STATE = 3
    CRC = 4
    SNAPSHOT = 5


_RECORD_TYPES = {int(t): t for t in RecordType}


@dataclass(frozen=True, slots=True)
class Record:
    """A decoded record: its type, data, the chained CRC stored with it and its file offset."""

    type: RecordType
    data: bytes
    crc: int
    offset: int = 0


@dataclass(frozen=True, slots=True)
class WalSnapshot:
    """The snapshot marker stored in the WAL (etcd's ``walpb.Snapshot``).

    ``conf_state`` is ``None`` when the writer did not record one (etcd < 3.5 markers).
    """

    index: int = 0
    term: int = 0
    conf_state: ConfState | None = None


class Tail(enum.Enum):
    """How a scanned segment ends."""

    CLEAN = "clean"  # the last frame ends exactly at the end of the data
    ZEROS = "zeros"  # only zero bytes follow the last frame (preallocated or zero-filled)
    TORN = "torn"  # a torn record follows the last good frame (last segment only)


@dataclass(frozen=True, slots=True)
class SegmentScan:
    """Result of :func:`decode_segment`.

    ``end`` is the offset just past the last good frame; ``crc`` the running CRC there.
    """

    records: list[Record]
    end: int
    crc: int
    tail: Tail


class Encoder:
    """Frames records, chaining the CRC. Pure; the caller writes the returned bytes.

    Args:
        crc: the running CRC to chain from (0 for a brand-new WAL).
    """

    __slots__ = ("crc",)

    def __init__(self, crc: int = 0) -> None:
        self.crc = crc

    def frame(self, rtype: RecordType, data: bytes = b"") -> bytes:
        """Return the framed record, advancing the running CRC (except for ``CRC`` records)."""
        if rtype is RecordType.CRC:
            crc = self.crc
        else:
            crc = self.crc = zlib.crc32(data, self.crc)
        return _frame(rtype, data, crc)

    def frame_entries(self, entries: Sequence[Entry], out: list[bytes]) -> None:
        """Append one framed ``ENTRY`` record per entry to ``out`` (the write-path fast path)."""
        crc = self.crc
        pack = _ENTRY.pack
        for e in entries:
            data = pack(e.term, e.index, e.type) + e.data
            crc = zlib.crc32(data, crc)
            out.append(_frame(RecordType.ENTRY, data, crc))
        self.crc = crc


def _frame(rtype: int, data: bytes, crc: int) -> bytes:
    pad = -len(data) & 7
    length = 8 + len(data)
    if pad:
        length |= (0x80 | pad) << 56
    head = _HEAD14.pack(length, crc, rtype, 0)
    return b"".join((head, _U16.pack(zlib.crc32(head) & 0xFFFF), data, _PADS[pad]))


# -- data codecs ------------------------------------------------------------------------------


def encode_entry(entry: Entry) -> bytes:
    """Entry record data: term, index (u64), type (u8), then the entry's data."""
    return _ENTRY.pack(entry.term, entry.index, entry.type) + entry.data


def decode_entry(data: bytes) -> Entry:
    """Inverse of :func:`encode_entry`.

    Raises:
        ValueError: the data is too short or the entry type is unknown.
    """
    if len(data) < _ENTRY.size:
        raise ValueError(f"entry record too short ({len(data)} bytes)")
    term, index, etype = _ENTRY.unpack_from(data)
    t = _ENTRY_TYPES.get(etype)
    if t is None:
        raise ValueError(f"unknown entry type {etype}")
    return Entry(term, index, t, data[_ENTRY.size :])


def encode_hard_state(state: HardState) -> bytes:
    """State record data: term, vote, commit (u64 each)."""
    return _STATE.pack(state.term, state.vote, state.commit)


def decode_hard_state(data: bytes) -> HardState:
    """Inverse of :func:`encode_hard_state`.

    Raises:
        ValueError: the data is not exactly 24 bytes.
    """
    if len(data) != _STATE.size:
        raise ValueError(f"state record has {len(data)} bytes, want {_STATE.size}")
    term, vote, commit = _STATE.unpack(data)
    return HardState(term, vote, commit)


def encode_snapshot(snap: WalSnapshot) -> bytes:
    """Snapshot marker data: index, term (u64); then, if present, the conf state."""
    head = _SNAP.pack(snap.index, snap.term)
    cs = snap.conf_state
    if cs is None:
        return head
    ids = (*cs.voters, *cs.learners)
    return b"".join(
        (head, _CONF.pack(1, len(cs.voters), len(cs.learners)), struct.pack(f"<{len(ids)}Q", *ids))
    )


def decode_snapshot(data: bytes) -> WalSnapshot:
    """Inverse of :func:`encode_snapshot`.

    Raises:
        ValueError: the data has the wrong length or shape.
    """
    if len(data) == _SNAP.size:
        index, term = _SNAP.unpack(data)
        return WalSnapshot(index, term, None)
    if len(data) < _SNAP.size + _CONF.size:
        raise ValueError(f"snapshot record has {len(data)} bytes")
    index, term = _SNAP.unpack_from(data)
    flag, nv, nl = _CONF.unpack_from(data, _SNAP.size)
    start = _SNAP.size + _CONF.size
    if flag != 1 or len(data) != start + 8 * (nv + nl):
        raise ValueError("snapshot record has a malformed conf state")
    ids = struct.unpack_from(f"<{nv + nl}Q", data, start)
    return WalSnapshot(index, term, ConfState(voters=ids[:nv], learners=ids[nv:]))


# -- segment decoding ---------------------------------------------------------------------------


def decode_segment(buf: bytes, *, crc: int = 0, last: bool, path: str = "") -> SegmentScan:
    """Decode every record of one segment's bytes.

    Args:
        buf: the whole segment file.
        crc: the running CRC from the previous segment (0 when unknown: the segment's leading
            ``CRC`` record is then trusted).
        last: whether this is the last segment, the only one that may end in a torn tail.
        path: the file name, for error messages.

    Returns:
        The good records, where they end, the running CRC there and how the segment ends.

    Raises:
        CRCMismatchError: a CRC (data or chained) does not match, and it is not a torn tail.
        TornWriteError: an incomplete or zeroed record that is not a torn tail.
        CorruptError: a frame or record that cannot be right.
    """
    n = len(buf)
    mv = memoryview(buf)
    records: list[Record] = []
    off = 0
    running = crc
    while off < n:
        if n - off < HEADER_SIZE or buf[off : off + 8] == _ZERO8:
            if buf.count(0, off) == n - off:  # C speed over a preallocated tail
                return SegmentScan(records, off, running, Tail.ZEROS)
            if last and _torn_header(buf, off):
                return SegmentScan(records, off, running, Tail.TORN)
            raise TornWriteError("incomplete or zeroed record header", path=path, offset=off)
        length, rcrc, rtype, resv, hchk = _HEADER.unpack_from(buf, off)
        if zlib.crc32(mv[off : off + 14]) & 0xFFFF != hchk:
            if last and _torn_header(buf, off):
                return SegmentScan(records, off, running, Tail.TORN)
            raise CorruptError("bad record header", path=path, offset=off)
        body = length & _LEN_MASK
        top = length >> 56
        pad = top & 7 if top else 0
        t = _RECORD_TYPES.get(rtype)
        if t is None or resv or body < 8 or top not in (0, 0x80 | pad) or pad != -(body - 8) & 7:
            raise CorruptError(f"malformed record (type {rtype})", path=path, offset=off)
        data_end = off + 8 + body
        frame_end = data_end + pad
        if frame_end > n:
            if last:
                return SegmentScan(records, off, running, Tail.TORN)
            raise TornWriteError("incomplete record", path=path, offset=off)
        data = buf[off + HEADER_SIZE : data_end]
        if t is RecordType.CRC:
            if data:
                raise CorruptError("crc record with data", path=path, offset=off)
            if running != 0 and rcrc != running:
                raise CRCMismatchError("crc mismatch", path=path, offset=off)
            running = rcrc
        else:
            if not records:
                raise CorruptError(
                    "segment does not start with a crc record", path=path, offset=off
                )
            nxt = zlib.crc32(data, running)
            if nxt != rcrc:
                if last and _torn_data(buf, off, data_end, frame_end):
                    return SegmentScan(records, off, running, Tail.TORN)
                raise CRCMismatchError("crc mismatch", path=path, offset=off)
            running = nxt
        records.append(Record(t, data, rcrc, off))
        off = frame_end
    return SegmentScan(records, off, running, Tail.CLEAN)


def _zero_suffix_start(buf: bytes) -> int:
    """Smallest z such that buf[z:] is all zeros."""
    return len(buf.rstrip(b"\0"))


def _torn_header(buf: bytes, off: int) -> bool:
    if len(buf) - off < HEADER_SIZE:
        return True  # the file ends inside the header: cut mid-write
    if _zero_suffix_start(buf) <= off + HEADER_SIZE:
        return True  # cut inside the header, zeros after
    sector_end = min(len(buf), (off // SECTOR_SIZE + 1) * SECTOR_SIZE)
    return not any(memoryview(buf)[off:sector_end])  # the sector holding it was never written


def _torn_data(buf: bytes, off: int, data_end: int, frame_end: int) -> bool:
    if _zero_suffix_start(buf) < data_end:
        return True  # cut inside the data, zeros after
    first = -(-(off + HEADER_SIZE) // SECTOR_SIZE) * SECTOR_SIZE
    mv = memoryview(buf)
    return any(
        mv[s : s + SECTOR_SIZE] == _ZERO_SECTOR
        for s in range(first, frame_end - SECTOR_SIZE + 1, SECTOR_SIZE)
    )
