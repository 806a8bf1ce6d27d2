"""A small HTTP/1.1 server: a bare ``asyncio.Protocol`` driving the ``httptools`` parser.

Why not a framework: measured on these machines (docs/design/http.md), aiohttp and ASGI servers
cost 2-3x more CPU per request than this layer, which would make HTTP, not Raft or the disk,
the bottleneck.

Contract with the application (a :data:`Handler`): it is called synchronously on the event
loop with a parsed :class:`Request` and returns either a :class:`Response` (answered at once),
an ``asyncio.Future`` resolving to one (e.g. a write waiting for Raft), or a
:class:`StreamResponse` (a watch: headers now, chunks later).

Invariants:
- Responses on one connection go out in request order (HTTP/1.1 pipelining): each request
  gets a slot in a FIFO; a slot is written only when every slot before it is done.
- A request body larger than ``max_body`` is answered with the handler-independent
  ``too_large`` response and the connection is closed, so an oversized request never reaches
  the application.
- A malformed request gets ``400 Bad Request`` and the connection is closed.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Union

import httptools

_REASONS = {
    200: b"OK",
    201: b"Created",
    204: b"No Content",
    307: b"Temporary Redirect",
    400: b"Bad Request",
    401: b"Unauthorized",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    409: b"Conflict",
    410: b"Gone",
    412: b"Precondition Failed",
    413: b"Request Entity Too Large",
    415: b"Unsupported Media Type",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    503: b"Service Unavailable",
}


@dataclass(slots=True)
class Request:
    """One parsed request. ``headers`` keys are lower-case; ``path`` is not yet unquoted."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    peer: str = ""


