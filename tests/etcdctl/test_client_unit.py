"""``pycoreos.client.v2.Client`` against a scripted fake transport: request shapes, failover,
the no-replay rule for writes, and error mapping. No sockets."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pytest

from pycoreos.client.http_transport import HttpRequest, HttpResponse
from pycoreos.client.v2 import (
    Client,
    ClusterUnavailableError,
    EndpointError,
    EtcdError,
    InvalidResponseError,
    MembersAPIError,
    UnknownOutcomeError,
    WatchTimeoutError,
    canonical_path,
)

A, B, C = "http://10.0.0.1:2379", "http://10.0.0.2:2379", "http://10.0.0.3:2379"

Handler = Callable[[str, HttpRequest], HttpResponse]


def refused(url: str) -> EndpointError:
    return EndpointError(url, "dial tcp: connect: connection refused", sent=False)


def reset(url: str) -> EndpointError:
    return EndpointError(url, "EOF", sent=True)


@dataclass
class FakeTransport:
    """Routes by endpoint prefix; a value may be a response, an error, or a handler."""

    routes: dict[str, list[HttpResponse | EndpointError | Handler]]
    calls: list[tuple[str, HttpRequest, float | None]] = field(default_factory=list)
    closed: bool = False

    def round_trip(
        self,
        url: str,
        request: HttpRequest,
        *,
        timeout: float | None,
        headers: Mapping[str, str],
    ) -> HttpResponse:
        self.calls.append((url, request, timeout))
        ep = next(e for e in self.routes if url.startswith(e))
        queue = self.routes[ep]
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, EndpointError):
            raise item
        if isinstance(item, HttpResponse):
            return item
        return item(url, request)

    def close(self) -> None:
        self.closed = True


def ok(body: object, status: int = 200, index: int = 7) -> HttpResponse:
    headers = {
        "x-etcd-index": str(index),
        "x-raft-index": "100",
        "x-raft-term": "2",
        "x-etcd-cluster-id": "cdf818194e3a8c32",
    }
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpResponse(status, headers, raw)


NODE = {"key": "/foo", "value": "bar", "modifiedIndex": 7, "createdIndex": 7}
GET_OK = ok({"action": "get", "node": NODE})
NOT_FOUND = ok(
    {"errorCode": 100, "message": "Key not found", "cause": "/nope", "index": 9}, status=404
)


def make(
    routes: dict[str, list[HttpResponse | EndpointError | Handler]],
) -> tuple[Client, FakeTransport]:
    t = FakeTransport(routes)
    return Client(list(routes), timeout=1.5, transport=t), t


# -- request shapes (must equal the Go client's, which etcdctl --debug shows) -------------


def test_get_builds_go_client_query() -> None:
    c, t = make({A: [GET_OK]})
    r = c.get("foo", recursive=True, sorted=True, quorum=True)
    url, req, timeout = t.calls[0]
    assert url == f"{A}/v2/keys/foo?quorum=true&recursive=true&sorted=true"
    assert (req.method, req.body, req.idempotent, timeout) == ("GET", None, True, 1.5)
    assert r.node.value == "bar"
    assert (r.etcd_index, r.raft_index, r.raft_term) == (7, 100, 2)
    assert r.cluster_id == "cdf818194e3a8c32"


def test_set_puts_conditions_in_query_and_value_in_form() -> None:
    c, t = make({A: [ok({"action": "compareAndSwap", "node": NODE}, index=8)]})
    c.set("/foo", "a b&c", ttl=5, prev_value="old", prev_index=3)
    url, req, _ = t.calls[0]
    assert url == f"{A}/v2/keys/foo?prevIndex=3&prevValue=old"
    assert req.method == "PUT"
    assert req.body == b"ttl=5&value=a+b%26c"
    assert req.content_type == "application/x-www-form-urlencoded"
    assert not req.idempotent


@pytest.mark.parametrize(
    ("call", "target", "body"),
    [
        (lambda c: c.create("/k", "v"), "/v2/keys/k?prevExist=false", b"value=v"),
        (lambda c: c.update("/k", "v", ttl=9), "/v2/keys/k?prevExist=true", b"ttl=9&value=v"),
        (lambda c: c.set("/d", dir=True, prev_exist=False), "/v2/keys/d?dir=true&prevExist=false", b""),
        (lambda c: c.set("/k", "", ttl=3, refresh=True, prev_exist=True), "/v2/keys/k?prevExist=true", b"refresh=true&ttl=3&value="),
        (lambda c: c.create_in_order("/q", "job"), "/v2/keys/q", b"value=job"),
    ],
)  # fmt: skip
def test_write_shapes(call: Callable[[Client], object], target: str, body: bytes) -> None:
    c, t = make({A: [ok({"action": "set", "node": NODE}, status=201)]})
    call(c)
    url, req, _ = t.calls[0]
    assert url == A + target
    assert req.body == body


def test_delete_and_watch_shapes() -> None:
    c, t = make({A: [ok({"action": "delete", "node": NODE, "prevNode": NODE})]})
    c.delete("/k", dir=True, recursive=True, prev_value="v", prev_index=4)
    assert t.calls[0][0] == f"{A}/v2/keys/k?dir=true&prevIndex=4&prevValue=v&recursive=true"
    c.watch("/k", recursive=True, wait_index=12)
    url, req, timeout = t.calls[1]
    assert url == f"{A}/v2/keys/k?recursive=true&wait=true&waitIndex=12"
    assert req.long_poll
    assert timeout is None


def test_paths_are_cleaned_and_escaped_like_go() -> None:
    assert canonical_path("/a//b/./c/../d/") == "/a/b/d/"
    assert canonical_path("x") == "/x"
    c, t = make({A + "/prefix": [GET_OK]})
    c.get("/dir with space/?#%é")
    assert t.calls[0][0].startswith(f"{A}/prefix/v2/keys/dir%20with%20space/%3F%23%25%C3%A9?")


def test_response_decoding_of_dirs_ttl_and_prev_node() -> None:
    body = {
        "action": "get",
        "node": {
            "key": "/d",
            "dir": True,
            "nodes": [
                {"key": "/d/a", "value": "1", "ttl": 5, "expiration": "2030-01-01T00:00:00Z"},
                {"key": "/d/s", "dir": True},
            ],
        },
    }
    c, _ = make({A: [ok(body)]})
    r = c.get("/d")
    assert r.node.dir
    assert r.node.value is None
    assert r.prev_node is None
    a, s = r.node.nodes
    assert (a.value, a.ttl, a.expiration) == ("1", 5, "2030-01-01T00:00:00Z")
    assert s.dir
    assert s.nodes == ()


# -- errors ------------------------------------------------------------------------------


def test_keys_error_maps_to_etcd_error_with_go_text() -> None:
    c, _ = make({A: [NOT_FOUND]})
    with pytest.raises(EtcdError) as ei:
        c.get("/nope")
    e = ei.value
    assert (e.code, e.message, e.cause, e.index) == (100, "Key not found", "/nope", 9)
    assert str(e) == "100: Key not found (/nope) [9]"


@pytest.mark.parametrize("body", [b"<html>proxy</html>", b"", b'{"no": "code"}', b"[1]"])
def test_non_etcd_answers_are_invalid_response(body: bytes) -> None:
    c, _ = make({A: [HttpResponse(404, {}, body)]})
    with pytest.raises(InvalidResponseError):
        c.get("/x")


def test_members_api_error_message_and_unexpected_status() -> None:
    c, _ = make({A: [HttpResponse(409, {}, b'{"message":"etcdserver: peerURL exists"}')]})
    with pytest.raises(MembersAPIError, match=r"^etcdserver: peerURL exists$"):
        c.add_member(["http://10.0.0.9:2380"])
    c, _ = make({A: [HttpResponse(404, {}, b"")]})
    with pytest.raises(MembersAPIError, match=r"^unexpected status code 404$"):
        c.remove_member("abc")


# -- failover ----------------------------------------------------------------------------


def test_connection_refused_fails_over_and_pins_the_live_endpoint() -> None:
    c, t = make({A: [refused(A)], B: [GET_OK], C: [GET_OK]})
    c.get("/foo")
    c.get("/foo")
    assert [u.split("/v2")[0] for u, _, _ in t.calls] == [A, B, B]


def test_unsent_write_fails_over_too() -> None:
    c, t = make({A: [refused(A)], B: [ok({"action": "set", "node": NODE})]})
    assert c.set("/foo", "bar").action == "set"
    assert len(t.calls) == 2


def test_write_that_may_have_been_sent_is_never_replayed() -> None:
    c, t = make({A: [reset(A)], B: [ok({"action": "set", "node": NODE})]})
    with pytest.raises(UnknownOutcomeError) as ei:
        c.set("/foo", "bar")
    assert len(t.calls) == 1
    assert str(ei.value).startswith("client: etcd cluster is unavailable or misconfigured; ")
    assert [str(e) for e in ei.value.errors] == ["EOF"]


def test_read_that_failed_after_sending_is_retried_elsewhere() -> None:
    c, t = make({A: [reset(A)], B: [GET_OK]})
    assert c.get("/foo").node.value == "bar"
    assert len(t.calls) == 2


def test_5xx_fails_over_for_reads_but_is_unknown_outcome_for_writes() -> None:
    no_leader = ok({"errorCode": 300, "message": "Raft Internal Error"}, status=500)
    c, _ = make({A: [no_leader], B: [GET_OK]})
    assert c.get("/foo").node.value == "bar"
    c, t = make({A: [no_leader], B: [GET_OK]})
    with pytest.raises(UnknownOutcomeError) as ei:
        c.delete("/foo")
    assert len(t.calls) == 1
    assert str(ei.value.errors[0]) == f"client: etcd member {A} has no leader"


def test_all_endpoints_down_lists_every_error_in_go_format() -> None:
    c, _ = make({A: [refused(A)], B: [HttpResponse(502, {}, b"")]})
    with pytest.raises(ClusterUnavailableError) as ei:
        c.get("/foo")
    e = ei.value
    assert str(e) == (
        "client: etcd cluster is unavailable or misconfigured; "
        "error #0: dial tcp: connect: connection refused\n"
        f"; error #1: client: etcd member {B} returns server error [Bad Gateway]\n"
    )
    assert e.detail().splitlines()[1] == (
        f"error #1: client: etcd member {B} returns server error [Bad Gateway]"
    )
    assert not e.connection_only


def test_sync_replaces_endpoints_with_members_client_urls() -> None:
    members = {
        "members": [
            {"id": "1", "name": "a", "peerURLs": ["http://p1"], "clientURLs": [C, B]},
        ]
    }
    c, _ = make({A: [ok(members)]})
    c.sync()
    assert c.endpoints == [B, C]


# -- watch -------------------------------------------------------------------------------


def test_watch_retries_empty_body_and_iter_advances_index() -> None:
    def event(index: int) -> HttpResponse:
        node = {"key": "/k", "value": str(index), "modifiedIndex": index, "createdIndex": 1}
        return ok({"action": "set", "node": node})

    empty = HttpResponse(200, {}, b"")
    c, t = make({A: [empty, event(10), event(11), event(11)]})
    events = c.watch_iter("/k", wait_index=5)
    assert [next(events).node.value for _ in range(2)] == ["10", "11"]
    indexes = [u.rsplit("waitIndex=", 1)[1] for u, _, _ in t.calls]
    assert indexes == ["5", "5", "11"]


def test_watch_timeout_is_typed() -> None:
    timed_out = EndpointError(A, "timeout", sent=True, timed_out=True)
    c, _ = make({A: [timed_out]})
    with pytest.raises(WatchTimeoutError):
        c.watch("/k", timeout=0.01)


def test_close_releases_transport_and_empty_endpoints_rejected() -> None:
    c, t = make({A: [GET_OK]})
    with c:
        pass
    assert t.closed
    with pytest.raises(ValueError, match="no endpoints"):
        Client([])


def test_cluster_endpoints_decode() -> None:
    member = {"id": "8e9e05c52164694d", "name": "n1", "peerURLs": ["http://p:2380"],
              "clientURLs": ["http://c:2379"]}  # fmt: skip
    routes: dict[str, HttpResponse] = {
        "/v2/members/leader": ok(member),
        "/v2/members": ok({"members": [member, {"id": "2", "peerURLs": ["http://q:2380"]}]}),
        "/health": ok({"health": "true"}),
        "/version": ok({"etcdserver": "3.4.23", "etcdcluster": "3.4.0"}),
        "/v2/machines": ok(b"http://a:2379, http://b:2379"),
        "/v2/stats/store": ok({"setsSuccess": 3}),
        "/v2/stats/self": ok({"name": "n1"}),
        "/v2/stats/leader": ok({"leader": "8e9e05c52164694d", "followers": {}}),
    }

    def route(url: str, req: HttpRequest) -> HttpResponse:
        return routes[req.path]

    c, _ = make({A: [route]})
    leader = c.leader()
    assert (leader.id, leader.name, leader.client_urls) == (
        "8e9e05c52164694d",
        "n1",
        ("http://c:2379",),
    )
    assert [m.name for m in c.members()] == ["n1", ""]  # unstarted members have no name
    assert c.health() is True
    assert (c.version().server, c.version().cluster) == ("3.4.23", "3.4.0")
    assert c.machines() == ["http://a:2379", "http://b:2379"]
    assert c.stats_store()["setsSuccess"] == 3
    assert c.stats_self()["name"] == "n1"
    assert c.stats_leader()["leader"] == "8e9e05c52164694d"


def test_basic_auth_header_is_sent() -> None:
    seen: list[Mapping[str, str]] = []

    class Recording(FakeTransport):
        def round_trip(
            self,
            url: str,
            request: HttpRequest,
            *,
            timeout: float | None,
            headers: Mapping[str, str],
        ) -> HttpResponse:
            seen.append(dict(headers))
            return GET_OK

    c = Client([A], username="root", password="pw:x", transport=Recording({A: []}))
    c.get("/k")
    assert seen == [{"Authorization": "Basic cm9vdDpwdzp4"}]


def test_public_names_are_exported() -> None:
    import pycoreos.client.v2 as v2

    for name in v2.__all__:
        assert getattr(v2, name) is not None
    assert {"Client", "EtcdError", "UnknownOutcomeError", "Response", "Node"} <= set(v2.__all__)
