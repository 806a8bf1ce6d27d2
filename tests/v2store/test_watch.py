"""Watches: wait, recursive, stream, waitIndex replay, 401, hidden filtering, deletes, overflow."""

from __future__ import annotations

from pycoreos._clock import ManualClock
from pycoreos.v2store import EVENT_QUEUE_CAPACITY, Store, TTLOptionSet, Watcher

from .helpers import v2err


def _drain(w: Watcher) -> list[tuple[str, str, int]]:
    out = []
    while (e := w.next_event()) is not None:
        out.append((e.action, e.node.key, e.index))
    return out


def test_wait_gets_next_event_on_key_then_is_removed(store: Store) -> None:
    w = store.watch("/foo")
    assert w.next_event() is None
    store.set("/foo", False, "bar")
    assert _drain(w) == [("set", "/foo", 1)]
    assert w.removed
    assert store.watcher_count == 0
    store.set("/foo", False, "baz")
    assert w.next_event() is None


def test_watch_start_index_is_store_index(store: Store) -> None:
    store.set("/x", False, "1")
    w = store.watch("/foo")
    store.set("/foo", False, "bar")
    assert (w.start_index, w.since_index) == (1, 2)


def test_non_recursive_ignores_children(store: Store) -> None:
    w = store.watch("/d")
    store.set("/d/k", False, "v")
    assert w.next_event() is None
    assert not w.removed


def test_recursive_gets_children(store: Store) -> None:
    w = store.watch("/d", recursive=True)
    store.set("/d/a/b", False, "v")
    assert _drain(w) == [("set", "/d/a/b", 1)]


def test_root_recursive_watch_sees_everything(store: Store) -> None:
    w = store.watch("/", recursive=True, stream=True)
    store.set("/a", False, "v")
    store.set("/b/c", False, "v")
    assert [k for _, k, _ in _drain(w)] == ["/a", "/b/c"]


def test_stream_keeps_receiving(store: Store) -> None:
    w = store.watch("/foo", stream=True)
    store.set("/foo", False, "1")
    store.set("/foo", False, "2")
    assert [i for _, _, i in _drain(w)] == [1, 2]
    assert not w.removed


def test_on_event_hook_called_after_enqueue(store: Store) -> None:
    w = store.watch("/foo", stream=True)
    seen: list[int] = []
    w.on_event = lambda: seen.append(len(w.event_queue))
    store.set("/foo", False, "1")
    assert seen == [1]


def test_hidden_child_not_delivered_to_recursive_parent(store: Store) -> None:
    w = store.watch("/d", recursive=True, stream=True)
    store.set("/d/_hidden", False, "x")
    store.set("/d/_hdir/k", False, "x")
    store.set("/d/visible", False, "x")
    assert [k for _, k, _ in _drain(w)] == ["/d/visible"]


def test_hidden_key_delivered_to_its_own_watcher(store: Store) -> None:
    w = store.watch("/d/_hidden")
    store.set("/d/_hidden", False, "x")
    assert _drain(w) == [("set", "/d/_hidden", 1)]


def test_watch_inside_hidden_dir_sees_its_children(store: Store) -> None:
    w = store.watch("/_h", recursive=True)
    store.set("/_h/k", False, "x")
    assert _drain(w) == [("set", "/_h/k", 1)]


def test_refresh_not_delivered(store: Store, clock: ManualClock) -> None:
    store.set("/foo", False, "bar", TTLOptionSet(clock.wall() + 10))
    w = store.watch("/foo", stream=True)
    store.update("/foo", "", TTLOptionSet(clock.wall() + 20, refresh=True))
    assert w.next_event() is None
    store.set("/foo", False, "x")
    assert _drain(w) == [("set", "/foo", 3)]


def test_refresh_not_replayed(store: Store, clock: ManualClock) -> None:
    store.set("/foo", False, "bar", TTLOptionSet(clock.wall() + 10))
    store.update("/foo", "", TTLOptionSet(clock.wall() + 20, refresh=True))
    w = store.watch("/foo", since_index=2)
    assert w.next_event() is None
    assert store.watcher_count == 1


def test_replay_from_since_index(store: Store) -> None:
    store.set("/foo", False, "1")
    store.set("/bar", False, "2")
    store.set("/foo", False, "3")
    w = store.watch("/foo", since_index=2)
    e = w.next_event()
    assert e is not None
    assert (e.index, e.etcd_index) == (3, 3)
    assert store.watcher_count == 0  # served from history, never registered


