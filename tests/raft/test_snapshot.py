"""Snapshots to followers behind the compacted log (thesis §5.1 / paper §7).

Ported in spirit from etcd-io/raft's TestSendingSnapshotSetPendingSnapshot,
TestSnapshotFailure/Succeed/Abort, TestRestoreIgnoreSnapshot and TestProvideSnap tests.
"""

from __future__ import annotations

from pycoreos.raft import (
    ConfState,
    Entry,
    HardState,
    Message,
    MessageType,
    ProgressState,
    Snapshot,
    SnapshotMetadata,
)
from pycoreos.testing.raft_env import (
    RaftNetwork,
    new_test_raft,
    read_messages,
    storage_with,
)

MT = MessageType


def lagging_net(seed: int = 3) -> RaftNetwork:
    """Node 3 misses a few entries which the leader then compacts away."""
    net = RaftNetwork([1, 2, 3], seed=seed)
    net.campaign(1)
    net.isolate(3)
    for i in range(5):
        net.propose(1, b"e%d" % i)
    applied = net.nodes[1].status().applied
    net.compact(1, applied)
    assert net.storages[1].first_index() == applied + 1
    return net


def test_lagging_follower_receives_snapshot_and_catches_up():
    net = lagging_net()
    net.recover()
    net.tick_all(2)
    assert any("MsgSnap" in line for line in net.trace)
    assert net.applied[3] == net.applied[1] == [b"e%d" % i for i in range(5)]
    assert net.storages[3].snapshot().metadata.index == net.storages[1].snapshot().metadata.index
    net.propose(1, b"after")
    assert net.applied[3][-1] == b"after"
    pr = net.nodes[1].status().progress[3]
    assert pr.state == ProgressState.REPLICATE
    assert pr.match == net.nodes[1].status().hard_state.commit


def test_failed_snapshot_is_retried():
    net = lagging_net()
    net.recover()
    net.ignore(MT.MsgSnap)  # the transport fails: the env reports FAILURE
    net.tick_all(1)
    pr = net.nodes[1].status().progress[3]
    assert pr.state == ProgressState.PROBE
    assert pr.pending_snapshot == 0
    assert pr.paused  # waits for the next heartbeat response before probing again
    assert net.applied[3] == []
    net.recover()
    net.tick_all(3)
    assert net.applied[3] == net.applied[1]


def test_restart_from_snapshot_keeps_membership_and_state():
    net = lagging_net()
    net.recover()
    net.tick_all(2)
    net.restart(3)
    assert net.nodes[3].status().conf_state.voters == (1, 2, 3)
    assert net.applied[3] == [b"e%d" % i for i in range(5)]
    net.propose(1, b"x")
    net.tick_all(2)
    assert net.applied[3][-1] == b"x"


def snap(index: int, term: int, voters: tuple[int, ...] = (1, 2)) -> Snapshot:
    return Snapshot(
        data=b"s",
        metadata=SnapshotMetadata(conf_state=ConfState(voters=voters), index=index, term=term),
    )


def test_follower_ignores_snapshot_not_newer_than_commit():
    st = storage_with([1, 2], [Entry(1, 1), Entry(1, 2), Entry(1, 3)])
    r = new_test_raft(1, [1, 2], storage=st)
    r._load_state(HardState(term=1, commit=3))
    r.become_follower(1, 2)
    r.step(Message(type=MT.MsgSnap, from_=2, to=1, term=1, snapshot=snap(2, 1)))
    assert read_messages(r) == [Message(type=MT.MsgAppResp, from_=1, to=2, term=1, index=3)]
    assert r.raft_log.unstable.snapshot is None


def test_snapshot_matching_log_only_fast_forwards_commit():
    st = storage_with([1, 2], [Entry(1, 1), Entry(1, 2), Entry(1, 3)])
    r = new_test_raft(1, [1, 2], storage=st)
    r._load_state(HardState(term=1, commit=1))
    r.become_follower(1, 2)
    r.step(Message(type=MT.MsgSnap, from_=2, to=1, term=1, snapshot=snap(3, 1)))
    assert r.raft_log.committed == 3
    assert r.raft_log.unstable.snapshot is None


