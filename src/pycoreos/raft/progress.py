"""Leader-side replication state per follower: Progress, Inflights, ProgressTracker.

Progress states (etcd-io/raft ``tracker``):

- PROBE: we do not know the follower's last index; send one MsgApp per heartbeat
  interval (``probe_sent`` pauses until a response or heartbeat response arrives).
- REPLICATE: optimistically pipeline MsgApps, bounded by the ``Inflights`` window.
- SNAPSHOT: a snapshot is in flight; send nothing until it is reported or acknowledged.

Invariants: ``match < next``; in REPLICATE, inflight indexes are increasing and
``> match``. Iteration over peers is always in sorted id order (determinism).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum

from pycoreos.raft import quorum
from pycoreos.raft.errors import RaftInvariantError
from pycoreos.raft.types import ConfState


class ProgressState(IntEnum):
    """Replication state of one follower."""

    PROBE = 0
    REPLICATE = 1
    SNAPSHOT = 2


class Inflights:
    """Sliding window of in-flight MsgApp last indexes (flow control)."""

    __slots__ = ("_q", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._q: deque[int] = deque()

    def add(self, index: int) -> None:
        """Record an in-flight MsgApp ending at ``index``."""
        if self.full():
            raise RaftInvariantError("cannot add into a Full inflights")
        self._q.append(index)

    def free_le(self, to: int) -> None:
        """Free every in-flight message whose last index is ``<= to``."""
        while self._q and self._q[0] <= to:
            self._q.popleft()

    def free_first_one(self) -> None:
        """Free the oldest in-flight message (a heartbeat response proves liveness)."""
        if self._q:
            self._q.popleft()

    def full(self) -> bool:
        """Whether the window is exhausted."""
        return len(self._q) >= self.size

    def count(self) -> int:
        """Number of in-flight messages."""
        return len(self._q)

    def reset(self) -> None:
        """Forget every in-flight message."""
        self._q.clear()


class Progress:
    """What the leader knows about one peer's log."""

    __slots__ = (
        "inflights",
        "is_learner",
        "match",
        "next",
        "pending_snapshot",
        "probe_sent",
        "recent_active",
        "state",
    )

    def __init__(
        self,
        *,
        match: int,
        next: int,
        max_inflight: int,
        is_learner: bool = False,
        recent_active: bool = False,
    ) -> None:
        self.match = match
        self.next = next
        self.state = ProgressState.PROBE
        self.pending_snapshot = 0
        self.recent_active = recent_active
        self.probe_sent = False
        self.is_learner = is_learner
        self.inflights = Inflights(max_inflight)

    def __repr__(self) -> str:
        s = f"{self.state.name} match={self.match} next={self.next}"
        if self.is_learner:
            s += " learner"
        if self.is_paused():
            s += " paused"
        if self.pending_snapshot:
            s += f" pendingSnap={self.pending_snapshot}"
        if not self.recent_active:
            s += " inactive"
        if n := self.inflights.count():
            s += f" inflight={n}"
            if self.inflights.full():
                s += "[full]"
        return s

    def _reset_state(self, state: ProgressState) -> None:
        self.probe_sent = False
        self.pending_snapshot = 0
        self.state = state
        self.inflights.reset()

    def become_probe(self) -> None:
        """Go back to probing from ``match + 1`` (or past a pending snapshot)."""
        if self.state == ProgressState.SNAPSHOT:
            pending = self.pending_snapshot
            self._reset_state(ProgressState.PROBE)
            self.next = max(self.match + 1, pending + 1)
        else:
            self._reset_state(ProgressState.PROBE)
            self.next = self.match + 1

    def become_replicate(self) -> None:
        """Start pipelining from ``match + 1``."""
        self._reset_state(ProgressState.REPLICATE)
        self.next = self.match + 1

    def become_snapshot(self, snapshot_index: int) -> None:
        """A snapshot at ``snapshot_index`` is being sent; pause replication."""
        self._reset_state(ProgressState.SNAPSHOT)
        self.pending_snapshot = snapshot_index

    def maybe_update(self, n: int) -> bool:
        """Record an acknowledgement of index ``n``; True if ``match`` advanced."""
        updated = False
        if self.match < n:
            self.match = n
            updated = True
            self.probe_sent = False
        self.next = max(self.next, n + 1)
        return updated

    def optimistic_update(self, n: int) -> None:
        """Assume a pipelined MsgApp up to ``n`` will be accepted."""
        self.next = n + 1

    def maybe_decr_to(self, rejected: int, match_hint: int) -> bool:
        """Handle a rejection of the MsgApp at ``rejected``; True if ``next`` moved back.

        Stale rejections (for a MsgApp we no longer consider outstanding) return False.
        """
        if self.state == ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), 1)
        self.probe_sent = False
        return True

    def is_paused(self) -> bool:
        """Whether the leader must hold off sending MsgApps to this peer."""
        if self.state == ProgressState.PROBE:
            return self.probe_sent
        if self.state == ProgressState.REPLICATE:
            return self.inflights.full()
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgressStatus:
    """Immutable copy of a ``Progress`` for ``Status``."""

    match: int
    next: int
    state: ProgressState
    pending_snapshot: int
    recent_active: bool
    probe_sent: bool
    is_learner: bool
    inflight: int
    paused: bool

    @classmethod
    def of(cls, pr: Progress) -> ProgressStatus:
        """Copy ``pr``."""
        return cls(
            match=pr.match,
            next=pr.next,
            state=pr.state,
            pending_snapshot=pr.pending_snapshot,
            recent_active=pr.recent_active,
            probe_sent=pr.probe_sent,
            is_learner=pr.is_learner,
            inflight=pr.inflights.count(),
            paused=pr.is_paused(),
        )


