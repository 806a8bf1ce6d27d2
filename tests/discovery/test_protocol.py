"""The discovery protocol's decisions (pure) and the token service's routing."""

from __future__ import annotations

import pytest

from pycoreos.discovery.errors import (
    BadSizeKeyError,
    DuplicateNameError,
    FullClusterError,
    InvalidURLError,
)
from pycoreos.discovery.protocol import (
    RegisteredNode,
    add_watched,
    check_cluster,
    nodes_to_cluster,
    parse_size,
    parse_token_url,
    retry_delay,
)
from pycoreos.discovery.service import REGISTRY, Route, RouteKind, route

T = "/_etcd/registry/" + "a" * 32


def n(name: str, idx: int, value: str = "") -> RegisteredNode:
    return RegisteredNode(f"{T}/{name}", value or f"{name}=http://10.0.0.{idx}:2380", idx)


def test_token_url_split_like_etcd() -> None:
    t = parse_token_url("https://discovery.etcd.io/abc/")
    assert (t.endpoint, t.token, t.url) == (
        "https://discovery.etcd.io", "/abc", "https://discovery.etcd.io/abc"
    )  # fmt: skip
    for bad in ("discovery.etcd.io/abc", "http://host", "http://host/", "ftp://h/x"):
        with pytest.raises(InvalidURLError):
            parse_token_url(bad)


@pytest.mark.parametrize("bad", [None, "", "three", "-1", "0", "2.5"])
def test_size_must_be_a_positive_integer(bad: str | None) -> None:
    with pytest.raises(BadSizeKeyError, match=r"^discovery: size key is bad"):
        parse_size(bad)


def test_size_accepts_integers() -> None:
    assert parse_size("3") == 3
    assert parse_size(" 5\n") == 5


def test_config_dir_is_not_a_member_and_order_is_registration_order() -> None:
    children = [n("c", 9), RegisteredNode(f"{T}/_config", "", 1), n("a", 5), n("b", 7)]
    assert [x.name for x in check_cluster(children, 3, "c")] == ["a", "b", "c"]


def test_full_when_size_members_registered_before_us() -> None:
    children = [n("a", 2), n("b", 3), n("c", 4)]
    with pytest.raises(FullClusterError, match=r"^discovery: cluster is full$"):
        check_cluster(children, 3, "d")
    # A member that is among the first `size` is not refused, even if more registered late.
    assert [x.name for x in check_cluster([*children, n("d", 5)], 3, "b")] == ["a", "b", "c"]
    with pytest.raises(FullClusterError):  # the late one sees itself beyond size
        check_cluster([*children, n("d", 5)], 3, "d")


def test_not_full_while_fewer_than_size() -> None:
    assert [x.name for x in check_cluster([n("a", 2)], 3, "z")] == ["a"]


def test_watch_events_fold_in_once_and_ignore_config() -> None:
    known = [n("a", 2)]
    known = add_watched(known, n("b", 3), 3)
    known = add_watched(known, n("b", 3), 3)  # a replayed event
    known = add_watched(known, RegisteredNode(f"{T}/_config/size", "3", 4), 3)
    assert [x.name for x in known] == ["a", "b"]
    known = add_watched(add_watched(known, n("c", 5), 3), n("d", 6), 3)
    assert [x.name for x in known] == ["a", "b", "c"]


def test_initial_cluster_from_values_including_multi_url_members() -> None:
    nodes = [n("a", 2, "m1=http://10.0.0.1:2380,m1=http://10.0.0.1:7001"), n("b", 3)]
    assert nodes_to_cluster(nodes, 2) == [
        ("m1", "http://10.0.0.1:2380"), ("m1", "http://10.0.0.1:7001"),
        ("b", "http://10.0.0.3:2380"),
    ]  # fmt: skip


def test_duplicate_names_and_bad_values() -> None:
    with pytest.raises(DuplicateNameError, match=r"^discovery: found duplicate name"):
        nodes_to_cluster([n("a", 2, "x=http://h:1"), n("b", 3, "x=http://h:2")], 2)
    with pytest.raises(InvalidURLError, match=r"^discovery: invalid URL"):
        nodes_to_cluster([n("a", 2, "not a member")], 1)


def test_retry_delays_double_from_one_second() -> None:
    assert [retry_delay(i) for i in range(4)] == [1.0, 2.0, 4.0, 8.0]


# ------------------------------------------------------------------ service routes
def test_routes() -> None:
    tok = "0123456789abcdef" * 2
    assert route("GET", "/new", "") == Route(RouteKind.NEW, size=3)
    assert route("GET", "/new", "size=5") == Route(RouteKind.NEW, size=5)
    assert route("GET", "/new", "size=five").kind is RouteKind.BAD_SIZE
    assert route("GET", "/health", "").kind is RouteKind.HEALTH
    assert route("PUT", f"/{tok}/8e9e05c52164694d", "prevExist=false") == Route(
        RouteKind.PROXY, key_path=f"{REGISTRY}/{tok}/8e9e05c52164694d"
    )
    assert route("GET", f"/{tok}/", "") == Route(RouteKind.PROXY, key_path=f"{REGISTRY}/{tok}")
    assert route("GET", "/" + tok.upper(), "").kind is RouteKind.NOT_FOUND  # lowercase only
    assert route("GET", "/abc", "").kind is RouteKind.NOT_FOUND
