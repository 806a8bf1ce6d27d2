"""One-shot async HTTP/1.1 requests to the etcd cluster behind the discovery service.

Each request opens its own connection (``Connection: close``): discovery traffic is a handful
of requests per member, most of them long-polling watches that would pin a pooled connection
anyway. Responses are parsed with httptools, so chunked bodies (etcd's watch answers) work.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools

from pycoreos.errors import BrokenError


@dataclass(slots=True)
class UpstreamResponse:
    """A complete answer; header names are lower-case."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class _Collector:
    """httptools callbacks filling an :class:`UpstreamResponse`."""

    def __init__(self) -> None:
        self.resp = UpstreamResponse()
        self.chunks: list[bytes] = []
        self.done = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.resp.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.done = True


async def request(
    url: str,
    method: str,
    *,
    body: bytes = b"",
    content_type: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> UpstreamResponse:
    """Send one request and read the whole answer.

    Wrap the call in ``asyncio.timeout`` to bound it (watches are left unbounded).

    Raises:
        BrokenError: connection failed or closed before a complete answer.
    """
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    host, port = parts.hostname or "127.0.0.1", parts.port or (443 if tls else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    if body or method in ("PUT", "POST"):
        head.append(f"Content-Length: {len(body)}")
    if content_type:
        head.append(f"Content-Type: {content_type}")
    data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
    collector = _Collector()
    parser = httptools.HttpResponseParser(collector)
    writer: asyncio.StreamWriter | None = None
    try:
        ctx = (ssl_context or ssl.create_default_context()) if tls else None
        reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
        writer.write(data)
        while not collector.done:
            chunk = await reader.read(65536)
            if not chunk:
                break
            parser.feed_data(chunk)
    except (OSError, httptools.HttpParserError) as e:
        raise BrokenError(f"discovery: upstream {host}:{port}: {e or type(e).__name__}") from e
    finally:
        if writer is not None:
            writer.close()
    if not collector.done:
        raise BrokenError(f"discovery: upstream {host}:{port} closed before answering")
    collector.resp.status = parser.get_status_code()
    collector.resp.body = b"".join(collector.chunks)
    return collector.resp
