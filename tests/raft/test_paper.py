"""Behaviours from the Raft paper ("In Search of an Understandable Consensus Algorithm"),
ported from etcd-io/raft's raft_paper_test.go. Each test cites its section.

The leader counts itself for an entry only once it is persisted (``persist``), so tests
that expect a leader commit call it where etcd-io/raft calls advanceMessagesAfterAppend.
"""

from __future__ import annotations

import pytest

from pycoreos.raft import Entry, HardState, Message, MessageType, StateType
from pycoreos.raft.core import Raft
from pycoreos.testing.raft_env import (
    RaftNet,
    accept_and_reply,
    new_test_raft,
    next_committed,
    persist,
    read_messages,
    storage_with,
)

MT = MessageType
ROLES = [StateType.Follower, StateType.Candidate, StateType.Leader]


def ids(n: int) -> list[int]:
    return list(range(1, n + 1))


def by_to(msgs: list[Message]) -> list[Message]:
    return sorted(msgs, key=lambda m: (m.to, m.type))


def become(r: Raft, state: StateType) -> None:
    if state == StateType.Follower:
        r.become_follower(1, 2)
    elif state == StateType.Candidate:
        r.become_candidate()
    else:
        r.become_candidate()
        r.become_leader()


def commit_noop_entry(r: Raft) -> None:
    """Get the leader's empty entry committed, and everything persisted and applied."""
    assert r.state == StateType.Leader
    r.bcast_append()
    for m in read_messages(r):
        assert m.type == MT.MsgApp
        assert len(m.entries) == 1
        assert m.entries[0].data == b""
        r.step(accept_and_reply(m))
    persist(r)
    read_messages(r)  # drop the commit-index refreshes
    next_committed(r)


# -- §5.1 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ROLES)
def test_update_term_from_message(state: StateType):
    """§5.1: a server seeing a larger term updates its term and reverts to follower."""
    r = new_test_raft(1, [1, 2, 3])
    become(r, state)
    r.step(Message(type=MT.MsgApp, term=2))
    assert r.term == 2
    assert r.state == StateType.Follower


def test_reject_stale_term_message():
    """§5.1: a request with a stale term is rejected (here: ignored, nothing changes)."""
    r = new_test_raft(1, [1, 2, 3])
    r._load_state(HardState(term=2))
    before = r.raft_log.last_index()
    r.step(Message(type=MT.MsgApp, from_=2, term=1, entries=(Entry(term=1, index=1),)))
    assert read_messages(r) == []
    assert r.raft_log.last_index() == before
    assert r.term == 2


# -- §5.2 leader election -----------------------------------------------------------------


def test_start_as_follower():
    """§5.2: servers start as followers."""
    assert new_test_raft(1, [1, 2, 3]).state == StateType.Follower


def test_leader_bcast_beat():
    """§5.2: the leader sends heartbeats to all followers to maintain its authority."""
    r = new_test_raft(1, [1, 2, 3], heartbeat=1)
    r.become_candidate()
    r.become_leader()
    for i in range(10):
        assert r.append_entry([Entry(term=0, index=i + 1)])
    r.tick()
    assert by_to(read_messages(r)) == [
        Message(type=MT.MsgHeartbeat, from_=1, to=2, term=1),
        Message(type=MT.MsgHeartbeat, from_=1, to=3, term=1),
    ]


@pytest.mark.parametrize("state", [StateType.Follower, StateType.Candidate])
def test_nonleader_start_election(state: StateType):
    """§5.2: after an election timeout a non-leader increments its term, votes for itself
    and requests votes from every other server."""
    r = new_test_raft(1, [1, 2, 3], election=10)
    if state == StateType.Follower:
        r.become_follower(1, 2)
    else:
        r.become_candidate()
    for _ in range(1, 2 * 10):
        r.tick()
    assert r.term == 2
    assert r.state == StateType.Candidate
    assert r.prs.votes[r.id] is True
    assert by_to(read_messages(r)) == [
        Message(type=MT.MsgVote, from_=1, to=2, term=2),
        Message(type=MT.MsgVote, from_=1, to=3, term=2),
    ]


