"""Scripted scenarios on SimCluster: whole members elect, replicate, crash, recover, catch up."""

from __future__ import annotations

import asyncio

import pytest

from pycoreos.raft.types import StateType
from pycoreos.server.errors import ServerError
from pycoreos.server.requests import V2Request
from pycoreos.testing.sim.cluster import MemberGoneError, MemberOptions, SimCluster
from pycoreos.v2store.errors import V2Error


@pytest.fixture
def make():
    clusters: list[SimCluster] = []

    def _make(seed: int = 1, members: int = 3, **options: int) -> SimCluster:
        c = SimCluster(seed, members, options=MemberOptions(**options))
        clusters.append(c)
        return c

    yield _make
    for c in clusters:
        c.close()


def put(c: SimCluster, name: str, key: str, value: str, timeout: float = 5.0) -> int:
    req = V2Request(id=c.request_id(name), method="PUT", path=key, val=value)
    ev = c.run(asyncio.wait_for(c.propose(name, req), timeout))
    return ev.node.modified_index


def get(c: SimCluster, name: str, key: str, timeout: float = 5.0) -> str | None:
    return c.run(asyncio.wait_for(c.quorum_get(name, key), timeout)).node.value


def started(c: SimCluster, seconds: float = 3.0) -> str:
    c.start_all()
    c.run_for(seconds)
    leader = c.leader()
    assert leader is not None
    return leader


def followers(c: SimCluster, leader: str) -> list[str]:
    return [n for n in sorted(c.members) if n != leader]


@pytest.mark.parametrize("members", [3, 5])
def test_one_leader_and_replicated_writes(make, members):
    c = make(members=members)
    leader = started(c)
    states = [m.server.node.raw.raft_state for m in c.members.values() if m.server]
    assert states.count(StateType.Leader) == 1
    follower = followers(c, leader)[0]
    idx = put(c, follower, "/1/a", "x")  # proposed on a follower, forwarded
    assert get(c, leader, "/1/a") == "x"
    c.run_for(1.0)
    views = {n: c.view(n) for n in c.members}
    assert {v.keys for v in views.values()} == {(("/1/a", "x", idx, idx),)}
    assert c.violations == []


def test_acknowledged_writes_survive_crashing_every_member_with_torn_tails(make):
    c = make(seed=3)
    leader = started(c)
    acked = {f"/1/k{i}": f"v{i}" for i in range(20)}
    for key, value in acked.items():
        put(c, leader, key, value)
    for name in sorted(c.members):
        c.crash(name, tear=True, zero_fill=name == "n2")
    c.start_all()
    c.run_for(4.0)
    leader = c.leader()
    assert leader is not None
    for key, value in acked.items():
        assert get(c, leader, key) == value
    assert c.violations == []
    assert c.crashes == 3


def test_crash_at_a_failpoint_stops_the_member_there(make):
    c = make(seed=4)
    leader = started(c)
    c.crash_at(leader, "raft_before_save")
    with pytest.raises((TimeoutError, ServerError)):
        put(c, leader, "/1/a", "x", timeout=2.0)
    assert not c.members[leader].up
    assert any("failpoint raft_before_save hit" in line for line in c.trace.tail)
    c.restart(leader)
    c.run_for(3.0)
    new_leader = c.leader()
    assert new_leader is not None
    put(c, new_leader, "/1/b", "y")
    c.run_for(1.0)
    assert c.violations == []
    assert all(m.up for m in c.members.values())


def test_a_member_behind_the_compacted_log_catches_up_by_snapshot(make):
    c = make(seed=5, snapshot_count=10, catchup_entries=2)
    leader = started(c)
    lagging = followers(c, leader)[0]
    c.crash(lagging)
    for i in range(40):
        put(c, leader, f"/1/k{i % 4}", f"v{i}")
    c.restart(lagging)
    c.run_for(3.0)
    assert any(f"{lagging}#2 applies snapshot" in line for line in c.trace.tail)
    views = {n: c.view(n) for n in sorted(c.members)}
    assert len({v.keys for v in views.values()}) == 1
    assert c.violations == []


