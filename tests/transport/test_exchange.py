"""Transports exchanging messages over loopback: order, batching, snapshots, overflow, stats."""

from __future__ import annotations

import asyncio

from pycoreos.raft.types import (
    ConfState,
    Message,
    MessageType,
    Snapshot,
    SnapshotMetadata,
)
from pycoreos.transport import PeerState, TransportOptions
from pycoreos.transport.codec import StreamKind
from pycoreos.transport.inbound import RaftStreamProtocol

from .harness import FAST, Node, app, connect, heartbeat, poll_until, stop_all


async def test_two_members_exchange_in_order() -> None:
    a, b = Node(1), Node(2)
    await connect(a, b)
    try:
        n = 500
        for i in range(n):
            a.transport.send([app(1, 2, i, b"x" * (i % 50))])
            b.transport.send([app(2, 1, i)])
            if i % 97 == 0:
                await asyncio.sleep(0)  # let some batches go out mid-way
        await b.wait_for(lambda: len(b.received) == n)
        await a.wait_for(lambda: len(a.received) == n)
        assert [m.index for m in b.received] == list(range(n))
        assert [m.index for m in a.received] == list(range(n))
        assert b.received[7] == app(1, 2, 7, b"x" * 7)
        assert a.unreachable == []
        assert b.unreachable == []
    finally:
        await stop_all(a, b)


async def test_three_members_order_per_pair() -> None:
    nodes = [Node(1), Node(2), Node(3)]
    await connect(*nodes)
    try:
        n = 200
        for i in range(n):
            for src in nodes:
                src.transport.send([app(src.id, dst.id, i) for dst in nodes if dst is not src])
        for dst in nodes:
            await dst.wait_for(lambda dst=dst: len(dst.received) == 2 * n)
            for src in nodes:
                if src is not dst:
                    assert [m.index for m in dst.from_peer(src.id)] == list(range(n))
    finally:
        await stop_all(*nodes)


class _CountingTransport:
    """Forwards to a real transport and records write sizes (uvloop's cannot be patched)."""

    def __init__(self, inner: asyncio.Transport) -> None:
        self.inner = inner
        self.writes: list[int] = []

    def write(self, data: bytes) -> None:
        self.writes.append(len(data))
        self.inner.write(data)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


async def test_messages_queued_together_go_out_in_one_write() -> None:
    a, b = Node(1), Node(2)
    await connect(a, b)
    try:
        a.transport.send([heartbeat(1, 2)])
        await b.wait_for(lambda: len(b.received) == 1)
        proto = a.transport._peers[2]._proto
        assert proto is not None
        assert proto.transport is not None
        counting = _CountingTransport(proto.transport)
        proto.transport = counting  # type: ignore[assignment]
        # Three send() calls in one loop turn: the writer wakes once and writes once.
        for k in range(3):
            a.transport.send([app(1, 2, 10 * k + j) for j in range(10)])
        await b.wait_for(lambda: len(b.received) == 31)
        assert len(counting.writes) == 1
        assert [m.index for m in b.received[1:]] == [
            10 * k + j for k in range(3) for j in range(10)
        ]
    finally:
        await stop_all(a, b)


async def test_queue_overflow_drops_and_reports_unreachable_later() -> None:
    opts = TransportOptions(queue_size=8, backoff_min=0.01, backoff_max=0.05)
    a, b = Node(1, options=opts), Node(2)
    await connect(a, b)
    try:
        # Right after start() the writer has not run: the queue fills in this loop turn.
        a.transport.send([app(1, 2, i) for i in range(20)])
        assert a.unreachable == []  # deferred: never re-enters the caller
        await a.wait_for(lambda: a.unreachable == [2])
        await b.wait_for(lambda: len(b.received) == 8)
        assert [m.index for m in b.received] == list(range(8))
        assert a.transport.stats()["2"]["counts"] == {"fail": 12, "success": 0}  # type: ignore[index]
    finally:
        await stop_all(a, b)


