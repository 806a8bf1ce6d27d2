"""The wire codec: round trips (hypothesis), framing across arbitrary splits, garbage."""

from __future__ import annotations

import random

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycoreos.raft.types import (
    ConfState,
    Entry,
    EntryType,
    Message,
    MessageType,
    Snapshot,
    SnapshotMetadata,
)
from pycoreos.transport import codec
from pycoreos.transport.codec import FrameDecoder, FrameKind, StreamKind
from pycoreos.transport.errors import FrameError

U64 = st.integers(min_value=0, max_value=2**64 - 1)
SMALL = st.integers(min_value=0, max_value=1000)

entries = st.builds(
    Entry,
    term=U64,
    index=U64,
    type=st.sampled_from(list(EntryType)),
    data=st.binary(max_size=64),
)
snapshots = st.builds(
    Snapshot,
    data=st.binary(max_size=256),
    metadata=st.builds(
        SnapshotMetadata,
        conf_state=st.builds(
            ConfState,
            voters=st.lists(U64, max_size=5).map(tuple),
            learners=st.lists(U64, max_size=3).map(tuple),
        ),
        index=U64,
        term=U64,
    ),
)
messages = st.builds(
    Message,
    type=st.sampled_from(list(MessageType)),
    to=U64,
    from_=U64,
    term=U64,
    log_term=U64,
    index=U64,
    entries=st.lists(entries, max_size=8).map(tuple),
    commit=U64,
    snapshot=st.none() | snapshots,
    reject=st.booleans(),
    reject_hint=U64,
    context=st.binary(max_size=32),
)


@given(messages)
def test_message_round_trip(msg: Message) -> None:
    assert codec.decode_message(codec.encode_message(msg)) == msg


@given(st.lists(messages, min_size=1, max_size=6), st.randoms(use_true_random=False))
@settings(max_examples=60)
def test_frames_survive_any_split(msgs: list[Message], rnd: random.Random) -> None:
    stream = b"".join(codec.encode_message_frame(m) for m in msgs)
    dec = FrameDecoder(max_frame=1 << 20)
    got: list[Message] = []
    pos = 0
    while pos < len(stream):
        step = rnd.randint(1, 40)
        for kind, payload in dec.feed(stream[pos : pos + step]):
            assert kind == FrameKind.MESSAGE
            got.append(codec.decode_message(payload))
        pos += step
    assert got == msgs
    assert dec.buffered == 0


@given(messages, st.data())
@settings(max_examples=200)
def test_truncated_or_extended_payload_is_frame_error(msg: Message, data: st.DataObject) -> None:
    payload = codec.encode_message(msg)
    cut = data.draw(st.integers(min_value=0, max_value=len(payload) - 1))
    with pytest.raises(FrameError):
        codec.decode_message(payload[:cut])
    with pytest.raises(FrameError):
        codec.decode_message(payload + b"\x00")


@given(st.binary(max_size=300))
@settings(max_examples=300)
def test_garbage_only_raises_frame_error(blob: bytes) -> None:
    try:
        codec.decode_message(blob)
    except FrameError:
        pass
    dec = FrameDecoder(max_frame=1024)
    try:
        for _kind, payload in dec.feed(blob):
            codec.decode_message(payload)
    except FrameError:
        pass


def test_unknown_message_type_rejected() -> None:
    payload = msgspec.msgpack.encode({"type": 200, "to": 1})
    with pytest.raises(FrameError, match="malformed"):
        codec.decode_message(payload)


def test_wrong_field_type_rejected() -> None:
    payload = msgspec.msgpack.encode({"type": 3, "entries": [{"term": "x", "index": 1}]})
    with pytest.raises(FrameError, match="malformed"):
        codec.decode_message(payload)


def test_absurd_entry_count_rejected_before_allocating() -> None:
    # A map whose "entries" array claims 2**32 - 1 elements in a 20-byte payload.
    payload = b"\x82" + msgspec.msgpack.encode("type") + b"\x03"
    payload += msgspec.msgpack.encode("entries") + b"\xdd\xff\xff\xff\xff"
    with pytest.raises(FrameError, match="truncated"):
        codec.decode_message(payload)


def test_frame_over_limit_rejected_from_header_alone() -> None:
    dec = FrameDecoder(max_frame=100)
    with pytest.raises(FrameError, match="exceeds the limit"):
        dec.feed(codec.FRAME_HEADER.pack(101, FrameKind.MESSAGE))


def test_unknown_frame_kind_rejected() -> None:
    with pytest.raises(FrameError, match="unknown frame kind"):
        FrameDecoder(max_frame=100).feed(codec.FRAME_HEADER.pack(0, 99))


def test_large_frame_in_many_chunks() -> None:
    data = bytes(range(256)) * 4096  # 1 MiB snapshot
    msg = Message(
        MessageType.MsgSnap,
        to=2,
        from_=1,
        snapshot=Snapshot(data, SnapshotMetadata(ConfState((1, 2, 3)), 10, 2)),
    )
    frame = codec.encode_message_frame(msg)
    dec = FrameDecoder(max_frame=2 << 20)
    out = []
    for i in range(0, len(frame), 65536):
        out.extend(dec.feed(frame[i : i + 65536]))
    assert len(out) == 1
    assert codec.decode_message(out[0][1]) == msg


def test_hello_and_reject_round_trip() -> None:
    hello = codec.encode_hello(0xABC, 1, 2**64 - 1, StreamKind.SNAPSHOT)
    assert hello.startswith(codec.MAGIC)
    [(kind, payload)] = FrameDecoder(64).feed(hello[len(codec.MAGIC) :])
    assert kind == FrameKind.HELLO
    assert codec.decode_hello(payload) == (0xABC, 1, 2**64 - 1, StreamKind.SNAPSHOT)
    with pytest.raises(FrameError):
        codec.decode_hello(payload[:-1])
    [(kind, payload)] = FrameDecoder(64).feed(codec.encode_reject(3, "removed member"))
    assert kind == FrameKind.REJECT
    assert codec.decode_reject(payload) == (3, "removed member")
