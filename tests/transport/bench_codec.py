"""Micro-benchmark of the transport codec: a MsgApp with 64 x 300-byte entries.

Run: ``.venv/bin/python tests/transport/bench_codec.py``. Prints µs per encode and per
decode (frame parse + message decode), best of 5 rounds.
"""

from __future__ import annotations

import timeit

from pycoreos.raft.types import Entry, Message, MessageType
from pycoreos.transport import codec


def make_msg_app(n: int = 64, size: int = 300) -> Message:
    entries = tuple(Entry(term=7, index=1000 + i, data=bytes([i % 256]) * size) for i in range(n))
    return Message(
        MessageType.MsgApp,
        to=2,
        from_=1,
        term=7,
        log_term=7,
        index=999,
        entries=entries,
        commit=990,
    )


def main() -> None:
    msg = make_msg_app()
    frame = codec.encode_message_frame(msg)
    dec = codec.FrameDecoder(max_frame=64 << 20)

    def decode() -> Message:
        [(_kind, payload)] = dec.feed(frame)
        return codec.decode_message(payload)

    assert decode() == msg
    hb = Message(MessageType.MsgHeartbeat, to=2, from_=1, term=7, commit=990)
    hb_frame = codec.encode_message_frame(hb)

    def decode_hb() -> Message:
        [(_kind, payload)] = dec.feed(hb_frame)
        return codec.decode_message(payload)

    cases = [
        ("encode MsgApp 64x300B", lambda: codec.encode_message_frame(msg)),
        ("decode MsgApp 64x300B", decode),
        ("encode MsgHeartbeat", lambda: codec.encode_message_frame(hb)),
        ("decode MsgHeartbeat", decode_hb),
    ]
    print(f"frame size: {len(frame)} bytes")
    for name, fn in cases:
        n = 2000
        best = min(timeit.repeat(fn, number=n, repeat=5)) / n
        print(f"{name:24s} {best * 1e6:8.2f} µs")


if __name__ == "__main__":
    main()