@pytest.mark.parametrize(
    ("size", "votes", "state"),
    [
        # win the election with votes from a majority
        (1, {}, StateType.Leader),
        (3, {2: True, 3: True}, StateType.Leader),
        (3, {2: True}, StateType.Leader),
        (5, {2: True, 3: True, 4: True, 5: True}, StateType.Leader),
        (5, {2: True, 3: True, 4: True}, StateType.Leader),
        (5, {2: True, 3: True}, StateType.Leader),
        # return to follower when a majority denies
        (3, {2: False, 3: False}, StateType.Follower),
        (5, {2: False, 3: False, 4: False, 5: False}, StateType.Follower),
        (5, {2: True, 3: False, 4: False, 5: False}, StateType.Follower),
        # stay candidate without a majority either way
        (3, {}, StateType.Candidate),
        (5, {2: True}, StateType.Candidate),
        (5, {2: False, 3: False}, StateType.Candidate),
        (5, {}, StateType.Candidate),
    ],
)
def test_leader_election_in_one_round_rpc(size: int, votes: dict[int, bool], state: StateType):
    """§5.2: a candidate wins with a majority, loses with a majority of denials, else waits."""
    r = new_test_raft(1, ids(size))
    r.step(Message(type=MT.MsgHup, from_=1, to=1))
    for nid, granted in votes.items():
        r.step(Message(type=MT.MsgVoteResp, from_=nid, to=1, term=r.term, reject=not granted))
    assert r.state == state
    assert r.term == 1


@pytest.mark.parametrize(
    ("vote", "nvote", "wreject"),
    [(0, 2, False), (0, 3, False), (2, 2, False), (3, 3, False), (2, 3, True), (3, 2, True)],
)
def test_follower_vote(vote: int, nvote: int, wreject: bool):
    """§5.2: each server votes for at most one candidate per term, first-come-first-served."""
    r = new_test_raft(1, [1, 2, 3])
    r._load_state(HardState(term=1, vote=vote))
    r.step(Message(type=MT.MsgVote, from_=nvote, to=1, term=1))
    assert read_messages(r) == [
        Message(type=MT.MsgVoteResp, from_=1, to=nvote, term=1, reject=wreject)
    ]


@pytest.mark.parametrize("term", [1, 2])
def test_candidate_fallback(term: int):
    """§5.2: a candidate hearing from a leader of at least its term becomes follower."""
    r = new_test_raft(1, [1, 2, 3])
    r.step(Message(type=MT.MsgHup, from_=1, to=1))
    assert r.state == StateType.Candidate
    r.step(Message(type=MT.MsgApp, from_=2, to=1, term=term))
    assert r.state == StateType.Follower
    assert r.term == term


@pytest.mark.parametrize("state", [StateType.Follower, StateType.Candidate])
def test_election_timeout_randomized(state: StateType):
    """§5.2: election timeouts are chosen randomly from [et, 2et)."""
    et = 10
    r = new_test_raft(1, [1, 2, 3], election=et)
    seen: set[int] = set()
    for _ in range(50 * et):
        if state == StateType.Follower:
            r.become_follower(r.term + 1, 2)
        else:
            r.become_candidate()
        elapsed = 0
        while not read_messages(r):
            r.tick()
            elapsed += 1
        seen.add(elapsed)
    assert seen == set(range(et, 2 * et))


@pytest.mark.parametrize("state", [StateType.Follower, StateType.Candidate])
def test_election_timeout_nonconflict(state: StateType):
    """§5.2: randomized timeouts mean that usually a single server times out first."""
    et, size, rounds = 10, 5, 300
    rs = [new_test_raft(i, ids(size), election=et, seed=3) for i in ids(size)]
    conflicts = 0
    for _ in range(rounds):
        for r in rs:
            if state == StateType.Follower:
                r.become_follower(r.term + 1, 0)
            else:
                r.become_candidate()
        timed_out = 0
        while timed_out == 0:
            for r in rs:
                r.tick()
                if read_messages(r):
                    timed_out += 1
        if timed_out > 1:
            conflicts += 1
    assert conflicts / rounds <= 0.3


# -- §5.3 log replication -----------------------------------------------------------------


