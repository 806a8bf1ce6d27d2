"""``/v2/members``: list, add, remove and update members (etcd's membersHandler).

Errors are ``{"message": "..."}`` with etcd's statuses: 400 bad body, 404 unknown member,
409 peer URL taken, 410 member removed, 415 without a JSON content type, 500 on timeout.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from pycoreos.api.http import Request, Response
from pycoreos.server.errors import MemberError, ServerError
from pycoreos.server.membership import id_hex

if TYPE_CHECKING:
    from pycoreos.server.server import ApplyResult, EtcdServer

_JSON = ("Content-Type", "application/json")


def _msg(status: int, message: str, hdr: list[tuple[str, str]] | None = None) -> Response:
    return Response(
        status, json.dumps({"message": message}).encode() + b"\n", [_JSON, *(hdr or [])]
    )


class MembersHandler:
    def __init__(self, server: EtcdServer) -> None:
        self._server = server

    def handle(self, req: Request) -> Response | asyncio.Future[Response]:
        server = self._server
        hdr = [("X-Etcd-Cluster-Id", id_hex(server.cluster.cluster_id))]
        sub = req.path[len("/v2/members") :].strip("/")
        if req.method == "GET":
            if sub == "":
                members = [m.to_json_dict() for m in server.cluster.sorted_members()]
                return Response(
                    200,
                    json.dumps({"members": members}, separators=(",", ":")).encode() + b"\n",
                    [_JSON, *hdr],
                )
            if sub == "leader":
                leader = server.cluster.members.get(server.leader_id)
                if leader is None:
                    return _msg(503, "During election", hdr)
                return Response(
                    200,
                    json.dumps(leader.to_json_dict(), separators=(",", ":")).encode() + b"\n",
                    [_JSON, *hdr],
                )
            return _msg(404, "Not found", hdr)
        if req.method == "POST" and sub == "":
            new_urls = self._peer_urls(req)
            if isinstance(new_urls, Response):
                return new_urls
            return self._await(lambda: server.add_member(new_urls), 201, hdr)
        if req.method in ("DELETE", "PUT") and sub:
            try:
                member_id = int(sub, 16)
            except ValueError:
                return _msg(404, f"No such member: {sub}", hdr)
            if req.method == "DELETE":
                return self._await(lambda: server.remove_member(member_id), 204, hdr)
            urls = self._peer_urls(req)
            if isinstance(urls, Response):
                return urls
            return self._await(lambda: server.update_member(member_id, urls), 204, hdr)
        allow = "GET,POST" if sub == "" else "DELETE,PUT"
        return Response(405, b"Method Not Allowed\n", [("Allow", allow)])

    @staticmethod
    def _peer_urls(req: Request) -> list[str] | Response:
        ctype = req.headers.get("content-type", "").split(";")[0].strip()
        if ctype != "application/json":
            return _msg(415, f"Bad Content-Type {ctype}, accept application/json")
        try:
            obj = json.loads(req.body)
            urls = obj["peerURLs"]
            if (
                not isinstance(urls, list)
                or not urls
                or not all(
                    isinstance(u, str) and u.startswith(("http://", "https://")) for u in urls
                )
            ):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return _msg(400, "bad peer URLs")
        return urls

    def _await(
        self,
        start: Callable[[], asyncio.Future[ApplyResult]],
        status: int,
        hdr: list[tuple[str, str]],
    ) -> Response | asyncio.Future[Response]:
        loop = asyncio.get_running_loop()
        out: asyncio.Future[Response] = loop.create_future()
        try:
            fut: asyncio.Future[ApplyResult] = start()
        except MemberError as e:
            return _msg(e.status, str(e), hdr)

        def done(f: asyncio.Future[ApplyResult]) -> None:
            if f.cancelled():
                out.set_result(_msg(500, "request cancelled", hdr))
            elif isinstance(f.exception(), MemberError):
                e = f.exception()
                assert isinstance(e, MemberError)
                out.set_result(_msg(e.status, str(e), hdr))
            elif f.exception() is not None:
                exc = f.exception()
                out.set_result(
                    _msg(500, str(exc) if isinstance(exc, ServerError) else repr(exc), hdr)
                )
            elif status == 201:
                out.set_result(self._created(hdr))
            else:
                out.set_result(Response(204, b"", hdr))

        fut.add_done_callback(done)
        return out

    def _created(self, hdr: list[tuple[str, str]]) -> Response:
        newest = self._server.last_added_member
        body = json.dumps(newest.to_json_dict() if newest else {}, separators=(",", ":"))
        return Response(201, body.encode() + b"\n", [_JSON, *hdr])
