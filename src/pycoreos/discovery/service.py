"""The discovery token service (discovery.etcd.io), in front of an etcd cluster of its own.

Routes (``coreos/discovery.etcd.io``):

=========================  ==============================================================
``GET /new[?size=N]``      new token (32 lowercase hex chars); creates
                           ``/_etcd/registry/<token>/_config/size`` = N (default 3) with
                           ``prevExist=false``; answers ``<host>/<token>`` as plain text.
                           A non-integer size is 400; an etcd failure is 400
                           "Unable to generate token".
``/<token>[/<rest>]``      any method, proxied to ``/v2/keys/_etcd/registry/<token>[/<rest>]``
                           on the backing etcd, query string and form body passed through;
                           a 307 from the backing etcd is followed once.
``GET /health``            ``OK``
=========================  ==============================================================

:func:`route` is the pure routing decision; :class:`DiscoveryService` performs it against
the backing cluster, trying its endpoints in order until one answers.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import re
import ssl
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from pycoreos.api.http import Request, Response
from pycoreos.discovery.upstream import UpstreamResponse, request
from pycoreos.errors import BrokenError

log = logging.getLogger("pycoreos.discovery")

REGISTRY = "/_etcd/registry"
TOKEN_RE = re.compile(r"^/([a-f0-9]{32})(/.*)?$")
DEFAULT_SIZE = 3
_PASSED_HEADERS = ("content-type", "x-etcd-index", "x-raft-index", "x-raft-term",
                   "x-etcd-cluster-id")  # fmt: skip


class RouteKind(enum.Enum):
    """What a request asks of the service."""

    NEW = "new"
    HEALTH = "health"
    PROXY = "proxy"
    NOT_FOUND = "not-found"
    BAD_SIZE = "bad-size"


@dataclass(frozen=True, slots=True)
class Route:
    """The decision for one request: ``size`` for NEW, ``key_path`` for PROXY."""

    kind: RouteKind
    size: int = 0
    key_path: str = ""


def route(method: str, path: str, query: str) -> Route:
    """Route a request (pure)."""
    if path == "/new" and method in ("GET", "HEAD"):
        values = parse_qs(query).get("size")
        if not values:
            return Route(RouteKind.NEW, size=DEFAULT_SIZE)
        text = values[0]
        if not text.isdigit() or int(text) <= 0:
            return Route(RouteKind.BAD_SIZE)
        return Route(RouteKind.NEW, size=int(text))
    if path == "/health":
        return Route(RouteKind.HEALTH)
    m = TOKEN_RE.match(path)
    if m is None:
        return Route(RouteKind.NOT_FOUND)
    rest = (m.group(2) or "").rstrip("/")
    return Route(RouteKind.PROXY, key_path=f"{REGISTRY}/{m.group(1)}{rest}")


def _text(status: int, body: str) -> Response:
    return Response(status, body.encode(), [("Content-Type", "text/plain; charset=utf-8")])


class DiscoveryService:
    """The service's request handler (a :data:`pycoreos.api.http.Handler`).

    Args:
        etcd_endpoints: client URLs of the backing etcd cluster.
        host: the public base URL printed in new tokens (``http://host:port``).
        rng: token source (``random.SystemRandom()`` by default; seeded in tests).
        ssl_context: for ``https`` backing endpoints.
    """

    def __init__(
        self,
        etcd_endpoints: Sequence[str],
        host: str,
        *,
        rng: random.Random | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 5.0,
    ) -> None:
        if not etcd_endpoints:
            raise ValueError("discovery: need at least one etcd endpoint")
        self._endpoints = [e.rstrip("/") for e in etcd_endpoints]
        self._host = host.rstrip("/")
        self._rng = rng or random.SystemRandom()
        self._ssl = ssl_context
        self._timeout = timeout
        # asyncio keeps only weak references to tasks: hold each until it is done, or a
        # long-polling watch may be garbage-collected mid-wait.
        self._tasks: set[asyncio.Task[Response]] = set()

    def _spawn(self, coro: Coroutine[object, object, Response]) -> asyncio.Task[Response]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def __call__(self, req: Request) -> Response | asyncio.Future[Response]:
        r = route(req.method, req.path, req.query)
        if r.kind is RouteKind.HEALTH:
            return _text(200, "OK")
        if r.kind is RouteKind.NOT_FOUND:
            return _text(404, "404 page not found\n")
        if r.kind is RouteKind.BAD_SIZE:
            return _text(400, "Unable to parse size")
        if r.kind is RouteKind.NEW:
            return self._spawn(self._new(r.size))
        return self._spawn(self._proxy(req, r.key_path))

    def new_token(self) -> str:
        """32 lowercase hex characters (16 random bytes)."""
        return f"{self._rng.getrandbits(128):032x}"

    async def _upstream(
        self, method: str, path_query: str, body: bytes, ctype: str | None, *, wait: bool
    ) -> UpstreamResponse:
        problems = []
        for ep in self._endpoints:
            url = ep + path_query
            try:
                for _ in range(2):  # at most one 307 (a follower redirecting to the leader)
                    async with asyncio.timeout(None if wait else self._timeout):
                        resp = await request(
                            url, method, body=body, content_type=ctype, ssl_context=self._ssl
                        )
                    location = resp.headers.get("location")
                    if resp.status != 307 or not location:
                        return resp
                    url = location
                return resp
            except BrokenError as e:
                problems.append(str(e))
            except TimeoutError:
                problems.append(f"{ep}: timed out")
        raise BrokenError("; ".join(problems))

    async def _new(self, size: int) -> Response:
        token = self.new_token()
        path = f"/v2/keys{REGISTRY}/{token}/_config/size?prevExist=false"
        body = f"value={size}".encode()
        try:
            resp = await self._upstream(
                "PUT", path, body, "application/x-www-form-urlencoded", wait=False
            )
        except BrokenError as e:
            log.error("new token: %s", e)
            return _text(400, "Unable to generate token")
        if resp.status != 201:
            log.error("new token: backing etcd answered %d: %r", resp.status, resp.body[:200])
            return _text(400, "Unable to generate token")
        log.info("new token %s (size %d)", token, size)
        return _text(200, f"{self._host}/{token}")

    async def _proxy(self, req: Request, key_path: str) -> Response:
        path_query = f"/v2/keys{key_path}" + (f"?{req.query}" if req.query else "")
        wait = "wait=true" in req.query
        try:
            resp = await self._upstream(
                req.method, path_query, req.body, req.headers.get("content-type"), wait=wait
            )
        except BrokenError as e:
            log.error("proxy %s: %s", key_path, e)
            return _text(503, "discovery: backing etcd unavailable")
        headers = [(k.title(), v) for k, v in resp.headers.items() if k in _PASSED_HEADERS]
        return Response(resp.status, resp.body, headers, head_only=req.method == "HEAD")


def public_host(listen_url: str) -> str:
    """The default ``--host``: the listen URL itself (``http://host:port``)."""
    parts = urlsplit(listen_url)
    return f"{parts.scheme}://{parts.netloc}"