def test_leader_start_replication():
    """§5.3: the leader appends a proposal to its log and issues AppendEntries in parallel."""
    r = new_test_raft(1, [1, 2, 3])
    r.become_candidate()
    r.become_leader()
    commit_noop_entry(r)
    li = r.raft_log.last_index()
    r.step(Message(type=MT.MsgProp, from_=1, to=1, entries=(Entry(0, 0, data=b"some data"),)))
    assert r.raft_log.last_index() == li + 1
    assert r.raft_log.committed == li
    wents = (Entry(term=1, index=li + 1, data=b"some data"),)
    assert by_to(read_messages(r)) == [
        Message(
            type=MT.MsgApp, from_=1, to=t, term=1, index=li, log_term=1, entries=wents, commit=li
        )
        for t in (2, 3)
    ]
    assert r.raft_log.unstable_entries() == wents


def test_leader_commit_entry():
    """§5.3: once replicated on a majority the entry is committed, applied, and the new
    commit index is sent to followers."""
    r = new_test_raft(1, [1, 2, 3])
    r.become_candidate()
    r.become_leader()
    commit_noop_entry(r)
    li = r.raft_log.last_index()
    r.step(Message(type=MT.MsgProp, from_=1, to=1, entries=(Entry(0, 0, data=b"some data"),)))
    persist(r)
    for m in read_messages(r):
        r.step(accept_and_reply(m))
    assert r.raft_log.committed == li + 1
    assert next_committed(r) == (Entry(term=1, index=li + 1, data=b"some data"),)
    msgs = by_to(read_messages(r))
    assert [m.to for m in msgs] == [2, 3]
    assert all(m.type == MT.MsgApp and m.commit == li + 1 for m in msgs)


@pytest.mark.parametrize(
    ("size", "acceptors", "wack"),
    [
        (1, set(), True),
        (3, set(), False),
        (3, {2}, True),
        (3, {2, 3}, True),
        (5, set(), False),
        (5, {2}, False),
        (5, {2, 3}, True),
        (5, {2, 3, 4}, True),
        (5, {2, 3, 4, 5}, True),
    ],
)
def test_leader_acknowledge_commit(size: int, acceptors: set[int], wack: bool):
    """§5.3: an entry is committed once the leader replicated it on a majority."""
    r = new_test_raft(1, ids(size))
    r.become_candidate()
    r.become_leader()
    commit_noop_entry(r)
    li = r.raft_log.last_index()
    r.step(Message(type=MT.MsgProp, from_=1, to=1, entries=(Entry(0, 0, data=b"some data"),)))
    persist(r)
    for m in read_messages(r):
        if m.to in acceptors:
            r.step(accept_and_reply(m))
    assert (r.raft_log.committed > li) == wack


def test_leader_does_not_count_itself_before_persist():
    """§5.3 + durability: the leader's own unpersisted entry never completes a quorum."""
    r = new_test_raft(1, [1, 2, 3])
    r.become_candidate()
    r.become_leader()
    commit_noop_entry(r)
    li = r.raft_log.last_index()
    r.step(Message(type=MT.MsgProp, from_=1, to=1, entries=(Entry(0, 0, data=b"x"),)))
    msgs = read_messages(r)
    r.step(accept_and_reply(msgs[0]))  # one follower: 2 of 3 only if the leader counts
    assert r.raft_log.committed == li
    persist(r)
    assert r.raft_log.committed == li + 1


@pytest.mark.parametrize(
    "stored",
    [
        [],
        [Entry(term=2, index=1)],
        [Entry(term=1, index=1), Entry(term=2, index=2)],
        [Entry(term=1, index=1)],
    ],
)
def test_leader_commit_preceding_entries(stored: list[Entry]):
    """§5.3: committing an entry also commits all preceding entries, including those of
    previous leaders."""
    r = new_test_raft(1, [1, 2, 3], storage=storage_with([1, 2, 3], stored))
    r._load_state(HardState(term=2))
    r.become_candidate()
    r.become_leader()
    r.step(Message(type=MT.MsgProp, from_=1, to=1, entries=(Entry(0, 0, data=b"some data"),)))
    for m in read_messages(r):
        r.step(accept_and_reply(m))
    li = len(stored)
    want = (*stored, Entry(term=3, index=li + 1), Entry(term=3, index=li + 2, data=b"some data"))
    assert next_committed(r) == want


