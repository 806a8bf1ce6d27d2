"""Outbound side: one :class:`Peer` per remote member, owning its connections.

Each peer has one persistent *message stream* (every message type but MsgSnap) driven by a
writer task, and opens a short-lived *snapshot stream* per MsgSnap so that megabytes of
snapshot never sit in front of heartbeats.

Invariants:
- Messages to one peer are written in the order :meth:`Peer.enqueue` received them, on a
  single TCP connection, so the remote sees them in order; a message is never written twice.
- :meth:`Peer.enqueue` never blocks and never awaits. The queue is bounded: a message that
  does not fit, or that arrives while the peer is known to be down, is dropped and the peer
  reported unreachable (Raft then probes instead of streaming, as with etcd).
- Everything queued is written with one ``transport.write`` per wake-up of the writer.
- While the socket's write buffer is above its high-water mark the writer waits, so the
  queue bound, not the kernel, limits memory.
- A stream whose heartbeat-borne PING stays unanswered for ``ping_timeout`` while
  heartbeats keep going out is closed and redialed (a dead host does not always reset TCP).
- A handshake refused because *we* were removed ends the peer for good (no reconnect) and
  is reported once through ``report_removed``; any other failure reconnects after
  :func:`~pycoreos.transport.config.backoff_delay`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import ssl as _ssl
from collections.abc import Callable

from pycoreos._clock import Clock
from pycoreos.errors import BrokenError
from pycoreos.raft.types import Message, MessageType
from pycoreos.transport import codec
from pycoreos.transport.codec import FrameDecoder, FrameKind, StreamKind
from pycoreos.transport.config import (
    PeerAddress,
    TransportOptions,
    backoff_delay,
    dial_local_addr,
)
from pycoreos.transport.errors import (
    FrameError,
    HandshakeRejectedError,
    RejectCode,
    TransportError,
)
from pycoreos.transport.stats import PeerStats

log = logging.getLogger("pycoreos.transport")

_HANDSHAKE_MAX_FRAME = 4096
# BrokenError: the connection closed before the handshake was answered (e.g. a proxy whose
# upstream refused); it must lead to a redial like any other dial failure.
_DIAL_ERRORS = (OSError, TimeoutError, TransportError, BrokenError)


class PeerState(enum.StrEnum):
    """Lifecycle of a peer's message stream."""

    CONNECTING = "connecting"  # dialing or waiting for the handshake answer; messages queue
    ACTIVE = "active"  # handshake accepted; messages flow
    DOWN = "down"  # last attempt failed; waiting to redial; messages are dropped
    REMOVED = "removed"  # the peer said we were removed from the cluster; terminal
    CLOSED = "closed"  # stopped by us; terminal


def _consume(fut: asyncio.Future[None], exc: BaseException) -> None:
    """Fail ``fut`` and mark the exception retrieved, so an unawaited one is not logged."""
    if not fut.done():
        fut.set_exception(exc)
        fut.exception()


