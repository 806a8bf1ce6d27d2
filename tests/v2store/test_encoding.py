"""encode_event: etcd's exact JSON (field order, omitempty, Go escaping, namespace trim)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from pycoreos._clock import ManualClock
from pycoreos.v2store import Event, NodeExtern, Store, TTLOptionSet, encode_event
from pycoreos.v2store.event import format_expiration, remaining_ttl


def test_set_event_shape(store: Store) -> None:
    e = store.set("/foo", False, "bar")
    assert encode_event(e) == (
        b'{"action":"set","node":{"key":"/foo","value":"bar","modifiedIndex":1,"createdIndex":1}}'
    )


def test_empty_value_is_present_for_keys(store: Store) -> None:
    e = store.set("/foo", False, "")
    assert b'"value":""' in encode_event(e)


def test_dir_has_dir_flag_and_no_value(store: Store) -> None:
    e = store.set("/d", True, "")
    assert encode_event(e) == (
        b'{"action":"set","node":{"key":"/d","dir":true,"modifiedIndex":1,"createdIndex":1}}'
    )


def test_prev_node_follows_node(store: Store) -> None:
    store.set("/foo", False, "one")
    e = store.set("/foo", False, "two")
    assert encode_event(e).endswith(
        b',"prevNode":{"key":"/foo","value":"one","modifiedIndex":1,"createdIndex":1}}'
    )


def test_ttl_node_fields(store: Store, clock: ManualClock) -> None:
    e = store.set("/foo", False, "bar", TTLOptionSet(clock.wall() + 100.25))
    body = encode_event(e)
    assert b'"expiration":"2023-11-14T22:15:00.25Z","ttl":101,"modifiedIndex"' in body


def test_refresh_flag_only_on_refresh(store: Store, clock: ManualClock) -> None:
    store.set("/foo", False, "bar", TTLOptionSet(clock.wall() + 10))
    plain = store.update("/foo", "bar", TTLOptionSet(clock.wall() + 10))
    refreshed = store.update("/foo", "", TTLOptionSet(clock.wall() + 20, refresh=True))
    assert b"refresh" not in encode_event(plain)
    assert encode_event(refreshed).endswith(b',"refresh":true}')


def test_delete_event_has_no_value(store: Store) -> None:
    store.set("/foo", False, "bar")
    e = store.delete("/foo")
    node = json.loads(encode_event(e))["node"]
    assert node == {"key": "/foo", "modifiedIndex": 2, "createdIndex": 1}


def test_trim_prefix_strips_namespace_everywhere(ns_store: Store) -> None:
    ns_store.set("/1/a/b", False, "x")
    e = ns_store.set("/1/a/b", False, "y")
    body = json.loads(encode_event(e, "/1"))
    assert body["node"]["key"] == "/a/b"
    assert body["prevNode"]["key"] == "/a/b"


def test_trimmed_root_listing_has_no_key(ns_store: Store) -> None:
    ns_store.set("/1/foo", False, "x")
    ns_store.set("/1/d/e", False, "y")
    body = encode_event(ns_store.get("/1", True, True), "/1")
    assert body == (
        b'{"action":"get","node":{"dir":true,"nodes":['
        b'{"key":"/d","dir":true,"nodes":[{"key":"/d/e","value":"y","modifiedIndex":2,'
        b'"createdIndex":2}],"modifiedIndex":2,"createdIndex":2},'
        b'{"key":"/foo","value":"x","modifiedIndex":1,"createdIndex":1}]}}'
    )


def test_trim_does_not_touch_values() -> None:
    e = Event(action="set", node=NodeExtern(key="/1/k", value='"key":"/1/x', modified_index=1))
    body = json.loads(encode_event(e, "/1"))
    assert body["node"] == {"key": "/k", "value": '"key":"/1/x', "modifiedIndex": 1}


def test_go_escaping_of_html_and_control_chars() -> None:
    e = Event(action="get", node=NodeExtern(key="/k", value="<>&\u2028\u2029\b\f\\b\n"))
    body = encode_event(e)
    assert body == (
        b'{"action":"get","node":{"key":"/k","value":'
        b'"\\u003c\\u003e\\u0026\\u2028\\u2029\\u0008\\u000c\\\\b\\n"}}'
    )


def _trim_reference(n: NodeExtern | None, prefix: str) -> dict[str, object] | None:
    if n is None:
        return None
    d: dict[str, object] = {}
    key = n.key[len(prefix) :] if n.key.startswith(prefix) else n.key
    if key:
        d["key"] = key
    if n.value is not None:
        d["value"] = n.value
    if n.dir:
        d["dir"] = True
    if n.nodes:
        d["nodes"] = [_trim_reference(c, prefix) for c in n.nodes]
    if n.modified_index:
        d["modifiedIndex"] = n.modified_index
    return d


_keys = st.sampled_from(["/1", "/1/a", "/1/_h", "/0/x", "/10", '/1/"key":"/1', "/1/<&>"])
_leaves = st.builds(
    NodeExtern,
    key=_keys,
    value=st.one_of(st.none(), st.text(max_size=8)),
    modified_index=st.integers(0, 5),
)
_nodes = st.recursive(
    _leaves,
    lambda kids: st.builds(
        NodeExtern,
        key=_keys,
        dir=st.just(True),
        nodes=st.tuples(kids, kids),
        modified_index=st.integers(0, 5),
    ),
    max_leaves=6,
)


@given(node=_nodes, prev=st.one_of(st.none(), _leaves))
def test_trim_matches_structural_trim(node: NodeExtern, prev: NodeExtern | None) -> None:
    body = json.loads(encode_event(Event(action="set", node=node, prev_node=prev), "/1"))
    assert body["node"] == _trim_reference(node, "/1")
    assert body.get("prevNode") == _trim_reference(prev, "/1")


def test_expiration_format_trims_fraction_zeros() -> None:
    assert format_expiration(1_700_000_000.0) == "2023-11-14T22:13:20Z"
    assert format_expiration(1_700_000_000.5) == "2023-11-14T22:13:20.5Z"
    assert format_expiration(1_700_000_000.123456) == "2023-11-14T22:13:20.123456Z"


def test_ttl_rounds_up() -> None:
    assert remaining_ttl(1000.0, 999.9) == 1
    assert remaining_ttl(1060.0, 1000.0) == 60
    assert remaining_ttl(1059.5, 1000.0) == 60
    assert remaining_ttl(1000.0, 1000.5) == 0
    assert remaining_ttl(1000.0, 1001.5) == -1


@given(now=st.floats(1e9, 3e9), ttl=st.integers(1, 10**6))
def test_ttl_of_fresh_key_is_exactly_requested(now: float, ttl: int) -> None:
    assert remaining_ttl(now + ttl, now) == ttl


def test_ttl_computed_when_view_is_built(store: Store, clock: ManualClock) -> None:
    store.set("/foo", False, "bar", TTLOptionSet(clock.wall() + 10))
    clock.advance(3.5)
    assert store.get("/foo").node.ttl == 7
