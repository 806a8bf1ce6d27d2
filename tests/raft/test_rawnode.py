"""RawNode API and the Ready contract (etcd-io/raft rawnode_test.go)."""

from __future__ import annotations

import random

import pytest

from pycoreos.raft import (
    ConfChange,
    ConfChangeType,
    Config,
    ConfState,
    Entry,
    EntryType,
    MemoryStorage,
    Message,
    MessageType,
    Peer,
    PeerNotFoundError,
    ProposalDroppedError,
    RaftInvariantError,
    RawNode,
    ReadState,
    StateType,
    StepLocalMessageError,
    decode_conf_change,
    encode_conf_change,
)


def new_single(node_id: int = 1) -> tuple[RawNode, MemoryStorage]:
    st = MemoryStorage()
    n = RawNode(Config(id=node_id), st, rng=random.Random(7))
    n.bootstrap([Peer(node_id)])
    return n, st


def drain(n: RawNode, st: MemoryStorage) -> list[bytes]:
    """Run the driver loop until quiescent; return applied normal payloads."""
    out: list[bytes] = []
    while n.has_ready():
        rd = n.ready()
        if rd.snapshot is not None:
            st.apply_snapshot(rd.snapshot)
        if rd.hard_state is not None:
            st.set_hard_state(rd.hard_state)
        st.append(rd.entries)
        for e in rd.committed_entries:
            if e.type == EntryType.CONF_CHANGE:
                n.apply_conf_change(decode_conf_change(e.data))
            elif e.data:
                out.append(e.data)
        n.advance()
    return out


def test_bootstrap_first_ready_carries_conf_changes():
    st = MemoryStorage()
    n = RawNode(Config(id=1), st, rng=random.Random(1))
    n.bootstrap([Peer(1), Peer(2, b"ctx")])
    rd = n.ready()
    assert rd.hard_state is not None
    assert (rd.hard_state.term, rd.hard_state.commit) == (1, 2)
    assert rd.must_sync
    assert [e.index for e in rd.entries] == [1, 2]
    assert rd.committed_entries == rd.entries
    cc = decode_conf_change(rd.entries[1].data)
    assert (cc.type, cc.node_id, cc.context) == (ConfChangeType.AddNode, 2, b"ctx")
    assert n.status().conf_state.voters == (1, 2)


def test_bootstrap_refuses_nonempty_storage_and_no_peers():
    n, st = new_single()
    drain(n, st)
    again = RawNode(Config(id=1), st, rng=random.Random(1))
    with pytest.raises(Exception, match="nonempty"):
        again.bootstrap([Peer(1)])
    fresh = RawNode(Config(id=1), MemoryStorage(), rng=random.Random(1))
    with pytest.raises(Exception, match="at least one peer"):
        fresh.bootstrap([])


def test_single_node_campaign_elects_immediately():
    n, st = new_single()
    drain(n, st)
    n.campaign()
    assert n.raft_state == StateType.Leader
    assert n.lead == 1
    rd = n.ready()
    assert rd.soft_state is not None
    assert rd.soft_state.raft_state == StateType.Leader
    # The empty entry of the new term is handed out but not yet committed: the leader
    # counts itself only after advance().
    assert [(e.term, e.index) for e in rd.entries] == [(2, 2)]
    assert rd.committed_entries == ()
    st.append(rd.entries)
    n.advance()
    rd = n.ready()
    assert [(e.term, e.index) for e in rd.committed_entries] == [(2, 2)]
    n.advance()


def test_single_node_commits_proposal_after_persist():
    n, st = new_single()
    drain(n, st)
    n.campaign()
    drain(n, st)
    n.propose(b"foo")
    rd = n.ready()
    assert [e.data for e in rd.entries] == [b"foo"]
    assert rd.committed_entries == ()
    assert rd.must_sync
    st.append(rd.entries)
    n.advance()
    rd = n.ready()
    assert [e.data for e in rd.committed_entries] == [b"foo"]
    assert rd.hard_state is not None
    assert rd.hard_state.commit == 3
    assert not rd.must_sync  # only the commit index changed
    n.advance()
    assert not n.has_ready()
    assert n.status().applied == 3


def test_has_ready_false_while_ready_outstanding_and_ready_twice_fails():
    n, _st = new_single()
    n.ready()
    assert not n.has_ready()
    with pytest.raises(RaftInvariantError):
        n.ready()
    n.advance()
    with pytest.raises(RaftInvariantError):
        n.advance()


def test_single_node_read_index_answers_immediately():
    n, st = new_single()
    drain(n, st)
    n.campaign()
    drain(n, st)
    n.read_index(b"ctx1")
    rd = n.ready()
    assert rd.read_states == (ReadState(index=2, request_ctx=b"ctx1"),)
    n.advance()


def test_propose_without_leader_is_dropped():
    st = MemoryStorage()
    n = RawNode(Config(id=1), st, rng=random.Random(1))
    n.bootstrap([Peer(1), Peer(2)])
    with pytest.raises(ProposalDroppedError):
        n.propose(b"x")


def test_step_rejects_local_messages_and_unknown_peers():
    n, _ = new_single()
    for t in (MessageType.MsgHup, MessageType.MsgBeat, MessageType.MsgCheckQuorum):
        with pytest.raises(StepLocalMessageError):
            n.step(Message(type=t, from_=1, to=1))
    with pytest.raises(PeerNotFoundError):
        n.step(Message(type=MessageType.MsgAppResp, from_=9, to=1, term=1))


