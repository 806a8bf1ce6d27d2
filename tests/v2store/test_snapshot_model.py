"""Save/recovery round trips and a model test of set/get/delete against a dict (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pycoreos._clock import ManualClock
from pycoreos.v2store import Store, TTLOptionSet, V2Error, encode_event

from .conftest import NOW
from .helpers import v2err

_names = st.sampled_from(["a", "b", "_h", "c"])
_paths = st.lists(_names, min_size=1, max_size=3).map(lambda p: "/" + "/".join(p))
_ttls = st.one_of(st.none(), st.integers(1, 30))
_ops = st.one_of(
    st.tuples(st.just("set"), _paths, st.booleans(), st.text(max_size=3), _ttls),
    st.tuples(st.just("create"), _paths, st.booleans(), st.text(max_size=3), _ttls),
    st.tuples(st.just("update"), _paths, st.text(max_size=3), _ttls),
    st.tuples(st.just("cas"), _paths, st.text(max_size=2), st.integers(0, 5), st.text(max_size=3)),
    st.tuples(st.just("delete"), _paths, st.booleans(), st.booleans()),
    st.tuples(st.just("cad"), _paths, st.text(max_size=2), st.integers(0, 5)),
    st.tuples(st.just("expire"), st.integers(0, 40)),
)

Op = tuple[object, ...]


def _apply(s: Store, op: Op) -> bytes:
    """Apply ``op``; return the encoded event or error (the observable outcome)."""

    def ttl(t: object) -> TTLOptionSet:
        return TTLOptionSet(None if t is None else NOW + float(t))  # type: ignore[arg-type]

    try:
        match op:
            case ("set", p, d, v, t):
                return encode_event(s.set(p, d, v, ttl(t)))  # type: ignore[arg-type]
            case ("create", p, d, v, t):
                return encode_event(s.create(p, d, v, False, ttl(t)))  # type: ignore[arg-type]
            case ("update", p, v, t):
                return encode_event(s.update(p, v, ttl(t)))  # type: ignore[arg-type]
            case ("cas", p, pv, pi, v):
                return encode_event(s.compare_and_swap(p, pv, pi, v))  # type: ignore[arg-type]
            case ("delete", p, d, r):
                return encode_event(s.delete(p, d, r))  # type: ignore[arg-type]
            case ("cad", p, pv, pi):
                return encode_event(s.compare_and_delete(p, pv, pi))  # type: ignore[arg-type]
            case ("expire", t):
                evs = s.delete_expired_keys(NOW + t)  # type: ignore[operator]
                return b"".join(encode_event(e) for e in evs)
    except V2Error as err:
        return err.to_json()
    raise AssertionError(op)


def _observe(s: Store) -> list[bytes]:
    out = [encode_event(s.get("/", True, False)), s.json_stats()]
    for since in (1, max(1, s.index() - 3)):
        try:
            w = s.watch("/", recursive=True, since_index=since)
            e = w.next_event()
            out.append(encode_event(e) if e else b"-")
        except V2Error as err:
            out.append(err.to_json())
    return out


@settings(max_examples=60, deadline=None)
@given(before=st.lists(_ops, max_size=25), after=st.lists(_ops, max_size=10))
def test_save_recovery_gives_equal_store_and_same_behaviour(
    before: list[Op], after: list[Op]
) -> None:
    clock = ManualClock(wall=NOW)
    a = Store(clock)
    for op in before:
        _apply(a, op)
    data = a.save()
    b = Store(clock)
    b.recovery(data)
    assert b.save() == data
    assert b.index() == a.index()
    assert b.has_ttl_keys() == a.has_ttl_keys()
    for op in after:
        assert _apply(b, op) == _apply(a, op)
    assert _observe(b) == _observe(a)
    assert b.save() == a.save()


def test_clone_is_independent(store: Store) -> None:
    store.set("/a", False, "1")
    c = store.clone()
    c.set("/a", False, "2")
    assert store.get("/a").node.value == "1"
    assert c.index() == 2


def test_recovery_ends_live_watches_instead_of_skipping_events(store: Store) -> None:
    """A watch kept across a snapshot jump would miss the skipped events (track record #8)."""
    other = Store(ManualClock(wall=NOW))
    other.set("/x", False, "1")
    woken: list[bool] = []
    w = store.watch("/foo", stream=True)
    w.on_event = lambda: woken.append(True)
    store.recovery(other.save())
    assert w.removed
    assert woken, "the driver was not told the watch ended"
    store.set("/foo", False, "v")
    assert w.next_event() is None
    assert store.watcher_count == 0


def test_recovery_rebuilds_ttl_heap(store: Store, clock: ManualClock) -> None:
    store.set("/d/k", False, "v", TTLOptionSet(NOW + 5))
    r = Store(clock)
    r.recovery(store.save())
    events = r.delete_expired_keys(NOW + 5)
    assert [e.node.key for e in events] == ["/d/k"]


def test_recovery_restores_history_window(store: Store) -> None:
    for i in range(1002):
        store.set("/k", False, str(i))
    r = Store(ManualClock(wall=NOW))
    r.recovery(store.save())
    e = r.watch("/k", since_index=3).next_event()
    assert e is not None
    assert e.index == 3
    assert v2err(lambda: r.watch("/k", since_index=2)).cause == (
        "the requested history has been cleared [3/2]"
    )


_model_paths = st.sampled_from(["/a", "/b", "/c/d", "/c/e"])


@settings(max_examples=80, deadline=None)
@given(
    ops=st.lists(
        st.tuples(st.sampled_from(["set", "get", "delete"]), _model_paths, st.text(max_size=4)),
        max_size=40,
    )
)
def test_set_get_delete_match_a_dict(ops: list[tuple[str, str, str]]) -> None:
    s = Store(ManualClock(wall=NOW))
    model: dict[str, str] = {}
    index = 0
    for action, path, value in ops:
        if action == "set":
            e = s.set(path, False, value)
            index += 1
            assert (e.prev_node is None) == (path not in model)
            model[path] = value
        elif action == "get":
            if path in model:
                assert s.get(path).node.value == model[path]
            else:
                err = v2err(lambda: s.get(path))  # noqa: B023 - called immediately
                assert err.code == 100
                assert path.startswith(err.cause)
        elif path in model:
            e = s.delete(path)
            index += 1
            assert e.prev_node is not None
            assert e.prev_node.value == model.pop(path)
        else:
            assert v2err(lambda: s.delete(path)).code == 100  # noqa: B023 - called immediately
        assert s.index() == index
    listing = s.get("/", True, True).node
    flat = {}
    stack = list(listing.nodes)
    while stack:
        n = stack.pop()
        if n.dir:
            stack.extend(n.nodes)
        else:
            flat[n.key] = n.value
    assert flat == model
