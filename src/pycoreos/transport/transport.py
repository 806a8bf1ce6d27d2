"""PeerTransport: the member's Raft message transport (rafthttp's ``Transport``).

The member hands it outgoing messages (:meth:`PeerTransport.send`, wired to
``EtcdServer.send_messages``) and gets incoming ones through ``on_message`` (wired to
``EtcdServer.receive``). Outbound work lives in ``peer.py``, the listener's protocols in
``inbound.py``; this module owns the peer table, the callbacks and the lifecycle.

Invariants:
- Everything runs on the event loop thread; no method blocks.
- ``on_unreachable`` and ``on_snapshot_status`` are never called from inside :meth:`send`:
  they are deferred with ``loop.call_soon`` (coalesced per peer for unreachable reports), so
  the Raft driver is never re-entered while it is handling a ``Ready``.
- ``on_removed`` is called at most once, the first time a peer refuses us as removed.
- After :meth:`stop` returns, no task, connection or server of this transport is left and
  no callback fires; :meth:`send` then drops messages silently.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl as _ssl
from collections.abc import Callable, Sequence

from pycoreos._clock import Clock, RealClock
from pycoreos.api.http import Handler, HttpProtocol, Request, Response
from pycoreos.errors import ClosedError
from pycoreos.raft.types import Message, MessageType
from pycoreos.transport.codec import StreamKind
from pycoreos.transport.config import TransportOptions, parse_peer_urls
from pycoreos.transport.errors import MEMBER_REMOVED_MESSAGE, RejectCode
from pycoreos.transport.inbound import PeerListenerProtocol, RaftStreamProtocol
from pycoreos.transport.peer import Peer, PeerState

log = logging.getLogger("pycoreos.transport")


def _not_found(_req: Request) -> Response:
    return Response(404, b"404 page not found\n", [("Content-Type", "text/plain; charset=utf-8")])


class PeerTransport:
    """Sends Raft messages to peers and receives theirs. See the module docstring.

    Args:
        member_id: this member's id; inbound streams addressed to another id are refused.
        cluster_id: this cluster's id; streams from another cluster are refused, and ours
            carry it (readable and writable as :attr:`cluster_id` until :meth:`start`, for
            a member that learns it while joining).
        on_message: called on the loop for every received message, in per-peer order.
        on_unreachable: called (deferred) with a peer id whose messages could not be sent;
            wire it to ``RawNode.report_unreachable``.
        on_snapshot_status: called (deferred) with ``(peer id, delivered)`` once per MsgSnap;
            wire it to ``RawNode.report_snapshot``.
        is_removed: whether a member id was removed from the cluster; such members' streams
            are refused with etcd's "removed member".
        on_removed: called once when a peer refuses us because *we* were removed; the member
            should shut down.
        ssl_client: TLS context for ``https`` peer URLs (default: the system's defaults).
        rng: randomness for the reconnect jitter (seed it in tests).
        clock: monotonic time for latency statistics.
        options: limits and timeouts.
    """

    def __init__(
        self,
        *,
        member_id: int,
        cluster_id: int,
        on_message: Callable[[Message], None],
        on_unreachable: Callable[[int], None],
        on_snapshot_status: Callable[[int, bool], None],
        is_removed: Callable[[int], bool],
        on_removed: Callable[[], None] | None = None,
        ssl_client: _ssl.SSLContext | None = None,
        rng: random.Random | None = None,
        clock: Clock | None = None,
        options: TransportOptions | None = None,
    ) -> None:
        self.member_id = member_id
        self.cluster_id = cluster_id
        self.options = options or TransportOptions()
        self._on_message = on_message
        self._on_unreachable = on_unreachable
        self._on_snapshot_status = on_snapshot_status
        self._is_removed = is_removed
        self._on_removed = on_removed
        self._ssl = ssl_client
        self._rng = rng or random.Random()
        self._clock: Clock = clock or RealClock()
        self._peers: dict[int, Peer] = {}
        self._inbound: dict[int, RaftStreamProtocol] = {}  # message stream per sender
        self._inbound_all: set[RaftStreamProtocol] = set()
        self._servers: list[asyncio.Server] = []
        self._connections: set[PeerListenerProtocol] = set()  # every accepted connection
        self._stopping_peers: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unreachable: set[int] = set()
        self._removed_reported = False
        self._started = False
        self._closed = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start dialing every known peer. Idempotent.

        Raises:
            ClosedError: the transport was stopped.
        """
        if self._closed:
            raise ClosedError("transport: stopped")
        self._loop = asyncio.get_running_loop()
        self._started = True
        for peer in self._peers.values():
            peer.start()

    async def stop(self) -> None:
        """Close listeners, streams and peers; await every task. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for server in self._servers:
            server.close()
        for conn in list(self._connections):
            conn.close()
        peers = list(self._peers.values())
        self._peers.clear()
        for peer in peers:
            await peer.stop()
        for task in list(self._stopping_peers):
            await task
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    # ------------------------------------------------------------------ peers
    def add_peer(self, peer_id: int, urls: Sequence[str]) -> None:
        """Start talking to member ``peer_id`` at ``urls``. Adding a known peer updates it.

        Raises:
            ConfigError: a URL is not ``http(s)://host:port``.
            ClosedError: the transport was stopped.
        """
        if self._closed:
            raise ClosedError("transport: stopped")
        addresses = parse_peer_urls(tuple(urls))
        if peer_id in self._peers:
            self._peers[peer_id].update_addresses(addresses)
            return
        peer = Peer(
            peer_id,
            addresses,
            local_id=self.member_id,
            cluster_id=lambda: self.cluster_id,
            options=self.options,
            ssl_client=self._ssl,
            rng=self._rng,
            clock=self._clock,
            report_unreachable=self._report_unreachable,
            report_snapshot=self._report_snapshot,
            report_removed=self._report_removed,
        )
        self._peers[peer_id] = peer
        if self._started:
            peer.start()

    def update_peer(self, peer_id: int, urls: Sequence[str]) -> None:
        """Change the URLs of a known peer (a new peer is added).

        Raises:
            ConfigError: a URL is not ``http(s)://host:port``.
        """
        self.add_peer(peer_id, urls)

    def remove_peer(self, peer_id: int) -> None:
        """Stop talking to ``peer_id``: its outbound connections and inbound streams close."""
        peer = self._peers.pop(peer_id, None)
        if peer is not None:
            task = asyncio.get_running_loop().create_task(peer.stop())
            self._stopping_peers.add(task)
            task.add_done_callback(self._stopping_peers.discard)
        for stream in [s for s in self._inbound_all if s.from_id == peer_id]:
            stream.close()

    def peer_ids(self) -> list[int]:
        """Ids of the peers this transport sends to, sorted."""
        return sorted(self._peers)

    def peer_state(self, peer_id: int) -> PeerState | None:
        """The state of ``peer_id``'s message stream, or None for an unknown peer."""
        peer = self._peers.get(peer_id)
        return peer.state if peer is not None else None

    # ------------------------------------------------------------------ sending
    def send(self, msgs: Sequence[Message]) -> None:
        """Queue ``msgs`` for their peers and return at once.

        Messages to unknown peers (and to ourselves) are dropped; MsgSnap goes on its own
        connection and its outcome is reported through ``on_snapshot_status``.
        """
        peers = self._peers
        for m in msgs:
            peer = peers.get(m.to)
            if peer is None:
                if not self._closed and m.to != self.member_id:
                    log.debug("dropped %s to unknown peer %x", m.type.name, m.to)
                continue
            if m.type == MessageType.MsgSnap:
                peer.send_snapshot(m)
            else:
                peer.enqueue(m)

    def stats(self) -> dict[str, object]:
        """Per-peer statistics keyed by lower-case hex id (etcd's ``followers`` object)."""
        return {f"{pid:x}": peer.stats.as_dict() for pid, peer in sorted(self._peers.items())}

    # ------------------------------------------------------------------ listener
    def protocol_factory(
        self, peer_http_handler: Handler | None = None
    ) -> Callable[[], asyncio.Protocol]:
        """A factory for ``loop.create_server`` on the peer URLs (plain or ``ssl=``).

        Raft streams are served by this transport; every other connection is HTTP/1.1,
        answered by ``peer_http_handler`` (404 for everything when None).
        """
        handler = peer_http_handler or _not_found
        opts = self.options

        def http() -> asyncio.Protocol:
            return HttpProtocol(handler, max_body=opts.max_frame_bytes)

        return lambda: PeerListenerProtocol(self, opts, http)

    async def serve(
        self,
        host: str,
        port: int,
        *,
        peer_http_handler: Handler | None = None,
        ssl: _ssl.SSLContext | None = None,
    ) -> asyncio.Server:
        """Listen on ``host:port`` (port 0 picks one); :meth:`stop` closes the server.

        Raises:
            ClosedError: the transport was stopped.
            OSError: the address cannot be bound.
        """
        if self._closed:
            raise ClosedError("transport: stopped")
        server = await asyncio.get_running_loop().create_server(
            self.protocol_factory(peer_http_handler), host, port, ssl=ssl
        )
        self._servers.append(server)
        return server

    # ------------------------------------------------------------------ InboundHost
    def check_hello(
        self, cluster_id: int, from_id: int, to_id: int
    ) -> tuple[RejectCode, str] | None:
        """Accept or refuse a stream handshake, with etcd's reasons and log lines."""
        if self._closed:
            return RejectCode.BAD_HANDSHAKE, "member stopped"
        if cluster_id != self.cluster_id:
            log.warning(
                "request cluster ID mismatch (local-member-cluster-id=%x, remote-peer-cluster-id=%x, remote-peer-id=%x)",
                self.cluster_id,
                cluster_id,
                from_id,
            )
            return RejectCode.CLUSTER_ID_MISMATCH, "cluster ID mismatch"
        if to_id != self.member_id:
            log.warning(
                "ignored streaming request; ID mismatch (local=%x, remote=%x)",
                self.member_id,
                to_id,
            )
            return RejectCode.TO_MISMATCH, "to field mismatch"
        if self._is_removed(from_id):
            log.warning("rejected stream from remote peer %x because it was removed", from_id)
            return RejectCode.MEMBER_REMOVED, "removed member"
        return None

    def deliver(self, msg: Message) -> None:
        """Hand a received message to the member (InboundHost)."""
        if not self._closed:
            self._on_message(msg)

    def connection_opened(self, conn: PeerListenerProtocol) -> None:
        """Track an accepted connection, so :meth:`stop` can close it (InboundHost)."""
        self._connections.add(conn)

    def connection_closed(self, conn: PeerListenerProtocol) -> None:
        """Forget a closed connection (InboundHost)."""
        self._connections.discard(conn)

    def stream_opened(self, stream: RaftStreamProtocol) -> None:
        """Track an accepted stream; a newer message stream replaces the sender's older one."""
        self._inbound_all.add(stream)
        if stream.stream != StreamKind.MESSAGE:
            return
        old = self._inbound.get(stream.from_id)
        self._inbound[stream.from_id] = stream
        if old is not None and old is not stream:
            old.close()  # a half-open leftover of a connection the sender gave up on

    def stream_closed(self, stream: RaftStreamProtocol) -> None:
        """Forget a closed stream (InboundHost)."""
        self._inbound_all.discard(stream)
        if self._inbound.get(stream.from_id) is stream:
            del self._inbound[stream.from_id]

    # ------------------------------------------------------------------ reports
    def _report_unreachable(self, peer_id: int) -> None:
        if self._closed:
            return
        if not self._unreachable:
            self._call_soon(self._flush_unreachable)
        self._unreachable.add(peer_id)

    def _flush_unreachable(self) -> None:
        ids, self._unreachable = sorted(self._unreachable), set()
        for pid in ids:
            if not self._closed:
                self._on_unreachable(pid)

    def _report_snapshot(self, peer_id: int, ok: bool) -> None:
        if not self._closed:
            self._call_soon(self._deliver_snapshot_status, peer_id, ok)

    def _deliver_snapshot_status(self, peer_id: int, ok: bool) -> None:
        if not self._closed:
            self._on_snapshot_status(peer_id, ok)

    def _report_removed(self, peer_id: int, reason: str) -> None:
        log.error("%s (peer %x answered %r)", MEMBER_REMOVED_MESSAGE, peer_id, reason)
        if self._removed_reported or self._closed:
            return
        self._removed_reported = True
        if self._on_removed is not None:
            self._call_soon(self._on_removed)

    def _call_soon(self, fn: Callable[..., None], *args: object) -> None:
        loop = self._loop
        if loop is None:  # before start(): there is no Ready being handled to re-enter
            fn(*args)
        else:
            loop.call_soon(fn, *args)