@pytest.mark.parametrize(
    ("ents", "commit"),
    [
        ([Entry(1, 1, data=b"some data")], 1),
        ([Entry(1, 1, data=b"some data"), Entry(1, 2, data=b"some data2")], 2),
        ([Entry(1, 1, data=b"some data2"), Entry(1, 2, data=b"some data")], 2),
        ([Entry(1, 1, data=b"some data"), Entry(1, 2, data=b"some data2")], 1),
    ],
)
def test_follower_commit_entry(ents: list[Entry], commit: int):
    """§5.3: a follower learning an entry is committed applies it (and the preceding ones)."""
    r = new_test_raft(1, [1, 2, 3])
    r.become_follower(1, 2)
    r.step(Message(type=MT.MsgApp, from_=2, to=1, term=1, entries=tuple(ents), commit=commit))
    assert r.raft_log.committed == commit
    assert next_committed(r) == tuple(ents[:commit])


@pytest.mark.parametrize(
    ("log_term", "index", "windex", "wreject", "whint", "wlogterm"),
    [
        (0, 0, 1, False, 0, 0),  # match with committed entries
        (1, 1, 1, False, 0, 0),
        (2, 2, 2, False, 0, 0),  # match with uncommitted entries
        (1, 2, 2, True, 1, 1),  # mismatch with an existing entry
        (3, 3, 3, True, 2, 2),  # entry does not exist
    ],
)
def test_follower_check_msg_app(
    log_term: int, index: int, windex: int, wreject: bool, whint: int, wlogterm: int
):
    """§5.3: a follower rejects AppendEntries whose (index, term) it does not have; the
    rejection carries a hint to speed up back-tracking."""
    st = storage_with([1, 2, 3], [Entry(1, 1), Entry(2, 2)])
    r = new_test_raft(1, [1, 2, 3], storage=st)
    r._load_state(HardState(commit=1))
    r.become_follower(2, 2)
    r.step(Message(type=MT.MsgApp, from_=2, to=1, term=2, log_term=log_term, index=index))
    assert read_messages(r) == [
        Message(
            type=MT.MsgAppResp,
            from_=1,
            to=2,
            term=2,
            index=windex,
            reject=wreject,
            reject_hint=whint,
            log_term=wlogterm,
        )
    ]


@pytest.mark.parametrize(
    ("index", "term", "ents", "wents", "wunstable"),
    [
        (2, 2, [Entry(3, 3)], [Entry(1, 1), Entry(2, 2), Entry(3, 3)], [Entry(3, 3)]),
        (
            1,
            1,
            [Entry(3, 2), Entry(4, 3)],
            [Entry(1, 1), Entry(3, 2), Entry(4, 3)],
            [Entry(3, 2), Entry(4, 3)],
        ),
        (0, 0, [Entry(1, 1)], [Entry(1, 1), Entry(2, 2)], []),
        (0, 0, [Entry(3, 1)], [Entry(3, 1)], [Entry(3, 1)]),
    ],
)
def test_follower_append_entries(
    index: int, term: int, ents: list[Entry], wents: list[Entry], wunstable: list[Entry]
):
    """§5.3: a follower deletes conflicting entries and all that follow, then appends."""
    st = storage_with([1, 2, 3], [Entry(1, 1), Entry(2, 2)])
    r = new_test_raft(1, [1, 2, 3], storage=st)
    r.become_follower(2, 2)
    r.step(
        Message(
            type=MT.MsgApp, from_=2, to=1, term=2, log_term=term, index=index, entries=tuple(ents)
        )
    )
    assert r.raft_log.all_entries() == tuple(wents)
    assert r.raft_log.unstable_entries() == tuple(wunstable)


def _entries(*terms: int) -> list[Entry]:
    return [Entry(term=t, index=i + 1) for i, t in enumerate(terms)]


FIGURE7_LEADER = _entries(1, 1, 1, 4, 4, 5, 5, 6, 6, 6)


