"""fleetctl's client for the fleet API v1 (unix socket or http/https). Synchronous.

``--driver=etcd`` is served by the same :class:`ApiClient` interface over a fleetd-less path:
we run the API handler in-process against the registry in etcd (so both drivers share one
implementation of the rules and the messages).
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

__all__ = ["APIError", "ApiClient"]


class APIError(Exception):
    """An error entity from the API (or a transport failure, code 0)."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


@dataclass
class ApiClient:
    """Talks to ``endpoint`` (``unix:///path`` or ``http(s)://host:port``)."""

    endpoint: str
    timeout: float = 3.0
    ssl_context: ssl.SSLContext | None = None

    def _conn(
        self, endpoint: str | None = None, timeout: float | None = None
    ) -> http.client.HTTPConnection:
        u = urlsplit(endpoint or self.endpoint)
        t = timeout or self.timeout
        if u.scheme == "unix":
            return _UnixConnection(u.path, t)
        if u.scheme == "https":
            return http.client.HTTPSConnection(
                u.hostname or "", u.port or 443, timeout=t, context=self.ssl_context
            )
        return http.client.HTTPConnection(u.hostname or "", u.port or 80, timeout=t)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        endpoint: str | None = None,
        timeout: float | None = None,
    ) -> tuple[int, bytes]:
        """One request; returns (status, body). Transport errors raise APIError(0, ...)."""
        conn = self._conn(endpoint, timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if data is not None else {}
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise APIError(
                0, f"error attempting to contact {endpoint or self.endpoint}: {e}"
            ) from None
        finally:
            conn.close()

    def _json(self, method: str, path: str, body: Any = None) -> Any:
        status, data = self.call(method, path, body)
        if status >= 400:
            try:
                err = json.loads(data)["error"]
                raise APIError(int(err["code"]), str(err["message"]))
            except (ValueError, KeyError, TypeError):
                raise APIError(status, data.decode(errors="replace").strip()) from None
        return json.loads(data) if data.strip() else None

    def _pages(self, path: str, field: str) -> Iterator[dict[str, Any]]:
        token = ""
        while True:
            q = f"?nextPageToken={quote(token)}" if token else ""
            page = self._json("GET", path + q)
            yield from page.get(field) or []
            token = page.get("nextPageToken") or ""
            if not token:
                return

    def units(self) -> list[dict[str, Any]]:
        return list(self._pages("/fleet/v1/units", "units"))

    def unit(self, name: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = self._json("GET", f"/fleet/v1/units/{quote(name)}")
            return result
        except APIError as e:
            if e.code == 404:
                return None
            raise

    def states(self) -> list[dict[str, Any]]:
        return list(self._pages("/fleet/v1/state", "states"))

    def machines(self) -> list[dict[str, Any]]:
        return list(self._pages("/fleet/v1/machines", "machines"))

    def create_unit(self, name: str, options: list[dict[str, str]], desired: str) -> None:
        self._json(
            "PUT",
            f"/fleet/v1/units/{quote(name)}",
            {"name": name, "desiredState": desired, "options": options},
        )

    def set_state(self, name: str, desired: str) -> None:
        self._json("PUT", f"/fleet/v1/units/{quote(name)}", {"name": name, "desiredState": desired})

    def destroy(self, name: str) -> None:
        self._json("DELETE", f"/fleet/v1/units/{quote(name)}")
