"""Leadership transfer (thesis §3.10): MsgTransferLeader / MsgTimeoutNow.

Ported in spirit from etcd-io/raft's TestLeaderTransfer* tests.
"""

from __future__ import annotations

import pytest

from pycoreos.raft import (
    ConfChange,
    ConfChangeType,
    Message,
    MessageType,
    ProposalDroppedError,
    StateType,
)
from pycoreos.testing.raft_env import RaftNetwork

MT = MessageType


@pytest.fixture
def net() -> RaftNetwork:
    n = RaftNetwork([1, 2, 3], seed=4, check_quorum=True)
    n.campaign(1)
    assert n.leader() == 1
    return n


def test_transfer_to_up_to_date_follower(net: RaftNetwork):
    term = net.nodes[1].term
    net.nodes[1].transfer_leader(2)
    net.stabilize()
    assert net.leader() == 2
    assert net.nodes[2].term == term + 1
    assert net.state(1) == StateType.Follower
    net.propose(1, b"after")  # forwarded to the new leader
    assert net.applied[3] == [b"after"]


def test_transfer_request_on_follower_is_forwarded(net: RaftNetwork):
    net.nodes[3].transfer_leader(3)
    net.stabilize()
    assert net.leader() == 3


def test_transfer_to_slow_follower_catches_it_up_first(net: RaftNetwork):
    net.isolate(3)
    net.propose(1, b"x")
    net.recover()
    net.nodes[1].transfer_leader(3)
    net.stabilize()
    assert net.leader() == 3
    assert net.applied[3] == [b"x"]


def test_proposals_dropped_during_transfer_and_transfer_aborts_after_timeout(net: RaftNetwork):
    net.isolate(3)
    net.nodes[1].transfer_leader(3)
    net.stabilize()
    assert net.nodes[1].status().lead_transferee == 3
    with pytest.raises(ProposalDroppedError):
        net.nodes[1].propose(b"dropped")
    net.tick(1, net.nodes[1].raft.election_timeout)
    assert net.nodes[1].status().lead_transferee == 0
    net.nodes[1].propose(b"accepted")
    net.stabilize()
    assert net.applied[2] == [b"accepted"]
    assert net.leader() == 1


@pytest.mark.parametrize("target", [1, 9])
def test_transfer_to_self_or_unknown_node_is_ignored(net: RaftNetwork, target: int):
    net.nodes[1].transfer_leader(target)
    net.stabilize()
    assert net.leader() == 1
    assert net.nodes[1].status().lead_transferee == 0


def test_transfer_to_learner_is_ignored(net: RaftNetwork):
    net.add_node(4)
    net.nodes[1].propose_conf_change(ConfChange(type=ConfChangeType.AddLearnerNode, node_id=4))
    net.stabilize()
    net.tick_all(3)
    net.nodes[1].transfer_leader(4)
    net.stabilize()
    assert net.leader() == 1
    assert net.nodes[1].status().lead_transferee == 0


def test_second_transfer_to_other_node_replaces_first(net: RaftNetwork):
    net.isolate(3)
    net.nodes[1].transfer_leader(3)
    net.stabilize()
    net.nodes[1].transfer_leader(2)
    net.stabilize()
    assert net.leader() == 2


def test_timeout_now_ignored_by_candidate():
    n = RaftNetwork([1, 2, 3], seed=4)
    n.campaign(1)
    n.isolate(2)
    n.nodes[2].campaign()
    n.stabilize()
    assert n.state(2) == StateType.Candidate
    term = n.nodes[2].term
    n.recover()
    n.send(Message(type=MT.MsgTimeoutNow, from_=1, to=2, term=term))
    n.deliver_all()
    assert n.nodes[2].term == term
    assert n.state(2) == StateType.Candidate


def test_repeated_transfer_to_same_node_keeps_the_first(net: RaftNetwork):
    net.isolate(3)
    net.nodes[1].transfer_leader(3)
    net.stabilize()
    net.tick(1, 3)  # part of the election timeout passes
    elapsed = net.nodes[1].raft.election_elapsed
    net.nodes[1].transfer_leader(3)  # ignored: does not restart the abort timer
    assert net.nodes[1].raft.election_elapsed == elapsed
    assert net.nodes[1].status().lead_transferee == 3