class _OutboundProtocol(asyncio.Protocol):
    """One outbound connection: reads the handshake answer, pongs and snapshot acks."""

    def __init__(
        self,
        stream: StreamKind,
        on_pong: Callable[[memoryview], None],
        on_lost: Callable[[], None],
    ) -> None:
        loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.accepted: asyncio.Future[None] = loop.create_future()
        self.snap_acked: asyncio.Future[None] | None = (
            loop.create_future() if stream == StreamKind.SNAPSHOT else None
        )
        self.lost = False
        self.paused = False
        self._resumed: asyncio.Future[None] | None = None
        self._decoder = FrameDecoder(_HANDSHAKE_MAX_FRAME)
        self._on_pong = on_pong
        self._on_lost = on_lost

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._decoder.feed(data)
        except FrameError as exc:
            self.abort(exc)
            return
        for kind, payload in frames:
            if kind == FrameKind.PONG:
                self._on_pong(payload)
            elif kind == FrameKind.ACCEPT:
                if not self.accepted.done():
                    self.accepted.set_result(None)
            elif kind == FrameKind.REJECT:
                code, reason = codec.decode_reject(payload)
                try:
                    rc = RejectCode(code)
                except ValueError:
                    rc = RejectCode.BAD_HANDSHAKE
                self.abort(HandshakeRejectedError(rc, reason))
                return
            elif kind == FrameKind.SNAP_ACK and self.snap_acked is not None:
                if not self.snap_acked.done():
                    self.snap_acked.set_result(None)
            else:
                self.abort(FrameError(f"transport: unexpected {FrameKind(kind).name} frame"))
                return

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        err = BrokenError(f"transport: connection lost ({exc or 'closed'})")
        _consume(self.accepted, err)
        if self.snap_acked is not None:
            _consume(self.snap_acked, err)
        if self._resumed is not None and not self._resumed.done():
            self._resumed.set_result(None)
        self._on_lost()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self._resumed is not None and not self._resumed.done():
            self._resumed.set_result(None)

    # -- used by Peer
    async def wait_writable(self) -> None:
        """Return once the write buffer drained below its low-water mark or the link died."""
        if self.paused and not self.lost:
            self._resumed = asyncio.get_running_loop().create_future()
            await self._resumed

    def abort(self, exc: BaseException) -> None:
        """Fail pending waits with ``exc`` and close the connection."""
        _consume(self.accepted, exc)
        if self.snap_acked is not None:
            _consume(self.snap_acked, exc)
        self.close()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class Peer:
    """The outbound half of the link to one remote member. Owned by ``PeerTransport``.

    The ``report_*`` callables are the transport's; they must not call back into this peer
    synchronously (the transport defers them with ``call_soon``).
    """

    def __init__(
        self,
        peer_id: int,
        addresses: tuple[PeerAddress, ...],
        *,
        local_id: int,
        cluster_id: Callable[[], int],
        options: TransportOptions,
        ssl_client: _ssl.SSLContext | None,
        rng: random.Random,
        clock: Clock,
        report_unreachable: Callable[[int], None],
        report_snapshot: Callable[[int, bool], None],
        report_removed: Callable[[int, str], None],
    ) -> None:
        self.id = peer_id
        self.addresses = addresses
        self.stats = PeerStats()
        self.state = PeerState.CONNECTING
        self._local_id = local_id
        self._cluster_id = cluster_id
        self._opts = options
        self._ssl = ssl_client
        self._rng = rng
        self._clock = clock
        self._report_unreachable = report_unreachable
        self._report_snapshot = report_snapshot
        self._report_removed = report_removed
        self._queue: list[Message] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._snap_tasks: set[asyncio.Task[None]] = set()
        self._proto: _OutboundProtocol | None = None
        self._connected_to: PeerAddress | None = None
        self._url_index = 0
        self._attempt = 0
        self._redial_now = False
        self._ping_nonce = 0
        self._ping_sent: float | None = None

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        """Start the writer task (idempotent). Must run on the event loop."""
        if self._task is None and self.state not in (PeerState.CLOSED, PeerState.REMOVED):
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"pycoreos-peer-{self.id:x}"
            )

    async def stop(self) -> None:
        """Close every connection of this peer and await its tasks. Queued messages are lost."""
        self.state = PeerState.CLOSED
        self._queue = []
        tasks = [t for t in (self._task, *self._snap_tasks) if t is not None]
        for t in tasks:
            t.cancel()
        if self._proto is not None:
            self._proto.close()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    def update_addresses(self, addresses: tuple[PeerAddress, ...]) -> None:
        """Use ``addresses`` from now on; redial at once if the current one is gone."""
        self.addresses = addresses
        self._url_index = 0
        if self._connected_to is not None and self._connected_to not in addresses:
            self._redial_now = True
            if self._proto is not None:
                self._proto.close()

    # ------------------------------------------------------------------ sending
    def enqueue(self, msg: Message) -> None:
        """Queue ``msg`` for the message stream, or drop it (see the module invariants)."""
        queue = self._queue
        state = self.state
        if state is PeerState.CLOSED or state is PeerState.REMOVED:
            return
        if state is PeerState.DOWN or len(queue) >= self._opts.queue_size:
            self._drop(msg)
            return
        queue.append(msg)
        if len(queue) == 1:
            self._wakeup.set()

    def send_snapshot(self, msg: Message) -> None:
        """Send a MsgSnap on its own connection; the outcome goes to ``report_snapshot``."""
        if self.state is PeerState.CLOSED or self.state is PeerState.REMOVED:
            self._report_snapshot(self.id, False)
            return
        task = asyncio.get_running_loop().create_task(self._send_snapshot(msg))
        self._snap_tasks.add(task)
        task.add_done_callback(self._snap_tasks.discard)

    def _drop(self, msg: Message) -> None:
        if msg.type == MessageType.MsgApp:
            self.stats.record_failure()
        self._report_unreachable(self.id)

    # ------------------------------------------------------------------ the writer task
    async def _run(self) -> None:
        while True:
            self.state = PeerState.CONNECTING
            try:
                proto = await self._dial(StreamKind.MESSAGE)
            except HandshakeRejectedError as exc:
                if exc.code == RejectCode.MEMBER_REMOVED:
                    self._become_removed(exc.reason)
                    return
                self._log_dial_failure(exc)
            except _DIAL_ERRORS as exc:
                self._log_dial_failure(exc)
            else:
                self._attempt = 0
                self._ping_sent = None
                self.state = PeerState.ACTIVE
                log.info("peer %x became active (%s)", self.id, self._connected_to)
                await self._pump(proto)
                log.warning("lost TCP streaming connection with remote peer %x", self.id)
                self._connected_to = None
                if self._redial_now:
                    self._redial_now = False
                    continue
            self._go_down()
            await asyncio.sleep(
                backoff_delay(
                    self._attempt, self._rng, self._opts.backoff_min, self._opts.backoff_max
                )
            )
            self._attempt += 1

    def _log_dial_failure(self, exc: BaseException) -> None:
        # The first failure in a row is news; the following ones, every backoff period, are
        # not (a member that is down for an hour must not flood the log).
        level = logging.WARNING if self._attempt == 0 else logging.DEBUG
        log.log(level, "failed to dial remote peer %x: %s", self.id, exc or type(exc).__name__)

    def _go_down(self) -> None:
        self.state = PeerState.DOWN
        self._ping_sent = None
        dropped, self._queue = self._queue, []
        failed_apps = sum(1 for m in dropped if m.type == MessageType.MsgApp)
        if failed_apps:
            self.stats.record_failure(failed_apps)
        self._report_unreachable(self.id)

    def _become_removed(self, reason: str) -> None:
        self.state = PeerState.REMOVED
        self._queue = []
        self._report_removed(self.id, reason)

    async def _pump(self, proto: _OutboundProtocol) -> None:
        wakeup = self._wakeup
        while True:
            if not self._queue and not proto.lost:
                wakeup.clear()
                await wakeup.wait()
            if proto.lost:
                return
            if proto.paused:
                await proto.wait_writable()
                continue
            batch, self._queue = self._queue, []
            self._write_batch(proto, batch)

    def _write_batch(self, proto: _OutboundProtocol, batch: list[Message]) -> None:
        frames: list[bytes] = []
        heartbeat = False
        for m in batch:
            try:
                frames.append(codec.encode_message_frame(m))
            except ValueError:
                log.exception("dropped unencodable %s to %x", m.type.name, self.id)
                continue
            if m.type == MessageType.MsgHeartbeat:
                heartbeat = True
        assert proto.transport is not None
        if heartbeat:
            ping = self._maybe_ping()
            if ping is None:
                # The last ping has gone unanswered for ping_timeout while we kept sending:
                # the peer (or the path to it) is dead even if TCP has not noticed. Cut the
                # stream so the messages are reported unreachable and we redial (etcd's
                # stream reader gives up after ConnReadTimeout the same way).
                log.warning(
                    "peer %x did not answer for %.1fs; closing stream",
                    self.id,
                    self._opts.ping_timeout,
                )
                proto.close()
                self.stats.record_failure(sum(1 for m in batch if m.type == MessageType.MsgApp))
                return
            frames.append(ping)
        proto.transport.write(b"".join(frames))

    def _maybe_ping(self) -> bytes | None:
        """A PING frame, b"" while one is in flight, None when the one in flight is overdue."""
        # One ping in flight at a time, riding with a heartbeat: latency is measured at the
        # heartbeat rate without a timer of its own.
        now = self._clock.monotonic()
        if self._ping_sent is not None:
            return None if now - self._ping_sent > self._opts.ping_timeout else b""
        self._ping_nonce += 1
        self._ping_sent = now
        return codec.encode_frame(FrameKind.PING, codec.PING.pack(self._ping_nonce))

    def _on_pong(self, payload: memoryview) -> None:
        if self._ping_sent is None or len(payload) != codec.PING.size:
            return
        if codec.PING.unpack(payload)[0] != self._ping_nonce:
            return
        self.stats.record_success(self._clock.monotonic() - self._ping_sent)
        self._ping_sent = None

    def _on_lost(self) -> None:
        self._wakeup.set()

    # ------------------------------------------------------------------ dialing
    async def _dial(self, stream: StreamKind) -> _OutboundProtocol:
        addr = self.addresses[self._url_index % len(self.addresses)]
        is_message_stream = stream == StreamKind.MESSAGE
        proto = _OutboundProtocol(
            stream,
            self._on_pong if is_message_stream else lambda _p: None,
            self._on_lost if is_message_stream else lambda: None,
        )
        loop = asyncio.get_running_loop()
        ctx = (self._ssl or _ssl.create_default_context()) if addr.tls else None
        try:
            async with asyncio.timeout(self._opts.dial_timeout):
                await loop.create_connection(
                    lambda: proto,
                    addr.host,
                    addr.port,
                    ssl=ctx,
                    server_hostname=addr.host if ctx is not None else None,
                    local_addr=dial_local_addr(self._opts.loopback_source, addr.host),
                )
            assert proto.transport is not None
            proto.transport.write(
                codec.encode_hello(self._cluster_id(), self._local_id, self.id, stream)
            )
            async with asyncio.timeout(self._opts.handshake_timeout):
                await proto.accepted
        except BaseException as exc:
            proto.close()
            if not isinstance(exc, HandshakeRejectedError):
                self._url_index += 1  # try the member's next URL (etcd's urlPicker)
            raise
        if is_message_stream:
            self._proto = proto
            self._connected_to = addr
        # The handshake is done: from now on the remote may send only small control frames.
        return proto

    async def _send_snapshot(self, msg: Message) -> None:
        ok = False
        proto: _OutboundProtocol | None = None
        size = len(msg.snapshot.data) if msg.snapshot is not None else 0
        try:
            proto = await self._dial(StreamKind.SNAPSHOT)
            assert proto.transport is not None
            assert proto.snap_acked is not None
            proto.transport.write(codec.encode_message_frame(msg))
            await proto.snap_acked
            ok = True
            log.info("sent database snapshot (%d bytes) to peer %x", size, self.id)
        except HandshakeRejectedError as exc:
            if exc.code == RejectCode.MEMBER_REMOVED:
                self._become_removed(exc.reason)
            log.warning("failed to send database snapshot to peer %x: %s", self.id, exc)
        except _DIAL_ERRORS as exc:
            log.warning("failed to send database snapshot to peer %x: %r", self.id, exc)
        finally:
            if proto is not None:
                proto.close()
        if not ok:
            self._report_unreachable(self.id)
        self._report_snapshot(self.id, ok)