def _snapshot_msg(size: int) -> Message:
    data = bytes(range(256)) * (size // 256)
    meta = SnapshotMetadata(ConfState(voters=(1, 2, 3)), index=1000, term=3)
    return Message(MessageType.MsgSnap, to=2, from_=1, term=3, snapshot=Snapshot(data, meta))


async def test_large_snapshot_does_not_block_heartbeats() -> None:
    a, b = Node(1), Node(2)
    await connect(a, b)
    try:
        a.transport.send([heartbeat(1, 2, 0)])
        await b.wait_for(lambda: len(b.received) == 1)
        # Stall the snapshot stream at the receiver as soon as it is accepted (before any
        # snapshot byte is read): it now cannot finish before the test allows it.
        stalled: list[RaftStreamProtocol] = []
        real_opened = b.transport.stream_opened

        def stream_opened(stream: RaftStreamProtocol) -> None:
            real_opened(stream)
            if stream.stream == StreamKind.SNAPSHOT:
                assert stream._transport is not None
                stream._transport.pause_reading()
                stalled.append(stream)
                b.changed.set()

        b.transport.stream_opened = stream_opened  # type: ignore[method-assign]
        snap = _snapshot_msg(16 << 20)
        a.transport.send([snap])
        await b.wait_for(lambda: len(stalled) == 1)
        stream = stalled[0]
        assert stream._transport is not None
        for i in range(1, 51):
            a.transport.send([heartbeat(1, 2, i)])
            await b.wait_for(lambda i=i: len(b.received) == i + 1)
        assert all(m.type == MessageType.MsgHeartbeat for m in b.received)
        assert a.snapshot_status == []
        stream._transport.resume_reading()
        await a.wait_for(lambda: a.snapshot_status == [(2, True)])
        assert b.received[-1] == snap
        assert a.unreachable == []
    finally:
        await stop_all(a, b)


async def test_snapshot_to_dead_peer_reports_failure() -> None:
    a, b = Node(1), Node(2)
    await connect(a, b)
    await b.transport.stop()
    try:
        a.transport.send([_snapshot_msg(4096)])
        await a.wait_for(lambda: a.snapshot_status == [(2, False)])
        await a.wait_for(lambda: 2 in a.unreachable)
    finally:
        await stop_all(a)


async def test_heartbeat_pings_feed_latency_stats() -> None:
    a, b = Node(1), Node(2)
    await connect(a, b)
    try:
        for i in range(5):
            a.transport.send([heartbeat(1, 2, i)])
            await b.wait_for(lambda i=i: len(b.received) == i + 1)
            # The pong comes back on a's connection right after b read the heartbeat.
            peer = a.transport._peers[2]
            await poll_until(lambda peer=peer, i=i: peer.stats.success == i + 1)
        stats = a.transport.stats()
        assert set(stats) == {"2"}
        lat = stats["2"]["latency"]  # type: ignore[index]
        assert 0 <= lat["minimum"] <= lat["average"] <= lat["maximum"]
        assert lat["standardDeviation"] >= 0
        assert stats["2"]["counts"] == {"fail": 0, "success": 5}  # type: ignore[index]
    finally:
        await stop_all(a, b)


async def test_send_to_unknown_or_removed_peer_is_dropped() -> None:
    a, b = Node(1), Node(2)
    await connect(a, b)
    try:
        a.transport.send([app(1, 9, 0), app(1, 1, 0)])  # unknown peer and ourselves
        a.transport.remove_peer(2)
        a.transport.send([app(1, 2, 1)])
        assert a.transport.peer_ids() == []
        assert a.transport.peer_state(2) is None
        b.transport.send([app(2, 1, 5)])
        await a.wait_for(lambda: len(a.received) == 1)
        assert b.received == []
    finally:
        await stop_all(a, b)


async def test_update_peer_moves_to_new_url() -> None:
    a, b = Node(1), Node(2)
    await connect(a, b)
    b2 = Node(2)
    await b2.listen()
    try:
        a.transport.send([app(1, 2, 0)])
        await b.wait_for(lambda: len(b.received) == 1)
        a.transport.update_peer(2, [b2.url])
        peer = a.transport._peers[2]
        await poll_until(
            lambda: peer._connected_to is not None and peer._connected_to.port == b2.port
        )
        assert peer.state == PeerState.ACTIVE
        a.transport.send([app(1, 2, 1)])
        await b2.wait_for(lambda: len(b2.received) == 1)
        assert b2.received[0].index == 1
        assert len(b.received) == 1
    finally:
        await stop_all(a, b, b2)


async def test_stop_is_idempotent_and_silences_callbacks() -> None:
    a, b = Node(1), Node(2)
    await connect(a, b)
    await a.transport.stop()
    await a.transport.stop()
    a.transport.send([app(1, 2, 0)])
    await asyncio.sleep(0)
    assert a.unreachable == []
    await b.transport.stop()
    assert FAST.backoff_max < 1
