"""A peer that accepts the TCP connection but closes it before answering the handshake (a
proxy whose upstream is not up yet, a member still starting) must be redialed."""

from __future__ import annotations

import asyncio

from pycoreos.raft.types import Message, MessageType

from .harness import Node


async def test_connection_closed_before_handshake_answer_is_redialed() -> None:
    dials = 0
    third_dial = asyncio.Event()

    async def slam(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        nonlocal dials
        dials += 1
        if dials >= 3:
            third_dial.set()
        w.close()

    server = await asyncio.start_server(slam, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    node = Node(1)
    try:
        node.transport.add_peer(2, [f"http://127.0.0.1:{port}"])
        await node.transport.start()
        node.transport.send([Message(type=MessageType.MsgHeartbeat, to=2, from_=1)])
        async with asyncio.timeout(5):
            await third_dial.wait()
    finally:
        await node.transport.stop()
        server.close()
        await server.wait_closed()
    assert dials >= 3