@pytest.mark.parametrize(
    "follower",
    [
        _entries(1, 1, 1, 4, 4, 5, 5, 6, 6),
        _entries(1, 1, 1, 4),
        _entries(1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6),
        _entries(1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7),
        _entries(1, 1, 1, 4, 4, 4, 4),
        _entries(1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3),
    ],
    ids=["a", "b", "c", "d", "e", "f"],
)
def test_leader_sync_follower_log(follower: list[Entry]):
    """§5.3 (Figure 7): the leader brings any follower's log into consistency with its own."""
    term = 8
    lead = new_test_raft(1, [1, 2, 3], storage=storage_with([1, 2, 3], FIGURE7_LEADER))
    lead._load_state(HardState(commit=lead.raft_log.last_index(), term=term))
    fol = new_test_raft(2, [1, 2, 3], storage=storage_with([1, 2, 3], follower))
    fol._load_state(HardState(term=term - 1))
    # Three members: the follower may have a more up-to-date log, so the leader needs
    # node 3's vote (node 3 is a black hole; its vote is injected).
    net = RaftNet({1: lead, 2: fol, 3: None})
    net.send(Message(type=MT.MsgHup, from_=1, to=1))
    net.send(Message(type=MT.MsgVoteResp, from_=3, to=1, term=term + 1))
    net.send(Message(type=MT.MsgProp, from_=1, to=1, entries=(Entry(0, 0),)))
    assert lead.state == StateType.Leader
    assert fol.raft_log.all_entries() == lead.raft_log.all_entries()
    assert fol.raft_log.committed == lead.raft_log.committed


# -- §5.4 safety --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ents", "wterm"),
    [([Entry(1, 1)], 2), ([Entry(1, 1), Entry(2, 2)], 3)],
)
def test_vote_request(ents: list[Entry], wterm: int):
    """§5.4.1: RequestVote carries the candidate's last log index and term."""
    r = new_test_raft(1, [1, 2, 3])
    r.step(Message(type=MT.MsgApp, from_=2, to=1, term=wterm - 1, entries=tuple(ents)))
    read_messages(r)
    for _ in range(2 * r.election_timeout):
        r.tick()
    msgs = by_to(read_messages(r))
    assert [(m.type, m.to, m.term) for m in msgs] == [
        (MT.MsgVote, 2, wterm),
        (MT.MsgVote, 3, wterm),
    ]
    assert all((m.index, m.log_term) == (ents[-1].index, ents[-1].term) for m in msgs)


@pytest.mark.parametrize(
    ("ents", "log_term", "index", "wreject"),
    [
        # same last term: longer-or-equal wins
        ([Entry(1, 1)], 1, 1, False),
        ([Entry(1, 1)], 1, 2, False),
        ([Entry(1, 1), Entry(1, 2)], 1, 1, True),
        # candidate has a higher last term
        ([Entry(1, 1)], 2, 1, False),
        ([Entry(1, 1)], 2, 2, False),
        ([Entry(1, 1), Entry(1, 2)], 2, 1, False),
        # voter has a higher last term
        ([Entry(2, 1)], 1, 1, True),
        ([Entry(2, 1)], 1, 2, True),
        ([Entry(2, 1), Entry(1, 2)], 1, 1, True),
    ],
)
def test_voter(ents: list[Entry], log_term: int, index: int, wreject: bool):
    """§5.4.1: a voter denies its vote if its own log is more up-to-date."""
    r = new_test_raft(1, [1, 2], storage=storage_with([1, 2], ents))
    r.step(Message(type=MT.MsgVote, from_=2, to=1, term=3, log_term=log_term, index=index))
    msgs = read_messages(r)
    assert len(msgs) == 1
    assert msgs[0].type == MT.MsgVoteResp
    assert msgs[0].reject == wreject


@pytest.mark.parametrize(("index", "wcommit"), [(1, 0), (2, 0), (3, 3)])
def test_leader_only_commits_log_from_current_term(index: int, wcommit: int):
    """§5.4.2: only entries of the leader's current term are committed by counting."""
    r = new_test_raft(1, [1, 2], storage=storage_with([1, 2], [Entry(1, 1), Entry(2, 2)]))
    r._load_state(HardState(term=2))
    r.become_candidate()
    r.become_leader()
    read_messages(r)
    r.step(Message(type=MT.MsgProp, from_=1, to=1, entries=(Entry(0, 0),)))
    r.step(Message(type=MT.MsgAppResp, from_=2, to=1, term=r.term, index=index))
    persist(r)
    assert r.raft_log.committed == wcommit


def test_candidate_fallback_on_heartbeat():
    """§5.2: a heartbeat from a leader of the candidate's term also ends the candidacy."""
    r = new_test_raft(1, [1, 2, 3])
    r.step(Message(type=MT.MsgHup, from_=1, to=1))
    r.step(Message(type=MT.MsgHeartbeat, from_=2, to=1, term=r.term))
    assert r.state == StateType.Follower
    assert r.lead == 2
