"""Store operations: actions, indexes, directories, hidden keys, in-order keys, stats."""

from __future__ import annotations

import json

from pycoreos.v2store import Store

from .helpers import v2err


def test_first_write_is_index_1_and_get_reports_current_index(store: Store) -> None:
    e = store.set("/foo", False, "bar")
    assert (e.action, e.index, e.etcd_index, store.index()) == ("set", 1, 1, 1)
    g = store.get("/foo")
    assert (g.action, g.node.value, g.etcd_index) == ("get", "bar", 1)


def test_set_new_key_is_created_and_has_no_prev(store: Store) -> None:
    e = store.set("/foo", False, "bar")
    assert e.prev_node is None
    assert e.is_created


def test_set_replace_resets_created_index(store: Store) -> None:
    store.set("/foo", False, "one")
    e = store.set("/foo", False, "two")
    assert (e.node.created_index, e.node.modified_index) == (2, 2)
    assert e.prev_node is not None
    assert e.prev_node.value == "one"
    assert not e.is_created


def test_set_creates_intermediate_dirs_at_write_index(store: Store) -> None:
    store.set("/x", False, "1")
    store.set("/a/b/c", False, "v")
    a = store.get("/a").node
    assert (a.dir, a.created_index, a.modified_index) == (True, 2, 2)


def test_path_is_cleaned(store: Store) -> None:
    store.set("//a/./b/", False, "v")
    assert store.get("/a/b").node.value == "v"
    assert store.set("a/../c", False, "w").node.key == "/c"


def test_get_keeps_path_as_given(store: Store) -> None:
    store.set("/a", False, "v")
    assert store.get("/a/").node.key == "/a/"


def test_create_then_create_again_is_105(store: Store) -> None:
    store.create("/foo", False, "bar", False)
    err = v2err(lambda: store.create("/foo", False, "baz", False))
    assert (err.code, err.cause, err.index, err.status_code) == (105, "/foo", 1, 412)


def test_create_action_and_created(store: Store) -> None:
    e = store.create("/foo", False, "bar", False)
    assert (e.action, e.is_created) == ("create", True)


def test_update_keeps_created_index(store: Store) -> None:
    store.set("/foo", False, "one")
    store.set("/other", False, "x")
    e = store.update("/foo", "two")
    assert (e.action, e.node.value, e.node.created_index, e.node.modified_index) == (
        "update", "two", 1, 3,
    )  # fmt: skip
    assert e.prev_node is not None
    assert e.prev_node.value == "one"
    assert store.get("/foo").node.modified_index == 3


def test_update_missing_is_100(store: Store) -> None:
    err = v2err(lambda: store.update("/nope", "x"))
    assert (err.code, err.cause, err.status_code) == (100, "/nope", 404)


def test_update_dir_with_value_is_102(store: Store) -> None:
    store.set("/d", True, "")
    assert v2err(lambda: store.update("/d", "x")).code == 102


def test_update_dir_without_value_is_ok_and_dir(store: Store) -> None:
    store.set("/d", True, "")
    e = store.update("/d", "")
    assert (e.node.dir, e.node.value, e.node.modified_index) == (True, None, 2)
    # etcd does not write a directory's modifiedIndex on update.
    assert store.get("/d").node.modified_index == 1


def test_get_missing_is_100_with_full_path(store: Store) -> None:
    store.set("/a", True, "")
    err = v2err(lambda: store.get("/a/b/c"))
    assert (err.code, err.cause) == (100, "/a/b")


def test_path_through_key_is_104(store: Store) -> None:
    store.set("/a", False, "v")
    err = v2err(lambda: store.get("/a/b"))
    assert (err.code, err.cause, err.status_code) == (104, "/a", 400)
    assert v2err(lambda: store.set("/a/b", False, "x")).code == 104


def test_create_under_key_is_104_and_counted_twice(store: Store) -> None:
    store.set("/a", False, "v")
    err = v2err(lambda: store.create("/a/b", False, "x", False))
    assert (err.code, err.cause) == (104, "/a")
    # etcd's internalCreate counts a SetFail besides the CreateFail.
    assert (store.stats.create_fail, store.stats.sets_fail) == (1, 1)


def test_post_under_key_is_104(store: Store) -> None:
    store.set("/q", False, "v")
    assert v2err(lambda: store.create("/q", False, "job", True)).code == 104