def test_an_isolated_old_leader_neither_acknowledges_writes_nor_answers_quorum_reads(make):
    c = make(seed=6)
    old = started(c)
    put(c, old, "/1/a", "before")
    c.net.isolate(old)
    with pytest.raises((TimeoutError, ServerError)):
        put(c, old, "/1/a", "lost", timeout=4.0)
    with pytest.raises((TimeoutError, ServerError)):
        get(c, old, "/1/a", timeout=4.0)
    majority = followers(c, old)
    new = c.leader()
    assert new in majority
    put(c, new, "/1/a", "after")
    c.net.heal()
    c.run_for(3.0)
    assert get(c, old, "/1/a") == "after"
    assert c.violations == []


def test_an_isolated_follower_rejoins_without_an_election(make):
    c = make(seed=8)
    leader = started(c)
    follower = followers(c, leader)[0]
    terms = {n: m.server.node.raw.term for n, m in c.members.items() if m.server}
    c.net.isolate(follower)
    c.run_for(5.0)  # several election timeouts: pre-vote keeps its term
    c.net.heal()
    c.run_for(2.0)
    assert c.leader() == leader
    assert {n: m.server.node.raw.term for n, m in c.members.items() if m.server} == terms


def test_requests_to_a_down_member_fail_fast(make):
    c = make()
    leader = started(c)
    c.crash(leader)
    with pytest.raises(MemberGoneError):
        c.request_id(leader)
    with pytest.raises(MemberGoneError):
        c.run(c.quorum_get(leader, "/1/a"))


def test_store_errors_are_definite_answers(make):
    c = make()
    leader = started(c)
    with pytest.raises(V2Error) as info:
        get(c, leader, "/1/missing")
    assert info.value.code == 100


def test_restart_after_a_crash_between_snapshot_file_and_wal_marker(make, monkeypatch):
    from pycoreos.testing.sim.loop import OWNER, SimCrashError
    from pycoreos.wal.wal import WAL

    c = make(seed=9, snapshot_count=5, catchup_entries=2)
    leader = started(c)
    victim = followers(c, leader)[0]
    save_snapshot = WAL.save_snapshot

    def crash_before_marker(self, snap):
        if OWNER.get() == c.members[victim].owner:
            c.crash(victim)  # the snapshot file is already durable; the marker never is
            raise SimCrashError("power cut before the WAL snapshot marker")
        save_snapshot(self, snap)

    monkeypatch.setattr(WAL, "save_snapshot", crash_before_marker)
    for i in range(8):
        put(c, leader, f"/1/k{i}", "v")
    assert not c.members[victim].up
    monkeypatch.setattr(WAL, "save_snapshot", save_snapshot)
    assert c.restart(victim), [str(v) for v in c.violations]


def test_a_follower_never_acknowledges_a_snapshot_it_could_lose(make):
    from pycoreos.raft.types import ConfState
    from pycoreos.wal.record import WalSnapshot
    from pycoreos.wal.wal import WAL, valid_snapshot_entries

    c = make(seed=10, snapshot_count=5, catchup_entries=2)
    leader = started(c)
    victim = followers(c, leader)[0]
    c.crash(victim)
    for i in range(20):
        put(c, leader, f"/1/k{i}", "v")  # the leader compacts past the victim's log
    c.restart(victim)
    node = c.members[victim].server.node
    install = node._apply_snapshot

    def install_then_crash_at_next_save(snap):
        install(snap)
        # This Ready's own save is hit 1; crash at the next Ready's, after the ack went out.
        c.crash_at(victim, "raft_before_save", hits=2)

    node._apply_snapshot = install_then_crash_at_next_save
    c.run_for(2.0)
    assert not c.members[victim].up, "the snapshot was never installed"
    acked = c.members[leader].server.node.raw.raft.prs.progress[c.members[victim].member_id].match
    disk, wal_dir = c.members[victim].disk, f"/sim/{victim}/member/wal"
    marks = valid_snapshot_entries(disk, wal_dir)
    at = max(marks, key=lambda s: s.index, default=WalSnapshot(0, 0, ConfState()))
    wal = WAL.open(disk, wal_dir, at, read_only=True)
    _, _, entries = wal.read_all()
    durable = max([at.index, *(e.index for e in entries)])
    assert acked <= durable, f"acknowledged {acked}, but only {durable} survives a crash"
