"""Failure handling: reconnect, rejected handshakes, removed members, garbage, HTTP sharing."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from pycoreos._clock import ManualClock
from pycoreos.api.http import Request, Response
from pycoreos.transport import PeerState, RejectCode
from pycoreos.transport.codec import (
    FRAME_HEADER,
    MAGIC,
    FrameDecoder,
    FrameKind,
    StreamKind,
    decode_reject,
    encode_hello,
)

from .harness import CLUSTER, Node, app, connect, heartbeat, poll_until, stop_all, wait_state


async def test_reconnects_after_remote_restarts() -> None:
    a, b = Node(1), Node(2)
    await connect(a, b)
    port = b.port
    try:
        a.transport.send([app(1, 2, 0)])
        await b.wait_for(lambda: len(b.received) == 1)
        await b.transport.stop()
        await a.wait_for(lambda: 2 in a.unreachable)
        assert a.transport.peer_state(2) in (PeerState.DOWN, PeerState.CONNECTING)
        # While down, messages are dropped at once (and reported), not queued.
        b2 = Node(2)
        await b2.listen(port)
        await wait_state(a, 2, PeerState.ACTIVE)
        a.transport.send([app(1, 2, 1), app(1, 2, 2)])
        await b2.wait_for(lambda: len(b2.received) == 2)
        assert [m.index for m in b2.received] == [1, 2]
    finally:
        await stop_all(a, b2)


async def test_dead_peer_drops_messages_while_down() -> None:
    a, b = Node(1), Node(2)
    await connect(a, b)
    await b.transport.stop()
    try:
        await a.wait_for(lambda: 2 in a.unreachable)
        await wait_state(a, 2, PeerState.DOWN)
        before = len(a.unreachable)
        a.transport.send([app(1, 2, 5)])
        await a.wait_for(lambda: len(a.unreachable) > before)
        assert a.transport.stats()["2"]["counts"]["fail"] >= 1  # type: ignore[index]
    finally:
        await stop_all(a)


async def test_cluster_id_mismatch_is_rejected(caplog: pytest.LogCaptureFixture) -> None:
    a, b = Node(1, cluster_id=0xAAA), Node(2, cluster_id=0xBBB)
    caplog.set_level(logging.WARNING, logger="pycoreos.transport")
    await connect(a, b)
    try:
        a.transport.send([app(1, 2, 0)])
        await a.wait_for(lambda: 2 in a.unreachable)
        assert b.received == []
        assert a.transport.peer_state(2) != PeerState.ACTIVE
        assert any("request cluster ID mismatch" in r.getMessage() for r in caplog.records)
        assert a.removed_calls == 0
    finally:
        await stop_all(a, b)


async def test_stream_to_wrong_member_is_rejected() -> None:
    a, b = Node(1), Node(2)
    await b.listen()
    a.transport.add_peer(3, [b.url])  # a believes member 3 lives at b's URL
    await a.transport.start()
    try:
        a.transport.send([app(1, 3, 0)])
        await a.wait_for(lambda: 3 in a.unreachable)
        assert b.received == []
    finally:
        await stop_all(a, b)


async def test_removed_member_is_refused_and_stops_for_good() -> None:
    a, b = Node(1), Node(2, removed={1})
    await connect(a, b)
    try:
        await a.wait_for(lambda: a.removed_calls == 1)
        await wait_state(a, 2, PeerState.REMOVED)
        task = a.transport._peers[2]._task
        assert task is not None
        await asyncio.wait_for(task, 5)  # the writer ended: no more reconnects
        a.transport.send([app(1, 2, 0)])
        assert b.received == []
        # b -> a still works: a is not removed from b's point of view of a's listener.
        b.transport.send([app(2, 1, 7)])
        await a.wait_for(lambda: len(a.received) == 1)
        assert a.removed_calls == 1
    finally:
        await stop_all(a, b)


async def test_on_removed_fires_once_for_many_peers() -> None:
    a, b, c = Node(1), Node(2, removed={1}), Node(3, removed={1})
    await connect(a, b, c)
    try:
        await wait_state(a, 2, PeerState.REMOVED)
        await wait_state(a, 3, PeerState.REMOVED)
        await a.wait_for(lambda: a.removed_calls == 1)
        assert a.removed_calls == 1
    finally:
        await stop_all(a, b, c)


async def test_removing_a_peer_closes_its_inbound_stream() -> None:
    a, b = Node(1), Node(2)
    await connect(a, b)
    try:
        a.transport.send([app(1, 2, 0)])
        await b.wait_for(lambda: len(b.received) == 1)
        b.removed.add(1)
        b.transport.remove_peer(1)
        # a's stream is cut, a redials, and b now refuses it as removed.
        await a.wait_for(lambda: a.removed_calls == 1)
    finally:
        await stop_all(a, b)


def _members_handler(req: Request) -> Response:
    if req.method == "GET" and req.path == "/members":
        body = json.dumps([{"id": "2", "peerURLs": ["http://x"]}]).encode()
        return Response(
            200,
            body,
            [("Content-Type", "application/json"), ("X-Etcd-Cluster-ID", f"{CLUSTER:x}")],
        )
    return Response(404, b"404 page not found\n")


async def _http_get(port: int, path: str) -> tuple[bytes, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    raw = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    return head, body


async def test_http_members_served_on_the_stream_port() -> None:
    a, b = Node(1), Node(2)
    await b.listen(handler=_members_handler)
    await connect(a, b)
    try:
        a.transport.send([app(1, 2, 0)])
        head, body = await _http_get(b.port, "/members")
        assert head.startswith(b"HTTP/1.1 200")
        assert f"X-Etcd-Cluster-ID: {CLUSTER:x}".encode() in head
        assert json.loads(body) == [{"id": "2", "peerURLs": ["http://x"]}]
        head, _ = await _http_get(b.port, "/version")
        assert head.startswith(b"HTTP/1.1 404")
        # Starts with "P" like MAGIC: must still be HTTP once it diverges.
        reader, writer = await asyncio.open_connection("127.0.0.1", b.port)
        writer.write(
            b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        assert (await reader.read()).startswith(b"HTTP/1.1 404")
        writer.close()
        await b.wait_for(lambda: len(b.received) == 1)
    finally:
        await stop_all(a, b)


async def _expect_closed(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    async with asyncio.timeout(5):
        data = await reader.read()  # EOF: the server closed the connection
    writer.close()
    return data


async def test_garbage_on_the_port_crashes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    a, b = Node(1), Node(2)
    await connect(a, b)
    try:
        # Not HTTP and not ours: the HTTP parser answers 400 and closes.
        assert (await _expect_closed(b.port, b"\x00\x01\xffgarbage\r\n\r\n")).startswith(
            b"HTTP/1.1 400"
        )
        # Our magic, then garbage: closed without an answer.
        assert await _expect_closed(b.port, MAGIC + b"\xff" * 64) == b""
        # Our magic, a HELLO frame announcing megabytes before the handshake: closed.
        assert await _expect_closed(b.port, MAGIC + FRAME_HEADER.pack(1 << 24, 1)) == b""
        # A valid handshake, then a message frame holding garbage: accepted, then closed.
        hello = encode_hello(CLUSTER, 9, 2, StreamKind.MESSAGE)
        data = await _expect_closed(
            b.port, hello + FRAME_HEADER.pack(3, FrameKind.MESSAGE) + b"abc"
        )
        assert FrameDecoder(64).feed(data)[0][0] == FrameKind.ACCEPT
        # A message before the handshake: closed.
        assert await _expect_closed(b.port, MAGIC + FRAME_HEADER.pack(0, FrameKind.MESSAGE)) == b""
        assert b.received == []
        # And the real stream on the same port is unaffected.
        a.transport.send([heartbeat(1, 2)])
        await b.wait_for(lambda: len(b.received) == 1)
    finally:
        await stop_all(a, b)


async def test_reject_frame_carries_code_and_reason() -> None:
    b = Node(2, removed={1})
    await b.listen()
    try:
        data = await _expect_closed(b.port, encode_hello(CLUSTER, 1, 2, StreamKind.MESSAGE))
        [(kind, payload)] = FrameDecoder(64).feed(data)
        assert kind == FrameKind.REJECT
        assert decode_reject(payload) == (RejectCode.MEMBER_REMOVED, "removed member")
    finally:
        await stop_all(b)


async def test_silent_connection_is_closed_after_handshake_timeout() -> None:
    from pycoreos.transport import TransportOptions

    b = Node(2, options=TransportOptions(handshake_timeout=0.05))
    await b.listen()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", b.port)
        writer.write(MAGIC[:4])  # could still become either protocol
        async with asyncio.timeout(5):
            assert await reader.read() == b""
        writer.close()
    finally:
        await stop_all(b)


async def test_exception_in_on_message_does_not_cut_the_stream() -> None:
    a, b = Node(1), Node(2)
    await connect(a, b)
    calls: list[int] = []

    def flaky(msg: object) -> None:
        calls.append(1)
        b.changed.set()
        if len(calls) == 1:
            raise RuntimeError("member bug")

    b.transport._on_message = flaky
    try:
        a.transport.send([app(1, 2, 0), app(1, 2, 1)])
        await b.wait_for(lambda: len(calls) == 2)
        assert a.transport.peer_state(2) == PeerState.ACTIVE
    finally:
        await stop_all(a, b)


async def test_stop_closes_idle_http_and_raft_connections() -> None:
    a, b = Node(1), Node(2)
    await b.listen(handler=_members_handler)
    await connect(a, b)
    reader, writer = await asyncio.open_connection("127.0.0.1", b.port)
    try:
        writer.write(b"GET /members HTTP/1.1\r\nHost: x\r\n\r\n")  # keep-alive
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        a.transport.send([heartbeat(1, 2)])
        await b.wait_for(lambda: len(b.received) == 1)
        await b.transport.stop()
        async with asyncio.timeout(5):
            rest = await reader.read()
        assert b"]" in rest  # the body, then EOF: the idle HTTP connection was closed
        await a.wait_for(lambda: 2 in a.unreachable)  # and so was a's stream
    finally:
        writer.close()
        await stop_all(a, b)


async def test_unanswered_pings_cut_a_silent_stream() -> None:
    """A peer that accepted the stream but went silent is detected through its pings."""
    accepted: list[asyncio.StreamWriter] = []

    async def silent_peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(len(MAGIC) + FRAME_HEADER.size + 25)  # magic + HELLO
        writer.write(FRAME_HEADER.pack(0, FrameKind.ACCEPT))
        accepted.append(writer)
        await reader.read()  # swallow everything, answer nothing

    server = await asyncio.start_server(silent_peer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    clock = ManualClock()
    a = Node(1, clock=clock)
    a.transport.add_peer(2, [f"http://127.0.0.1:{port}"])
    await a.transport.start()
    try:
        await wait_state(a, 2, PeerState.ACTIVE)
        a.transport.send([heartbeat(1, 2, 0)])  # carries the first ping
        await poll_until(lambda: a.transport._peers[2]._ping_sent is not None)
        clock.advance(4.0)  # within ping_timeout: nothing happens
        a.transport.send([heartbeat(1, 2, 1)])
        await asyncio.sleep(0)
        assert a.unreachable == []
        clock.advance(1.5)  # now 5.5 s without a pong
        a.transport.send([heartbeat(1, 2, 2)])
        await a.wait_for(lambda: a.unreachable == [2])
        await poll_until(lambda: len(accepted) == 2)  # and it redialed
    finally:
        await stop_all(a)
        for w in accepted:
            w.close()
        server.close()
        await server.wait_closed()
