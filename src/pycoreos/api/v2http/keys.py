"""``/v2/keys``: parse a keys request exactly as etcd does, run it, render etcd's JSON.

Parsing follows etcd's ``parseKeyRequest`` check by check, in the same order, so the first
problem reported is the one etcd reports. Reads are served from the local store (may be stale,
as etcd); ``quorum=true`` reads wait for a ReadIndex round first; writes are proposed through
Raft and answered after they are committed and applied.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import msgspec

from pycoreos.api.http import Request, Response, StreamResponse
from pycoreos.api.v2http.form import clean_path, parse_form
from pycoreos.server.config import parse_bool
from pycoreos.server.errors import ServerError
from pycoreos.server.requests import V2Request
from pycoreos.v2store import errors as v2e
from pycoreos.v2store.errors import V2Error
from pycoreos.v2store.event import Event, encode_event

if TYPE_CHECKING:
    from pycoreos.server.server import EtcdServer

KEYS_PREFIX = "/v2/keys"
KEYS_NAMESPACE = "/1"
_ALLOWED = "HEAD,GET,PUT,POST,DELETE"
_MAX_UINT64 = (1 << 64) - 1


class _RequestError(Exception):
    def __init__(self, code: int, cause: str) -> None:
        self.error = V2Error(code, cause, 0)


def _first(form: dict[str, list[str]], key: str) -> str:
    vals = form.get(key)
    return vals[0] if vals else ""


def _uint(form: dict[str, list[str]], key: str, code: int) -> int:
    if key not in form:
        return 0
    text = form[key][0]
    # Go's strconv.ParseUint: decimal digits only (no sign, no spaces), fits in 64 bits.
    if not text.isascii() or not text.isdigit() or int(text) > _MAX_UINT64:
        raise _RequestError(code, f'invalid value for "{key}"')
    return int(text)


def _bool(form: dict[str, list[str]], key: str, cause: str | None = None) -> bool:
    if key not in form:
        return False
    value = parse_bool(form[key][0])
    if value is None:
        raise _RequestError(v2e.ECODE_INVALID_FIELD, cause or f'invalid value for "{key}"')
    return value


def parse_key_request(
    req: Request, raw_path: str, now_ns: int, request_id: int
) -> tuple[V2Request, bool]:
    """etcd's ``parseKeyRequest``: returns the request and ``noValueOnSuccess``.

    Raises:
        _RequestError: carrying etcd's V2Error (index 0) for the first problem found.
    """
    form, err = parse_form(req.method, req.headers.get("content-type", ""), req.body, req.query)
    if err is not None:
        raise _RequestError(v2e.ECODE_INVALID_FORM, str(err))
    path = clean_path(KEYS_NAMESPACE + "/" + raw_path[len(KEYS_PREFIX) :])
    prev_index = _uint(form, "prevIndex", v2e.ECODE_INDEX_NAN)
    wait_index = _uint(form, "waitIndex", v2e.ECODE_INDEX_NAN)
    recursive = _bool(form, "recursive")
    sort = _bool(form, "sorted")
    wait = _bool(form, "wait")
    is_dir = _bool(form, "dir")
    quorum = _bool(form, "quorum")
    stream = _bool(form, "stream")
    if wait and req.method != "GET":
        raise _RequestError(v2e.ECODE_INVALID_FIELD, '"wait" can only be used with GET requests')
    prev_value = _first(form, "prevValue")
    if "prevValue" in form and prev_value == "":
        raise _RequestError(v2e.ECODE_PREV_VALUE_REQUIRED, '"prevValue" cannot be empty')
    no_value = _bool(form, "noValueOnSuccess")
    ttl: int | None = None
    if _first(form, "ttl"):
        ttl = _uint(form, "ttl", v2e.ECODE_TTL_NAN)
    prev_exist: bool | None = None
    if "prevExist" in form:
        prev_exist = _bool(form, "prevExist", "invalid value for prevExist")
    refresh: bool | None = None
    if "refresh" in form:
        refresh = _bool(form, "refresh", "invalid value for refresh")
        if refresh:
            if "value" in form and _first(form, "value") != "":
                raise _RequestError(v2e.ECODE_REFRESH_VALUE, "A value was provided on a refresh")
            if ttl is None:
                raise _RequestError(v2e.ECODE_REFRESH_TTL_REQUIRED, "No TTL value set")
    expiration = now_ns + ttl * 1_000_000_000 if ttl is not None else 0
    return (
        V2Request(
            id=request_id,
            method=req.method,
            path=path,
            val=_first(form, "value"),
            dir=is_dir,
            prev_value=prev_value,
            prev_index=prev_index,
            prev_exist=prev_exist,
            expiration=expiration,
            wait=wait,
            since=wait_index,
            recursive=recursive,
            sorted=sort,
            quorum=quorum,
            stream=stream,
            refresh=refresh,
        ),
        no_value,
    )


def error_response(err: V2Error, cluster_hdr: list[tuple[str, str]]) -> Response:
    """etcd's ``Error.WriteTo`` (with the namespace trimmed from the cause)."""
    return Response(
        err.status_code,
        err.to_json(KEYS_NAMESPACE) + b"\n",
        [
            *cluster_hdr,
            ("Content-Type", "application/json"),
            ("X-Etcd-Index", str(err.index)),
        ],
    )


def server_error_response(err: BaseException, cluster_hdr: list[tuple[str, str]]) -> Response:
    """Any non-store failure is error 300 (Raft Internal Error, HTTP 500) with its text."""
    return error_response(V2Error(v2e.ECODE_RAFT_INTERNAL, str(err), 0), cluster_hdr)


