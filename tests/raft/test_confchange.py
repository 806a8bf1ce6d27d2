"""Membership changes with ConfChange v1 (thesis §4.1: one server at a time).

Ported in spirit from etcd-io/raft's TestAddNode, TestAddLearner, TestRemoveNode,
TestPromotable, TestCommitAfterRemoveNode, TestStepConfig/TestStepIgnoreConfig and
TestLearnerCannotVote tests. Also: the leader refuses changes that would leave no voter.
"""

from __future__ import annotations

import pytest

from pycoreos.raft import (
    ConfChange,
    ConfChangeType,
    Entry,
    EntryType,
    Message,
    MessageType,
    StateType,
    decode_conf_change,
    encode_conf_change,
)
from pycoreos.testing.raft_env import RaftNetwork, new_test_raft, persist, read_messages

MT = MessageType
CT = ConfChangeType


def change(net: RaftNetwork, leader: int, t: ConfChangeType, nid: int) -> None:
    net.nodes[leader].propose_conf_change(ConfChange(type=t, node_id=nid))
    net.stabilize()


def cluster() -> RaftNetwork:
    net = RaftNetwork([1, 2, 3], seed=8)
    net.campaign(1)
    return net


def test_add_voter_joins_and_counts_for_quorum():
    """§4.1: a new voter catches up, then counts towards the (larger) majority."""
    net = cluster()
    net.propose(1, b"before")
    net.add_node(4)  # a fresh, empty member
    change(net, 1, CT.AddNode, 4)
    net.tick_all(2)
    assert net.conf_states[1].voters == (1, 2, 3, 4)
    assert net.conf_states[4].voters == (1, 2, 3, 4)
    assert net.applied[4] == [b"before"]
    # 4 voters: a majority is 3, so leader + node 2 cannot commit alone.
    net.cut(1, 3)
    net.cut(1, 4)
    net.nodes[1].propose(b"needs three")
    net.stabilize()
    assert net.applied[2] == [b"before"]
    net.recover()
    net.tick_all(1)
    assert net.applied[2] == [b"before", b"needs three"]


def test_learner_replicates_but_never_votes_or_counts():
    net = cluster()
    net.add_node(4)
    change(net, 1, CT.AddLearnerNode, 4)
    net.tick_all(2)
    assert net.conf_states[1].learners == (4,)
    net.propose(1, b"x")
    assert net.applied[4] == [b"x"]
    # Leader + learner are not a quorum of {1, 2, 3}.
    net.cut(1, 2)
    net.cut(1, 3)
    net.nodes[1].propose(b"y")
    net.stabilize()
    assert net.applied[4] == [b"x"]
    # The learner never campaigns, however long it waits.
    net.isolate(4)
    term = net.nodes[4].term
    net.tick(4, 100)
    net.stabilize()
    assert net.state(4) == StateType.Follower
    assert net.nodes[4].term == term


def test_promote_learner_with_add_node():
    net = cluster()
    net.add_node(4)
    change(net, 1, CT.AddLearnerNode, 4)
    net.tick_all(2)
    change(net, 1, CT.AddNode, 4)
    assert net.conf_states[1].voters == (1, 2, 3, 4)
    assert net.conf_states[1].learners == ()
    assert not net.nodes[1].status().progress[4].is_learner
    net.isolate(1)
    net.isolate(2)
    net.recover()
    net.nodes[4].campaign()
    net.stabilize()
    assert net.leader() == 4


def test_remove_voter_shrinks_quorum():
    net = cluster()
    change(net, 1, CT.RemoveNode, 3)
    assert net.conf_states[1].voters == (1, 2)
    assert 3 not in net.nodes[1].status().progress
    net.isolate(3)
    net.propose(1, b"two of two")
    assert net.applied[2] == [b"two of two"]


def test_commit_after_remove_node():
    """Removing an unresponsive voter lowers the quorum and commits what was waiting."""
    r = new_test_raft(1, [1, 2])
    r.become_candidate()
    r.become_leader()
    persist(r)
    read_messages(r)
    r.step(Message(type=MT.MsgProp, entries=(Entry(0, 0, data=b"hello"),)))
    persist(r)
    assert r.raft_log.committed == 0
    r.apply_conf_change(ConfChange(type=CT.RemoveNode, node_id=2))
    assert r.raft_log.committed == r.raft_log.last_index()


def test_single_voter_cannot_remove_itself():
    """A change that leaves no voter is refused at proposal (becomes an empty normal entry)
    and at application."""
    net = RaftNetwork([1], seed=1)
    net.campaign(1)
    change(net, 1, CT.RemoveNode, 1)
    assert net.nodes[1].status().conf_state.voters == (1,)
    last = net.storages[1].entries(
        net.storages[1].last_index(), net.storages[1].last_index() + 1, 1 << 20
    )
    assert last[0].type == EntryType.NORMAL
    assert last[0].data == b""
    cs = net.nodes[1].apply_conf_change(ConfChange(type=CT.RemoveNode, node_id=1))
    assert cs.voters == (1,)
    cs = net.nodes[1].apply_conf_change(ConfChange(type=CT.AddLearnerNode, node_id=1))
    assert cs.voters == (1,)
    net.propose(1, b"still works")
    assert net.applied[1] == [b"still works"]


