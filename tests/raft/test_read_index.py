"""ReadIndex (thesis §6.4): linearizable reads without appending to the log.

Ported in spirit from etcd-io/raft's TestReadOnlyOptionSafe, TestReadOnlyForNewLeader,
TestReadOnlyOptionLease and TestMsgReadIndexForward tests.
"""

from __future__ import annotations

import pytest

from pycoreos.raft import Entry, Message, MessageType, ReadOnlyOption, ReadState
from pycoreos.testing.raft_env import (
    RaftNetwork,
    accept_and_reply,
    new_test_raft,
    persist,
    read_messages,
)

MT = MessageType


def read_index_msg(ctx: bytes, frm: int = 0) -> Message:
    return Message(type=MT.MsgReadIndex, from_=frm, entries=(Entry(0, 0, data=ctx),))


@pytest.mark.parametrize("reader", [1, 2, 3])
def test_read_index_on_leader_and_followers(reader: int):
    """§6.4: the read index is the leader's commit index once leadership is confirmed;
    followers forward the request and get the same answer."""
    net = RaftNetwork([1, 2, 3], seed=2)
    net.campaign(1)
    net.propose(1, b"a")
    committed = net.nodes[1].status().hard_state.commit
    net.nodes[reader].read_index(b"ctx-" + bytes([reader]))
    net.stabilize()
    assert net.read_states[reader] == [
        ReadState(index=committed, request_ctx=b"ctx-" + bytes([reader]))
    ]


def test_isolated_leader_never_answers():
    """§6.4: leadership must be confirmed by a quorum; a partitioned leader cannot."""
    net = RaftNetwork([1, 2, 3], seed=2)
    net.campaign(1)
    net.isolate(1)
    net.nodes[1].read_index(b"x")
    net.tick(1, 5)
    net.stabilize()
    assert net.read_states[1] == []
    net.recover()
    net.tick(1, 1)  # next heartbeat carries the pending context
    net.stabilize()
    assert [rs.request_ctx for rs in net.read_states[1]] == [b"x"]


def test_one_heartbeat_quorum_answers_every_earlier_request():
    """Acks for a later context confirm leadership for all earlier queued requests."""
    r = new_test_raft(1, [1, 2, 3])
    r.become_candidate()
    r.become_leader()
    persist(r)
    for m in read_messages(r):
        r.step(accept_and_reply(m))
    r.bcast_append()
    for m in read_messages(r):
        if m.type == MT.MsgApp:
            r.step(accept_and_reply(m))
    read_messages(r)
    assert r.committed_entry_in_current_term()
    for ctx in (b"a", b"b", b"c"):
        r.step(read_index_msg(ctx))
    hbs = [m for m in read_messages(r) if m.type == MT.MsgHeartbeat and m.context == b"c"]
    r.step(Message(type=MT.MsgHeartbeatResp, from_=2, to=1, term=r.term, context=hbs[0].context))
    assert [(s.index, s.request_ctx) for s in r.read_states] == [(1, b"a"), (1, b"b"), (1, b"c")]


def test_new_leader_postpones_reads_until_it_commits_in_its_term():
    """§6.4: a new leader does not know the latest commit index until an entry of its own
    term commits; reads wait for that."""
    r = new_test_raft(1, [1, 2, 3])
    r.become_candidate()
    r.become_leader()
    persist(r)
    apps = [m for m in read_messages(r) if m.type == MT.MsgApp]
    r.step(read_index_msg(b"early"))
    assert read_messages(r) == []  # no heartbeat round yet
    assert len(r.pending_read_index_messages) == 1
    r.bcast_append()
    apps = read_messages(r)
    r.step(accept_and_reply(apps[0]))  # the empty entry commits (leader + node 2)
    msgs = read_messages(r)
    hb = [m for m in msgs if m.type == MT.MsgHeartbeat]
    assert {m.context for m in hb} == {b"early"}
    r.step(Message(type=MT.MsgHeartbeatResp, from_=3, to=1, term=r.term, context=b"early"))
    assert r.read_states == [ReadState(index=1, request_ctx=b"early")]


def test_lease_based_read_answers_without_heartbeat():
    """ReadOnlyLeaseBased: the leader trusts its lease (needs check-quorum)."""
    r = new_test_raft(1, [1, 2, 3], check_quorum=True, read_only_option=ReadOnlyOption.LEASE_BASED)
    r.become_candidate()
    r.become_leader()
    persist(r)
    for m in read_messages(r):
        r.step(accept_and_reply(m))
    r.bcast_append()
    for m in read_messages(r):
        r.step(accept_and_reply(m))
    read_messages(r)
    r.step(read_index_msg(b"lease"))
    assert [m for m in read_messages(r) if m.type == MT.MsgHeartbeat] == []
    assert r.read_states == [ReadState(index=1, request_ctx=b"lease")]


def test_follower_without_leader_drops_read_index():
    r = new_test_raft(2, [1, 2, 3])
    r.step(read_index_msg(b"x"))
    assert read_messages(r) == []
    assert r.read_states == []


def test_leader_answers_forwarded_read_with_msg_read_index_resp():
    """The answer to a follower's request goes back as MsgReadIndexResp with the context."""
    r = new_test_raft(1, [1])
    r.become_candidate()
    r.become_leader()
    persist(r)
    r.step(read_index_msg(b"fwd", frm=2))
    assert read_messages(r) == [
        Message(
            type=MT.MsgReadIndexResp,
            from_=1,
            to=2,
            term=1,
            index=1,
            entries=(Entry(0, 0, data=b"fwd"),),
        )
    ]
