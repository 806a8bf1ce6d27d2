"""RawNode: the application-facing facade of the Raft core (etcd-io/raft ``RawNode``).

The Ready contract (the driver's loop, in this order)::

    while node.has_ready():
        rd = node.ready()
        1. persist rd.snapshot (if any), rd.hard_state (if any) and rd.entries; fsync if
           rd.must_sync. Then storage.apply_snapshot(rd.snapshot) and
           storage.append(rd.entries) on the MemoryStorage.
        2. send rd.messages (only after step 1: they may promise what step 1 persisted).
        3. apply rd.committed_entries in order (call apply_conf_change for conf-change
           entries) and the snapshot to the state machine; serve rd.read_states once the
           applied index reaches their index.
        4. node.advance()

``ready()`` hands out each piece exactly once; ``has_ready()`` is False while a Ready is
outstanding (between ``ready()`` and ``advance()``), and ``ready()`` raises
``RaftInvariantError`` if called again before ``advance()``. ``tick``/``step``/``propose``
may be called while a Ready is outstanding (e.g. while the driver awaits its fsync); their
output goes into the next Ready.

Single-voter semantics (as etcd-io/raft 3.6 with synchronous storage writes):

- ``campaign()`` elects the node immediately: its own vote counts at once, because it is
  persisted in the same Ready as the hard state that records it, before any effect of
  the leadership can leave the node.
- The leader does *not* count its own log for commitment until the entries were handed
  out in a Ready and the application called ``advance()``: ``advance()`` is the leader's
  self-acknowledgement. So a proposal to a one-voter cluster shows up in ``entries`` of
  one Ready and in ``committed_entries`` of the next one (after ``advance()``), never
  before it was persisted. In a larger cluster the same rule means a leader's unpersisted
  entries never count towards a quorum.
- ReadIndex on a one-voter leader answers immediately with the current commit index.

Bootstrapping a new cluster (etcd's ``StartNode`` with peers): create the RawNode on an
empty ``MemoryStorage`` and call ``bootstrap(peers)``. It appends one ConfChangeAddNode
entry per peer at term 1 (indexes 1..n), marks them committed and applies them to the
configuration. The first Ready then carries them as ``entries`` *and*
``committed_entries``; the driver persists them like any other and calls
``apply_conf_change`` for each (re-adding a member is a no-op). Restarting members create
the RawNode over a storage filled from the WAL/snapshot instead and do not bootstrap.

Restarting (etcd's ``RestartNode``)::

    st = MemoryStorage()
    st.apply_snapshot(snap)          # if a snapshot exists; its ConfState seeds membership
    st.set_hard_state(hs)            # from the WAL
    st.append(ents)                  # WAL entries after the snapshot
    node = RawNode(replace(cfg, applied=snap.metadata.index), st, rng=rng)

Committed entries after ``applied`` (up to ``hs.commit``) come out again in the first
Ready; the application re-applies them (skipping what its consistent index shows as
done) and calls ``apply_conf_change`` for conf changes, which rebuilds the membership
changed since the snapshot. Until then the node cannot campaign.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from types import MappingProxyType

from pycoreos.raft.confchange import encode_conf_change
from pycoreos.raft.config import Config
from pycoreos.raft.core import Raft, is_local_msg, is_response_msg
from pycoreos.raft.errors import (
    PeerNotFoundError,
    ProposalDroppedError,
    RaftError,
    RaftInvariantError,
    StepLocalMessageError,
)
from pycoreos.raft.progress import ProgressStatus
from pycoreos.raft.storage import Storage
from pycoreos.raft.types import (
    ConfChange,
    ConfChangeType,
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


class SnapshotStatus(IntEnum):
    """Outcome of sending a snapshot, reported with ``RawNode.report_snapshot``."""

    FINISH = 1
    FAILURE = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class Ready:
    """Everything the application must do, in order (see the module docstring).

    Attributes:
        soft_state: new leader/role, or None if unchanged (volatile; for callbacks).
        hard_state: new term/vote/commit to persist before sending messages, or None.
        entries: entries to persist (and append to MemoryStorage) before sending messages.
        snapshot: incoming snapshot to persist (always durably, whatever ``must_sync``
            says, as etcd does) and apply first, or None.
        committed_entries: entries to apply, in order, after persisting.
        messages: messages to send after persisting.
        read_states: ReadIndex answers; serve each read once ``index`` is applied.
        must_sync: whether ``hard_state``/``entries`` must be fsynced.
    """

    soft_state: SoftState | None = None
    hard_state: HardState | None = None
    entries: tuple[Entry, ...] = ()
    snapshot: Snapshot | None = None
    committed_entries: tuple[Entry, ...] = ()
    messages: tuple[Message, ...] = ()
    read_states: tuple[ReadState, ...] = ()
    must_sync: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Status:
    """A point-in-time view of the node.

    Attributes:
        id: this node's id.
        hard_state: term, vote, commit.
        soft_state: leader and role.
        applied: last index handed out for application and acknowledged by ``advance()``.
        progress: per-peer replication progress (leader only; empty otherwise).
        lead_transferee: the target of an ongoing leadership transfer, or 0.
        conf_state: the current membership.
    """

    id: int
    hard_state: HardState
    soft_state: SoftState
    applied: int
    progress: Mapping[int, ProgressStatus] = field(default_factory=lambda: MappingProxyType({}))
    lead_transferee: int = 0
    conf_state: ConfState = field(default_factory=ConfState)

    @property
    def lead(self) -> int:
        """The known leader id, or 0."""
        return self.soft_state.lead

    @property
    def raft_state(self) -> StateType:
        """This node's role."""
        return self.soft_state.raft_state