def test_snapshot_restores_log_and_membership():
    r = new_test_raft(1, [1, 2])
    r.become_follower(2, 2)
    r.step(Message(type=MT.MsgSnap, from_=2, to=1, term=2, snapshot=snap(11, 2, (1, 2, 3))))
    assert r.raft_log.last_index() == 11
    assert r.raft_log.committed == 11
    assert r.raft_log.term(11) == 2
    assert r.prs.conf_state().voters == (1, 2, 3)
    assert read_messages(r) == [Message(type=MT.MsgAppResp, from_=1, to=2, term=2, index=11)]
    # A node waiting on an unpersisted snapshot must not campaign.
    assert not r.promotable()


def test_snapshot_not_containing_us_is_refused():
    r = new_test_raft(3, [1, 2, 3])
    r.become_follower(2, 2)
    r.step(Message(type=MT.MsgSnap, from_=2, to=3, term=2, snapshot=snap(11, 2, (1, 2))))
    assert r.raft_log.last_index() == 0


def test_pending_snapshot_pauses_then_ack_resumes_replication():
    """Leader side: after sending a snapshot the peer is paused until the snapshot's
    index is acknowledged (or reported)."""
    st = storage_with([1, 2], [Entry(1, i) for i in range(1, 12)])
    st.create_snapshot(11, ConfState(voters=(1, 2)), b"data")
    st.compact(11)
    r = new_test_raft(1, [1, 2], storage=st)
    r._load_state(HardState(term=1, commit=11))
    r.raft_log.applied = 11
    r.become_candidate()
    r.become_leader()
    r.prs.progress[2].next = 5  # far behind the compaction point
    r.prs.progress[2].recent_active = True  # as after any response from it
    r.send_append(2)
    msgs = read_messages(r)
    assert [m.type for m in msgs] == [MT.MsgSnap]
    pr = r.prs.progress[2]
    assert pr.state == ProgressState.SNAPSHOT
    assert pr.pending_snapshot == 11
    r.send_append(2)
    assert read_messages(r) == []  # paused
    r.step(Message(type=MT.MsgAppResp, from_=2, to=1, term=r.term, index=11))
    assert pr.state == ProgressState.REPLICATE
    assert pr.match == 11


def test_report_snapshot_success_moves_to_probe():
    st = storage_with([1, 2], [Entry(1, i) for i in range(1, 12)])
    st.create_snapshot(11, ConfState(voters=(1, 2)), b"data")
    st.compact(11)
    r = new_test_raft(1, [1, 2], storage=st)
    r._load_state(HardState(term=1, commit=11))
    r.raft_log.applied = 11
    r.become_candidate()
    r.become_leader()
    r.prs.progress[2].next = 5
    r.prs.progress[2].recent_active = True
    r.send_append(2)
    read_messages(r)
    r.step(Message(type=MT.MsgSnapStatus, from_=2, to=1))
    pr = r.prs.progress[2]
    assert pr.state == ProgressState.PROBE
    assert pr.next == 12
    assert pr.probe_sent


def test_no_snapshot_to_inactive_follower():
    """A snapshot is expensive: only send it to a follower that responded recently."""
    st = storage_with([1, 2], [Entry(1, i) for i in range(1, 12)])
    st.create_snapshot(11, ConfState(voters=(1, 2)), b"data")
    st.compact(11)
    r = new_test_raft(1, [1, 2], storage=st)
    r._load_state(HardState(term=1, commit=11))
    r.raft_log.applied = 11
    r.become_candidate()
    r.become_leader()
    r.prs.progress[2].next = 5
    r.send_append(2)
    assert read_messages(r) == []
    assert r.prs.progress[2].state == ProgressState.PROBE
