"""In-process members for transport tests: a PeerTransport plus recorders of its callbacks.

Waiting is event-driven: every callback sets ``changed``, and :meth:`Node.wait_for` re-checks
its predicate on each change, with a timeout only as a safety net.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from pycoreos._clock import Clock
from pycoreos.api.http import Handler
from pycoreos.raft.types import Message, MessageType
from pycoreos.transport import PeerTransport, TransportOptions

CLUSTER = 0xC0FFEE
FAST = TransportOptions(backoff_min=0.01, backoff_max=0.05, handshake_timeout=2.0)


class Node:
    """One member's transport and everything its callbacks reported."""

    def __init__(
        self,
        member_id: int,
        *,
        cluster_id: int = CLUSTER,
        removed: set[int] | None = None,
        options: TransportOptions = FAST,
        seed: int = 1,
        clock: Clock | None = None,
    ) -> None:
        self.id = member_id
        self.received: list[Message] = []
        self.unreachable: list[int] = []
        self.snapshot_status: list[tuple[int, bool]] = []
        self.removed_calls = 0
        self.removed = removed if removed is not None else set()
        self.changed = asyncio.Event()
        self.url = ""
        self.port = 0
        self.transport = PeerTransport(
            member_id=member_id,
            cluster_id=cluster_id,
            on_message=self._on_message,
            on_unreachable=self._on_unreachable,
            on_snapshot_status=self._on_snapshot_status,
            is_removed=lambda mid: mid in self.removed,
            on_removed=self._on_removed,
            rng=random.Random(seed),
            clock=clock,
            options=options,
        )

    def _on_message(self, msg: Message) -> None:
        self.received.append(msg)
        self.changed.set()

    def _on_unreachable(self, peer_id: int) -> None:
        self.unreachable.append(peer_id)
        self.changed.set()

    def _on_snapshot_status(self, peer_id: int, ok: bool) -> None:
        self.snapshot_status.append((peer_id, ok))
        self.changed.set()

    def _on_removed(self) -> None:
        self.removed_calls += 1
        self.changed.set()

    async def listen(self, port: int = 0, handler: Handler | None = None) -> None:
        server = await self.transport.serve("127.0.0.1", port, peer_http_handler=handler)
        self.port = server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    async def wait_for(self, pred: Callable[[], bool], within: float = 10.0) -> None:
        async with asyncio.timeout(within):
            while not pred():
                self.changed.clear()
                await self.changed.wait()

    def from_peer(self, peer_id: int) -> list[Message]:
        return [m for m in self.received if m.from_ == peer_id]


async def poll_until(pred: Callable[[], bool], within: float = 10.0) -> None:
    """Wait for internal state that fires no callback (peer state, pong statistics).

    The transport has no state-change event (the member does not need one), so this polls
    every 2 ms; use it only where no delivery can be awaited instead.
    """
    async with asyncio.timeout(within):
        while not pred():  # noqa: ASYNC110 - there is no event to wait on (see above)
            await asyncio.sleep(0.002)


async def wait_state(node: Node, peer_id: int, state: str, within: float = 10.0) -> None:
    """Wait until ``node``'s stream to ``peer_id`` reaches ``state``."""
    await poll_until(lambda: node.transport.peer_state(peer_id) == state, within)


def app(frm: int, to: int, seq: int, payload: bytes = b"") -> Message:
    """A MsgApp whose ``index`` is a sequence number, for order checks."""
    return Message(MessageType.MsgApp, to=to, from_=frm, term=1, index=seq, context=payload)


def heartbeat(frm: int, to: int, seq: int = 0) -> Message:
    return Message(MessageType.MsgHeartbeat, to=to, from_=frm, term=1, commit=seq)


async def connect(*nodes: Node) -> None:
    """Listen on every node, make each a peer of every other, start them all."""
    for n in nodes:
        if not n.url:
            await n.listen()
    for n in nodes:
        for other in nodes:
            if other is not n:
                n.transport.add_peer(other.id, [other.url])
        await n.transport.start()


async def stop_all(*nodes: Node) -> None:
    for n in nodes:
        await n.transport.stop()
