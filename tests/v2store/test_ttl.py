"""TTLs: expiry events, refresh, permanence rules, expiry order, directory expiry."""

from __future__ import annotations

from pycoreos._clock import ManualClock
from pycoreos.v2store import Store, TTLOptionSet

from .helpers import v2err


def _ttl(clock: ManualClock, seconds: float, refresh: bool = False) -> TTLOptionSet:
    return TTLOptionSet(clock.wall() + seconds, refresh)


def test_key_expires_at_cutoff_with_expire_event(store: Store, clock: ManualClock) -> None:
    store.set("/foo", False, "bar", _ttl(clock, 10))
    assert store.delete_expired_keys(clock.wall() + 9.999) == []
    events = store.delete_expired_keys(clock.wall() + 10)
    assert [(e.action, e.node.key, e.index, e.etcd_index) for e in events] == [
        ("expire", "/foo", 2, 2)
    ]
    prev = events[0].prev_node
    assert prev is not None
    assert prev.value == "bar"
    assert events[0].node.value is None
    assert v2err(lambda: store.get("/foo")).code == 100
    assert store.stats.expire_count == 1


def test_expiry_in_expiry_order_each_at_new_index(store: Store, clock: ManualClock) -> None:
    store.set("/c", False, "", _ttl(clock, 30))
    store.set("/a", False, "", _ttl(clock, 10))
    store.set("/b", False, "", _ttl(clock, 20))
    events = store.delete_expired_keys(clock.wall() + 100)
    assert [(e.node.key, e.index) for e in events] == [("/a", 4), ("/b", 5), ("/c", 6)]
    assert not store.has_ttl_keys()


def test_has_ttl_keys(store: Store, clock: ManualClock) -> None:
    assert not store.has_ttl_keys()
    store.set("/foo", False, "bar", _ttl(clock, 10))
    assert store.has_ttl_keys()
    store.delete("/foo")
    assert not store.has_ttl_keys()


def test_update_without_ttl_makes_key_permanent(store: Store, clock: ManualClock) -> None:
    store.set("/foo", False, "bar", _ttl(clock, 10))
    e = store.update("/foo", "baz")
    assert (e.node.ttl, e.node.expiration) == (0, None)
    assert store.delete_expired_keys(clock.wall() + 100) == []
    assert store.get("/foo").node.value == "baz"


def test_cas_without_ttl_makes_key_permanent(store: Store, clock: ManualClock) -> None:
    store.set("/foo", False, "bar", _ttl(clock, 10))
    store.compare_and_swap("/foo", "bar", 0, "baz")
    assert not store.has_ttl_keys()


def test_update_can_add_and_change_ttl(store: Store, clock: ManualClock) -> None:
    store.set("/foo", False, "bar")
    assert store.update("/foo", "bar", _ttl(clock, 10)).node.ttl == 10
    store.update("/foo", "bar", _ttl(clock, 50))
    assert store.delete_expired_keys(clock.wall() + 20) == []
    assert len(store.delete_expired_keys(clock.wall() + 50)) == 1


def test_refresh_keeps_value_bumps_index_and_extends(store: Store, clock: ManualClock) -> None:
    store.set("/foo", False, "bar", _ttl(clock, 10))
    e = store.update("/foo", "", _ttl(clock, 100, refresh=True))
    assert (e.action, e.node.value, e.node.modified_index, e.refresh) == ("update", "bar", 2, True)
    assert store.delete_expired_keys(clock.wall() + 50) == []
    assert store.get("/foo").node.ttl == 100


def test_set_refresh_keeps_value(store: Store, clock: ManualClock) -> None:
    store.set("/foo", False, "bar", _ttl(clock, 10))
    e = store.set("/foo", False, "", _ttl(clock, 20, refresh=True))
    assert (e.node.value, e.refresh) == ("bar", True)


def test_set_refresh_of_missing_key_is_100(store: Store, clock: ManualClock) -> None:
    assert v2err(lambda: store.set("/nope", False, "", _ttl(clock, 5, True))).code == 100


def test_cas_refresh_keeps_value(store: Store, clock: ManualClock) -> None:
    store.set("/foo", False, "bar", _ttl(clock, 10))
    e = store.compare_and_swap("/foo", "bar", 0, "", _ttl(clock, 20, refresh=True))
    assert (e.node.value, e.refresh, e.node.ttl) == ("bar", True, 20)


def test_expire_time_before_2000_is_permanent_on_create(store: Store) -> None:
    e = store.set("/foo", False, "bar", TTLOptionSet(946684799.0))
    assert e.node.expiration is None
    assert not store.has_ttl_keys()


def test_dir_expiry_removes_subtree(store: Store, clock: ManualClock) -> None:
    store.set("/d", True, "", _ttl(clock, 10))
    store.set("/d/k", False, "v", _ttl(clock, 10))
    store.set("/d/sub/k2", False, "v")
    events = store.delete_expired_keys(clock.wall() + 10)
    assert [(e.node.key, e.node.dir) for e in events] == [("/d", True)]
    assert v2err(lambda: store.get("/d/sub/k2")).code == 100
    assert not store.has_ttl_keys()


def test_dir_ttl_refresh_via_update(store: Store, clock: ManualClock) -> None:
    store.set("/d", True, "", _ttl(clock, 10))
    e = store.update("/d", "", _ttl(clock, 60))
    assert (e.node.dir, e.node.ttl) == (True, 60)
    assert store.delete_expired_keys(clock.wall() + 30) == []


def test_replaced_ttl_key_leaves_heap(store: Store, clock: ManualClock) -> None:
    store.set("/foo", False, "bar", _ttl(clock, 10))
    store.set("/foo", False, "baz")
    assert store.delete_expired_keys(clock.wall() + 100) == []
    assert store.get("/foo").node.value == "baz"


def test_recursive_delete_drops_ttl_children(store: Store, clock: ManualClock) -> None:
    store.set("/d/k", False, "v", _ttl(clock, 10))
    store.delete("/d", recursive=True)
    assert not store.has_ttl_keys()


def test_expired_but_not_yet_deleted_key_shows_nonpositive_ttl(
    store: Store, clock: ManualClock
) -> None:
    store.set("/foo", False, "bar", _ttl(clock, 1))
    clock.advance(2.5)
    assert store.get("/foo").node.ttl == -1
