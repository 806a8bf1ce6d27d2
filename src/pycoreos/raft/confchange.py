"""ConfChange (v1) encoding and application to a ProgressTracker.

Encoding is byte-compatible with raftpb's gogoproto ``ConfChange.Marshal`` (fields
ID=1, Type=2, NodeID=3 always written; Context=4 when non-empty), so a WAL written here
carries the same entry payloads as etcd's.

Application rules (etcd-io/raft ``confchange.Changer.Simple``):

- AddNode: add (or promote a learner to) a voter.
- AddLearnerNode: add a learner, or demote a voter to learner.
- RemoveNode: drop the peer and its progress.
- UpdateNode: no-op for Raft (the application updates its member metadata).

A change that would leave no voters is refused (the tracker is left unchanged); the leader
also refuses to *propose* such a change.
"""

from __future__ import annotations

from pycoreos.raft.errors import RaftInvariantError
from pycoreos.raft.progress import ProgressTracker
from pycoreos.raft.types import ConfChange, ConfChangeType, ConfState


def _put_varint(out: bytearray, v: int) -> None:
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def _get_varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = 0
    result = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("confchange: truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def encode_conf_change(cc: ConfChange) -> bytes:
    """Encode ``cc`` as raftpb would."""
    out = bytearray()
    out.append(0x08)
    _put_varint(out, cc.id)
    out.append(0x10)
    _put_varint(out, int(cc.type))
    out.append(0x18)
    _put_varint(out, cc.node_id)
    if cc.context:
        out.append(0x22)
        _put_varint(out, len(cc.context))
        out.extend(cc.context)
    return bytes(out)


def decode_conf_change(data: bytes) -> ConfChange:
    """Decode a ``ConfChange`` from an entry payload.

    Raises:
        ValueError: ``data`` is not a valid encoding.
    """
    cc_id = node_id = 0
    cc_type = 0
    context = b""
    pos = 0
    while pos < len(data):
        key, pos = _get_varint(data, pos)
        field_no, wire = key >> 3, key & 7
        if wire == 0:
            v, pos = _get_varint(data, pos)
            if field_no == 1:
                cc_id = v
            elif field_no == 2:
                cc_type = v
            elif field_no == 3:
                node_id = v
        elif wire == 2:
            n, pos = _get_varint(data, pos)
            if pos + n > len(data):
                raise ValueError("confchange: truncated bytes field")
            if field_no == 4:
                context = data[pos : pos + n]
            pos += n
        else:
            raise ValueError(f"confchange: unsupported wire type {wire}")
    try:
        typ = ConfChangeType(cc_type)
    except ValueError as e:
        raise ValueError(f"confchange: unknown type {cc_type}") from e
    return ConfChange(type=typ, node_id=node_id, context=context, id=cc_id)


def leaves_no_voter(tracker: ProgressTracker, cc: ConfChange) -> bool:
    """Whether applying ``cc`` would leave the configuration without any voter."""
    if cc.type not in (ConfChangeType.RemoveNode, ConfChangeType.AddLearnerNode):
        return False
    return tracker.voters <= {cc.node_id} and bool(tracker.voters)


def apply_to_tracker(tracker: ProgressTracker, cc: ConfChange, last_index: int) -> bool:
    """Apply ``cc`` to ``tracker`` in place; False if refused (it would leave no voters)."""
    if leaves_no_voter(tracker, cc):
        return False
    nid = cc.node_id
    if nid == 0:
        # etcd-io/raft ignores changes for node 0 (used to force a no-op conf change).
        return True
    match cc.type:
        case ConfChangeType.AddNode:
            pr = tracker.progress.get(nid)
            if pr is None:
                tracker.init_progress(nid, last_index=last_index, is_learner=False)
            else:
                pr.is_learner = False
            tracker.learners.discard(nid)
            tracker.voters.add(nid)
        case ConfChangeType.AddLearnerNode:
            pr = tracker.progress.get(nid)
            if pr is None:
                tracker.init_progress(nid, last_index=last_index, is_learner=True)
            else:
                pr.is_learner = True
            tracker.voters.discard(nid)
            tracker.learners.add(nid)
        case ConfChangeType.RemoveNode:
            tracker.voters.discard(nid)
            tracker.learners.discard(nid)
            tracker.progress.pop(nid, None)
        case ConfChangeType.UpdateNode:
            pass
        case _:  # pragma: no cover - exhaustive over ConfChangeType
            raise RaftInvariantError(f"unknown conf change type {cc.type!r}")
    return True


def restore_tracker(tracker: ProgressTracker, cs: ConfState, last_index: int) -> None:
    """Populate an empty ``tracker`` with the membership ``cs``."""
    if tracker.progress:
        raise RaftInvariantError("restore_tracker needs an empty tracker")
    for v in cs.voters:
        tracker.init_progress(v, last_index=last_index, is_learner=False)
        tracker.voters.add(v)
    for lrn in cs.learners:
        if lrn in tracker.voters:
            raise RaftInvariantError(f"{lrn} is in both voters and learners")
        tracker.init_progress(lrn, last_index=last_index, is_learner=True)
        tracker.learners.add(lrn)
