"""Inbound side: the protocols behind the member's peer listener (``--listen-peer-urls``).

One port serves two protocols. :class:`PeerListenerProtocol` looks at the first bytes of a
connection: :data:`~pycoreos.transport.codec.MAGIC` means a Raft stream from another member
(:class:`RaftStreamProtocol`); anything else is handed, bytes included, to the HTTP/1.1
server (``pycoreos.api.http.HttpProtocol``) that serves the peer API (``/members``,
``/version``). The magic cannot be confused with HTTP: no method contains a ``/``.

A Raft stream starts with a ``HELLO`` frame (cluster id, from, to, stream kind). It is
answered with ``ACCEPT`` or with ``REJECT`` + close, by the host's ``check_hello``.

Invariants:
- Nothing a peer sends can raise out of these protocols: bad frames close that connection
  (logged), an exception in the member's ``deliver`` is logged and the stream goes on.
- Before the handshake only a small ``HELLO`` frame is accepted, so an unauthenticated
  connection cannot make us buffer megabytes; a connection that has not identified itself
  within ``handshake_timeout`` is closed.
- On a snapshot stream, ``SNAP_ACK`` is written only after ``deliver`` returned for the
  MsgSnap, so the sender reports success only for a snapshot the member has taken.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from pycoreos.raft.types import Message
from pycoreos.transport import codec
from pycoreos.transport.codec import MAGIC, FrameDecoder, FrameKind, StreamKind
from pycoreos.transport.config import TransportOptions
from pycoreos.transport.errors import FrameError, RejectCode

log = logging.getLogger("pycoreos.transport")

_HANDSHAKE_MAX_FRAME = 4096
_ACCEPT = codec.encode_frame(FrameKind.ACCEPT)
_SNAP_ACK = codec.encode_frame(FrameKind.SNAP_ACK)


class InboundHost(Protocol):
    """What the inbound protocols need from the transport that owns the listener."""

    def check_hello(
        self, cluster_id: int, from_id: int, to_id: int
    ) -> tuple[RejectCode, str] | None:
        """``None`` to accept a stream, or the rejection code and reason."""
        ...

    def deliver(self, msg: Message) -> None:
        """Hand one received message to the member."""
        ...

    def connection_opened(self, conn: PeerListenerProtocol) -> None: ...

    def connection_closed(self, conn: PeerListenerProtocol) -> None: ...

    def stream_opened(self, stream: RaftStreamProtocol) -> None: ...

    def stream_closed(self, stream: RaftStreamProtocol) -> None: ...


class RaftStreamProtocol(asyncio.Protocol):
    """The receiving end of one peer's message or snapshot stream (after the magic)."""

    def __init__(self, host: InboundHost, options: TransportOptions) -> None:
        self._host = host
        self._opts = options
        self._decoder = FrameDecoder(_HANDSHAKE_MAX_FRAME)
        self._transport: asyncio.Transport | None = None
        self.established = False
        self.from_id = 0
        self.stream = StreamKind.MESSAGE

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        if self.established:
            self.established = False
            self._host.stream_closed(self)

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        try:
            frames = self._decoder.feed(data)
        except FrameError as exc:
            self._fail(exc)
            return
        for kind, payload in frames:
            if kind == FrameKind.MESSAGE and self.established:
                try:
                    msg = codec.decode_message(payload)
                except FrameError as exc:
                    self._fail(exc)
                    return
                self._deliver(msg)
            elif kind == FrameKind.PING and self.established:
                transport.write(codec.encode_frame(FrameKind.PONG, bytes(payload)))
            elif kind == FrameKind.HELLO and not self.established:
                try:
                    self._on_hello(payload)
                except FrameError as exc:
                    self._fail(exc)
                    return
            else:
                self._fail(FrameError(f"transport: unexpected {FrameKind(kind).name} frame"))
                return
            if transport.is_closing():
                return

    def close(self) -> None:
        """Close this stream (the remote will redial)."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    def _deliver(self, msg: Message) -> None:
        try:
            self._host.deliver(msg)
        except Exception:  # the member's bug must not cut the stream for everyone else
            log.exception("failed to process %s from %x", msg.type.name, msg.from_)
            return
        if self.stream == StreamKind.SNAPSHOT and self._transport is not None:
            self._transport.write(_SNAP_ACK)

    def _on_hello(self, payload: memoryview) -> None:
        cluster_id, from_id, to_id, stream = codec.decode_hello(payload)
        assert self._transport is not None
        verdict = self._host.check_hello(cluster_id, from_id, to_id)
        if verdict is not None:
            code, reason = verdict
            self._transport.write(codec.encode_reject(code, reason))
            self._transport.close()
            return
        self.from_id = from_id
        self.stream = stream
        self.established = True
        self._decoder.max_frame = (
            self._opts.max_snapshot_bytes
            if stream == StreamKind.SNAPSHOT
            else self._opts.max_frame_bytes
        )
        self._transport.write(_ACCEPT)
        self._host.stream_opened(self)

    def _fail(self, exc: BaseException) -> None:
        peer = self._transport.get_extra_info("peername") if self._transport else None
        log.warning("closing peer stream from %x (%s): %s", self.from_id, peer, exc)
        self.close()


class PeerListenerProtocol(asyncio.Protocol):
    """Accepts one connection on the peer port and hands it to the Raft or HTTP protocol."""

    def __init__(
        self,
        host: InboundHost,
        options: TransportOptions,
        http_factory: Callable[[], asyncio.Protocol],
    ) -> None:
        self._host = host
        self._opts = options
        self._http_factory = http_factory
        self._transport: asyncio.BaseTransport | None = None
        self._inner: asyncio.Protocol | None = None
        self._buf = b""
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._timer = asyncio.get_running_loop().call_later(
            self._opts.handshake_timeout, self._on_timeout
        )
        self._host.connection_opened(self)

    def close(self) -> None:
        """Close the connection, whichever protocol it turned out to speak."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        inner = self._inner
        if inner is not None:
            inner.data_received(data)
            return
        buf = self._buf + data
        if len(buf) < len(MAGIC) and MAGIC.startswith(buf):
            self._buf = buf  # could still be either protocol: wait for more bytes
            return
        self._buf = b""
        if buf.startswith(MAGIC):
            inner = RaftStreamProtocol(self._host, self._opts)
            rest = buf[len(MAGIC) :]
        else:
            self._cancel_timer()  # HTTP keep-alive connections may idle; that is HTTP's call
            inner = self._http_factory()
            rest = buf
        self._inner = inner
        assert self._transport is not None
        inner.connection_made(self._transport)
        if rest:
            inner.data_received(rest)

    def eof_received(self) -> bool | None:
        if self._inner is not None:
            return self._inner.eof_received()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self._host.connection_closed(self)
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timeout(self) -> None:
        self._timer = None
        inner = self._inner
        if inner is None or (isinstance(inner, RaftStreamProtocol) and not inner.established):
            log.debug("closing peer connection that did not identify itself in time")
            self.close()