class ProgressTracker:
    """The configuration (voters, learners), per-peer progress and the current vote tally."""

    def __init__(self, max_inflight: int) -> None:
        self.max_inflight = max_inflight
        self.voters: set[int] = set()
        self.learners: set[int] = set()
        self.progress: dict[int, Progress] = {}
        self.votes: dict[int, bool] = {}

    def conf_state(self) -> ConfState:
        """The membership as a sorted ``ConfState``."""
        return ConfState(voters=tuple(sorted(self.voters)), learners=tuple(sorted(self.learners)))

    def is_singleton(self) -> bool:
        """Whether there is exactly one voter."""
        return len(self.voters) == 1

    def ids(self) -> list[int]:
        """Ids of every tracked peer (voters and learners), sorted."""
        return sorted(self.progress)

    def items(self) -> Iterator[tuple[int, Progress]]:
        """Progress entries in sorted id order."""
        for pid in sorted(self.progress):
            yield pid, self.progress[pid]

    def committed(self) -> int:
        """Largest index persisted by a quorum of voters."""
        acked = {v: self.progress[v].match for v in self.voters if v in self.progress}
        return quorum.majority_committed_index(self.voters, acked)

    def quorum_active(self) -> bool:
        """Whether a quorum of voters was recently active (check-quorum)."""
        votes = {pid: pr.recent_active for pid, pr in self.progress.items() if not pr.is_learner}
        return quorum.majority_vote_result(self.voters, votes) == quorum.VoteResult.WON

    def reset_votes(self) -> None:
        """Forget the vote tally."""
        self.votes = {}

    def record_vote(self, node_id: int, granted: bool) -> None:
        """Record ``node_id``'s vote; the first vote from a node counts."""
        self.votes.setdefault(node_id, granted)

    def tally_votes(self) -> tuple[int, int, quorum.VoteResult]:
        """Granted count, rejected count, and the outcome among voters."""
        granted = sum(1 for v in self.voters if self.votes.get(v) is True)
        rejected = sum(1 for v in self.voters if self.votes.get(v) is False)
        return granted, rejected, quorum.majority_vote_result(self.voters, self.votes)

    def init_progress(self, node_id: int, *, last_index: int, is_learner: bool) -> None:
        """Track a newly added peer, probing from ``last_index``."""
        # RecentActive: a new node must not make check-quorum depose the leader before it
        # had a chance to respond.
        self.progress[node_id] = Progress(
            match=0,
            next=max(last_index, 1),
            max_inflight=self.max_inflight,
            is_learner=is_learner,
            recent_active=True,
        )
