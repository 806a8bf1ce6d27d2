"""Quorum arithmetic: committed index and vote outcome for majority and joint configs.

Pure functions over plain mappings. A config is a set of voter ids; ``acked`` maps a voter
to the highest index it is known to have persisted (missing means 0).

Conventions (etcd-io/raft ``quorum``): an *empty* majority config commits everything
(``INDEX_MAX``) and wins every vote, so that a joint config whose outgoing half is empty
behaves like its incoming half.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from enum import IntEnum

INDEX_MAX = (1 << 64) - 1


class VoteResult(IntEnum):
    """Outcome of an election tally."""

    PENDING = 1
    LOST = 2
    WON = 3


def majority_committed_index(voters: Collection[int], acked: Mapping[int, int]) -> int:
    """Largest index acknowledged by a majority of ``voters``."""
    n = len(voters)
    if n == 0:
        return INDEX_MAX
    srt = sorted(acked.get(v, 0) for v in voters)
    # The quorum is n//2+1 voters; the (n//2+1)-th largest index is acked by all of them.
    return srt[n - (n // 2 + 1)]


def majority_vote_result(voters: Collection[int], votes: Mapping[int, bool]) -> VoteResult:
    """Whether ``votes`` (granted/rejected per id) win, lose, or are still pending."""
    if len(voters) == 0:
        return VoteResult.WON
    granted = rejected = missing = 0
    for v in voters:
        got = votes.get(v)
        if got is None:
            missing += 1
        elif got:
            granted += 1
        else:
            rejected += 1
    q = len(voters) // 2 + 1
    if granted >= q:
        return VoteResult.WON
    if granted + missing >= q:
        return VoteResult.PENDING
    return VoteResult.LOST


def joint_committed_index(
    incoming: Collection[int], outgoing: Collection[int], acked: Mapping[int, int]
) -> int:
    """Committed index of a joint config: the minimum of both halves."""
    return min(majority_committed_index(incoming, acked), majority_committed_index(outgoing, acked))


def joint_vote_result(
    incoming: Collection[int], outgoing: Collection[int], votes: Mapping[int, bool]
) -> VoteResult:
    """Vote outcome of a joint config: both halves must win; either losing loses."""
    r1 = majority_vote_result(incoming, votes)
    r2 = majority_vote_result(outgoing, votes)
    if r1 == r2:
        return r1
    if VoteResult.LOST in (r1, r2):
        return VoteResult.LOST
    return VoteResult.PENDING
