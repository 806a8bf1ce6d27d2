"""Raft's typed values, numbered like etcd-io/raft's ``raftpb`` so one wire codec maps them.

All values are frozen, slotted dataclasses; ``Entry.data`` and ``Message.context`` are opaque
bytes. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class EntryType(IntEnum):
    """Kind of a log entry (raftpb.EntryType)."""

    NORMAL = 0
    CONF_CHANGE = 1


class MessageType(IntEnum):
    """Kind of a Raft message (raftpb.MessageType, same numbers)."""

    MsgHup = 0
    MsgBeat = 1
    MsgProp = 2
    MsgApp = 3
    MsgAppResp = 4
    MsgVote = 5
    MsgVoteResp = 6
    MsgSnap = 7
    MsgHeartbeat = 8
    MsgHeartbeatResp = 9
    MsgUnreachable = 10
    MsgSnapStatus = 11
    MsgCheckQuorum = 12
    MsgTransferLeader = 13
    MsgTimeoutNow = 14
    MsgReadIndex = 15
    MsgReadIndexResp = 16
    MsgPreVote = 17
    MsgPreVoteResp = 18


class ConfChangeType(IntEnum):
    """Kind of a membership change (raftpb.ConfChangeType)."""

    AddNode = 0
    RemoveNode = 1
    UpdateNode = 2
    AddLearnerNode = 3


class StateType(IntEnum):
    """Role of a Raft node."""

    Follower = 0
    Candidate = 1
    Leader = 2
    PreCandidate = 3


@dataclass(frozen=True, slots=True)
class Entry:
    """One log entry. ``index`` starts at 1; ``term`` 0 is never used by real entries."""

    term: int
    index: int
    type: EntryType = EntryType.NORMAL
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class HardState:
    """State that must be persisted before messages are sent: term, vote, commit index."""

    term: int = 0
    vote: int = 0
    commit: int = 0

    def is_empty(self) -> bool:
        return self.term == 0 and self.vote == 0 and self.commit == 0


EMPTY_HARD_STATE = HardState()


@dataclass(frozen=True, slots=True)
class ConfState:
    """The membership at a point of the log: voting members and learners (sorted ids)."""

    voters: tuple[int, ...] = ()
    learners: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class SnapshotMetadata:
    """Where a snapshot sits in the log, and the membership at that point."""

    conf_state: ConfState = field(default_factory=ConfState)
    index: int = 0
    term: int = 0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A state-machine snapshot; ``data`` is the application's serialized state."""

    data: bytes = b""
    metadata: SnapshotMetadata = field(default_factory=SnapshotMetadata)

    def is_empty(self) -> bool:
        return self.metadata.index == 0


EMPTY_SNAPSHOT = Snapshot()


@dataclass(frozen=True, slots=True)
class ConfChange:
    """A membership change proposal, carried in an ``EntryType.CONF_CHANGE`` entry.

    ``context`` is opaque to Raft; the etcd server puts the member's JSON (name, peer URLs)
    there.
    """

    type: ConfChangeType
    node_id: int
    context: bytes = b""
    id: int = 0


@dataclass(frozen=True, slots=True)
class Message:
    """A Raft message between peers (or a local message such as MsgHup/MsgProp)."""

    type: MessageType
    to: int = 0
    from_: int = 0
    term: int = 0
    log_term: int = 0
    index: int = 0
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    snapshot: Snapshot | None = None
    reject: bool = False
    reject_hint: int = 0
    context: bytes = b""


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile state, for logging and leadership callbacks; never persisted."""

    lead: int = 0
    raft_state: StateType = StateType.Follower


@dataclass(frozen=True, slots=True)
class ReadState:
    """A ReadIndex answer: reads tagged ``request_ctx`` may be served once ``index`` is applied."""

    index: int
    request_ctx: bytes
