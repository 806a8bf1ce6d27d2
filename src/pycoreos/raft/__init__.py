"""Sans-IO Raft consensus core, modelled on etcd-io/raft's RawNode/Ready.

Pure and synchronous: no I/O, no clock (ticks only), no global randomness (the caller
passes a ``random.Random``). Start with ``RawNode`` and its module docstring (the Ready
contract).
"""

from pycoreos.raft.confchange import decode_conf_change, encode_conf_change
from pycoreos.raft.config import NO_LIMIT, Config, ReadOnlyOption
from pycoreos.raft.errors import (
    CompactedError,
    PeerNotFoundError,
    ProposalDroppedError,
    RaftError,
    RaftInvariantError,
    SnapshotOutOfDateError,
    SnapshotTemporarilyUnavailableError,
    StepLocalMessageError,
    StorageError,
    UnavailableError,
)
from pycoreos.raft.progress import ProgressState, ProgressStatus
from pycoreos.raft.rawnode import Peer, RawNode, Ready, SnapshotStatus, Status
from pycoreos.raft.storage import MemoryStorage, Storage
from pycoreos.raft.types import (
    EMPTY_HARD_STATE,
    EMPTY_SNAPSHOT,
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
    SnapshotMetadata,
    SoftState,
    StateType,
)

__all__ = [
    "EMPTY_HARD_STATE",
    "EMPTY_SNAPSHOT",
    "NO_LIMIT",
    "CompactedError",
    "ConfChange",
    "ConfChangeType",
    "ConfState",
    "Config",
    "Entry",
    "EntryType",
    "HardState",
    "MemoryStorage",
    "Message",
    "MessageType",
    "Peer",
    "PeerNotFoundError",
    "ProgressState",
    "ProgressStatus",
    "ProposalDroppedError",
    "RaftError",
    "RaftInvariantError",
    "RawNode",
    "ReadOnlyOption",
    "ReadState",
    "Ready",
    "Snapshot",
    "SnapshotMetadata",
    "SnapshotOutOfDateError",
    "SnapshotStatus",
    "SnapshotTemporarilyUnavailableError",
    "SoftState",
    "StateType",
    "Status",
    "StepLocalMessageError",
    "Storage",
    "StorageError",
    "UnavailableError",
    "decode_conf_change",
    "encode_conf_change",
]
