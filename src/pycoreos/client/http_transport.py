"""A minimal synchronous HTTP/1.1 transport for the v2 client, over ``http.client``.

The client core (:mod:`pycoreos.client.v2`) talks to a :class:`Transport`; tests inject a fake
one. :class:`HttpTransport` keeps one persistent connection per (scheme, host, port).

Invariants:
* Every failure is raised as :class:`EndpointError` with ``sent`` telling whether the request
  may have reached the server. ``sent=False`` only when no byte of this request can have been
  processed (connect failed, or a reused connection was found dead before sending), so the
  caller may safely replay even a write elsewhere.
* A connection is returned to the pool only after its response body was read completely.
* Only an idempotent request is replayed (once, on a fresh connection) when a kept-alive
  connection proves closed after sending; a write gets ``sent=True`` instead.
* Error texts imitate Go's ``net/http`` ones (``dial tcp 127.0.0.1:1: connect: connection
  refused``) because etcdctl prints them.
"""

from __future__ import annotations

import errno
import http.client
import select
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from pycoreos.client.v2_errors import EndpointError


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpRequest:
    """One request, independent of the endpoint it is sent to.

    ``path`` is the unescaped path (``/v2/keys/a b``), relative to the endpoint's own path, and
    ``query`` the encoded query string without ``?``. ``idempotent`` requests may be replayed on another endpoint after
    they may have been sent; ``long_poll`` requests (watches) get no header timeout.
    """

    method: str
    path: str
    query: str = ""
    body: bytes | None = None
    content_type: str | None = None
    idempotent: bool = True
    long_poll: bool = False


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A complete answer; ``headers`` keys are lower-case."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class Transport(Protocol):
    """Sends one request to one URL and returns the whole answer."""

    def round_trip(
        self,
        url: str,
        request: HttpRequest,
        *,
        timeout: float | None,
        headers: Mapping[str, str],
    ) -> HttpResponse:
        """Send ``request`` to ``url`` (endpoint + path + query); raise EndpointError on failure."""
        ...

    def close(self) -> None:
        """Release every connection."""
        ...


def _errno_text(e: OSError) -> str:
    if e.errno == errno.ECONNREFUSED:
        return "connection refused"
    if e.errno == errno.ECONNRESET:
        return "connection reset by peer"
    if e.errno == errno.EHOSTUNREACH:
        return "no route to host"
    return (e.strerror or str(e)).lower()


class HttpTransport:
    """:class:`Transport` over ``http.client`` with keep-alive and optional TLS."""

    def __init__(
        self,
        *,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
    ) -> None:
        self._ssl: ssl.SSLContext | None = None
        self._tls_args = (ca_file, cert_file, key_file)
        self._pool: dict[tuple[str, str, int], http.client.HTTPConnection] = {}

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            ca_file, cert_file, key_file = self._tls_args
            ctx = ssl.create_default_context(cafile=ca_file)
            if cert_file:
                ctx.load_cert_chain(cert_file, key_file or None)
            self._ssl = ctx
        return self._ssl

    def _connect(
        self, scheme: str, host: str, port: int, timeout: float | None
    ) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if scheme == "https":
            conn = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=self._ssl_context()
            )
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.connect()
        return conn

    @staticmethod
    def _dead(conn: http.client.HTTPConnection) -> bool:
        # An idle keep-alive socket that is readable has been closed (or sent junk) by the
        # server; sending on it would make the outcome of a write ambiguous (urllib3 does this).
        sock = conn.sock
        if sock is None:
            return True
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def round_trip(
        self,
        url: str,
        request: HttpRequest,
        *,
        timeout: float | None,
        headers: Mapping[str, str],
    ) -> HttpResponse:
        try:
            return self._round_trip(url, request, timeout=timeout, headers=headers, reuse=True)
        except _StaleConnection:
            # An idempotent request hit a kept-alive connection the server had closed before
            # answering: replay it once on a fresh connection (Go's transport does the same).
            return self._round_trip(url, request, timeout=timeout, headers=headers, reuse=False)

    def _round_trip(
        self,
        url: str,
        request: HttpRequest,
        *,
        timeout: float | None,
        headers: Mapping[str, str],
        reuse: bool,
    ) -> HttpResponse:
        parts = urlsplit(url)
        scheme = parts.scheme
        if scheme not in ("http", "https"):
            raise EndpointError(url, f'unsupported protocol scheme "{scheme}"', sent=False)
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, host, port)
        hostport = f"{host}:{port}"
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn = self._pool.pop(key, None)
        reused = conn is not None
        if conn is not None and (not reuse or self._dead(conn)):
            conn.close()
            conn = None
        if conn is None:
            try:
                conn = self._connect(scheme, host, port, timeout)
            except TimeoutError as e:
                raise EndpointError(
                    url, f"dial tcp {hostport}: i/o timeout", sent=False, timed_out=True
                ) from e
            except socket.gaierror as e:
                raise EndpointError(
                    url, f"dial tcp: lookup {host}: no such host", sent=False
                ) from e
            except ssl.SSLError as e:
                raise EndpointError(url, f"tls: {e.reason or e}", sent=False) from e
            except OSError as e:
                raise EndpointError(
                    url, f"dial tcp {hostport}: connect: {_errno_text(e)}", sent=False
                ) from e
        else:
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
        hdrs = dict(headers)
        if request.content_type:
            hdrs["Content-Type"] = request.content_type
        try:
            conn.request(request.method, target, body=request.body, headers=hdrs)
            resp = conn.getresponse()
            body = resp.read()
        except TimeoutError as e:
            conn.close()
            raise EndpointError(
                url,
                f"client: endpoint {_origin(url)} exceeded header timeout",
                sent=True,
                timed_out=True,
            ) from e
        except (http.client.HTTPException, OSError) as e:
            conn.close()
            stale = isinstance(e, http.client.RemoteDisconnected | ConnectionResetError)
            if reused and request.idempotent and stale:
                raise _StaleConnection() from e
            if isinstance(e, OSError) and e.errno is not None:
                msg = f"read tcp {hostport}: read: {_errno_text(e)}"
                raise EndpointError(url, msg, sent=True, connection=True) from e
            raise EndpointError(url, "EOF", sent=True) from e
        if resp.will_close:
            conn.close()
        else:
            self._pool[key] = conn
        return HttpResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)

    def close(self) -> None:
        for conn in self._pool.values():
            conn.close()
        self._pool.clear()


class _StaleConnection(Exception):  # noqa: N818 - internal signal, never escapes
    """A reused connection turned out closed before any answer (internal retry signal)."""


def _origin(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}"
