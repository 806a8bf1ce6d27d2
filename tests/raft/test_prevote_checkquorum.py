"""Pre-vote (thesis §9.6) and check-quorum / leader lease (thesis §6.2, §4.2.3).

Ported in spirit from etcd-io/raft's TestDisruptiveFollower*, TestLeaderElectionWith-
CheckQuorum, TestLeaderStepdownWhenQuorumLost and TestPreVote* tests.
"""

from __future__ import annotations

from pycoreos.raft import Entry, Message, MessageType, StateType
from pycoreos.testing.raft_env import RaftNet, RaftNetwork, new_test_raft, read_messages

MT = MessageType


def elect(net: RaftNetwork, nid: int) -> int:
    net.campaign(nid)
    assert net.leader() == nid
    return net.nodes[nid].term


def test_partitioned_member_rejoining_does_not_depose_leader_with_prevote():
    """§9.6: with pre-vote, an isolated member cannot win pre-votes, so its term stays put
    and its return does not disrupt the healthy leader."""
    net = RaftNetwork([1, 2, 3], seed=11, pre_vote=True, check_quorum=True)
    term = elect(net, 1)
    net.isolate(3)
    net.tick_all(100)
    assert net.nodes[3].term == term  # pre-elections never bump the term
    assert net.state(3) == StateType.PreCandidate
    assert net.leader() == 1
    net.propose(1, b"during partition")
    net.recover()
    net.tick_all(20)
    assert net.leader() == 1
    assert all(n.term == term for n in net.nodes.values())
    assert net.applied[3] == [b"during partition"]


def test_without_prevote_rejoining_member_disrupts_leader():
    """Contrast (etcd TestDisruptiveFollower): without pre-vote the isolated member bumps
    its term; on return its higher term makes the leader step down."""
    net = RaftNetwork([1, 2, 3], seed=11, check_quorum=True)
    term = elect(net, 1)
    net.isolate(3)
    net.tick_all(100)
    assert net.nodes[3].term > term
    net.recover()
    net.tick_all(30)
    assert all(n.term > term for n in net.nodes.values())
    assert net.leader() != 0


def test_check_quorum_leader_steps_down_when_isolated():
    """§6.2: a leader that hears from no quorum within an election timeout steps down."""
    net = RaftNetwork([1, 2, 3], seed=5, check_quorum=True)
    elect(net, 1)
    net.isolate(1)
    for _ in range(net.nodes[1].raft.election_timeout * 2 + 1):
        net.nodes[1].tick()
        net.stabilize()
    assert net.state(1) == StateType.Follower
    net.tick_all(60)
    assert net.leader() in (2, 3)


def test_without_check_quorum_isolated_leader_stays_leader():
    """Contrast: without check-quorum the isolated leader keeps believing it leads."""
    net = RaftNetwork([1, 2, 3], seed=5)
    elect(net, 1)
    net.isolate(1)
    net.tick(1, 50)
    net.stabilize()
    assert net.state(1) == StateType.Leader


def test_follower_in_lease_ignores_vote_and_prevote():
    """§4.2.3: a follower that heard from the leader within the election timeout ignores
    (pre-)vote requests, without adopting their higher term."""
    r = new_test_raft(2, [1, 2, 3], check_quorum=True)
    r.become_follower(2, 1)
    for t in (MT.MsgVote, MT.MsgPreVote):
        r.step(Message(type=t, from_=3, to=2, term=5, index=10, log_term=4))
        assert read_messages(r) == []
        assert r.term == 2
        assert r.lead == 1
    # Once the lease expired the vote is granted (the candidate's log is up to date).
    for _ in range(r.election_timeout):
        r.election_elapsed += 1
    r.step(Message(type=MT.MsgVote, from_=3, to=2, term=5, index=10, log_term=4))
    assert read_messages(r) == [Message(type=MT.MsgVoteResp, from_=2, to=3, term=5)]


def test_transfer_campaign_overrides_lease():
    """§3.10: a MsgVote forced by leadership transfer is honoured despite the lease."""
    r = new_test_raft(2, [1, 2, 3], check_quorum=True)
    r.become_follower(2, 1)
    r.step(
        Message(
            type=MT.MsgVote, from_=3, to=2, term=3, index=0, log_term=0, context=b"CampaignTransfer"
        )
    )
    assert read_messages(r) == [Message(type=MT.MsgVoteResp, from_=2, to=3, term=3)]
    assert r.vote == 3


