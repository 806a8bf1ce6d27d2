"""Errors raised by the Raft core.

Tree::

    StackError
    └── RaftError
        ├── ProposalDroppedError            proposal not accepted (no leader, transfer, quota)
        ├── StepLocalMessageError           a local-only message type arrived from the network
        ├── PeerNotFoundError               a response from a peer that is not in the config
        ├── StorageError                    raised by Storage implementations
        │   ├── CompactedError              requested index is before the first index
        │   ├── UnavailableError            requested index is past the last index
        │   ├── SnapshotOutOfDateError      snapshot older than the one already held
        │   └── SnapshotTemporarilyUnavailableError
        └── RaftInvariantError              fail-stop: the driver must stop the member

Only the first four leaves (and the storage errors, inside storage code) are recoverable.
``RaftInvariantError`` means the log or state is inconsistent; callers must not continue.
"""

from __future__ import annotations

from pycoreos.errors import StackError


class RaftError(StackError):
    """Root of all Raft errors."""


class ProposalDroppedError(RaftError):
    """The proposal was dropped (no known leader, leadership transfer, or uncommitted quota)."""

    def __init__(self, message: str = "raft proposal dropped") -> None:
        super().__init__(message)


class StepLocalMessageError(RaftError):
    """A local-only message (MsgHup, MsgBeat, ...) was passed to ``RawNode.step``."""

    def __init__(self, message: str = "raft: cannot step raft local message") -> None:
        super().__init__(message)


class PeerNotFoundError(RaftError):
    """A response message came from a peer that is not in the current configuration."""

    def __init__(self, message: str = "raft: cannot step as peer not found") -> None:
        super().__init__(message)


class StorageError(RaftError):
    """Base of the errors a ``Storage`` may raise."""


class CompactedError(StorageError):
    """The requested index is unavailable because it predates the last snapshot."""

    def __init__(self, message: str = "requested index is unavailable due to compaction") -> None:
        super().__init__(message)


class UnavailableError(StorageError):
    """The requested entry at the index is unavailable (past the last index)."""

    def __init__(self, message: str = "requested entry at index is unavailable") -> None:
        super().__init__(message)


class SnapshotOutOfDateError(StorageError):
    """The requested snapshot index is older than the existing snapshot."""

    def __init__(
        self, message: str = "requested index is older than the existing snapshot"
    ) -> None:
        super().__init__(message)


class SnapshotTemporarilyUnavailableError(StorageError):
    """The snapshot is temporarily unavailable; the leader retries later."""

    def __init__(self, message: str = "snapshot is temporarily unavailable") -> None:
        super().__init__(message)


class RaftInvariantError(RaftError):
    """An internal invariant was violated. Fail-stop: never catch it and continue."""