def test_replay_reports_current_index_as_etcd_index(store: Store) -> None:
    store.set("/foo", False, "1")
    store.set("/bar", False, "2")
    e = store.watch("/foo", since_index=1).next_event()
    assert e is not None
    assert (e.index, e.etcd_index) == (1, 2)


def test_replay_recursive(store: Store) -> None:
    store.set("/d/a", False, "1")
    e = store.watch("/d", recursive=True, since_index=1).next_event()
    assert e is not None
    assert e.node.key == "/d/a"


def test_replay_does_not_filter_hidden(store: Store) -> None:
    store.set("/d/_h", False, "1")
    e = store.watch("/d", recursive=True, since_index=1).next_event()
    assert e is not None
    assert e.node.key == "/d/_h"


def test_future_since_index_waits(store: Store) -> None:
    store.set("/foo", False, "1")
    w = store.watch("/foo", since_index=3)
    store.set("/foo", False, "2")
    assert w.next_event() is None
    store.set("/foo", False, "3")
    assert _drain(w) == [("set", "/foo", 3)]


def test_cleared_history_is_401_with_cause(store: Store) -> None:
    for i in range(1005):
        store.set("/foo", False, str(i))
    err = v2err(lambda: store.watch("/foo", since_index=5))
    assert (err.code, err.index, err.status_code) == (401, 1005, 400)
    assert err.cause == "the requested history has been cleared [6/5]"
    e = store.watch("/foo", since_index=6).next_event()
    assert e is not None
    assert e.index == 6


def test_history_is_global_not_per_key(store: Store) -> None:
    store.set("/foo", False, "x")
    for i in range(1000):
        store.set("/other", False, str(i))
    assert v2err(lambda: store.watch("/foo", since_index=1)).code == 401


def test_dir_delete_notifies_descendant_watchers(store: Store) -> None:
    store.set("/d/sub/k", False, "v")
    w = store.watch("/d/sub/k")
    e = store.delete("/d", recursive=True)
    got = w.next_event()
    assert got is e
    assert got.node.key == "/d"


def test_dir_expire_notifies_descendant_watchers(store: Store, clock: ManualClock) -> None:
    store.set("/d", True, "", TTLOptionSet(clock.wall() + 1))
    store.set("/d/k", False, "v")
    w = store.watch("/d/k")
    store.delete_expired_keys(clock.wall() + 1)
    assert _drain(w) == [("expire", "/d", 3)]


def test_replay_of_dir_delete_matches_descendant_key(store: Store) -> None:
    store.set("/d/k", False, "v")
    store.delete("/d", recursive=True)
    e = store.watch("/d/k", since_index=2).next_event()
    assert e is not None
    assert (e.action, e.node.key) == ("delete", "/d")


def test_stream_watcher_on_deleted_key_gets_event_twice_like_etcd(store: Store) -> None:
    store.set("/foo", False, "v")
    w = store.watch("/foo", stream=True)
    store.delete("/foo")
    assert _drain(w) == [("delete", "/foo", 2), ("delete", "/foo", 2)]


def test_overflow_removes_stream_watcher(store: Store) -> None:
    w = store.watch("/foo", stream=True)
    woken: list[bool] = []
    w.on_event = lambda: woken.append(w.removed)
    for i in range(EVENT_QUEUE_CAPACITY):
        store.set("/foo", False, str(i))
    assert not w.removed
    store.set("/foo", False, "overflow")
    assert w.removed
    assert woken[-1] is True
    assert store.watcher_count == 0
    assert len(_drain(w)) == EVENT_QUEUE_CAPACITY
    store.set("/foo", False, "after")
    assert w.next_event() is None


def test_remove_unregisters(store: Store) -> None:
    w = store.watch("/foo", stream=True)
    assert store.watcher_count == 1
    w.remove()
    w.remove()
    assert store.watcher_count == 0
    store.set("/foo", False, "x")
    assert w.next_event() is None


def test_watch_path_is_cleaned(store: Store) -> None:
    w = store.watch("foo/")
    store.set("/foo", False, "x")
    assert _drain(w) == [("set", "/foo", 1)]


def test_failed_write_notifies_nobody(store: Store) -> None:
    store.set("/foo", False, "one")
    w = store.watch("/foo")
    v2err(lambda: store.compare_and_swap("/foo", "nope", 0, "x"))
    assert w.next_event() is None
