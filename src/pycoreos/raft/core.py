"""Raft: the consensus state machine (etcd-io/raft ``raft.go``), pure and synchronous.

Inputs are ``tick()``, ``step(msg)`` and ``stable_to()``/``applied_to()`` (from RawNode's
``advance``). Outputs accumulate in ``msgs`` and ``read_states`` and in the log's unstable
part; ``RawNode`` collects them into ``Ready``.

Invariants:

- ``term`` never decreases; ``vote`` is reset only when ``term`` changes.
- A leader only commits entries of its own term by counting (§5.4.2).
- The leader's own progress ``match`` advances only when the driver reports its entries
  persisted (``stable_to``), so a leader never counts itself for unpersisted entries
  (etcd-io/raft >= 3.6 self-ack semantics).
- Peer iteration is in sorted id order, so a seeded run is reproducible.

Strategy: one ``step`` dispatches on term first (stale / newer / same), then handles the
role-independent messages (MsgHup, votes), then calls the role handler in ``roles.py``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence

from pycoreos.raft import confchange, roles
from pycoreos.raft.config import Config, ReadOnlyOption
from pycoreos.raft.errors import (
    CompactedError,
    ProposalDroppedError,
    RaftInvariantError,
    SnapshotTemporarilyUnavailableError,
    UnavailableError,
)
from pycoreos.raft.log import RaftLog
from pycoreos.raft.progress import Progress, ProgressState, ProgressTracker
from pycoreos.raft.quorum import VoteResult
from pycoreos.raft.read_only import ReadOnly
from pycoreos.raft.roles import CAMPAIGN_ELECTION, CAMPAIGN_PRE_ELECTION, CAMPAIGN_TRANSFER
from pycoreos.raft.storage import Storage, payload_size
from pycoreos.raft.types import (
    ConfChange,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    ReadState,
    Snapshot,
    SoftState,
    StateType,
)

NONE = 0
"""The "no node" id (etcd-io/raft ``None``)."""


MT = MessageType

_LOCAL_MSGS = frozenset(
    {MT.MsgHup, MT.MsgBeat, MT.MsgUnreachable, MT.MsgSnapStatus, MT.MsgCheckQuorum}
)
_RESPONSE_MSGS = frozenset(
    {MT.MsgAppResp, MT.MsgVoteResp, MT.MsgHeartbeatResp, MT.MsgUnreachable, MT.MsgPreVoteResp}
)
_VOTE_MSGS = frozenset({MT.MsgVote, MT.MsgVoteResp, MT.MsgPreVote, MT.MsgPreVoteResp})


def is_local_msg(t: MessageType) -> bool:
    """Whether ``t`` is generated locally and must never come from the network."""
    return t in _LOCAL_MSGS


def is_response_msg(t: MessageType) -> bool:
    """Whether ``t`` is a response (only accepted from known peers)."""
    return t in _RESPONSE_MSGS


def vote_resp_msg_type(t: MessageType) -> MessageType:
    """The response type for a (pre-)vote request."""
    if t == MT.MsgVote:
        return MT.MsgVoteResp
    if t == MT.MsgPreVote:
        return MT.MsgPreVoteResp
    raise RaftInvariantError(f"not a vote message: {t!r}")


def _with_sender(m: Message, from_: int, term: int) -> Message:
    # One construction instead of dataclasses.replace (hot path: every outgoing message).
    return Message(
        m.type,
        m.to,
        from_,
        term,
        m.log_term,
        m.index,
        m.entries,
        m.commit,
        m.snapshot,
        m.reject,
        m.reject_hint,
        m.context,
    )


class Raft:
    """One node's Raft state machine. Use ``RawNode`` unless testing the core directly."""

    def __init__(
        self,
        config: Config,
        storage: Storage,
        *,
        rng: random.Random,
        logger: logging.Logger | None = None,
    ) -> None:
        config.validate()
        self.id = config.id
        self.config = config
        self.rng = rng
        self.logger = logger or logging.getLogger("pycoreos.raft")
        self.raft_log = RaftLog(storage, config.committed_per_ready_limit)
        self.term = 0
        self.vote = NONE
        self.lead = NONE
        self.state = StateType.Follower
        self.is_learner = False
        self.prs = ProgressTracker(config.max_inflight_msgs)
        self.msgs: list[Message] = []
        self.read_states: list[ReadState] = []
        self.lead_transferee = NONE
        self.pending_conf_index = 0
        self.uncommitted_size = 0
        self.read_only = ReadOnly()
        self.pending_read_index_messages: list[Message] = []
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.check_quorum = config.check_quorum
        self.pre_vote = config.pre_vote
        self.heartbeat_timeout = config.heartbeat_tick
        self.election_timeout = config.election_tick
        self.randomized_election_timeout = config.election_tick
        self.max_msg_size = config.max_size_per_msg
        self.max_uncommitted_size = config.uncommitted_limit

        hs, cs = storage.initial_state()
        confchange.restore_tracker(self.prs, cs, self.raft_log.last_index())
        self._after_conf_change()
        if not hs.is_empty():
            self._load_state(hs)
        if config.applied > 0:
            self.raft_log.applied_to(config.applied)
        self.become_follower(self.term, NONE)
        self.logger.info(
            "newRaft %x [peers: [%s], term: %d, commit: %d, applied: %d, lastindex: %d, "
            "lastterm: %d]",
            self.id,
            ",".join(str(v) for v in sorted(self.prs.voters)),
            self.term,
            self.raft_log.committed,
            self.raft_log.applied,
            self.raft_log.last_index(),
            self.raft_log.last_term(),
        )

    # -- state snapshots ----------------------------------------------------------------

    def soft_state(self) -> SoftState:
        """Current leader and role."""
        return SoftState(lead=self.lead, raft_state=self.state)

    def hard_state(self) -> HardState:
        """Current term, vote and commit index."""
        return HardState(term=self.term, vote=self.vote, commit=self.raft_log.committed)

    def _load_state(self, hs: HardState) -> None:
        if hs.commit < self.raft_log.committed or hs.commit > self.raft_log.last_index():
            raise RaftInvariantError(
                f"{self.id:x} state.commit {hs.commit} is out of range "
                f"[{self.raft_log.committed}, {self.raft_log.last_index()}]"
            )
        self.raft_log.committed = hs.commit
        self.term = hs.term
        self.vote = hs.vote

    def promotable(self) -> bool:
        """Whether this node may campaign (a voter, not waiting on a snapshot)."""
        pr = self.prs.progress.get(self.id)
        return pr is not None and not pr.is_learner and not self.raft_log.has_pending_snapshot()

    def past_election_timeout(self) -> bool:
        """Whether the randomized election timeout elapsed."""
        return self.election_elapsed >= self.randomized_election_timeout

    def reset_randomized_election_timeout(self) -> None:
        """Draw a new timeout in ``[election_timeout, 2*election_timeout)`` from ``rng``."""
        self.randomized_election_timeout = self.election_timeout + self.rng.randrange(
            self.election_timeout
        )

    # -- sending ------------------------------------------------------------------------

    def send(self, m: Message) -> None:
        """Queue ``m`` for the driver, filling ``from_`` and (for non-votes) ``term``."""
        term = m.term
        if m.type in _VOTE_MSGS:
            if term == 0:
                # Vote messages carry the term they are for, which may be ahead of ours.
                raise RaftInvariantError(f"term should be set when sending {m.type.name}")
        else:
            if term != 0:
                raise RaftInvariantError(
                    f"term should not be set when sending {m.type.name} (was {term})"
                )
            # Proposals and read-index requests are forwarded as local messages (term 0).
            if m.type is not MT.MsgProp and m.type is not MT.MsgReadIndex:
                term = self.term
        from_ = m.from_ or self.id
        if from_ != m.from_ or term != m.term:
            m = _with_sender(m, from_, term)
        self.msgs.append(m)

    def send_append(self, to: int) -> None:
        """Send a MsgApp (possibly empty) or MsgSnap to ``to``."""
        self.maybe_send_append(to, send_if_empty=True)

    def maybe_send_append(self, to: int, *, send_if_empty: bool) -> bool:
        """Send the next MsgApp (or a MsgSnap) to ``to`` if flow control allows.

        Returns:
            Whether a message was sent.
        """
        pr = self.prs.progress[to]
        if pr.is_paused():
            return False
        try:
            prev_term = self.raft_log.term(pr.next - 1)
            ents = self.raft_log.entries(pr.next, self.max_msg_size)
            if not ents and not send_if_empty:
                return False
        except (CompactedError, UnavailableError):
            return self._send_snapshot(to)
        m = Message(
            type=MT.MsgApp,
            to=to,
            index=pr.next - 1,
            log_term=prev_term,
            entries=ents,
            commit=self.raft_log.committed,
        )
        if ents:
            last = ents[-1].index
            if pr.state == ProgressState.REPLICATE:
                pr.optimistic_update(last)
                pr.inflights.add(last)
            elif pr.state == ProgressState.PROBE:
                pr.probe_sent = True
            else:
                raise RaftInvariantError(f"{self.id:x} is sending append in unhandled state")
        self.send(m)
        return True

    def _send_snapshot(self, to: int) -> bool:
        pr = self.prs.progress[to]
        if not pr.recent_active:
            self.logger.debug("ignore sending snapshot to %x since it is not recently active", to)
            return False
        try:
            snap = self.raft_log.snapshot()
        except SnapshotTemporarilyUnavailableError:
            self.logger.debug(
                "%x failed to send snapshot to %x because snapshot is temporarily unavailable",
                self.id,
                to,
            )
            return False
        if snap.is_empty():
            raise RaftInvariantError("need non-empty snapshot")
        self.logger.debug(
            "%x [firstindex: %d, commit: %d] sent snapshot[index: %d, term: %d] to %x [%r]",
            self.id,
            self.raft_log.first_index(),
            self.raft_log.committed,
            snap.metadata.index,
            snap.metadata.term,
            to,
            pr,
        )
        pr.become_snapshot(snap.metadata.index)
        self.send(Message(type=MT.MsgSnap, to=to, snapshot=snap))
        return True

    def send_heartbeat(self, to: int, ctx: bytes) -> None:
        """Send a heartbeat; its commit is capped at the peer's match (it may lack entries)."""
        commit = min(self.prs.progress[to].match, self.raft_log.committed)
        self.send(Message(type=MT.MsgHeartbeat, to=to, commit=commit, context=ctx))

    def bcast_append(self) -> None:
        """Send appends to every peer (sorted order)."""
        for pid in self.prs.ids():
            if pid != self.id:
                self.send_append(pid)

    def bcast_heartbeat(self) -> None:
        """Heartbeat every peer, carrying the newest pending ReadIndex context."""
        self.bcast_heartbeat_with_ctx(self.read_only.last_pending_request_ctx())

    def bcast_heartbeat_with_ctx(self, ctx: bytes) -> None:
        """Heartbeat every peer with ``ctx``."""
        for pid in self.prs.ids():
            if pid != self.id:
                self.send_heartbeat(pid, ctx)

    # -- log and commit -----------------------------------------------------------------

    def maybe_commit(self) -> bool:
        """Advance the commit index to the quorum match if it is from this term."""
        return self.raft_log.maybe_commit(self.prs.committed(), self.term)

    def append_entry(self, es: Sequence[Entry]) -> bool:
        """Append proposals as leader, stamping term and index; False if over quota."""
        li = self.raft_log.last_index()
        stamped = [
            Entry(term=self.term, index=li + 1 + i, type=e.type, data=e.data)
            for i, e in enumerate(es)
        ]
        if not self._increase_uncommitted_size(stamped):
            self.logger.debug(
                "%x appending new entries to log would exceed uncommitted entry size limit; "
                "dropping proposal",
                self.id,
            )
            return False
        self.raft_log.append(stamped)
        # No self-ack here: the leader counts itself for these entries only once the driver
        # reports them persisted (stable_to), like etcd-io/raft's deferred MsgAppResp.
        return True

    def stable_to(self, index: int, term: int) -> None:
        """The driver persisted entries up to ``(index, term)``.

        On the leader this is the self-acknowledgement that may commit entries (in a
        one-voter cluster, the only one).
        """
        self.raft_log.stable_to(index, term)
        if self.state != StateType.Leader or term != self.term:
            return
        pr = self.prs.progress.get(self.id)
        if pr is None or not pr.maybe_update(index):
            return
        if self.maybe_commit():
            self.release_pending_read_index_messages()
            self.bcast_append()

    def _increase_uncommitted_size(self, ents: Sequence[Entry]) -> bool:
        s = payload_size(ents)
        if (
            self.uncommitted_size > 0
            and s > 0
            and self.uncommitted_size + s > self.max_uncommitted_size
        ):
            return False
        self.uncommitted_size += s
        return True

    def reduce_uncommitted_size(self, ents: Sequence[Entry]) -> None:
        """Release quota for entries that were committed (called on advance)."""
        if self.uncommitted_size == 0:
            return
        s = payload_size(ents)
        self.uncommitted_size = 0 if s > self.uncommitted_size else self.uncommitted_size - s

    def committed_entry_in_current_term(self) -> bool:
        """Whether the leader committed an entry of its own term yet."""
        return self.raft_log.term_or_zero(self.raft_log.committed) == self.term

    # -- role transitions ---------------------------------------------------------------

    def reset(self, term: int) -> None:
        """Reset volatile state for a new role (and a new term, clearing the vote)."""
        if self.term != term:
            self.term = term
            self.vote = NONE
        self.lead = NONE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.reset_randomized_election_timeout()
        self.abort_leader_transfer()
        self.prs.reset_votes()
        last = self.raft_log.last_index()
        for pid, pr in list(self.prs.items()):
            self.prs.progress[pid] = Progress(
                match=last if pid == self.id else 0,
                next=last + 1,
                max_inflight=self.prs.max_inflight,
                is_learner=pr.is_learner,
            )
        self.pending_conf_index = 0
        self.uncommitted_size = 0
        self.read_only = ReadOnly()

    def become_follower(self, term: int, lead: int) -> None:
        """Become follower of ``lead`` (or none) at ``term``."""
        self.reset(term)
        self.lead = lead
        self.state = StateType.Follower
        self.logger.info("%x became follower at term %d", self.id, self.term)

    def become_candidate(self) -> None:
        """Start an election: bump the term and vote for ourselves."""
        if self.state == StateType.Leader:
            raise RaftInvariantError("invalid transition [leader -> candidate]")
        self.reset(self.term + 1)
        self.vote = self.id
        self.state = StateType.Candidate
        self.logger.info("%x became candidate at term %d", self.id, self.term)

    def become_pre_candidate(self) -> None:
        """Start a pre-election: no term change, no vote recorded (thesis §9.6)."""
        if self.state == StateType.Leader:
            raise RaftInvariantError("invalid transition [leader -> pre-candidate]")
        self.prs.reset_votes()
        self.lead = NONE
        self.state = StateType.PreCandidate
        self.logger.info("%x became pre-candidate at term %d", self.id, self.term)

    def become_leader(self) -> None:
        """Take leadership: replicate to everyone and append an empty entry of our term."""
        if self.state == StateType.Follower:
            raise RaftInvariantError("invalid transition [follower -> leader]")
        self.reset(self.term)
        self.lead = self.id
        self.state = StateType.Leader
        # Followers start in probe; the leader's own progress is trivially replicating.
        self.prs.progress[self.id].become_replicate()
        # Conservatively treat every entry up to the last index as a possible pending
        # conf change: we cannot know without scanning the unapplied log.
        self.pending_conf_index = self.raft_log.last_index()
        if not self.append_entry([Entry(term=0, index=0)]):
            raise RaftInvariantError("empty entry was dropped")
        # The empty entry has no payload, so it does not count against the quota.
        self.logger.info("%x became leader at term %d", self.id, self.term)

    def abort_leader_transfer(self) -> None:
        """Forget an in-progress leadership transfer."""
        self.lead_transferee = NONE

    # -- elections ----------------------------------------------------------------------

    def hup(self, campaign_type: bytes) -> None:
        """Start a (pre-)election if allowed."""
        if self.state == StateType.Leader:
            self.logger.debug("%x ignoring MsgHup because already leader", self.id)
            return
        if not self.promotable():
            self.logger.warning("%x is unpromotable and can not campaign", self.id)
            return
        if self.raft_log.committed > self.raft_log.applied:
            ents = self.raft_log.slice(
                self.raft_log.applied + 1, self.raft_log.committed + 1, (1 << 64) - 1
            )
            n = sum(1 for e in ents if e.type == EntryType.CONF_CHANGE)
            if n:
                # A conf change that is committed but not applied could change who may vote.
                self.logger.warning(
                    "%x cannot campaign at term %d since there are still %d pending "
                    "configuration changes to apply",
                    self.id,
                    self.term,
                    n,
                )
                return
        self.logger.info("%x is starting a new election at term %d", self.id, self.term)
        self.campaign(campaign_type)

    def campaign(self, campaign_type: bytes) -> None:
        """Become (pre-)candidate and request votes from every voter."""
        if campaign_type == CAMPAIGN_PRE_ELECTION:
            self.become_pre_candidate()
            vote_msg = MT.MsgPreVote
            # Pre-vote asks for the term we would use, without incrementing ours.
            term = self.term + 1
        else:
            self.become_candidate()
            vote_msg = MT.MsgVote
            term = self.term
        # Our own vote counts immediately (it is persisted with the hard state of the same
        # Ready): a one-voter cluster elects itself within campaign().
        if self.poll(self.id, vote_resp_msg_type(vote_msg), True) == VoteResult.WON:
            if campaign_type == CAMPAIGN_PRE_ELECTION:
                self.campaign(CAMPAIGN_ELECTION)
            else:
                self.become_leader()
            return
        ctx = CAMPAIGN_TRANSFER if campaign_type == CAMPAIGN_TRANSFER else b""
        for pid in sorted(self.prs.voters):
            if pid == self.id:
                continue
            self.logger.info(
                "%x [logterm: %d, index: %d] sent %s request to %x at term %d",
                self.id,
                self.raft_log.last_term(),
                self.raft_log.last_index(),
                vote_msg.name,
                pid,
                self.term,
            )
            self.send(
                Message(
                    type=vote_msg,
                    to=pid,
                    term=term,
                    index=self.raft_log.last_index(),
                    log_term=self.raft_log.last_term(),
                    context=ctx,
                )
            )

    def poll(self, node_id: int, t: MessageType, granted: bool) -> VoteResult:
        """Record a vote and return the tally's outcome."""
        if granted:
            self.logger.info(
                "%x received %s from %x at term %d", self.id, t.name, node_id, self.term
            )
        else:
            self.logger.info(
                "%x received %s rejection from %x at term %d", self.id, t.name, node_id, self.term
            )
        self.prs.record_vote(node_id, granted)
        return self.prs.tally_votes()[2]

    # -- ticks --------------------------------------------------------------------------

    def tick(self) -> None:
        """Advance logical time by one tick."""
        if self.state == StateType.Leader:
            self._tick_heartbeat()
        else:
            self._tick_election()

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self.promotable() and self.past_election_timeout():
            self.election_elapsed = 0
            self.step(Message(type=MT.MsgHup, from_=self.id))

    def _tick_heartbeat(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.election_timeout:
            self.election_elapsed = 0
            if self.check_quorum:
                self.step(Message(type=MT.MsgCheckQuorum, from_=self.id))
            # A transfer that did not finish within an election timeout is aborted (§3.10).
            if self.state == StateType.Leader and self.lead_transferee != NONE:
                self.abort_leader_transfer()
        if self.state != StateType.Leader:
            return
        if self.heartbeat_elapsed >= self.heartbeat_timeout:
            self.heartbeat_elapsed = 0
            self.step(Message(type=MT.MsgBeat, from_=self.id))

    # -- step ---------------------------------------------------------------------------

    def step(self, m: Message) -> None:
        """Process one message (local or from a peer).

        Raises:
            ProposalDroppedError: a MsgProp could not be accepted.
        """
        if m.term == 0:
            pass  # local message
        elif m.term > self.term:
            if m.type in (MT.MsgVote, MT.MsgPreVote):
                force = m.context == CAMPAIGN_TRANSFER
                in_lease = (
                    self.check_quorum
                    and self.lead != NONE
                    and self.election_elapsed < self.election_timeout
                )
                if not force and in_lease:
                    # We heard from a live leader within the minimum election timeout:
                    # ignore the request and do not bump our term (thesis §4.2.3).
                    self.logger.info(
                        "%x [logterm: %d, index: %d, vote: %x] ignored %s from %x "
                        "[logterm: %d, index: %d] at term %d: lease is not expired "
                        "(remaining ticks: %d)",
                        self.id,
                        self.raft_log.last_term(),
                        self.raft_log.last_index(),
                        self.vote,
                        m.type.name,
                        m.from_,
                        m.log_term,
                        m.index,
                        self.term,
                        self.election_timeout - self.election_elapsed,
                    )
                    return
            if m.type == MT.MsgPreVote:
                pass  # never change our term in response to a PreVote
            elif m.type == MT.MsgPreVoteResp and not m.reject:
                # Granted pre-votes carry the future term; we bump it only when the
                # pre-election wins and the real election starts.
                pass
            else:
                self.logger.info(
                    "%x [term: %d] received a %s message with higher term from %x [term: %d]",
                    self.id,
                    self.term,
                    m.type.name,
                    m.from_,
                    m.term,
                )
                if m.type in (MT.MsgApp, MT.MsgHeartbeat, MT.MsgSnap):
                    self.become_follower(m.term, m.from_)
                else:
                    self.become_follower(m.term, NONE)
        elif m.term < self.term:
            if (self.check_quorum or self.pre_vote) and m.type in (MT.MsgHeartbeat, MT.MsgApp):
                # A stale leader (e.g. after a partition) would otherwise never learn the new
                # term, while we ignore it; this response makes it step down.
                self.send(Message(type=MT.MsgAppResp, to=m.from_))
            elif m.type == MT.MsgPreVote:
                # Without rejecting, a pre-candidate with a lower term waits forever
                # (etcd issue #8501).
                self.send(Message(type=MT.MsgPreVoteResp, to=m.from_, term=self.term, reject=True))
            else:
                self.logger.info(
                    "%x [term: %d] ignored a %s message with lower term from %x [term: %d]",
                    self.id,
                    self.term,
                    m.type.name,
                    m.from_,
                    m.term,
                )
            return

        if m.type == MT.MsgHup:
            self.hup(CAMPAIGN_PRE_ELECTION if self.pre_vote else CAMPAIGN_ELECTION)
        elif m.type in (MT.MsgVote, MT.MsgPreVote):
            self._handle_vote_request(m)
        elif self.state == StateType.Leader:
            roles.step_leader(self, m)
        elif self.state in (StateType.Candidate, StateType.PreCandidate):
            roles.step_candidate(self, m)
        else:
            roles.step_follower(self, m)

    def _handle_vote_request(self, m: Message) -> None:
        can_vote = (
            self.vote == m.from_
            # We have not voted and do not believe there is a leader in this term.
            or (self.vote == NONE and self.lead == NONE)
            # A pre-vote for a future term can be granted regardless.
            or (m.type == MT.MsgPreVote and m.term > self.term)
        )
        resp = vote_resp_msg_type(m.type)
        if can_vote and self.raft_log.is_up_to_date(m.index, m.log_term):
            self.logger.info(
                "%x [logterm: %d, index: %d, vote: %x] cast %s for %x [logterm: %d, index: %d] "
                "at term %d",
                self.id,
                self.raft_log.last_term(),
                self.raft_log.last_index(),
                self.vote,
                m.type.name,
                m.from_,
                m.log_term,
                m.index,
                self.term,
            )
            # Reply with the request's term: a pre-vote response must carry the future
            # term for the pre-candidate to count it.
            self.send(Message(type=resp, to=m.from_, term=m.term))
            if m.type == MT.MsgVote:
                self.election_elapsed = 0
                self.vote = m.from_
        else:
            self.logger.info(
                "%x [logterm: %d, index: %d, vote: %x] rejected %s from %x [logterm: %d, "
                "index: %d] at term %d",
                self.id,
                self.raft_log.last_term(),
                self.raft_log.last_index(),
                self.vote,
                m.type.name,
                m.from_,
                m.log_term,
                m.index,
                self.term,
            )
            self.send(Message(type=resp, to=m.from_, term=self.term, reject=True))

    # -- read index ---------------------------------------------------------------------

    def send_read_index_response(self, m: Message) -> None:
        """Leader: confirm leadership for ``m`` (safe) or answer right away (lease)."""
        if self.config.read_only_option == ReadOnlyOption.SAFE:
            ctx = m.entries[0].data
            self.read_only.add_request(self.raft_log.committed, m)
            # The leader acknowledges its own request.
            self.read_only.recv_ack(self.id, ctx)
            self.bcast_heartbeat_with_ctx(ctx)
        else:
            resp = self.response_to_read_index_req(m, self.raft_log.committed)
            if resp is not None:
                self.send(resp)

    def response_to_read_index_req(self, req: Message, read_index: int) -> Message | None:
        """Record a local ReadState, or build the MsgReadIndexResp for a follower."""
        if req.from_ in (NONE, self.id):
            self.read_states.append(ReadState(index=read_index, request_ctx=req.entries[0].data))
            return None
        return Message(
            type=MT.MsgReadIndexResp, to=req.from_, index=read_index, entries=req.entries
        )

    def release_pending_read_index_messages(self) -> None:
        """Answer reads postponed until the leader committed an entry of its term."""
        if not self.pending_read_index_messages:
            return
        if not self.committed_entry_in_current_term():
            return
        msgs, self.pending_read_index_messages = self.pending_read_index_messages, []
        for m in msgs:
            self.send_read_index_response(m)

    # -- snapshots and membership -------------------------------------------------------

    def restore(self, s: Snapshot) -> bool:
        """Follower: adopt snapshot ``s`` if it is newer than our committed log."""
        meta = s.metadata
        if meta.index <= self.raft_log.committed:
            return False
        if self.state != StateType.Follower:
            # Defense in depth: only a leader of our term sends snapshots, which makes us a
            # follower first. Bump the term rather than apply it in another role.
            self.logger.warning(
                "%x attempted to restore snapshot as leader; should never happen", self.id
            )
            self.become_follower(self.term + 1, NONE)
            return False
        cs = meta.conf_state
        if self.id not in cs.voters and self.id not in cs.learners:
            self.logger.warning(
                "%x attempted to restore snapshot but it is not in the ConfState %r; "
                "should never happen",
                self.id,
                cs,
            )
            return False
        if self.raft_log.match_term(meta.index, meta.term):
            # We already have the entry: fast-forward the commit index only.
            self.logger.info(
                "%x [commit: %d] fast-forwarded commit to snapshot [index: %d, term: %d]",
                self.id,
                self.raft_log.committed,
                meta.index,
                meta.term,
            )
            self.raft_log.commit_to(meta.index)
            return False
        self.raft_log.restore(s)
        self.prs = ProgressTracker(self.prs.max_inflight)
        confchange.restore_tracker(self.prs, cs, self.raft_log.last_index())
        self._after_conf_change()
        self.logger.info(
            "%x [commit: %d, lastindex: %d, lastterm: %d] restored snapshot [index: %d, term: %d]",
            self.id,
            self.raft_log.committed,
            self.raft_log.last_index(),
            self.raft_log.last_term(),
            meta.index,
            meta.term,
        )
        return True

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        """Apply a committed conf change to the tracker and return the new ConfState."""
        if not confchange.apply_to_tracker(self.prs, cc, self.raft_log.last_index()):
            self.logger.warning(
                "%x refused conf change %s %x: it would remove the last voter",
                self.id,
                cc.type.name,
                cc.node_id,
            )
        return self._after_conf_change()

    def _after_conf_change(self) -> ConfState:
        cs = self.prs.conf_state()
        pr = self.prs.progress.get(self.id)
        self.is_learner = pr is not None and pr.is_learner
        if (pr is None or self.is_learner) and self.state == StateType.Leader:
            # A removed or demoted leader keeps leading until it steps down; it no longer
            # counts towards quorum and the application is expected to stop or transfer.
            return cs
        if self.state != StateType.Leader or not cs.voters:
            return cs
        if self.maybe_commit():
            # Removing a voter may have lowered the quorum and committed more.
            self.bcast_append()
        else:
            for pid in self.prs.ids():
                if pid != self.id:
                    self.maybe_send_append(pid, send_if_empty=False)
        if self.lead_transferee != NONE and self.lead_transferee not in self.prs.voters:
            self.abort_leader_transfer()
        return cs

    def drop_proposal(self, why: str) -> None:
        """Raise ``ProposalDroppedError`` after logging ``why``."""
        self.logger.debug("%x dropped proposal: %s", self.id, why)
        raise ProposalDroppedError()
