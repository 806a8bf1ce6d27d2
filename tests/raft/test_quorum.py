"""Property tests: quorum.py against naive definitions (etcd-io/raft quorum/quick_test.go)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pycoreos.raft.quorum import (
    INDEX_MAX,
    VoteResult,
    joint_committed_index,
    joint_vote_result,
    majority_committed_index,
    majority_vote_result,
)

ids = st.sets(st.integers(min_value=1, max_value=9), max_size=7)
acks = st.dictionaries(st.integers(min_value=1, max_value=9), st.integers(0, 20), max_size=9)
votes = st.dictionaries(st.integers(min_value=1, max_value=9), st.booleans(), max_size=9)


def naive_committed(voters: set[int], acked: dict[int, int]) -> int:
    """Largest index i such that a majority of voters acked >= i."""
    if not voters:
        return INDEX_MAX
    q = len(voters) // 2 + 1
    best = 0
    for i in range(0, 21):
        if sum(1 for v in voters if acked.get(v, 0) >= i) >= q:
            best = i
    return best


def naive_vote(voters: set[int], vs: dict[int, bool]) -> VoteResult:
    if not voters:
        return VoteResult.WON
    q = len(voters) // 2 + 1
    yes = sum(1 for v in voters if vs.get(v) is True)
    undecided = sum(1 for v in voters if v not in vs)
    if yes >= q:
        return VoteResult.WON
    if yes + undecided >= q:
        return VoteResult.PENDING
    return VoteResult.LOST


@settings(max_examples=300, deadline=None)
@given(ids, acks)
def test_majority_committed_index_matches_naive(voters: set[int], acked: dict[int, int]):
    assert majority_committed_index(voters, acked) == naive_committed(voters, acked)


@settings(max_examples=300, deadline=None)
@given(ids, votes)
def test_majority_vote_matches_naive(voters: set[int], vs: dict[int, bool]):
    assert majority_vote_result(voters, vs) == naive_vote(voters, vs)


@settings(max_examples=200, deadline=None)
@given(ids, ids, acks)
def test_joint_committed_is_min_of_halves(a: set[int], b: set[int], acked: dict[int, int]):
    got = joint_committed_index(a, b, acked)
    assert got == min(naive_committed(a, acked), naive_committed(b, acked))
    if not b:
        assert got == majority_committed_index(a, acked)


@settings(max_examples=200, deadline=None)
@given(ids, ids, votes)
def test_joint_vote_needs_both_halves(a: set[int], b: set[int], vs: dict[int, bool]):
    r1, r2 = naive_vote(a, vs), naive_vote(b, vs)
    got = joint_vote_result(a, b, vs)
    if r1 == r2 == VoteResult.WON:
        assert got == VoteResult.WON
    elif VoteResult.LOST in (r1, r2):
        assert got == VoteResult.LOST
    else:
        assert got == VoteResult.PENDING


def test_committed_examples():
    assert majority_committed_index({1, 2, 3}, {1: 5, 2: 3, 3: 1}) == 3
    assert majority_committed_index({1, 2, 3, 4}, {1: 5, 2: 3, 3: 1, 4: 9}) == 3
    assert majority_committed_index({1}, {}) == 0