def test_set_value_on_dir_is_102(store: Store) -> None:
    store.set("/d", True, "")
    err = v2err(lambda: store.set("/d", False, "x"))
    assert (err.code, err.status_code) == (102, 403)
    assert v2err(lambda: store.set("/d", True, "")).code == 102


def test_root_is_read_only_107(store: Store) -> None:
    assert v2err(lambda: store.set("/", False, "x")).code == 107
    assert v2err(lambda: store.create("/", True, "", False)).code == 107
    assert v2err(lambda: store.update("/", "")).code == 107
    assert v2err(lambda: store.delete("/", True, True)).code == 107
    err = v2err(lambda: store.compare_and_swap("/", "a", 0, "b"))
    assert (err.code, err.cause, err.status_code) == (107, "/", 400)


def test_namespaces_are_read_only_dirs(ns_store: Store) -> None:
    assert v2err(lambda: ns_store.set("/1", False, "x")).code == 107
    assert v2err(lambda: ns_store.delete("/0", True, True)).code == 107
    assert ns_store.get("/1").node.dir
    ns_store.set("/1/foo", False, "x")  # below the namespace is writable


def test_compare_and_delete_on_root_is_102(ns_store: Store) -> None:
    assert v2err(lambda: ns_store.compare_and_delete("/1", "x", 0)).code == 102


def test_cas_value_mismatch_cause(store: Store) -> None:
    store.set("/foo", False, "one")
    err = v2err(lambda: store.compare_and_swap("/foo", "two", 0, "three"))
    assert (err.code, err.cause, err.index, err.status_code) == (101, "[two != one]", 1, 412)


def test_cas_index_mismatch_cause(store: Store) -> None:
    store.set("/foo", False, "one")
    err = v2err(lambda: store.compare_and_swap("/foo", "", 8, "three"))
    assert err.cause == "[8 != 1]"


def test_cas_both_mismatch_cause(store: Store) -> None:
    store.set("/foo", False, "one")
    err = v2err(lambda: store.compare_and_swap("/foo", "two", 8, "three"))
    assert err.cause == "[two != one] [8 != 1]"


def test_cas_one_condition_failing_fails(store: Store) -> None:
    store.set("/foo", False, "one")
    assert v2err(lambda: store.compare_and_swap("/foo", "one", 8, "x")).cause == "[8 != 1]"


def test_cas_success(store: Store) -> None:
    store.set("/foo", False, "one")
    e = store.compare_and_swap("/foo", "one", 1, "two")
    assert (e.action, e.node.value, e.node.created_index, e.node.modified_index) == (
        "compareAndSwap", "two", 1, 2,
    )  # fmt: skip
    assert e.prev_node is not None
    assert e.prev_node.value == "one"


def test_cas_on_dir_is_102_and_missing_is_100(store: Store) -> None:
    store.set("/d", True, "")
    assert v2err(lambda: store.compare_and_swap("/d", "a", 0, "b")).code == 102
    assert v2err(lambda: store.compare_and_swap("/nope", "a", 0, "b")).code == 100


def test_cad(store: Store) -> None:
    store.set("/foo", False, "one")
    err = v2err(lambda: store.compare_and_delete("/foo", "two", 0))
    assert (err.code, err.cause) == (101, "[two != one]")
    e = store.compare_and_delete("/foo", "one", 1)
    assert (e.action, e.node.modified_index, e.node.value) == ("compareAndDelete", 2, None)
    assert v2err(lambda: store.get("/foo")).code == 100


def test_cad_on_dir_is_102(store: Store) -> None:
    store.set("/d", True, "")
    assert v2err(lambda: store.compare_and_delete("/d", "", 1)).code == 102


def test_delete_key(store: Store) -> None:
    store.set("/foo", False, "bar")
    e = store.delete("/foo")
    assert (e.action, e.node.modified_index, e.node.created_index) == ("delete", 2, 1)
    assert e.prev_node is not None
    assert e.prev_node.value == "bar"


def test_delete_key_with_dir_flag_is_allowed(store: Store) -> None:
    store.set("/foo", False, "bar")
    assert store.delete("/foo", dir=True).action == "delete"


