"""Members, health, version, machines and stats endpoints of the v2 API, as a mixin.

:class:`ClusterAPI` only builds requests and decodes answers; sending (with failover) is the
subclass's ``do`` (:class:`pycoreos.client.v2.Client`). Status handling follows the Go
client's members API: an unexpected status is ``MembersAPIError("unexpected status code N")``
and a ``{"message": ...}`` body becomes ``MembersAPIError(message)``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pycoreos.client.http_transport import HttpRequest, HttpResponse
from pycoreos.client.v2_errors import InvalidResponseError, MembersAPIError
from pycoreos.client.v2_types import Member, Version, load_json, parse_member, parse_members


class ClusterAPI:
    """Cluster-level calls shared by every v2 client; requires :meth:`do`."""

    def do(self, request: HttpRequest, *, timeout: float | None = None) -> HttpResponse:
        """Send ``request``; implemented by the client class."""
        raise NotImplementedError

    # -- members API ------------------------------------------------------------------------

    def _members_json(self, peer_urls: Sequence[str]) -> bytes:
        return json.dumps({"peerURLs": list(peer_urls)}, separators=(",", ":")).encode()

    def members(self) -> tuple[Member, ...]:
        """List the cluster members."""
        resp = self.do(HttpRequest(method="GET", path="/v2/members"))
        _expect(resp, 200)
        return parse_members(resp.body)

    def leader(self) -> Member:
        """The current leader (MembersAPIError during an election)."""
        resp = self.do(HttpRequest(method="GET", path="/v2/members/leader"))
        _expect(resp, 200)
        return parse_member(load_json(resp.body))

    def add_member(self, peer_urls: Sequence[str]) -> Member:
        """Add a member with ``peer_urls``; MembersAPIError on conflict."""
        req = HttpRequest(
            method="POST",
            path="/v2/members",
            body=self._members_json(peer_urls),
            content_type="application/json",
            idempotent=False,
        )
        resp = self.do(req)
        _expect(resp, 201, 409)
        if resp.status != 201:
            raise _members_error(resp)
        return parse_member(load_json(resp.body))

    def remove_member(self, member_id: str) -> None:
        """Remove member ``member_id`` (hex)."""
        req = HttpRequest(method="DELETE", path=f"/v2/members/{member_id}", idempotent=False)
        _expect(self.do(req), 204, 410)

    def update_member(self, member_id: str, peer_urls: Sequence[str]) -> None:
        """Replace the peer URLs of member ``member_id``."""
        req = HttpRequest(
            method="PUT",
            path=f"/v2/members/{member_id}",
            body=self._members_json(peer_urls),
            content_type="application/json",
            idempotent=False,
        )
        resp = self.do(req)
        _expect(resp, 204, 404, 409)
        if resp.status != 204:
            raise _members_error(resp)

    # -- misc -------------------------------------------------------------------------------

    def _json(self, path: str) -> Any:
        resp = self.do(HttpRequest(method="GET", path=path))
        _expect(resp, 200)
        return load_json(resp.body)

    def health(self) -> bool:
        """``GET /health`` on the first reachable endpoint: True if the member has a leader."""
        resp = self.do(HttpRequest(method="GET", path="/health"))
        obj = load_json(resp.body)
        h = obj.get("health") if isinstance(obj, dict) else None
        return h is True or h == "true"

    def version(self) -> Version:
        """Server and cluster version."""
        obj = self._json("/version")
        if not isinstance(obj, dict):
            raise InvalidResponseError()
        return Version(
            server=str(obj.get("etcdserver", "")), cluster=str(obj.get("etcdcluster", ""))
        )

    def machines(self) -> list[str]:
        """``GET /v2/machines``: the client URLs of all members (plain-text list)."""
        resp = self.do(HttpRequest(method="GET", path="/v2/machines"))
        _expect(resp, 200)
        return [u.strip() for u in resp.body.decode().split(",") if u.strip()]

    def stats_self(self) -> dict[str, Any]:
        """``/v2/stats/self`` as decoded JSON."""
        return _dict(self._json("/v2/stats/self"))

    def stats_store(self) -> dict[str, Any]:
        """``/v2/stats/store`` as decoded JSON."""
        return _dict(self._json("/v2/stats/store"))

    def stats_leader(self) -> dict[str, Any]:
        """``/v2/stats/leader`` (only the leader answers; MembersAPIError elsewhere)."""
        return _dict(self._json("/v2/stats/leader"))


def _dict(obj: object) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise InvalidResponseError()
    return obj


def _members_error(resp: HttpResponse) -> MembersAPIError:
    obj = load_json(resp.body)
    msg = obj.get("message") if isinstance(obj, dict) else None
    if not isinstance(msg, str):
        raise InvalidResponseError()
    return MembersAPIError(msg, resp.status)


def _expect(resp: HttpResponse, *codes: int) -> None:
    if resp.status not in codes:
        # Go client: assertStatusCode -> "unexpected status code %d"
        raise MembersAPIError(f"unexpected status code {resp.status}", resp.status)
