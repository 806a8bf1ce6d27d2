"""Per-role message handlers of the Raft state machine (etcd-io/raft ``stepLeader``,
``stepCandidate``, ``stepFollower`` and the ``handle*`` functions).

``core.Raft.step`` has already dealt with the term comparison, MsgHup and vote requests;
these functions see only messages of the current term (or local ones) for their role.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pycoreos.raft import confchange
from pycoreos.raft.config import ReadOnlyOption
from pycoreos.raft.errors import CompactedError, RaftInvariantError, UnavailableError
from pycoreos.raft.progress import Progress, ProgressState
from pycoreos.raft.quorum import VoteResult, majority_vote_result
from pycoreos.raft.types import Entry, EntryType, Message, MessageType, ReadState, StateType

if TYPE_CHECKING:
    from pycoreos.raft.core import Raft

MT = MessageType

CAMPAIGN_PRE_ELECTION = b"CampaignPreElection"
"""Campaign type: a pre-vote round first (thesis §9.6)."""
CAMPAIGN_ELECTION = b"CampaignElection"
"""Campaign type: a normal election."""
CAMPAIGN_TRANSFER = b"CampaignTransfer"
"""Campaign type: forced by MsgTimeoutNow; overrides leader leases."""


# -- leader -------------------------------------------------------------------------------


def step_leader(r: Raft, m: Message) -> None:
    """Handle ``m`` as leader."""
    match m.type:
        case MT.MsgBeat:
            r.bcast_heartbeat()
            return
        case MT.MsgCheckQuorum:
            _check_quorum(r)
            return
        case MT.MsgProp:
            _leader_propose(r, m)
            return
        case MT.MsgReadIndex:
            _leader_read_index(r, m)
            return
        case _:
            pass
    # Every other message needs the sender's progress.
    pr = r.prs.progress.get(m.from_)
    if pr is None:
        r.logger.debug("%x no progress available for %x", r.id, m.from_)
        return
    match m.type:
        case MT.MsgAppResp:
            _handle_append_response(r, m, pr)
        case MT.MsgHeartbeatResp:
            _handle_heartbeat_response(r, m, pr)
        case MT.MsgSnapStatus:
            if pr.state != ProgressState.SNAPSHOT:
                return
            if m.reject:
                # The snapshot failed: forget it and probe again from match.
                pr.pending_snapshot = 0
            pr.become_probe()
            # Wait for a MsgAppResp or heartbeat response before probing again, so a
            # fast retry does not race the (possibly still arriving) snapshot.
            pr.probe_sent = True
            r.logger.debug(
                "%x snapshot %s, resumed sending replication messages to %x [%r]",
                r.id,
                "failed" if m.reject else "succeeded",
                m.from_,
                pr,
            )
        case MT.MsgUnreachable:
            # The transport failed to deliver: a MsgApp was probably lost.
            if pr.state == ProgressState.REPLICATE:
                pr.become_probe()
            r.logger.debug(
                "%x failed to send message to %x because it is unreachable [%r]", r.id, m.from_, pr
            )
        case MT.MsgTransferLeader:
            _leader_transfer(r, m, pr)
        case _:
            pass


def _check_quorum(r: Raft) -> None:
    pr = r.prs.progress.get(r.id)
    if pr is not None:
        pr.recent_active = True
    if not r.prs.quorum_active():
        r.logger.warning("%x stepped down to follower since quorum is not active", r.id)
        r.become_follower(r.term, 0)
    # Each check-quorum interval needs fresh evidence of activity.
    for pid, p in r.prs.items():
        if pid != r.id:
            p.recent_active = False


def _leader_propose(r: Raft, m: Message) -> None:
    if not m.entries:
        raise RaftInvariantError(f"{r.id:x} stepped empty MsgProp")
    if r.id not in r.prs.progress:
        # We were removed from the configuration while leading.
        r.drop_proposal("leader was removed from the configuration")
    if r.lead_transferee != 0:
        r.drop_proposal(f"lead transfer to {r.lead_transferee:x} is in progress")
    ents = list(m.entries)
    for i, e in enumerate(ents):
        if e.type != EntryType.CONF_CHANGE:
            continue
        try:
            cc = confchange.decode_conf_change(e.data)
        except ValueError as err:
            raise RaftInvariantError(f"{r.id:x} cannot decode proposed conf change") from err
        refused = ""
        if r.pending_conf_index > r.raft_log.applied:
            refused = (
                f"possible unapplied conf change at index {r.pending_conf_index} "
                f"(applied to {r.raft_log.applied})"
            )
        elif confchange.leaves_no_voter(r.prs, cc):
            refused = f"removing {cc.node_id:x} would leave no voters"
        if refused:
            r.logger.info("%x ignoring conf change %r: %s", r.id, cc, refused)
            # Keep the slot (callers may count entries) but make it a no-op.
            ents[i] = Entry(term=0, index=0, type=EntryType.NORMAL)
        else:
            r.pending_conf_index = r.raft_log.last_index() + i + 1
    if not r.append_entry(ents):
        r.drop_proposal("uncommitted entry size limit")
    r.bcast_append()


def _leader_read_index(r: Raft, m: Message) -> None:
    if r.prs.is_singleton():
        # A single voter is always the quorum: answer immediately.
        resp = r.response_to_read_index_req(m, r.raft_log.committed)
        if resp is not None:
            r.send(resp)
        return
    if not r.committed_entry_in_current_term():
        # The commit index is only known to be current once an entry of our term is
        # committed (thesis §6.4); postpone until then.
        r.pending_read_index_messages.append(m)
        return
    r.send_read_index_response(m)


def _leader_transfer(r: Raft, m: Message, pr: Progress) -> None:
    if pr.is_learner:
        r.logger.debug("%x is learner. Ignored transferring leadership", m.from_)
        return
    transferee = m.from_
    if r.lead_transferee != 0:
        if r.lead_transferee == transferee:
            r.logger.info(
                "%x [term %d] transfer leadership to %x is in progress, ignores request to "
                "same node %x",
                r.id,
                r.term,
                transferee,
                transferee,
            )
            return
        r.abort_leader_transfer()
    if transferee == r.id:
        r.logger.debug("%x is already leader. Ignored transferring leadership to self", r.id)
        return
    r.logger.info("%x [term %d] starts to transfer leadership to %x", r.id, r.term, transferee)
    # The transfer must finish within an election timeout or it is aborted (tick).
    r.election_elapsed = 0
    r.lead_transferee = transferee
    if pr.match == r.raft_log.last_index():
        r.send(Message(type=MT.MsgTimeoutNow, to=transferee))
    else:
        r.send_append(transferee)


def _handle_append_response(r: Raft, m: Message, pr: Progress) -> None:
    pr.recent_active = True
    if m.reject:
        r.logger.debug(
            "%x received MsgAppResp(rejected, hint: (index %d, term %d)) from %x for index %d",
            r.id,
            m.reject_hint,
            m.log_term,
            m.from_,
            m.index,
        )
        next_probe_idx = m.reject_hint
        if m.log_term > 0:
            # Skip every entry of a term the follower does not have (fast backtracking,
            # thesis §5.3 / etcd-io/raft findConflictByTerm).
            next_probe_idx = r.raft_log.find_conflict_by_term(m.reject_hint, m.log_term)
        if pr.maybe_decr_to(m.index, next_probe_idx):
            if pr.state == ProgressState.REPLICATE:
                pr.become_probe()
            r.send_append(m.from_)
        return
    old_paused = pr.is_paused()
    if not pr.maybe_update(m.index):
        return
    if pr.state == ProgressState.PROBE:
        pr.become_replicate()
    elif pr.state == ProgressState.SNAPSHOT and pr.match >= pr.pending_snapshot:
        r.logger.debug(
            "%x recovered from needing snapshot, resumed sending replication to %x", r.id, m.from_
        )
        pr.become_probe()
        pr.become_replicate()
    elif pr.state == ProgressState.REPLICATE:
        pr.inflights.free_le(m.index)
    if r.maybe_commit():
        r.release_pending_read_index_messages()
        r.bcast_append()
    elif old_paused:
        # The peer was paused; the update may let us send again (it may have missed the
        # latest commit index).
        r.send_append(m.from_)
    # The window may now allow several size-limited MsgApps at once.
    while r.maybe_send_append(m.from_, send_if_empty=False):
        pass
    if m.from_ == r.lead_transferee and pr.match == r.raft_log.last_index():
        r.logger.info("%x sent MsgTimeoutNow to %x after received MsgAppResp", r.id, m.from_)
        r.send(Message(type=MT.MsgTimeoutNow, to=m.from_))


def _handle_heartbeat_response(r: Raft, m: Message, pr: Progress) -> None:
    pr.recent_active = True
    pr.probe_sent = False
    # A heartbeat round trip proves the follower is alive: free one slot of a full window
    # so a lost MsgApp cannot stall replication forever.
    if pr.state == ProgressState.REPLICATE and pr.inflights.full():
        pr.inflights.free_first_one()
    if pr.match < r.raft_log.last_index():
        r.send_append(m.from_)
    if r.config.read_only_option != ReadOnlyOption.SAFE or not m.context:
        return
    acks = r.read_only.recv_ack(m.from_, m.context)
    if acks is None:
        return
    votes = dict.fromkeys(acks, True)
    if majority_vote_result(r.prs.voters, votes) != VoteResult.WON:
        return
    for rs in r.read_only.advance(m.context):
        resp = r.response_to_read_index_req(rs.req, rs.index)
        if resp is not None:
            r.send(resp)


# -- candidate ----------------------------------------------------------------------------


def step_candidate(r: Raft, m: Message) -> None:
    """Handle ``m`` as candidate or pre-candidate."""
    my_resp = MT.MsgPreVoteResp if r.state == StateType.PreCandidate else MT.MsgVoteResp
    if m.type == MT.MsgProp:
        r.drop_proposal(f"no leader at term {r.term}")
    elif m.type == MT.MsgApp:
        r.become_follower(m.term, m.from_)  # always m.term == r.term
        handle_append_entries(r, m)
    elif m.type == MT.MsgHeartbeat:
        r.become_follower(m.term, m.from_)
        handle_heartbeat(r, m)
    elif m.type == MT.MsgSnap:
        r.become_follower(m.term, m.from_)
        handle_snapshot(r, m)
    elif m.type == my_resp:
        res = r.poll(m.from_, m.type, not m.reject)
        granted, rejected, _ = r.prs.tally_votes()
        r.logger.info(
            "%x has received %d %s votes and %d vote rejections",
            r.id,
            granted,
            m.type.name,
            rejected,
        )
        if res == VoteResult.WON:
            if r.state == StateType.PreCandidate:
                r.campaign(CAMPAIGN_ELECTION)
            else:
                r.become_leader()
                r.bcast_append()
        elif res == VoteResult.LOST:
            # Pre-candidates go back to follower at their old term.
            r.become_follower(r.term, 0)
    elif m.type == MT.MsgTimeoutNow:
        r.logger.debug(
            "%x [term %d state %s] ignored MsgTimeoutNow from %x",
            r.id,
            r.term,
            r.state.name,
            m.from_,
        )


# -- follower -----------------------------------------------------------------------------


def step_follower(r: Raft, m: Message) -> None:
    """Handle ``m`` as follower."""
    match m.type:
        case MT.MsgProp:
            if r.lead == 0:
                r.drop_proposal(f"no leader at term {r.term}")
            if r.config.disable_proposal_forwarding:
                r.drop_proposal("proposal forwarding is disabled")
            r.send(_forward(m, r.lead))
        case MT.MsgApp:
            r.election_elapsed = 0
            r.lead = m.from_
            handle_append_entries(r, m)
        case MT.MsgHeartbeat:
            r.election_elapsed = 0
            r.lead = m.from_
            handle_heartbeat(r, m)
        case MT.MsgSnap:
            r.election_elapsed = 0
            r.lead = m.from_
            handle_snapshot(r, m)
        case MT.MsgTransferLeader:
            if r.lead == 0:
                r.logger.info("%x no leader at term %d; dropping leader transfer msg", r.id, r.term)
                return
            r.send(_forward(m, r.lead))
        case MT.MsgTimeoutNow:
            r.logger.info(
                "%x [term %d] received MsgTimeoutNow from %x and starts an election to get "
                "leadership.",
                r.id,
                r.term,
                m.from_,
            )
            # Leadership transfers never use pre-vote: the leader asked us to take over.
            r.hup(CAMPAIGN_TRANSFER)
        case MT.MsgReadIndex:
            if r.lead == 0:
                r.logger.info("%x no leader at term %d; dropping index reading msg", r.id, r.term)
                return
            r.send(_forward(m, r.lead))
        case MT.MsgReadIndexResp:
            if len(m.entries) != 1:
                r.logger.error(
                    "%x invalid format of MsgReadIndexResp from %x, entries count: %d",
                    r.id,
                    m.from_,
                    len(m.entries),
                )
                return
            r.read_states.append(ReadState(index=m.index, request_ctx=m.entries[0].data))
        case _:
            pass


def _forward(m: Message, to: int) -> Message:
    return Message(type=m.type, to=to, from_=m.from_, entries=m.entries, context=m.context)


def handle_append_entries(r: Raft, m: Message) -> None:
    """Follower: append ``m.entries`` if our log matches at ``(m.index, m.log_term)``."""
    if m.index < r.raft_log.committed:
        # Everything up to our commit index is known to match the leader.
        r.send(Message(type=MT.MsgAppResp, to=m.from_, index=r.raft_log.committed))
        return
    last_new = r.raft_log.maybe_append(m.index, m.log_term, m.commit, m.entries)
    if last_new is not None:
        r.send(Message(type=MT.MsgAppResp, to=m.from_, index=last_new))
        return
    r.logger.debug(
        "%x [logterm: %d, index: %d] rejected MsgApp [logterm: %d, index: %d] from %x",
        r.id,
        r.raft_log.term_or_zero(m.index),
        m.index,
        m.log_term,
        m.index,
        m.from_,
    )
    # Hint the leader at the largest index that might match: the last entry whose term
    # is <= the leader's term at m.index, so it can skip a whole conflicting term at once.
    hint_index = min(m.index, r.raft_log.last_index())
    hint_index = r.raft_log.find_conflict_by_term(hint_index, m.log_term)
    try:
        hint_term = r.raft_log.term(hint_index)
    except (CompactedError, UnavailableError) as e:
        raise RaftInvariantError(f"term({hint_index}) must be valid, but got {e}") from e
    r.send(
        Message(
            type=MT.MsgAppResp,
            to=m.from_,
            index=m.index,
            reject=True,
            reject_hint=hint_index,
            log_term=hint_term,
        )
    )


def handle_heartbeat(r: Raft, m: Message) -> None:
    """Follower: advance commit (capped by the leader to our match) and respond."""
    r.raft_log.commit_to(m.commit)
    r.send(Message(type=MT.MsgHeartbeatResp, to=m.from_, context=m.context))


def handle_snapshot(r: Raft, m: Message) -> None:
    """Follower: restore the snapshot if useful; respond with our last or commit index."""
    if m.snapshot is None:
        raise RaftInvariantError(f"{r.id:x} received MsgSnap without snapshot")
    meta = m.snapshot.metadata
    if r.restore(m.snapshot):
        r.logger.info(
            "%x [commit: %d] restored snapshot [index: %d, term: %d]",
            r.id,
            r.raft_log.committed,
            meta.index,
            meta.term,
        )
        r.send(Message(type=MT.MsgAppResp, to=m.from_, index=r.raft_log.last_index()))
    else:
        r.logger.info(
            "%x [commit: %d] ignored snapshot [index: %d, term: %d]",
            r.id,
            r.raft_log.committed,
            meta.index,
            meta.term,
        )
        r.send(Message(type=MT.MsgAppResp, to=m.from_, index=r.raft_log.committed))
