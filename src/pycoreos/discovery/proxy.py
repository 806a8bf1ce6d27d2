"""The v2 proxy a member becomes when its discovery token is full (``--discovery-fallback
proxy``, etcd's default).

As etcd 3.4's ``proxy/httpproxy``: it learns the cluster's peer URLs from the discovery token,
asks a peer for ``/members`` to get the client URLs, and forwards every client request there,
trying the next endpoint when one is unreachable. Only the v2 API is proxied; a watch waits
as long as the cluster makes it wait. ``?stream=true`` watches are not supported (the answer
is buffered until the cluster ends it).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Sequence

from pycoreos.api.http import Request, Response
from pycoreos.discovery.upstream import request
from pycoreos.errors import BrokenError

log = logging.getLogger("pycoreos.proxy")

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "date",
               "te", "trailer", "upgrade", "proxy-authenticate", "proxy-authorization"}  # fmt: skip


class V2Proxy:
    """Forward client requests to the cluster's client URLs (a request :data:`Handler`)."""

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 5.0,
    ) -> None:
        if not endpoints:
            raise ValueError("proxy: no endpoints")
        self._endpoints = [e.rstrip("/") for e in endpoints]
        self._ssl = ssl_context
        self._timeout = timeout
        self._tasks: set[asyncio.Task[Response]] = set()  # strong refs (asyncio keeps weak)

    def __call__(self, req: Request) -> asyncio.Future[Response]:
        task = asyncio.get_running_loop().create_task(self._forward(req))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _forward(self, req: Request) -> Response:
        target = req.path + (f"?{req.query}" if req.query else "")
        wait = "wait=true" in req.query
        for i, ep in enumerate(self._endpoints):
            try:
                async with asyncio.timeout(None if wait else self._timeout):
                    resp = await request(
                        ep + target,
                        req.method,
                        body=req.body,
                        content_type=req.headers.get("content-type"),
                        ssl_context=self._ssl,
                    )
            except (BrokenError, TimeoutError) as e:
                log.warning("proxy: endpoint %s: %s", ep, e or "timed out")
                continue
            if i:  # prefer the endpoint that answered next time
                self._endpoints.insert(0, self._endpoints.pop(i))
            headers = [(k.title(), v) for k, v in resp.headers.items() if k not in _HOP_BY_HOP]
            return Response(resp.status, resp.body, headers, head_only=req.method == "HEAD")
        return Response(
            503,
            b"proxy: unable to get response from 0 endpoint(s)\n",
            [("Content-Type", "text/plain; charset=utf-8")],
        )
