"""``fleetctl --driver=etcd``: the API handler run in-process on the registry in etcd.

The same :class:`~pycoreos.fleet.api.server.FleetAPI` a fleetd serves, so validation and
messages are identical whichever driver is used.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from pycoreos.api.http import Request, Response
from pycoreos.cli.fleetctl_client import ApiClient, APIError

__all__ = ["EtcdDriverClient"]


class EtcdDriverClient(ApiClient):
    """An :class:`ApiClient` whose fleet API calls go straight to etcd."""

    def __init__(
        self, endpoints: Sequence[str], prefix: str, timeout: float, ctx: ssl.SSLContext | None
    ) -> None:
        super().__init__("", timeout, ctx)
        self.etcd_endpoints = [e.strip() for e in endpoints if e.strip()]
        self.prefix = prefix

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        endpoint: str | None = None,
        timeout: float | None = None,
    ) -> tuple[int, bytes]:
        if endpoint:  # a machine's own API (journal, status, exec)
            return super().call(method, path, body, endpoint=endpoint, timeout=timeout)
        if path.startswith("/fleet/v1/_local/"):
            raise APIError(0, "the etcd driver cannot reach a machine without an API endpoint")
        return asyncio.run(self._call(method, path, body))

    async def _call(self, method: str, path: str, body: Any) -> tuple[int, bytes]:
        import json

        from pycoreos.fleet.api.server import FleetAPI
        from pycoreos.fleet.registry import AsyncEtcd, Registry

        reg = Registry(
            AsyncEtcd(self.etcd_endpoints, timeout=self.timeout, ssl_context=self.ssl_context),
            self.prefix,
        )
        try:
            u = urlsplit(path)
            data = json.dumps(body).encode() if body is not None else b""
            req = Request(method, u.path, u.query, {"content-type": "application/json"}, data)
            res = FleetAPI(reg)(req)
            if isinstance(res, asyncio.Future):
                res = await res
            assert isinstance(res, Response)
            return res.status, res.body
        finally:
            await reg.close()