def test_restart_from_storage_keeps_state_and_does_not_reapply():
    n, st = new_single()
    drain(n, st)
    n.campaign()
    drain(n, st)
    n.propose(b"a")
    assert drain(n, st) == [b"a"]
    # The membership of a restarted node comes from its snapshot (entries after it are
    # replayed by the application); entries up to `applied` are not handed out again.
    st.create_snapshot(3, n.status().conf_state, b"state")
    restarted = RawNode(Config(id=1, applied=3), st, rng=random.Random(2))
    assert restarted.term == 2
    assert restarted.raft_state == StateType.Follower
    assert drain(restarted, st) == []
    restarted.campaign()
    drain(restarted, st)
    restarted.propose(b"b")
    assert drain(restarted, st) == [b"b"]


def test_restart_replays_unapplied_committed_entries():
    n, st = new_single()
    drain(n, st)
    n.campaign()
    drain(n, st)
    n.propose(b"a")
    drain(n, st)
    restarted = RawNode(Config(id=1, applied=1), st, rng=random.Random(2))
    rd = restarted.ready()
    assert [e.index for e in rd.committed_entries] == [2, 3]


def test_status_progress_only_on_leader():
    n, st = new_single()
    drain(n, st)
    assert n.status().progress == {}
    n.campaign()
    drain(n, st)
    s = n.status()
    assert s.lead == 1
    assert s.raft_state == StateType.Leader
    assert s.progress[1].match == 2


def test_conf_change_codec_matches_raftpb_bytes():
    # raftpb.ConfChange{ID: 3, Type: ConfChangeAddLearnerNode, NodeID: 4, Context: "hi"}
    cc = ConfChange(type=ConfChangeType.AddLearnerNode, node_id=4, context=b"hi", id=3)
    data = encode_conf_change(cc)
    assert data == bytes([0x08, 3, 0x10, 3, 0x18, 4, 0x22, 2]) + b"hi"
    assert decode_conf_change(data) == cc
    big = ConfChange(type=ConfChangeType.RemoveNode, node_id=0xDEADBEEFCAFE)
    assert decode_conf_change(encode_conf_change(big)) == big
    with pytest.raises(ValueError, match="truncated"):
        decode_conf_change(b"\x08")


def test_step_while_ready_outstanding_truncation_is_safe():
    """The driver may step messages while it persists a Ready (between ready() and
    advance()). If those replace the entries being persisted, advance() must not mark the
    replacements stable; they come out in the next Ready."""
    st = MemoryStorage(conf_state=ConfState(voters=(1, 2, 3)))
    n = RawNode(Config(id=2), st, rng=random.Random(1))
    n.step(
        Message(type=MessageType.MsgApp, from_=1, to=2, term=1, entries=(Entry(1, 1, data=b"a"),))
    )
    rd = n.ready()
    assert [e.data for e in rd.entries] == [b"a"]
    # A new leader of term 2 overwrites the uncommitted entry before advance().
    n.step(
        Message(type=MessageType.MsgApp, from_=3, to=2, term=2, entries=(Entry(2, 1, data=b"b"),))
    )
    st.append(rd.entries)
    n.advance()
    rd = n.ready()
    assert [(e.term, e.data) for e in rd.entries] == [(2, b"b")]
    assert rd.hard_state is not None
    assert rd.hard_state.term == 2
    st.append(rd.entries)
    n.advance()
    assert st.entries(1, 2, 1 << 20) == (Entry(2, 1, data=b"b"),)


def test_uncommitted_size_quota_drops_proposals():
    st = MemoryStorage(conf_state=ConfState(voters=(1, 2)))
    n = RawNode(Config(id=1, max_uncommitted_entries_size=10), st, rng=random.Random(1))
    n.campaign()
    n.step(Message(type=MessageType.MsgVoteResp, from_=2, to=1, term=1))
    assert n.raft_state == StateType.Leader
    n.propose(b"x" * 8)
    with pytest.raises(ProposalDroppedError):
        n.propose(b"y" * 8)
    # Committing releases the quota.
    rd = n.ready()
    st.append(rd.entries)
    n.advance()
    n.step(Message(type=MessageType.MsgAppResp, from_=2, to=1, term=1, index=2))
    rd = n.ready()
    assert [e.data for e in rd.committed_entries][-1] == b"x" * 8
    st.append(rd.entries)
    n.advance()
    n.propose(b"y" * 8)


def test_disable_proposal_forwarding():
    st = MemoryStorage(conf_state=ConfState(voters=(1, 2)))
    n = RawNode(Config(id=2, disable_proposal_forwarding=True), st, rng=random.Random(1))
    n.step(Message(type=MessageType.MsgHeartbeat, from_=1, to=2, term=1))
    assert n.lead == 1
    with pytest.raises(ProposalDroppedError):
        n.propose(b"x")
    fwd = RawNode(
        Config(id=2), MemoryStorage(conf_state=ConfState(voters=(1, 2))), rng=random.Random(1)
    )
    fwd.step(Message(type=MessageType.MsgHeartbeat, from_=1, to=2, term=1))
    fwd.propose(b"x")
    (m,) = [m for m in fwd.ready().messages if m.type == MessageType.MsgProp]
    assert (m.to, m.from_, m.entries[0].data) == (1, 2, b"x")


def test_config_validate_collects_all_problems():
    from pycoreos.errors import ConfigError

    with pytest.raises(ConfigError) as ei:
        RawNode(
            Config(id=0, election_tick=1, heartbeat_tick=1, max_inflight_msgs=0),
            MemoryStorage(),
            rng=random.Random(1),
        )
    assert len(ei.value.problems) == 3