@dataclass(frozen=True, slots=True)
class Peer:
    """A founding member passed to ``RawNode.bootstrap``; ``context`` goes in its ConfChange."""

    id: int
    context: bytes = b""


def _must_sync(hs: HardState, prev: HardState, n_entries: int) -> bool:
    # Term and vote must be durable before any message relies on them; commit may lag
    # (it is recomputed from the quorum after a crash).
    return n_entries != 0 or hs.vote != prev.vote or hs.term != prev.term


class RawNode:
    """A Raft node driven synchronously by the application (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        storage: Storage,
        *,
        rng: random.Random,
        logger: logging.Logger | None = None,
    ) -> None:
        """Create a node over ``storage`` (empty for a new member, else restored).

        Raises:
            ConfigError: ``config`` is invalid.
        """
        self.raft = Raft(config, storage, rng=rng, logger=logger)
        """The underlying state machine (for tests and harnesses; do not mutate)."""
        self._prev_soft = self.raft.soft_state()
        self._prev_hard = self.raft.hard_state()
        self._outstanding: Ready | None = None

    # -- properties -----------------------------------------------------------------------

    @property
    def id(self) -> int:
        """This node's id."""
        return self.raft.id

    @property
    def lead(self) -> int:
        """The currently known leader, or 0."""
        return self.raft.lead

    @property
    def raft_state(self) -> StateType:
        """This node's role."""
        return self.raft.state

    @property
    def term(self) -> int:
        """The current term."""
        return self.raft.term

    # -- inputs ---------------------------------------------------------------------------

    def bootstrap(self, peers: Sequence[Peer]) -> None:
        """Initialise a brand-new cluster's membership (see the module docstring).

        Raises:
            RaftError: ``peers`` is empty or the storage is not empty.
        """
        if not peers:
            raise RaftError("must provide at least one peer to Bootstrap")
        r = self.raft
        if r.raft_log.storage.last_index() != 0:
            raise RaftError("can't bootstrap a nonempty Storage")
        # The first Ready must report the hard state even though it equals "empty" at start.
        self._prev_hard = HardState()
        r.become_follower(1, 0)
        ents = [
            Entry(
                term=1,
                index=i + 1,
                type=EntryType.CONF_CHANGE,
                data=encode_conf_change(
                    ConfChange(type=ConfChangeType.AddNode, node_id=p.id, context=p.context)
                ),
            )
            for i, p in enumerate(peers)
        ]
        r.raft_log.append(ents)
        # The founding configuration is committed by definition: every member starts with
        # the same entries.
        r.raft_log.committed = len(ents)
        for p in peers:
            r.apply_conf_change(ConfChange(type=ConfChangeType.AddNode, node_id=p.id))

    def tick(self) -> None:
        """Advance logical time by one tick (elections and heartbeats are counted in ticks)."""
        self.raft.tick()

    def campaign(self) -> None:
        """Start an election now (pre-vote first if configured)."""
        self.raft.step(Message(type=MessageType.MsgHup, from_=self.raft.id))

    def propose(self, data: bytes) -> None:
        """Propose ``data`` for appending to the log.

        Raises:
            ProposalDroppedError: no leader is known, a leadership transfer is in progress,
                the uncommitted quota is exhausted, or forwarding is disabled.
        """
        self.raft.step(
            Message(
                type=MessageType.MsgProp,
                from_=self.raft.id,
                entries=(Entry(term=0, index=0, data=data),),
            )
        )

    def propose_batch(self, data: Sequence[bytes]) -> None:
        """Propose several entries in one MsgProp (cheaper than one ``propose`` each).

        All or none: the batch is appended as a whole, or dropped as a whole.

        Raises:
            ProposalDroppedError: as for ``propose``.
        """
        self.raft.step(
            Message(
                type=MessageType.MsgProp,
                from_=self.raft.id,
                entries=tuple(Entry(term=0, index=0, data=d) for d in data),
            )
        )

    def propose_conf_change(self, cc: ConfChange) -> None:
        """Propose a membership change.

        The leader silently turns it into an empty normal entry when another change is
        still unapplied, or when it would leave no voters; the application sees that
        when the entry is committed as EntryNormal instead of EntryConfChange.

        Raises:
            ProposalDroppedError: as for ``propose``.
        """
        self.raft.step(
            Message(
                type=MessageType.MsgProp,
                from_=self.raft.id,
                entries=(
                    Entry(term=0, index=0, type=EntryType.CONF_CHANGE, data=encode_conf_change(cc)),
                ),
            )
        )

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        """Apply a *committed* conf change; returns the resulting membership.

        A change that would remove the last voter is refused (membership unchanged).
        """
        return self.raft.apply_conf_change(cc)

    def step(self, msg: Message) -> None:
        """Feed a message received from a peer.

        Raises:
            StepLocalMessageError: ``msg`` is a local-only type.
            PeerNotFoundError: a response from a peer not in the configuration.
            ProposalDroppedError: a forwarded MsgProp could not be accepted (the sender
                learns nothing either way; drivers usually ignore this).
        """
        if is_local_msg(msg.type):
            raise StepLocalMessageError()
        if msg.from_ in self.raft.prs.progress or not is_response_msg(msg.type):
            self.raft.step(msg)
            return
        raise PeerNotFoundError()

    def read_index(self, ctx: bytes) -> None:
        """Request a linearizable read point; the answer arrives as a ``ReadState`` with
        ``request_ctx == ctx`` in a later Ready (never, if leadership is lost: retry).

        ``ctx`` must be unique among outstanding requests.
        """
        self.raft.step(
            Message(type=MessageType.MsgReadIndex, entries=(Entry(term=0, index=0, data=ctx),))
        )

    def transfer_leader(self, to: int) -> None:
        """Ask the leader to hand leadership to ``to`` (aborted after an election timeout)."""
        self.raft.step(Message(type=MessageType.MsgTransferLeader, from_=to))

    def report_unreachable(self, node_id: int) -> None:
        """Tell the leader that the last message to ``node_id`` could not be delivered."""
        self._step_ignoring_drop(Message(type=MessageType.MsgUnreachable, from_=node_id))

    def report_snapshot(self, node_id: int, status: SnapshotStatus) -> None:
        """Tell the leader how sending a snapshot to ``node_id`` ended."""
        self._step_ignoring_drop(
            Message(
                type=MessageType.MsgSnapStatus,
                from_=node_id,
                reject=status == SnapshotStatus.FAILURE,
            )
        )

    def _step_ignoring_drop(self, m: Message) -> None:
        try:
            self.raft.step(m)
        except ProposalDroppedError:  # pragma: no cover - not a proposal
            pass

    # -- outputs --------------------------------------------------------------------------

    def has_ready(self) -> bool:
        """Whether ``ready()`` has work; False while a Ready awaits ``advance()``."""
        if self._outstanding is not None:
            return False
        r = self.raft
        if r.soft_state() != self._prev_soft:
            return True
        hs = r.hard_state()
        if not hs.is_empty() and hs != self._prev_hard:
            return True
        return bool(
            r.raft_log.has_pending_snapshot()
            or r.msgs
            or r.raft_log.unstable.entries
            or r.raft_log.has_next_ents()
            or r.read_states
        )

    def ready(self) -> Ready:
        """Collect the pending work; the caller must process it and call ``advance()``.

        Raises:
            RaftInvariantError: the previous Ready was not advanced.
        """
        if self._outstanding is not None:
            raise RaftInvariantError("ready() called again before advance()")
        r = self.raft
        soft = r.soft_state()
        hard = r.hard_state()
        entries = r.raft_log.unstable_entries()
        snap = r.raft_log.unstable.snapshot if r.raft_log.has_pending_snapshot() else None
        rd = Ready(
            soft_state=soft if soft != self._prev_soft else None,
            hard_state=hard if hard != self._prev_hard and not hard.is_empty() else None,
            entries=entries,
            snapshot=snap,
            committed_entries=r.raft_log.next_ents(),
            messages=tuple(r.msgs),
            read_states=tuple(r.read_states),
            must_sync=_must_sync(hard, self._prev_hard, len(entries)),
        )
        # Messages and read states are handed out exactly once.
        r.msgs = []
        r.read_states = []
        self._prev_soft = soft
        if rd.hard_state is not None:
            self._prev_hard = hard
        self._outstanding = rd
        return rd

    def advance(self) -> None:
        """Acknowledge that the last Ready was persisted, sent and applied.

        Raises:
            RaftInvariantError: there is no outstanding Ready.
        """
        rd = self._outstanding
        if rd is None:
            raise RaftInvariantError("advance() called without an outstanding ready()")
        self._outstanding = None
        r = self.raft
        r.reduce_uncommitted_size(rd.committed_entries)
        if rd.committed_entries:
            r.raft_log.applied_to(rd.committed_entries[-1].index)
        elif rd.snapshot is not None:
            r.raft_log.applied_to(rd.snapshot.metadata.index)
        if rd.entries:
            last = rd.entries[-1]
            # On the leader this is the self-acknowledgement that may commit entries.
            r.stable_to(last.index, last.term)
        if rd.snapshot is not None:
            r.raft_log.stable_snap_to(rd.snapshot.metadata.index)

    def status(self) -> Status:
        """A snapshot of this node's state (progress only on the leader)."""
        r = self.raft
        progress: Mapping[int, ProgressStatus] = MappingProxyType({})
        if r.state == StateType.Leader:
            progress = MappingProxyType({pid: ProgressStatus.of(pr) for pid, pr in r.prs.items()})
        return Status(
            id=r.id,
            hard_state=r.hard_state(),
            soft_state=r.soft_state(),
            applied=r.raft_log.applied,
            progress=progress,
            lead_transferee=r.lead_transferee,
            conf_state=r.prs.conf_state(),
        )