def test_only_one_pending_conf_change():
    """§4.1: a second change proposed before the first is applied is turned into a no-op."""
    r = new_test_raft(1, [1, 2, 3])
    r.become_candidate()
    r.become_leader()
    for nid in (4, 5):
        cc = ConfChange(type=CT.AddNode, node_id=nid)
        r.step(
            Message(
                type=MT.MsgProp,
                entries=(Entry(0, 0, type=EntryType.CONF_CHANGE, data=encode_conf_change(cc)),),
            )
        )
    ents = r.raft_log.unstable_entries()
    kinds = [e.type for e in ents]
    # The empty entry, the first change, and the second change turned into a no-op.
    assert kinds == [EntryType.NORMAL, EntryType.CONF_CHANGE, EntryType.NORMAL]
    # Once applied, a change is accepted, and the next one is refused until applied.
    r.raft_log.committed = r.raft_log.last_index()
    r.raft_log.applied = r.raft_log.last_index()
    for nid in (4, 5):
        cc = ConfChange(type=CT.AddNode, node_id=nid)
        r.step(
            Message(
                type=MT.MsgProp,
                entries=(Entry(0, 0, type=EntryType.CONF_CHANGE, data=encode_conf_change(cc)),),
            )
        )
    tail = r.raft_log.unstable_entries()[-2:]
    assert tail[0].type == EntryType.CONF_CHANGE
    assert decode_conf_change(tail[0].data).node_id == 4
    assert tail[1].type == EntryType.NORMAL


def test_cannot_campaign_with_unapplied_committed_conf_change():
    r = new_test_raft(1, [1, 2])
    cc = encode_conf_change(ConfChange(type=CT.AddNode, node_id=3))
    r.step(
        Message(
            type=MT.MsgApp,
            from_=2,
            term=1,
            entries=(Entry(1, 1, type=EntryType.CONF_CHANGE, data=cc),),
            commit=1,
        )
    )
    read_messages(r)
    r.step(Message(type=MT.MsgHup))
    assert r.state == StateType.Follower
    r.raft_log.applied_to(1)
    r.step(Message(type=MT.MsgHup))
    assert r.state == StateType.Candidate


@pytest.mark.parametrize(
    ("peers", "learners", "wp"),
    [([1], [], True), ([1, 2, 3], [], True), ([2, 3], [], False), ([2], [1], False)],
)
def test_promotable(peers: list[int], learners: list[int], wp: bool):
    assert new_test_raft(1, peers, learners=learners).promotable() is wp


def test_learner_does_not_count_in_vote():
    r = new_test_raft(1, [1], learners=[2])
    r.become_candidate()
    r.become_leader()
    assert r.prs.is_singleton()
    leaner = new_test_raft(2, [1], learners=[2])
    leaner.step(Message(type=MT.MsgHup))
    assert leaner.state == StateType.Follower


def test_update_node_is_noop_and_removed_peer_messages_are_ignored():
    net = cluster()
    change(net, 1, CT.UpdateNode, 2)
    assert net.conf_states[1].voters == (1, 2, 3)
    change(net, 1, CT.RemoveNode, 3)
    # A response from a removed peer is refused by RawNode.
    from pycoreos.raft import PeerNotFoundError

    with pytest.raises(PeerNotFoundError):
        net.nodes[1].step(Message(type=MT.MsgAppResp, from_=3, to=1, term=net.nodes[1].term))


def test_removed_leader_drops_proposals_and_stops_counting():
    """A leader that applied its own removal keeps no say in commitment; the application
    is expected to stop it (etcd does), and meanwhile proposals are dropped."""
    r = new_test_raft(1, [1, 2, 3])
    r.become_candidate()
    r.become_leader()
    persist(r)
    cs = r.apply_conf_change(ConfChange(type=CT.RemoveNode, node_id=1))
    assert cs.voters == (2, 3)
    assert r.state == StateType.Leader
    from pycoreos.raft import ProposalDroppedError

    with pytest.raises(ProposalDroppedError):
        r.step(Message(type=MT.MsgProp, entries=(Entry(0, 0, data=b"x"),)))


def test_removing_transfer_target_aborts_transfer():
    r = new_test_raft(1, [1, 2, 3])
    r.become_candidate()
    r.become_leader()
    persist(r)
    r.step(Message(type=MT.MsgTransferLeader, from_=3, to=1))
    assert r.lead_transferee == 3
    r.apply_conf_change(ConfChange(type=CT.RemoveNode, node_id=3))
    assert r.lead_transferee == 0
