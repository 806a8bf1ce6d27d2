"""PyPI's ``python-etcd`` (0.4.5), unchanged, against each server kind.

The assertions are the behaviour an application sees through the client (results, indexes,
exception types), so they hold for the real etcd and must hold for ours.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import etcd
import pytest

from pycoreos.testing.procs import Member

pytestmark = [pytest.mark.e2e, pytest.mark.compat]


@pytest.fixture(scope="module")
def client(member: Member) -> Iterator[etcd.Client]:
    c = etcd.Client(host="127.0.0.1", port=member.client_port, protocol="http", read_timeout=10)
    yield c
    c.http.clear()


def test_write_read_contains(client: etcd.Client) -> None:
    w = client.write("/pe/k", "v1")
    assert w.action == "set"
    assert w.value == "v1"
    r = client.read("/pe/k")
    assert (r.key, r.value, r.modifiedIndex, r.createdIndex) == (
        "/pe/k",
        "v1",
        w.modifiedIndex,
        w.modifiedIndex,
    )
    assert r.etcd_index >= w.modifiedIndex
    assert "/pe/k" in client
    assert "/pe/nope" not in client
    assert client.get("/pe/k").value == "v1"
    with pytest.raises(etcd.EtcdKeyNotFound):
        client.read("/pe/nope")


def test_ttl_set_refresh_and_clear(client: etcd.Client) -> None:
    w = client.write("/pe/ttl", "t", ttl=100)
    assert 99 <= w.ttl <= 100
    assert w.expiration is not None
    r = client.refresh("/pe/ttl", ttl=200)
    assert r.value == "t"
    assert 199 <= r.ttl <= 200
    assert r.modifiedIndex > w.modifiedIndex
    cleared = client.write("/pe/ttl", "t2", prevExist=True)
    assert cleared.ttl is None
    assert cleared.expiration is None


def test_compare_and_swap(client: etcd.Client) -> None:
    w = client.write("/pe/cas", "one")
    swapped = client.test_and_set("/pe/cas", "two", "one")
    assert swapped.value == "two"
    assert swapped.createdIndex == w.createdIndex
    with pytest.raises(etcd.EtcdCompareFailed):
        client.test_and_set("/pe/cas", "three", "one")
    with pytest.raises(etcd.EtcdCompareFailed):
        client.write("/pe/cas", "three", prevIndex=w.modifiedIndex)
    by_index = client.write("/pe/cas", "three", prevIndex=swapped.modifiedIndex)
    assert by_index.value == "three"
    by_index.value = "four"
    updated = client.update(by_index)
    assert updated.value == "four"
    with pytest.raises(etcd.EtcdAlreadyExist):
        client.write("/pe/cas", "x", prevExist=False)
    created = client.write("/pe/cas-new", "x", prevExist=False)
    assert created.action == "create"


def test_delete_and_dirs(client: etcd.Client) -> None:
    client.write("/pe/d", None, dir=True)
    client.write("/pe/d/a", "1")
    client.write("/pe/d/b", "2")
    listing = client.read("/pe/d")
    assert listing.dir
    assert sorted(child.key for child in listing.leaves) == ["/pe/d/a", "/pe/d/b"]
    with pytest.raises(etcd.EtcdNotFile):
        client.delete("/pe/d")
    with pytest.raises(etcd.EtcdDirNotEmpty):
        client.delete("/pe/d", dir=True)
    d = client.delete("/pe/d/a")
    assert d.action == "delete"
    gone = client.delete("/pe/d", recursive=True)
    assert gone.action == "delete"
    with pytest.raises(etcd.EtcdKeyNotFound):
        client.read("/pe/d/b")


def test_in_order_keys(client: etcd.Client) -> None:
    made = [client.write("/pe/q", job, append=True) for job in ("a", "b", "c")]
    names = [m.key for m in made]
    assert names == sorted(names)
    assert all(len(n.rsplit("/", 1)[1]) == 20 for n in names)
    listing = client.read("/pe/q", recursive=True, sorted=True)
    assert [child.value for child in listing.children] == ["a", "b", "c"]
    popped = client.pop(names[0])
    assert popped.value == "a"


def test_watch_replay_and_live(client: etcd.Client) -> None:
    w = client.write("/pe/w", "first")
    replay = client.watch("/pe/w", index=w.modifiedIndex)
    assert (replay.action, replay.value) == ("set", "first")
    start = client.read("/pe/w").etcd_index + 1
    got: list[etcd.EtcdResult] = []
    t = threading.Thread(target=lambda: got.append(client.watch("/pe/w", index=start, timeout=10)))
    t.start()
    client.write("/pe/w", "second")
    t.join(15)
    assert [(g.action, g.value) for g in got] == [("set", "second")]


def test_recursive_eternal_watch(client: etcd.Client) -> None:
    a = client.write("/pe/ew/x", "1")
    client.write("/pe/ew/y", "2")
    events = client.eternal_watch("/pe/ew", index=a.modifiedIndex, recursive=True)
    assert [(e.key, e.value) for e in (next(events), next(events))] == [
        ("/pe/ew/x", "1"),
        ("/pe/ew/y", "2"),
    ]


def test_watch_timeout(client: etcd.Client) -> None:
    client.write("/pe/quiet", "q")
    with pytest.raises(etcd.EtcdWatchTimedOut):
        client.watch("/pe/quiet", timeout=0.3)


def test_members_leader_machines_stats(client: etcd.Client, member: Member) -> None:
    members = client.members
    assert len(members) == 1
    (only,) = members.values()
    assert only["name"] == "compat"
    assert only["clientURLs"] == [member.client_url]
    assert only["peerURLs"] == [member.peer_url]
    assert client.leader == only
    assert client.machines == [member.client_url]
    assert isinstance(client.version, str)
    assert isinstance(client.cluster_version, str)
    assert client.stats["name"] == "compat"
    assert client.stats["state"] == "StateLeader"
    assert client.leader_stats["leader"] == only["id"]
    assert client.store_stats["setsSuccess"] > 0