def test_leader_election_with_check_quorum():
    """etcd TestLeaderElectionWithCheckQuorum: fresh nodes vote; later elections need
    the voters' leases to have expired."""
    a, b, c = (new_test_raft(i, [1, 2, 3], check_quorum=True) for i in (1, 2, 3))
    net = RaftNet({1: a, 2: b, 3: c})
    a.randomized_election_timeout = a.election_timeout + 1
    b.randomized_election_timeout = b.election_timeout + 2
    net.send(Message(type=MT.MsgHup, from_=1, to=1))
    assert a.state == StateType.Leader
    assert c.state == StateType.Follower
    a.randomized_election_timeout = a.election_timeout + 1
    b.randomized_election_timeout = b.election_timeout + 2
    for _ in range(a.election_timeout):
        a.tick()
    for _ in range(b.election_timeout):
        b.tick()
    read_messages(a)
    read_messages(b)
    net.send(Message(type=MT.MsgHup, from_=3, to=3))
    assert a.state == StateType.Follower
    assert c.state == StateType.Leader


def test_stale_leader_learns_new_term_from_app_resp():
    """With check-quorum, a node answers a stale-term MsgApp/heartbeat with its own term,
    so a leader cut off during an election steps down instead of lingering."""
    r = new_test_raft(2, [1, 2, 3], check_quorum=True)
    r.become_follower(5, 3)
    r.step(Message(type=MT.MsgHeartbeat, from_=1, to=2, term=3))
    assert read_messages(r) == [Message(type=MT.MsgAppResp, from_=2, to=1, term=5)]
    lead = new_test_raft(1, [1, 2, 3])
    lead._load_state(lead.hard_state().__class__(term=3))
    lead.become_candidate()
    lead.become_leader()
    lead.step(Message(type=MT.MsgAppResp, from_=2, to=1, term=5))
    assert lead.state == StateType.Follower
    assert lead.term == 5


def test_prevote_rejected_for_stale_log_and_granted_for_future_term():
    """§9.6: pre-votes are granted for a future term iff the log is up to date; granting
    records no vote and changes no term."""
    r = new_test_raft(1, [1, 2, 3], pre_vote=True)
    r.step(Message(type=MT.MsgApp, from_=2, to=1, term=2, entries=(Entry(2, 1), Entry(2, 2))))
    read_messages(r)
    r.lead = 0  # leader gone (no check-quorum lease)
    r.step(Message(type=MT.MsgPreVote, from_=3, to=1, term=3, index=1, log_term=2))
    assert read_messages(r) == [Message(type=MT.MsgPreVoteResp, from_=1, to=3, term=2, reject=True)]
    r.step(Message(type=MT.MsgPreVote, from_=3, to=1, term=3, index=2, log_term=2))
    assert read_messages(r) == [Message(type=MT.MsgPreVoteResp, from_=1, to=3, term=3)]
    assert (r.term, r.vote) == (2, 0)


def test_precandidate_wins_then_runs_real_election():
    """§9.6: after a pre-vote majority the node starts a real election at term+1."""
    r = new_test_raft(1, [1, 2, 3], pre_vote=True)
    r.step(Message(type=MT.MsgHup, from_=1, to=1))
    assert r.state == StateType.PreCandidate
    assert r.term == 0
    msgs = read_messages(r)
    assert {(m.type, m.term) for m in msgs} == {(MT.MsgPreVote, 1)}
    r.step(Message(type=MT.MsgPreVoteResp, from_=2, to=1, term=1))
    assert r.state == StateType.Candidate
    assert r.term == 1
    assert {m.type for m in read_messages(r)} == {MT.MsgVote}


def test_stale_prevote_gets_rejection():
    """A pre-vote from a lower term is rejected explicitly (etcd #8501), so the
    pre-candidate learns the higher term instead of waiting forever."""
    r = new_test_raft(1, [1, 2, 3], pre_vote=True)
    r.become_follower(5, 0)
    r.step(Message(type=MT.MsgPreVote, from_=2, to=1, term=3))
    assert read_messages(r) == [Message(type=MT.MsgPreVoteResp, from_=1, to=2, term=5, reject=True)]


def test_single_voter_with_prevote_elects_itself_immediately():
    """A one-voter cluster wins its pre-election and election within campaign()."""
    r = new_test_raft(1, [1], pre_vote=True)
    r.step(Message(type=MT.MsgHup, from_=1, to=1))
    assert r.state == StateType.Leader
    assert r.term == 1