class KeysHandler:
    """Serves ``/v2/keys`` for one member."""

    def __init__(self, server: EtcdServer) -> None:
        self._server = server

    def _cluster_hdr(self) -> list[tuple[str, str]]:
        return [("X-Etcd-Cluster-Id", f"{self._server.cluster.cluster_id:x}")]

    def handle(self, req: Request) -> Response | asyncio.Future[Response] | StreamResponse:
        """Entry point from the router (``req.path`` starts with ``/v2/keys``)."""
        if req.method not in ("HEAD", "GET", "PUT", "POST", "DELETE"):
            return Response(
                405,
                b"Method Not Allowed\n",
                [
                    ("Allow", _ALLOWED),
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("X-Content-Type-Options", "nosniff"),
                ],
            )
        hdr = self._cluster_hdr()
        server = self._server
        raw_path = req.path  # already decoded by the router
        try:
            v2req, no_value = parse_key_request(
                req, raw_path, int(server.clock.wall() * 1e9), server.next_request_id()
            )
        except _RequestError as e:
            return error_response(e.error, hdr)
        server.store.count_auth_probe()
        method = v2req.method
        if method in ("GET", "HEAD") and not v2req.quorum:
            return self._local_get(v2req, hdr, head=method == "HEAD")
        loop = asyncio.get_running_loop()
        out: asyncio.Future[Response] = loop.create_future()
        if method == "GET":  # quorum=true: linearizable read through ReadIndex
            read = server.linearizable_read()
            read.add_done_callback(lambda f: self._after_read(f, v2req, hdr, out))
        elif method == "HEAD":
            read = server.linearizable_read()
            read.add_done_callback(lambda f: self._after_read(f, v2req, hdr, out, head=True))
        else:
            fut = server.propose(v2req)
            fut.add_done_callback(lambda f: self._after_write(f, hdr, no_value, out))
        return out

    # -- reads
    def _local_get(
        self, v2req: V2Request, hdr: list[tuple[str, str]], *, head: bool = False
    ) -> Response | StreamResponse:
        store = self._server.store
        try:
            if v2req.wait and not head:
                return self._watch(v2req, hdr)
            event = store.get(v2req.path, v2req.recursive, v2req.sorted)
        except V2Error as e:
            resp = error_response(e, hdr)
            resp.head_only = head
            return resp
        resp = self._event_response(event, hdr, no_value=False)
        resp.head_only = head
        return resp

    def _after_read(
        self,
        fut: asyncio.Future[None],
        v2req: V2Request,
        hdr: list[tuple[str, str]],
        out: asyncio.Future[Response],
        head: bool = False,
    ) -> None:
        if out.done():
            return
        exc = fut.exception() if not fut.cancelled() else ServerError("request cancelled")
        if exc is not None:
            out.set_result(server_error_response(exc, hdr))
            return
        # etcd turns GET+quorum into QGET, which never watches, even with wait=true.
        try:
            event = self._server.store.get(v2req.path, v2req.recursive, v2req.sorted)
        except V2Error as e:
            resp = error_response(e, hdr)
        else:
            resp = self._event_response(event, hdr, no_value=False)
        resp.head_only = head
        out.set_result(resp)

    # -- writes
    def _after_write(
        self,
        fut: asyncio.Future[Event | V2Error | None],
        hdr: list[tuple[str, str]],
        no_value: bool,
        out: asyncio.Future[Response],
    ) -> None:
        if out.done():
            return
        if fut.cancelled():
            out.set_result(server_error_response(ServerError("request cancelled"), hdr))
            return
        exc = fut.exception()
        if isinstance(exc, V2Error):
            out.set_result(error_response(exc, hdr))
        elif exc is not None:
            out.set_result(server_error_response(exc, hdr))
        else:
            event = fut.result()
            assert isinstance(event, Event)
            out.set_result(self._event_response(event, hdr, no_value=no_value))

    def _event_response(
        self, event: Event, hdr: list[tuple[str, str]], *, no_value: bool
    ) -> Response:
        server = self._server
        created = event.action == "create" or (event.action == "set" and event.prev_node is None)
        if no_value and event.action in ("set", "compareAndSwap", "create", "update"):
            body = b'{"action":"%s"}\n' % event.action.encode()
        else:
            if event.refresh:
                # etcd trims the namespace from a *clone* of the event, and Event.Clone does
                # not copy Refresh: the real etcd never sends "refresh":true to clients.
                event = msgspec.structs.replace(event, refresh=False)
            body = encode_event(event, KEYS_NAMESPACE) + b"\n"
        return Response(
            201 if created else 200,
            body,
            [
                *hdr,
                ("Content-Type", "application/json"),
                ("X-Etcd-Index", str(event.etcd_index)),
                ("X-Raft-Index", str(server.raft_index())),
                ("X-Raft-Term", str(server.raft_term())),
            ],
        )

    # -- watches
    def _watch(self, v2req: V2Request, hdr: list[tuple[str, str]]) -> StreamResponse:
        server = self._server
        watcher = server.store.watch(v2req.path, v2req.recursive, v2req.stream, v2req.since)
        resp = StreamResponse(
            200,
            [
                *hdr,
                ("Content-Type", "application/json"),
                ("X-Etcd-Index", str(watcher.start_index)),
                ("X-Raft-Index", str(server.raft_index())),
                ("X-Raft-Term", str(server.raft_term())),
            ],
        )
        stream = v2req.stream

        def drain() -> None:
            while not resp.finished:
                event = watcher.next_event()
                if event is None:
                    if watcher.removed:
                        resp.finish()
                    return
                resp.send(encode_event(event, KEYS_NAMESPACE) + b"\n")
                if not stream:
                    watcher.remove()
                    resp.finish()
                    return

        watcher.on_event = drain
        resp.on_close = watcher.remove
        server.track_watch(resp, watcher.remove)
        drain()
        return resp
