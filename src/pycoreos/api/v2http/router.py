"""Route client requests to the v2 handlers, as etcd's ``http.ServeMux`` does.

Routes: ``/v2/keys`` (keys.py), ``/v2/members`` (members.py), ``/v2/machines``,
``/v2/stats/{self,leader,store}``, ``/version``, ``/health``, ``/metrics``. A path that is not
in canonical form is redirected (301) to its cleaned form, like ServeMux; anything else is
Go's ``404 page not found``.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING
from urllib.parse import quote

from pycoreos import ETCD_SERVER_VERSION
from pycoreos.api.http import Request, Response, StreamResponse
from pycoreos.api.v2http.form import FormError, mux_clean_path, unescape
from pycoreos.api.v2http.keys import KEYS_PREFIX, KeysHandler
from pycoreos.api.v2http.members import MembersHandler
from pycoreos.server.membership import id_hex

if TYPE_CHECKING:
    from pycoreos.server.server import EtcdServer

# etcd answers every client request with these (its CORS handler, --cors='*').
COMMON_HEADERS = (
    b"Access-Control-Allow-Headers: accept, content-type, authorization\r\n"
    b"Access-Control-Allow-Methods: POST, GET, OPTIONS, PUT, DELETE\r\n"
    b"Access-Control-Allow-Origin: *\r\n"
)
_JSON = ("Content-Type", "application/json")
_TEXT = ("Content-Type", "text/plain; charset=utf-8")
_NOT_FOUND = Response(404, b"404 page not found\n", [_TEXT, ("X-Content-Type-Options", "nosniff")])


def _json(status: int, obj: object, extra: list[tuple[str, str]] | None = None) -> Response:
    body = json.dumps(obj, separators=(",", ":")).encode()
    return Response(status, body, [_JSON, *(extra or [])])


_GO_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"})


def _go_html_escape(text: str) -> str:
    """Go's ``htmlEscape`` (net/http), used in redirect bodies."""
    return text.translate(_GO_HTML)


def _method_not_allowed(allowed: str) -> Response:
    return Response(
        405,
        b"Method Not Allowed\n",
        [("Allow", allowed), _TEXT, ("X-Content-Type-Options", "nosniff")],
    )