@dataclass(slots=True)
class Response:
    """A complete response. ``headers`` are written as given, after the common headers."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    head_only: bool = False  # HEAD: send Content-Length of the body but not the body


class StreamResponse:
    """A response whose body arrives later in chunks (chunked transfer encoding).

    The application calls :meth:`send` for each chunk and :meth:`finish` once; the server
    calls ``on_close`` if the client goes away first, so the application can clean up (e.g.
    remove a watcher).
    """

    def __init__(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.status = status
        self.headers = headers
        self.on_close: Callable[[], None] | None = None
        self._writer: Callable[[bytes], None] | None = None
        self._pending: list[bytes] = []
        self._finished = False
        self._on_finish: Callable[[], None] | None = None

    def send(self, chunk: bytes) -> None:
        """Queue ``chunk`` (written as soon as this response is at the head of its connection)."""
        if self._finished or not chunk:
            return
        if self._writer is not None:
            self._writer(b"%x\r\n%b\r\n" % (len(chunk), chunk))
        else:
            self._pending.append(chunk)

    def finish(self) -> None:
        """End the body. Idempotent."""
        if self._finished:
            return
        self._finished = True
        if self._writer is not None:
            self._writer(b"0\r\n\r\n")
            if self._on_finish is not None:
                self._on_finish()

    @property
    def finished(self) -> bool:
        return self._finished

    def _attach(self, writer: Callable[[bytes], None], on_finish: Callable[[], None]) -> None:
        self._writer = writer
        self._on_finish = on_finish
        for chunk in self._pending:
            writer(b"%x\r\n%b\r\n" % (len(chunk), chunk))
        self._pending.clear()
        if self._finished:
            writer(b"0\r\n\r\n")
            on_finish()


# Go's http.Server default: 1 MiB of request line + headers, plus its 4096-byte slack.
MAX_HEADER_BYTES = (1 << 20) + 4096

_HEADERS_TOO_LARGE = Response(
    431,
    b"431 Request Header Fields Too Large",
    [("Content-Type", "text/plain; charset=utf-8"), ("Connection", "close")],
)

# Methods llhttp parses (anything else is masked, see HttpProtocol._mask_unknown_method).
_KNOWN_METHODS = frozenset(
    b"DELETE GET HEAD POST PUT CONNECT OPTIONS TRACE COPY LOCK MKCOL MOVE PROPFIND PROPPATCH "
    b"SEARCH UNLOCK BIND REBIND UNBIND ACL REPORT MKACTIVITY CHECKOUT MERGE M-SEARCH NOTIFY "
    b"SUBSCRIBE UNSUBSCRIBE PATCH PURGE MKCALENDAR LINK UNLINK SOURCE".split()
)

HandlerResult = Union[Response, "asyncio.Future[Response]", StreamResponse]
Handler = Callable[[Request], HandlerResult]

_date_cache: tuple[int, bytes] = (0, b"")


def _date_header() -> bytes:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, b"Date: %s\r\n" % email.utils.formatdate(now, usegmt=True).encode())
    return _date_cache[1]


def render_head(
    status: int, headers: list[tuple[str, str]], common: bytes, length: int | None
) -> bytes:
    """Status line and headers; ``length`` None means chunked."""
    parts = [b"HTTP/1.1 %d %b\r\n" % (status, _REASONS.get(status, b"Unknown")), common]
    parts.extend(f"{k}: {v}\r\n".encode("latin-1") for k, v in headers)
    parts.append(_date_header())
    if length is None:
        parts.append(b"Transfer-Encoding: chunked\r\n\r\n")
    else:
        parts.append(b"Content-Length: %d\r\n\r\n" % length)
    return b"".join(parts)


class _Slot:
    __slots__ = ("keep_alive", "response")

    def __init__(self, keep_alive: bool) -> None:
        self.response: Response | StreamResponse | None = None
        self.keep_alive = keep_alive


class HttpProtocol(asyncio.Protocol):
    """One client connection. See the module docstring for the invariants."""

    def __init__(
        self,
        handler: Handler,
        *,
        common_headers: bytes = b"",
        max_body: int = 1 << 30,
        too_large: Response | None = None,
    ) -> None:
        self._handler = handler
        self._common = common_headers
        self._max_body = max_body
        self._too_large = too_large or Response(413, b"request entity too large\n")
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._slots: deque[_Slot] = deque()
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_len = 0
        self._streaming: StreamResponse | None = None
        self._closed = False
        self._peer = ""
        self._body_too_large = False
        self._head_too_large = False
        self._head_bytes = 0
        self._in_message = False
        self._method_override: str | None = None

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport does not subclass asyncio.Transport; it has the same API.
        self._transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self._peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else ""

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._streaming is not None and self._streaming.on_close is not None:
            self._streaming.on_close()
        for slot in self._slots:
            if isinstance(slot.response, StreamResponse) and slot.response.on_close:
                slot.response.on_close()
        self._slots.clear()

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        if not self._in_message:
            data = self._mask_unknown_method(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            # httptools wraps exceptions raised by our callbacks; flags tell them apart.
            if self._body_too_large:
                self._reply_and_close(self._too_large)
            elif self._head_too_large:
                self._reply_and_close(_HEADERS_TOO_LARGE)
            else:
                self._fail(400)
        except httptools.HttpParserUpgrade as upgrade:
            # CONNECT (or an Upgrade request) was parsed and answered like any other request
            # (we never upgrade). llhttp stops there; Go's server keeps the connection, so
            # continue with a fresh parser on the bytes after that request.
            offset = int(upgrade.args[0]) if upgrade.args else len(data)
            self._parser = httptools.HttpRequestParser(self)
            self._in_message = False
            if offset < len(data):
                self.data_received(data[offset:])

    def _mask_unknown_method(self, data: bytes) -> bytes:
        # llhttp rejects methods it does not know (e.g. "FOO") as a parse error, while Go
        # hands them to the handler, which answers 405. Substitute a known method that no
        # route accepts and remember the real one for the handler.
        self._method_override = None
        sp = data.find(b" ", 0, 32)
        if sp <= 0:
            return data
        token = data[:sp]
        if token in _KNOWN_METHODS or not token.isalpha() or not token.isupper():
            return data
        self._method_override = token.decode("latin-1")
        return b"PURGE" + data[sp:]

    # -- httptools callbacks
    def on_message_begin(self) -> None:
        self._in_message = True
        self._head_bytes = 0
        self._url = b""
        self._headers = {}
        self._body = []
        self._body_len = 0

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        self._url += url

    def _count_head(self, n: int) -> None:
        self._head_bytes += n
        if self._head_bytes > MAX_HEADER_BYTES:
            self._head_too_large = True
            raise _BodyTooLargeError

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        if key == "content-length" and text.isdigit() and int(text) > self._max_body:
            self._body_too_large = True
            raise _BodyTooLargeError
        self._headers[key] = text

    def on_body(self, body: bytes) -> None:
        self._body_len += len(body)
        if self._body_len > self._max_body:
            self._body_too_large = True
            raise _BodyTooLargeError
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._in_message = False
        url = self._url.decode("latin-1")
        path, _, query = url.partition("?")
        method = self._method_override or self._parser.get_method().decode("latin-1")
        self._method_override = None
        req = Request(method, path, query, self._headers, b"".join(self._body), self._peer)
        slot = _Slot(self._parser.should_keep_alive())
        self._slots.append(slot)
        try:
            result = self._handler(req)
        except Exception:  # the application's bug must not kill the connection loop
            import logging

            logging.getLogger("pycoreos.http").exception("handler failed for %s %s", method, url)
            result = Response(500, b"internal server error\n")
        if isinstance(result, asyncio.Future):
            result.add_done_callback(functools.partial(self._future_done, slot))
        else:
            slot.response = result
            self._flush()

    # -- writing
    def _future_done(self, slot: _Slot, fut: asyncio.Future[Response]) -> None:
        if fut.cancelled():
            slot.response = Response(500, b"request cancelled\n")
        elif fut.exception() is not None:
            import logging

            logging.getLogger("pycoreos.http").error("handler future failed: %r", fut.exception())
            slot.response = Response(500, b"internal server error\n")
        else:
            slot.response = fut.result()
        self._flush()

    def _flush(self) -> None:
        transport = self._transport
        if transport is None or self._closed or self._streaming is not None:
            return
        while self._slots and self._slots[0].response is not None:
            slot = self._slots.popleft()
            resp = slot.response
            if isinstance(resp, StreamResponse):
                transport.write(render_head(resp.status, resp.headers, self._common, None))
                self._streaming = resp
                resp._attach(transport.write, functools.partial(self._stream_done, slot))
                return
            assert resp is not None
            head = render_head(resp.status, resp.headers, self._common, len(resp.body))
            transport.write(head if resp.head_only or not resp.body else head + resp.body)
            if not slot.keep_alive:
                self._close()
                return

    def _stream_done(self, slot: _Slot) -> None:
        self._streaming = None
        if not slot.keep_alive:
            self._close()
        else:
            self._flush()

    def _reply_and_close(self, resp: Response) -> None:
        if self._transport is not None and not self._closed:
            head = render_head(resp.status, resp.headers, self._common, len(resp.body))
            self._transport.write(head + resp.body)
        self._close()

    def _fail(self, status: int) -> None:
        self._reply_and_close(Response(status, b""))

    def _close(self) -> None:
        if self._transport is not None and not self._closed:
            self._closed = True
            self._transport.close()


class _BodyTooLargeError(Exception):
    pass
