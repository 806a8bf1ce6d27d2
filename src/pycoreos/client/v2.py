"""Synchronous etcd v2 client: keys, watch, members, health, version, stats.

Used by ``pycoreos etcdctl`` and by our own tools. Requests are built exactly as etcd's Go
client (``go.etcd.io/etcd/client``) builds them (same paths, query parameters and form
bodies), so both clients are interchangeable against either server.

Failover invariants:
* Endpoints are tried in order starting from the last one that answered ("pinned").
* A connection failure before the request was sent moves on to the next endpoint, for any
  request. So does any failure of an idempotent request (reads, watches) and any 5xx answer
  to one.
* A non-idempotent request (every PUT/POST/DELETE) that fails after it may have reached a
  server, or that gets a 5xx answer, is never replayed: :class:`UnknownOutcomeError` is
  raised instead, and the caller decides.
* When every endpoint failed, :class:`ClusterUnavailableError` lists each failure in order.

Members/health/version/stats methods come from :class:`~pycoreos.client.v2_cluster.ClusterAPI`;
the HTTP work is :class:`~pycoreos.client.http_transport.HttpTransport` (injectable).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from http import HTTPStatus
from urllib.parse import quote, urlencode, urlsplit

from pycoreos.client.http_transport import HttpRequest, HttpResponse, HttpTransport, Transport
from pycoreos.client.v2_cluster import ClusterAPI
from pycoreos.client.v2_errors import (
    NO_ENDPOINTS,
    ClientError,
    ClusterUnavailableError,
    DeadlineExceededError,
    EndpointError,
    EtcdError,
    InvalidResponseError,
    MembersAPIError,
    UnknownOutcomeError,
    WatchTimeoutError,
)
from pycoreos.client.v2_types import (
    Member,
    Node,
    Response,
    Version,
    parse_error,
    parse_response,
)

__all__ = [
    "Client",
    "ClientError",
    "ClusterUnavailableError",
    "DeadlineExceededError",
    "EndpointError",
    "EtcdError",
    "InvalidResponseError",
    "Member",
    "MembersAPIError",
    "Node",
    "Response",
    "UnknownOutcomeError",
    "Version",
    "WatchTimeoutError",
    "canonical_path",
]

DEFAULT_TIMEOUT = 5.0
_STATUSES = frozenset(int(s) for s in HTTPStatus)
_FORM = "application/x-www-form-urlencoded"
# Go url.PathEscape keeps these in paths (besides unreserved characters and '/').
_PATH_SAFE = "/$&+,:;=@"

RequestHook = Callable[[str, HttpRequest], None]


def canonical_path(p: str) -> str:
    """Go ``pathutil.CanonicalURLPath``: clean ``p`` like ``path.Clean``, keep a trailing '/'."""
    if not p.startswith("/"):
        p = "/" + p
    out: list[str] = []
    for part in p.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out:
                out.pop()
            continue
        out.append(part)
    cleaned = "/" + "/".join(out)
    if p.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned


def _b(v: bool) -> str:
    return "true" if v else "false"


def _query(params: Mapping[str, str]) -> str:
    # Go url.Values.Encode sorts by key.
    return urlencode(sorted(params.items()))


class Client(ClusterAPI):
    """A v2 client over one or more endpoints (``http[s]://host:port``).

    Args:
        endpoints: client URLs of cluster members, tried in order.
        timeout: per-request timeout in seconds (connect and headers), not for watches.
        ca_file, cert_file, key_file: TLS trust and client certificate for https endpoints.
        username, password: HTTP basic auth for v2 auth-enabled clusters.
        transport: injectable :class:`Transport` (tests); default :class:`HttpTransport`.
        on_request: called with (url, request) before each attempt (etcdctl ``--debug``).
        total_timeout: bound on all attempts of one request (not watches); when it runs out
            :class:`DeadlineExceededError` is raised. None (default) means no bound.

    Raises:
        ValueError: if ``endpoints`` is empty.
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        username: str | None = None,
        password: str | None = None,
        transport: Transport | None = None,
        on_request: RequestHook | None = None,
        total_timeout: float | None = None,
    ) -> None:
        if not endpoints:
            raise ValueError(NO_ENDPOINTS)
        self._endpoints = [e.strip() for e in endpoints]
        self._pinned = 0
        self.timeout = timeout
        self.total_timeout = total_timeout
        self._transport = transport or HttpTransport(
            ca_file=ca_file, cert_file=cert_file, key_file=key_file
        )
        self._headers: dict[str, str] = {}
        if username is not None:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        self._on_request = on_request

    # -- plumbing -------------------------------------------------------------------------

    @property
    def endpoints(self) -> list[str]:
        """The current endpoint list (after :meth:`sync`, the members' client URLs)."""
        return list(self._endpoints)

    def close(self) -> None:
        """Close every pooled connection."""
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, endpoint: str, request: HttpRequest) -> str:
        """The full URL of ``request`` on ``endpoint`` (endpoint path prefix kept)."""
        ep = urlsplit(endpoint)
        full = quote(canonical_path(ep.path + request.path), safe=_PATH_SAFE)
        return f"{ep.scheme}://{ep.netloc}{full}" + (f"?{request.query}" if request.query else "")

    def do(self, request: HttpRequest, *, timeout: float | None = None) -> HttpResponse:
        """Send ``request`` with failover (see module docstring) and return the raw answer.

        ``timeout`` overrides the per-attempt timeout (for a long poll: the whole wait).
        ``total_timeout`` (if set) bounds all attempts of a non-long-poll request together.
        """
        errors: list[EndpointError] = []
        n = len(self._endpoints)
        if request.long_poll:
            per_try, deadline = timeout, None
        else:
            per_try = timeout or self.timeout
            total = self.total_timeout
            deadline = None if total is None else time.monotonic() + total
        for i in range(self._pinned, self._pinned + n):
            k = i % n
            endpoint = self._endpoints[k]
            url = self.url(endpoint, request)
            attempt = per_try
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DeadlineExceededError()
                attempt = left if attempt is None else min(attempt, left)
            if self._on_request is not None:
                self._on_request(url, request)
            try:
                resp = self._transport.round_trip(
                    url, request, timeout=attempt, headers=self._headers
                )
            except EndpointError as e:
                if request.long_poll and timeout is not None and e.timed_out:
                    raise WatchTimeoutError(str(e)) from e
                if e.timed_out and deadline is not None and time.monotonic() >= deadline:
                    raise DeadlineExceededError() from e
                errors.append(e)
                if e.sent and not request.idempotent:
                    raise UnknownOutcomeError(errors) from e
                continue
            if resp.status // 100 == 5:
                if resp.status in (500, 503):
                    msg = f"client: etcd member {endpoint} has no leader"
                else:
                    text = HTTPStatus(resp.status).phrase if resp.status in _STATUSES else ""
                    msg = f"client: etcd member {endpoint} returns server error [{text}]"
                errors.append(EndpointError(endpoint, msg, sent=True))
                if not request.idempotent:
                    raise UnknownOutcomeError(errors)
                continue
            self._pinned = k
            return resp
        raise ClusterUnavailableError(errors)

    def _keys(self, resp: HttpResponse) -> Response:
        if resp.status in (200, 201):
            if not resp.body:
                raise InvalidResponseError("client: response body is empty")
            return parse_response(resp.headers, resp.body)
        raise parse_error(resp.body)

    @staticmethod
    def _key_path(key: str) -> str:
        return "/v2/keys/" + key.lstrip("/")

    # -- keys API ---------------------------------------------------------------------------

    def get(
        self, key: str, *, recursive: bool = False, sorted: bool = False, quorum: bool = False
    ) -> Response:
        """Read a key or directory. Raises EtcdError (100 if missing)."""
        params = {"quorum": _b(quorum), "recursive": _b(recursive), "sorted": _b(sorted)}
        return self._keys(
            self.do(HttpRequest(method="GET", path=self._key_path(key), query=_query(params)))
        )

    def set(
        self,
        key: str,
        value: str = "",
        *,
        ttl: int | None = None,
        prev_value: str | None = None,
        prev_index: int | None = None,
        prev_exist: bool | None = None,
        dir: bool = False,
        refresh: bool = False,
    ) -> Response:
        """PUT a key (or a directory with ``dir=True``), optionally conditional.

        ``prev_exist`` True means update, False means create; ``prev_value``/``prev_index``
        make it a compare-and-swap. ``ttl=None`` (or 0) makes the node permanent.
        """
        params: dict[str, str] = {}
        form: dict[str, str] = {}
        if dir:
            params["dir"] = "true"
        else:
            if prev_value:
                params["prevValue"] = prev_value
            form["value"] = value
        if prev_index:
            params["prevIndex"] = str(prev_index)
        if prev_exist is not None:
            params["prevExist"] = _b(prev_exist)
        if ttl:
            form["ttl"] = str(ttl)
        if refresh:
            form["refresh"] = "true"
        req = HttpRequest(
            method="PUT",
            path=self._key_path(key),
            query=_query(params),
            body=_query(form).encode(),
            content_type=_FORM,
            idempotent=False,
        )
        return self._keys(self.do(req))

    def create(self, key: str, value: str = "", *, ttl: int | None = None) -> Response:
        """Create ``key``; EtcdError 105 if it exists."""
        return self.set(key, value, ttl=ttl, prev_exist=False)

    def update(self, key: str, value: str = "", *, ttl: int | None = None) -> Response:
        """Replace the value of an existing ``key``; EtcdError 100 if missing."""
        return self.set(key, value, ttl=ttl, prev_exist=True)

    def create_in_order(self, dir: str, value: str = "", *, ttl: int | None = None) -> Response:
        """POST: create ``dir/<20-digit index>`` with ``value``."""
        form = {"value": value}
        if ttl:
            form["ttl"] = str(ttl)
        req = HttpRequest(
            method="POST",
            path=self._key_path(dir),
            body=_query(form).encode(),
            content_type=_FORM,
            idempotent=False,
        )
        return self._keys(self.do(req))

    def delete(
        self,
        key: str,
        *,
        dir: bool = False,
        recursive: bool = False,
        prev_value: str | None = None,
        prev_index: int | None = None,
    ) -> Response:
        """Delete a key (``dir=True`` also empty dirs, ``recursive=True`` whole trees)."""
        params: dict[str, str] = {}
        if prev_value:
            params["prevValue"] = prev_value
        if prev_index:
            params["prevIndex"] = str(prev_index)
        if dir:
            params["dir"] = "true"
        if recursive:
            params["recursive"] = "true"
        req = HttpRequest(
            method="DELETE", path=self._key_path(key), query=_query(params), idempotent=False
        )
        return self._keys(self.do(req))

    def _wait_request(self, key: str, recursive: bool, wait_index: int | None) -> HttpRequest:
        params = {"recursive": _b(recursive), "wait": "true", "waitIndex": str(wait_index or 0)}
        return HttpRequest(
            method="GET", path=self._key_path(key), query=_query(params), long_poll=True
        )

    def watch(
        self,
        key: str,
        *,
        recursive: bool = False,
        wait_index: int | None = None,
        timeout: float | None = None,
    ) -> Response:
        """Wait for the next event on ``key`` (at index >= ``wait_index`` if given).

        An empty 200 answer (the server gave up the long poll) is retried transparently.
        Raises WatchTimeoutError after ``timeout`` seconds without an event, EtcdError 401 if
        ``wait_index`` is older than the server's event history.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        req = self._wait_request(key, recursive, wait_index)
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise WatchTimeoutError(f"no event on {key} within {timeout}s")
            resp = self.do(req, timeout=left)
            if resp.status in (200, 201) and not resp.body:
                continue
            return self._keys(resp)

    def watch_iter(
        self, key: str, *, recursive: bool = False, wait_index: int | None = None
    ) -> Iterator[Response]:
        """Yield events on ``key`` forever, without gaps: each next wait starts at the last
        event's ``modified_index + 1`` (as the Go client's ``Watcher.Next`` does)."""
        index = wait_index
        while True:
            resp = self.watch(key, recursive=recursive, wait_index=index)
            index = resp.node.modified_index + 1
            yield resp

    def set_endpoints(self, endpoints: Sequence[str]) -> None:
        """Replace the endpoint list (kept, with its pinned endpoint, if only the order differs)."""
        if not endpoints:
            raise ValueError(NO_ENDPOINTS)
        if sorted(endpoints) != sorted(self._endpoints):
            self._endpoints = [e.strip() for e in endpoints]
            self._pinned = 0

    def sync(self) -> None:
        """Replace the endpoints with the members' client URLs (Go ``Client.Sync``).

        Raises:
            ValueError: if no member publishes a client URL.
        """
        self.set_endpoints(sorted(u for m in self.members() for u in m.client_urls))