class Router:
    """The client-facing handler of one member (an :data:`pycoreos.api.http.Handler`)."""

    def __init__(self, server: EtcdServer) -> None:
        self.server = server
        self.keys = KeysHandler(server)
        self.members = MembersHandler(server)
        self._waiting: set[asyncio.Task[None]] = set()

    def __call__(self, req: Request) -> Response | asyncio.Future[Response] | StreamResponse:
        if not self.server.ready.is_set() and req.path not in ("/health", "/version", "/metrics"):
            return self._when_ready(req)
        return self._route(req)

    def _when_ready(self, req: Request) -> asyncio.Future[Response]:
        """Hold a request until the member is ready (it then gets the normal answer)."""
        loop = asyncio.get_running_loop()
        out: asyncio.Future[Response] = loop.create_future()

        async def wait() -> None:
            await self.server.ready.wait()
            result = self._route(req)
            if isinstance(result, asyncio.Future):
                result.add_done_callback(
                    lambda f: out.done() or out.set_result(f.result())  # type: ignore[func-returns-value]
                )
            else:
                # A StreamResponse (a watch) travels through the future as well; the
                # protocol writes whatever the future resolves to.
                out.set_result(result)  # type: ignore[arg-type]

        task = loop.create_task(wait())
        self._waiting.add(task)
        task.add_done_callback(self._waiting.discard)
        return out

    def _route(self, req: Request) -> Response | asyncio.Future[Response] | StreamResponse:
        # Go routes on the decoded path (r.URL.Path); a bad escape never reaches a handler.
        try:
            path = req.path = unescape(req.path, query=False)
        except FormError:
            return Response(
                400,
                b"400 Bad Request",
                [("Content-Type", "text/plain; charset=utf-8"), ("Connection", "close")],
            )
        if req.method == "OPTIONS":  # etcd's CORS handler answers preflights itself
            return Response(200, b"")
        if path.startswith(KEYS_PREFIX + "/") or path == KEYS_PREFIX:
            clean = mux_clean_path(path)
            if clean != path:
                return self._redirect(req, clean)
            return self.keys.handle(req)
        clean = mux_clean_path(path)
        if clean != path:
            return self._redirect(req, clean)
        if path == "/v2/members" or path.startswith("/v2/members/"):
            return self.members.handle(req)
        if path == "/v2/machines":
            return self._machines(req)
        if path in ("/v2/stats/self", "/v2/stats/leader", "/v2/stats/store"):
            return self._stats(req, path[len("/v2/stats/") :])
        if path == "/version":
            return self._version(req)
        if path == "/health":
            return self._health(req)
        if path == "/metrics":
            return Response(
                200,
                self.server.metrics.render(),
                [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
            )
        return _NOT_FOUND

    @staticmethod
    def _redirect(req: Request, location: str) -> Response:
        # Go's URL.EscapedPath: only unreserved characters and $&+,/:;=@ stay as they are.
        location = quote(location, safe="/:@$&+,;=-._~")
        if req.query:
            location += "?" + req.query
        body = b""
        headers = [("Location", location)]
        if req.method in ("GET", "HEAD"):
            body = b'<a href="%s">Moved Permanently</a>.\n\n' % _go_html_escape(location).encode()
            headers.append(("Content-Type", "text/html; charset=utf-8"))
        return Response(301, body, headers, head_only=req.method == "HEAD")

    def _machines(self, req: Request) -> Response:
        if req.method not in ("GET", "HEAD"):
            return _method_not_allowed("GET,HEAD")
        body = ", ".join(self.server.cluster.client_urls()).encode()
        return Response(200, body, [_TEXT], head_only=req.method == "HEAD")

    def _version(self, req: Request) -> Response:
        if req.method != "GET":
            return _method_not_allowed("GET")
        cluster_version = self.server.cluster.version or "not_decided"
        return _json(200, {"etcdserver": ETCD_SERVER_VERSION, "etcdcluster": cluster_version})

    def _health(self, req: Request) -> Response:
        if req.method != "GET":
            return _method_not_allowed("GET")
        ok = self.server.leader_id != 0 and self.server.fatal is None
        body = b'{"health":"true"}' if ok else b'{"health":"false"}'
        return Response(200 if ok else 503, body, [_TEXT])

    def _stats(self, req: Request, which: str) -> Response:
        if req.method != "GET":
            return _method_not_allowed("GET")
        server = self.server
        if which == "store":
            return Response(200, server.store.json_stats(), [_JSON])
        if which == "self":
            return _json(200, self_stats(server))
        if which == "leader":
            if not server.is_leader():
                return _json(403, {"message": "not current leader"})
            return _json(200, leader_stats(server))
        return _NOT_FOUND


def _rfc3339(ts: float) -> str:
    import datetime as dt

    d = dt.datetime.fromtimestamp(ts, dt.UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def self_stats(server: EtcdServer) -> dict[str, object]:
    """``/v2/stats/self`` (etcd ``stats.ServerStats``)."""
    st = server.stats
    now = server.clock.wall()
    state = {0: "StateFollower", 1: "StateCandidate", 2: "StateLeader", 3: "StatePreCandidate"}
    out: dict[str, object] = {
        "name": server.cfg.name,
        "id": id_hex(server.member_id),
        "state": state.get(int(server.raft_state), "StateFollower"),
        "startTime": _rfc3339(st.start_time),
        "leaderInfo": {
            "leader": id_hex(server.leader_id),
            "uptime": f"{max(0.0, now - st.leader_start_time):.9f}s",
            "startTime": _rfc3339(st.leader_start_time or st.start_time),
        },
        "recvAppendRequestCnt": st.recv_append,
        "sendAppendRequestCnt": st.send_append,
    }
    return out


def leader_stats(server: EtcdServer) -> dict[str, object]:
    """``/v2/stats/leader`` (etcd ``stats.LeaderStats``)."""
    followers: dict[str, object] = {}
    if server.peer_stats is not None:
        known = server.peer_stats()
        followers = {
            id_hex(mid): known[id_hex(mid)]
            for mid in sorted(server.cluster.members)
            if mid != server.member_id and id_hex(mid) in known
        }
        return {"leader": id_hex(server.member_id), "followers": followers}
    for mid in sorted(server.cluster.members):
        if mid == server.member_id:
            continue
        followers[id_hex(mid)] = {
            "latency": {
                "current": 0,
                "average": 0,
                "standardDeviation": 0,
                "minimum": 0,
                "maximum": 0,
            },
            "counts": {"fail": 0, "success": 0},
        }
    return {"leader": id_hex(server.member_id), "followers": followers}
