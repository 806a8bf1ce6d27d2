"""Stable one-line text for Raft values, as etcd-io/raft's ``util.go`` renders them.

Logs, test failure output and golden interaction scripts all use these renderers, e.g.
``1->2 MsgApp Term:1 Log:1/2 Commit:2 Entries:[1/3 EntryNormal "x"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pycoreos.raft.confchange import decode_conf_change
from pycoreos.raft.rawnode import Ready
from pycoreos.raft.types import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    Snapshot,
    SoftState,
    StateType,
)

EntryFormatter = Callable[[bytes], str]

_CC_PREFIX = {
    ConfChangeType.AddNode: "v",
    ConfChangeType.RemoveNode: "r",
    ConfChangeType.UpdateNode: "u",
    ConfChangeType.AddLearnerNode: "l",
}
_ENTRY_TYPE = {EntryType.NORMAL: "EntryNormal", EntryType.CONF_CHANGE: "EntryConfChange"}
_STATE = {
    StateType.Follower: "StateFollower",
    StateType.Candidate: "StateCandidate",
    StateType.Leader: "StateLeader",
    StateType.PreCandidate: "StatePreCandidate",
}


def go_quote(data: bytes) -> str:
    """Quote bytes like Go's ``%q`` (printable ASCII kept, the rest escaped)."""
    out = ['"']
    for b in data:
        c = chr(b)
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\r":
            out.append("\\r")
        elif 0x20 <= b < 0x7F:
            out.append(c)
        else:
            out.append(f"\\x{b:02x}")
    out.append('"')
    return "".join(out)


def describe_conf_change(cc: ConfChange) -> str:
    """``v2``/``r2``/``u2``/``l2`` as etcd-io/raft's ``ConfChangesToString``."""
    return f"{_CC_PREFIX[cc.type]}{cc.node_id}"


def describe_entry(e: Entry, fmt: EntryFormatter | None = None) -> str:
    """``term/index EntryType payload``."""
    if e.type == EntryType.CONF_CHANGE:
        try:
            formatted = describe_conf_change(decode_conf_change(e.data))
        except ValueError as err:
            formatted = str(err)
    else:
        formatted = (fmt or go_quote)(e.data)
    if formatted:
        formatted = " " + formatted
    return f"{e.term}/{e.index} {_ENTRY_TYPE[e.type]}{formatted}"


def describe_entries(ents: Sequence[Entry], fmt: EntryFormatter | None = None) -> str:
    """One entry per line, each line terminated by a newline."""
    return "".join(describe_entry(e, fmt) + "\n" for e in ents)


def describe_hard_state(hs: HardState) -> str:
    """``Term:1 Vote:1 Commit:2`` (Vote omitted when 0)."""
    vote = f" Vote:{hs.vote}" if hs.vote else ""
    return f"Term:{hs.term}{vote} Commit:{hs.commit}"


def describe_soft_state(ss: SoftState) -> str:
    """``Lead:1 State:StateLeader``."""
    return f"Lead:{ss.lead} State:{_STATE[ss.raft_state]}"


def _ids(ids: Sequence[int]) -> str:
    return "[" + " ".join(str(i) for i in ids) + "]"


def describe_conf_state(cs: ConfState) -> str:
    """``Voters:[1 2] VotersOutgoing:[] Learners:[] LearnersNext:[] AutoLeave:false``."""
    return (
        f"Voters:{_ids(cs.voters)} VotersOutgoing:[] Learners:{_ids(cs.learners)} "
        "LearnersNext:[] AutoLeave:false"
    )


def describe_snapshot(s: Snapshot) -> str:
    """``Index:5 Term:2 ConfState:...``."""
    m = s.metadata
    return f"Index:{m.index} Term:{m.term} ConfState:{describe_conf_state(m.conf_state)}"


def _target(node_id: int) -> str:
    return "None" if node_id == 0 else str(node_id)


def describe_message(m: Message, fmt: EntryFormatter | None = None) -> str:
    """``1->2 MsgApp Term:1 Log:1/2 Commit:2 Entries:[...]`` (may span lines for snapshots)."""
    parts = [
        f"{_target(m.from_)}->{_target(m.to)} {m.type.name} Term:{m.term} "
        f"Log:{m.log_term}/{m.index}"
    ]
    if m.reject:
        parts.append(f" Rejected (Hint: {m.reject_hint})")
    if m.commit:
        parts.append(f" Commit:{m.commit}")
    if m.entries:
        parts.append(" Entries:[" + ", ".join(describe_entry(e, fmt) for e in m.entries) + "]")
    if m.snapshot is not None and not m.snapshot.is_empty():
        parts.append("\n  Snapshot: " + describe_snapshot(m.snapshot))
    return "".join(parts)


def describe_ready(rd: Ready, fmt: EntryFormatter | None = None) -> str:
    """Multi-line rendering of a Ready, or ``<empty Ready>``."""
    buf: list[str] = []
    if rd.soft_state is not None:
        buf.append(describe_soft_state(rd.soft_state) + "\n")
    if rd.hard_state is not None:
        buf.append("HardState " + describe_hard_state(rd.hard_state) + "\n")
    if rd.read_states:
        rs = " ".join(f"{{{r.index} {go_quote(r.request_ctx)}}}" for r in rd.read_states)
        buf.append(f"ReadStates [{rs}]\n")
    if rd.entries:
        buf.append("Entries:\n" + describe_entries(rd.entries, fmt))
    if rd.snapshot is not None:
        buf.append("Snapshot " + describe_snapshot(rd.snapshot) + "\n")
    if rd.committed_entries:
        buf.append("CommittedEntries:\n" + describe_entries(rd.committed_entries, fmt))
    if rd.messages:
        buf.append("Messages:\n" + "".join(describe_message(m, fmt) + "\n" for m in rd.messages))
    if not buf:
        return "<empty Ready>"
    return f"Ready MustSync={'true' if rd.must_sync else 'false'}:\n" + "".join(buf)
