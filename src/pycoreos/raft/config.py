"""Raft node configuration.

``Config`` is a frozen value; ``validate()`` collects every problem and raises one
``ConfigError``. Randomness is *not* configured here: the RNG is passed to ``RawNode``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from pycoreos.errors import ConfigError

NO_LIMIT = (1 << 64) - 1
"""Size limit meaning "unlimited" (etcd-io/raft's ``noLimit``)."""


class ReadOnlyOption(IntEnum):
    """How ReadIndex requests are confirmed (etcd-io/raft ``ReadOnlyOption``)."""

    SAFE = 0
    """Confirm leadership with a heartbeat round to a quorum before answering."""
    LEASE_BASED = 1
    """Trust the leader lease (requires check_quorum; unsafe under clock drift)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """Parameters of one Raft node.

    Attributes:
        id: this node's id; must not be 0.
        election_tick: ticks without leader contact before a follower campaigns; the actual
            timeout is randomized in ``[election_tick, 2*election_tick)``.
        heartbeat_tick: ticks between leader heartbeats; must be < ``election_tick``.
        applied: last applied index when restarting (entries up to it are not re-delivered).
        max_size_per_msg: byte budget of one MsgApp's entries (0: one entry per message).
        max_inflight_msgs: MsgApp window per follower in replicate state.
        max_uncommitted_entries_size: leader's budget of uncommitted payload bytes (0: none).
        max_committed_size_per_ready: byte budget of ``Ready.committed_entries``
            (0: same as ``max_size_per_msg``).
        check_quorum: leader steps down without recent contact from a quorum, and nodes that
            heard from a leader recently ignore vote requests (leader lease).
        pre_vote: run a pre-election first so a partitioned node cannot bump the term.
        read_only_option: how ReadIndex is confirmed.
        disable_proposal_forwarding: followers drop proposals instead of forwarding them.
    """

    id: int
    election_tick: int = 10
    heartbeat_tick: int = 1
    applied: int = 0
    max_size_per_msg: int = 1024 * 1024
    max_inflight_msgs: int = 256
    max_uncommitted_entries_size: int = 0
    max_committed_size_per_ready: int = 0
    check_quorum: bool = False
    pre_vote: bool = False
    read_only_option: ReadOnlyOption = ReadOnlyOption.SAFE
    disable_proposal_forwarding: bool = False

    def validate(self) -> None:
        """Check the configuration.

        Raises:
            ConfigError: listing every problem found.
        """
        problems: list[str] = []
        if self.id == 0:
            problems.append("cannot use none as id")
        if self.heartbeat_tick <= 0:
            problems.append("heartbeat tick must be greater than 0")
        if self.election_tick <= self.heartbeat_tick:
            problems.append("election tick must be greater than heartbeat tick")
        if self.max_inflight_msgs <= 0:
            problems.append("max inflight messages must be greater than 0")
        if self.max_size_per_msg < 0 or self.max_uncommitted_entries_size < 0:
            problems.append("size limits must not be negative")
        if self.max_committed_size_per_ready < 0:
            problems.append("size limits must not be negative")
        if self.read_only_option == ReadOnlyOption.LEASE_BASED and not self.check_quorum:
            problems.append("CheckQuorum must be enabled when ReadOnlyOption is ReadOnlyLeaseBased")
        if problems:
            raise ConfigError(problems)

    @property
    def uncommitted_limit(self) -> int:
        """The effective uncommitted-size budget (``NO_LIMIT`` when unset)."""
        return self.max_uncommitted_entries_size or NO_LIMIT

    @property
    def committed_per_ready_limit(self) -> int:
        """The effective committed-entries-per-Ready budget."""
        return self.max_committed_size_per_ready or self.max_size_per_msg
