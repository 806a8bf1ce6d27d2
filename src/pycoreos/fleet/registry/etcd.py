"""A small asyncio etcd v2 keys client for fleetd (the shared client is synchronous).

HTTP/1.1 over asyncio streams with a few kept-alive connections per endpoint. Request
encoding and response decoding reuse :mod:`pycoreos.client.v2_types`, so answers are the
same typed ``Response``/``Node``/``EtcdError`` the rest of pycoreos uses.

Failover (as :mod:`pycoreos.client.v2`): endpoints are tried from the last one that answered.
A connection failure before the request was written moves on, for any request; reads (GET,
watch) also move on after any failure. A write that may have reached a server is never
replayed: :class:`~pycoreos.fleet.errors.RegistryUnavailableError` says "outcome unknown",
and the caller re-reads. Every request has a deadline (``timeout``; a watch has its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Mapping, Sequence
from urllib.parse import quote, urlencode, urlsplit

from pycoreos.client.v2_errors import EtcdError, InvalidResponseError
from pycoreos.client.v2_types import Node, Response, parse_error, parse_response
from pycoreos.fleet.errors import RegistryUnavailableError

__all__ = ["AsyncEtcd", "EtcdError", "Node", "Response"]

_MAX_IDLE = 4


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes, bool]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed")
    parts = status_line.decode("latin-1").split(" ", 2)
    status = int(parts[1])
    headers: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        k, _, v = line.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    keep = headers.get("connection", "").lower() != "close"
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks: list[bytes] = []
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await reader.readline()
                break
            chunks.append(await reader.readexactly(size))
            await reader.readline()
        return status, headers, b"".join(chunks), keep
    if "content-length" in headers:
        return status, headers, await reader.readexactly(int(headers["content-length"])), keep
    return status, headers, await reader.read(), False


class AsyncEtcd:
    """etcd v2 keys API over asyncio. ``endpoints`` are ``http(s)://host:port`` URLs."""

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        timeout: float = 1.0,
        ssl_context: ssl.SSLContext | None = None,
        basic_auth: str = "",
    ) -> None:
        if not endpoints:
            raise ValueError("no etcd endpoints")
        self.endpoints = [e.rstrip("/") for e in endpoints]
        self.timeout = timeout
        self._ssl = ssl_context
        self._auth = basic_auth
        self._pinned = 0
        self._idle: dict[str, list[_Conn]] = {}
        self.requests = 0  # counted for metrics and the load measurements

    async def close(self) -> None:
        """Close idle connections."""
        for conns in self._idle.values():
            for c in conns:
                c.close()
        self._idle.clear()

    async def _connect(self, endpoint: str) -> _Conn:
        u = urlsplit(endpoint)
        tls = self._ssl if u.scheme == "https" else None
        port = u.port or (443 if u.scheme == "https" else 80)
        r, w = await asyncio.open_connection(u.hostname, port, ssl=tls, limit=1 << 24)
        return _Conn(r, w)

    async def _once(
        self, endpoint: str, method: str, target: str, body: bytes | None, limit: float
    ) -> tuple[int, dict[str, str], bytes, bool]:
        """One exchange. Returns (status, headers, body, sent)."""
        idle = self._idle.setdefault(endpoint, [])
        conn = idle.pop() if idle else await self._connect(endpoint)
        host = urlsplit(endpoint).netloc
        head = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
        if body is not None:
            head += [
                "Content-Type: application/x-www-form-urlencoded",
                f"Content-Length: {len(body)}",
            ]
        if self._auth:
            head.append(f"Authorization: Basic {self._auth}")
        try:
            conn.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + (body or b""))
            await conn.writer.drain()
        except (OSError, ConnectionError):
            conn.close()
            raise
        try:
            async with asyncio.timeout(limit):
                status, headers, data, keep = await _read_response(conn.reader)
        except BaseException:
            conn.close()
            raise
        if keep and len(idle) < _MAX_IDLE:
            idle.append(conn)
        else:
            conn.close()
        return status, headers, data, True

    async def request(
        self,
        method: str,
        key: str,
        params: Mapping[str, str] | None = None,
        *,
        form: Mapping[str, str] | None = None,
        time_limit: float | None = None,
    ) -> Response:
        """Send one keys request; returns the decoded answer.

        Raises:
            EtcdError: etcd answered with an error body (key not found, compare failed...).
            RegistryUnavailableError: no endpoint answered (or a write's outcome is unknown).
        """
        target = "/v2/keys" + quote(key, safe="/$&+,:;=@")
        if params:
            target += "?" + urlencode(params)
        body = urlencode(form).encode() if form is not None else None
        idempotent = method == "GET"
        errors: list[str] = []
        n = len(self.endpoints)
        for i in range(n):
            idx = (self._pinned + i) % n
            ep = self.endpoints[idx]
            self.requests += 1
            try:
                status, headers, data, _ = await self._once(
                    ep, method, target, body, time_limit or self.timeout
                )
            except (
                OSError,
                ConnectionError,
                TimeoutError,
                asyncio.IncompleteReadError,
                ValueError,
            ) as e:
                errors.append(f"{ep}: {type(e).__name__}: {e}")
                if not idempotent and not isinstance(e, ConnectionRefusedError):
                    raise RegistryUnavailableError(
                        f"etcd request {method} {key} outcome unknown: {errors[-1]}"
                    ) from None
                continue
            if status >= 500 and idempotent:
                errors.append(f"{ep}: HTTP {status}")
                continue
            self._pinned = idx
            try:
                if status in (200, 201):
                    return parse_response(headers, data)
                raise parse_error(data)
            except InvalidResponseError as e:
                raise RegistryUnavailableError(f"etcd {ep}: bad answer ({status}): {e}") from None
        raise RegistryUnavailableError("etcd cluster unavailable: " + "; ".join(errors))

    # -- convenience ------------------------------------------------------------------

    async def get(
        self, key: str, *, recursive: bool = False, quorum: bool = False
    ) -> Response | None:
        """GET; ``None`` if the key does not exist."""
        params = {"recursive": "true"} if recursive else {}
        if quorum:
            params["quorum"] = "true"
        try:
            return await self.request("GET", key, params)
        except EtcdError as e:
            if e.code == 100:
                return None
            raise

    async def set(
        self,
        key: str,
        value: str,
        *,
        ttl: float | None = None,
        prev_exist: bool | None = None,
        prev_index: int | None = None,
        prev_value: str | None = None,
        refresh: bool = False,
    ) -> Response:
        """PUT (conditional when any ``prev_*`` is given; ``refresh`` keeps the value)."""
        form: dict[str, str] = {} if refresh else {"value": value}
        if ttl is not None:
            form["ttl"] = str(max(1, round(ttl)))
        if refresh:
            form["refresh"] = "true"
        if prev_exist is not None:
            form["prevExist"] = "true" if prev_exist else "false"
        if prev_index is not None:
            form["prevIndex"] = str(prev_index)
        if prev_value is not None:
            form["prevValue"] = prev_value
        return await self.request("PUT", key, form=form)

    async def delete(
        self,
        key: str,
        *,
        recursive: bool = False,
        prev_index: int | None = None,
        prev_value: str | None = None,
    ) -> Response:
        """DELETE (conditional when ``prev_index``/``prev_value`` given)."""
        params: dict[str, str] = {}
        if recursive:
            params.update(recursive="true", dir="true")
        if prev_index is not None:
            params["prevIndex"] = str(prev_index)
        if prev_value is not None:
            params["prevValue"] = prev_value
        return await self.request("DELETE", key, params)

    async def watch(self, key: str, *, wait_index: int, poll_seconds: float) -> Response | None:
        """Long-poll for the next change under ``key`` at or after ``wait_index``.

        Returns ``None`` when nothing happened within ``poll_seconds``.

        Raises:
            EtcdError: 401 when ``wait_index`` was cleared from the history (re-list).
        """
        params = {"wait": "true", "recursive": "true", "waitIndex": str(wait_index)}
        try:
            return await self.request("GET", key, params, time_limit=poll_seconds)
        except RegistryUnavailableError as e:
            if "TimeoutError" in str(e):
                return None
            raise