def test_delete_dir_without_dir_is_102(store: Store) -> None:
    store.set("/d", True, "")
    err = v2err(lambda: store.delete("/d"))
    assert (err.code, err.cause, err.status_code) == (102, "/d", 403)
    assert store.index() == 1


def test_delete_non_empty_dir_needs_recursive_108(store: Store) -> None:
    store.set("/d/k", False, "v")
    err = v2err(lambda: store.delete("/d", dir=True))
    assert (err.code, err.cause, err.status_code) == (108, "/d", 403)
    e = store.delete("/d", recursive=True)
    assert e.node.dir
    assert v2err(lambda: store.get("/d/k")).code == 100


def test_delete_missing_is_100(store: Store) -> None:
    assert v2err(lambda: store.delete("/nope")).code == 100


def test_non_recursive_listing_shows_child_dirs_without_nodes(store: Store) -> None:
    store.set("/d/sub/k", False, "v")
    store.set("/d/k", False, "w")
    nodes = store.get("/d", False, True).node.nodes
    assert [(n.key, n.dir, n.nodes) for n in nodes] == [("/d/k", False, ()), ("/d/sub", True, ())]


def test_recursive_sorted_listing(store: Store) -> None:
    for k in ["/d/b", "/d/a/y", "/d/c", "/d/a/x"]:
        store.set(k, False, k)
    d = store.get("/d", True, True).node
    assert [n.key for n in d.nodes] == ["/d/a", "/d/b", "/d/c"]
    assert [n.key for n in d.nodes[0].nodes] == ["/d/a/x", "/d/a/y"]


def test_unsorted_listing_is_insertion_order(store: Store) -> None:
    for k in ["/d/b", "/d/a", "/d/c"]:
        store.set(k, False, "v")
    assert [n.key for n in store.get("/d").node.nodes] == ["/d/b", "/d/a", "/d/c"]


def test_hidden_keys_not_listed_but_gettable(store: Store) -> None:
    store.set("/d/_hidden", False, "h")
    store.set("/d/visible", False, "v")
    store.set("/d/_hdir/k", False, "x")
    assert [n.key for n in store.get("/d", True, True).node.nodes] == ["/d/visible"]
    assert store.get("/d/_hidden").node.value == "h"


def test_empty_dir_has_no_nodes_field(store: Store) -> None:
    from pycoreos.v2store import encode_event

    store.set("/d", True, "")
    assert "nodes" not in json.loads(encode_event(store.get("/d", True, False)))["node"]


def test_in_order_keys(store: Store) -> None:
    store.set("/other", False, "x")
    e1 = store.create("/queue", False, "Job1", True)
    e2 = store.create("/queue", True, "", True)
    assert e1.node.key == "/queue/00000000000000000002"
    assert (e2.node.key, e2.node.dir) == ("/queue/00000000000000000003", True)
    assert e1.action == "create"


def test_failed_ops_do_not_advance_index(store: Store) -> None:
    store.set("/foo", False, "one")
    v2err(lambda: store.compare_and_swap("/foo", "x", 0, "y"))
    v2err(lambda: store.create("/foo", False, "y", False))
    assert store.index() == 1


def test_stats_counters(store: Store) -> None:
    store.set("/a", False, "1")
    store.get("/a")
    v2err(lambda: store.get("/b"))
    store.create("/c", False, "1", False)
    store.update("/c", "2")
    store.compare_and_swap("/c", "2", 0, "3")
    store.compare_and_delete("/c", "3", 0)
    v2err(lambda: store.delete("/zz"))
    store.watch("/a")
    stats = json.loads(store.json_stats())
    assert list(stats) == [
        "getsSuccess", "getsFail", "setsSuccess", "setsFail", "deleteSuccess", "deleteFail",
        "updateSuccess", "updateFail", "createSuccess", "createFail", "compareAndSwapSuccess",
        "compareAndSwapFail", "compareAndDeleteSuccess", "compareAndDeleteFail", "expireCount",
        "watchers",
    ]  # fmt: skip
    assert stats["getsSuccess"] == 1
    assert stats["getsFail"] == 1
    assert stats["setsSuccess"] == 1
    assert stats["createSuccess"] == 1
    assert stats["updateSuccess"] == 1
    assert stats["compareAndSwapSuccess"] == 1
    assert stats["compareAndDeleteSuccess"] == 1
    assert stats["deleteFail"] == 1
    assert stats["watchers"] == 1
