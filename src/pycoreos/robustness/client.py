"""A minimal v2 client for workloads: one request, an explicit timeout, and a typed outcome.

Every answer is mapped once, here, to what the checker understands
(:class:`~pycoreos.testing.models.v2_keyspace.V2Response` or ``UNKNOWN``):

=============================================  =====================================
answer                                         outcome
=============================================  =====================================
2xx with a node                                ok, ``modified_index`` = node's index
errorCode 100 / 101 / 105 (4xx)                a definite failure, ``index`` = error's
errorCode 300/301 (raft), 5xx, other codes     UNKNOWN (may have been committed)
timeout, refused/reset connection, bad JSON    UNKNOWN
=============================================  =====================================

The client never retries: a write whose answer was lost is recorded as unknown and the
workload moves on with a *new* operation. A request that was never sent (connection refused
before the request went out) is still recorded as unknown: we cannot tell from
``http.client`` whether the bytes left, and "unknown" is always a safe answer for the checker.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import urllib.parse
from dataclasses import dataclass

from pycoreos.testing.history import UNKNOWN, Unknown
from pycoreos.testing.models.v2_keyspace import V2OpKind, V2Request, V2Response

__all__ = ["DEFINITE_ERRORS", "RawAnswer", "V2Conn", "outcome", "request_params"]

DEFINITE_ERRORS = frozenset({100, 101, 105})
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass(frozen=True, slots=True)
class RawAnswer:
    """One HTTP answer: status, lower-case headers, parsed JSON (None if not JSON)."""

    status: int
    headers: dict[str, str]
    body: object

    def header_int(self, name: str) -> int | None:
        """An integer header (``x-etcd-index``, ``x-raft-term``), None when absent or bad."""
        raw = self.headers.get(name)
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            return None


class V2Conn:
    """Requests to one member's client port, each on a fresh connection with a timeout.

    A fresh connection per request keeps a dropped or stalled answer from poisoning the next
    request. ``drop_after_send`` closes the socket right after the request went out, so the
    answer is never read (the T15 "client connection dropped mid-request" fault).

    With ``ssl_context`` the requests go over https (a TLS cluster: the context holds the
    CA and the client certificate).
    """

    def __init__(
        self, port: int, timeout: float, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.port = port
        self.timeout = timeout
        self.ssl_context = ssl_context

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        if self.ssl_context is not None:
            return http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=timeout, context=self.ssl_context
            )
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def send(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        *,
        timeout: float | None = None,
        drop_after_send: bool = False,
    ) -> RawAnswer:
        """Send one request and read its answer.

        Raises:
            OSError: connection failures and timeouts (``TimeoutError`` is one),
                ``http.client.HTTPException`` for garbled answers, ``ConnectionAbortedError``
                when ``drop_after_send`` closed the connection on purpose.
        """
        conn = self._connect(timeout or self.timeout)
        try:
            body = urllib.parse.urlencode(params or {})
            if method in ("PUT", "POST"):
                conn.request(method, path, body, FORM)
            else:
                conn.request(method, path + ("?" + body if body else ""))
            if drop_after_send:
                with contextlib.suppress(OSError):
                    if conn.sock is not None:
                        conn.sock.shutdown(socket.SHUT_RDWR)
                raise ConnectionAbortedError("dropped by the client after sending")
            resp = conn.getresponse()
            raw = resp.read()
            headers = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        parsed: object = None
        with contextlib.suppress(ValueError):
            parsed = json.loads(raw)
        return RawAnswer(resp.status, headers, parsed)

    def send_json(self, method: str, path: str, doc: object) -> RawAnswer:
        """Send a JSON body (the members API)."""
        conn = self._connect(self.timeout)
        try:
            conn.request(method, path, json.dumps(doc), {"Content-Type": "application/json"})
            resp = conn.getresponse()
            raw = resp.read()
            headers = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        parsed: object = None
        with contextlib.suppress(ValueError):
            parsed = json.loads(raw)
        return RawAnswer(resp.status, headers, parsed)


def request_params(req: V2Request, quorum: bool = True) -> tuple[str, str, dict[str, str]]:
    """``(method, path, params)`` of a model request on the v2 keys API."""
    path = "/v2/keys" + req.key
    params: dict[str, str] = {}
    match req.kind:
        case V2OpKind.GET:
            if quorum:
                params["quorum"] = "true"
            return "GET", path, params
        case V2OpKind.SET:
            method = "PUT"
        case V2OpKind.CREATE:
            method, params["prevExist"] = "PUT", "false"
        case V2OpKind.UPDATE:
            method, params["prevExist"] = "PUT", "true"
        case V2OpKind.CAS:
            method = "PUT"
        case V2OpKind.DELETE | V2OpKind.CAD:
            method = "DELETE"
    if req.value is not None:
        params["value"] = req.value
    if req.prev_value is not None:
        params["prevValue"] = req.prev_value
    if req.prev_index is not None:
        params["prevIndex"] = str(req.prev_index)
    return method, path, params


def _node(body: object) -> dict[str, object] | None:
    if isinstance(body, dict):
        node = body.get("node")
        if isinstance(node, dict):
            return node
    return None


def outcome(req: V2Request, ans: RawAnswer) -> V2Response | Unknown:
    """Map one answer to the checker's outcome (see the module table)."""
    body = ans.body
    if 200 <= ans.status < 300:
        node = _node(body)
        if node is None:
            return UNKNOWN
        mi = node.get("modifiedIndex")
        index = mi if isinstance(mi, int) else None
        if req.kind is V2OpKind.GET:
            val = node.get("value")
            return V2Response(value=val if isinstance(val, str) else None, modified_index=index)
        return V2Response(modified_index=index)
    if isinstance(body, dict):
        code = body.get("errorCode")
        if isinstance(code, int) and code in DEFINITE_ERRORS:
            idx = body.get("index")
            return V2Response(error_code=code, index=idx if isinstance(idx, int) else None)
    return UNKNOWN
