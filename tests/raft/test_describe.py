"""describe.py renders values exactly like etcd-io/raft's util.go (goldens depend on it)."""

from __future__ import annotations

from pycoreos.raft import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    ReadState,
    Ready,
    Snapshot,
    SnapshotMetadata,
    SoftState,
    StateType,
    encode_conf_change,
)
from pycoreos.raft.describe import describe_entry, describe_message, describe_ready, go_quote


def test_describe_message_like_etcd():
    m = Message(
        type=MessageType.MsgApp,
        from_=1,
        to=2,
        term=1,
        log_term=1,
        index=2,
        commit=2,
        entries=(Entry(term=1, index=3),),
    )
    assert describe_message(m) == '1->2 MsgApp Term:1 Log:1/2 Commit:2 Entries:[1/3 EntryNormal ""]'
    rej = Message(
        type=MessageType.MsgAppResp, from_=2, to=1, term=3, index=5, reject=True, reject_hint=4
    )
    assert describe_message(rej) == "2->1 MsgAppResp Term:3 Log:0/5 Rejected (Hint: 4)"
    snap = Message(
        type=MessageType.MsgSnap,
        from_=1,
        to=3,
        term=2,
        snapshot=Snapshot(metadata=SnapshotMetadata(ConfState(voters=(1, 2, 3)), 11, 2)),
    )
    assert describe_message(snap) == (
        "1->3 MsgSnap Term:2 Log:0/0\n  Snapshot: Index:11 Term:2 ConfState:Voters:[1 2 3] "
        "VotersOutgoing:[] Learners:[] LearnersNext:[] AutoLeave:false"
    )


def test_describe_entry_conf_change_and_quoting():
    cc = encode_conf_change(ConfChange(type=ConfChangeType.AddLearnerNode, node_id=4))
    assert describe_entry(Entry(1, 2, EntryType.CONF_CHANGE, cc)) == "1/2 EntryConfChange l4"
    assert go_quote(b'a"b\\\n\x01') == '"a\\"b\\\\\\n\\x01"'


def test_describe_ready():
    rd = Ready(
        soft_state=SoftState(lead=1, raft_state=StateType.Leader),
        hard_state=HardState(term=2, vote=1, commit=3),
        entries=(Entry(2, 4, data=b"x"),),
        committed_entries=(Entry(2, 3),),
        messages=(Message(type=MessageType.MsgHeartbeat, from_=1, to=2, term=2),),
        read_states=(ReadState(index=3, request_ctx=b"r"),),
        must_sync=True,
    )
    assert describe_ready(rd) == (
        "Ready MustSync=true:\n"
        "Lead:1 State:StateLeader\n"
        "HardState Term:2 Vote:1 Commit:3\n"
        'ReadStates [{3 "r"}]\n'
        "Entries:\n"
        '2/4 EntryNormal "x"\n'
        "CommittedEntries:\n"
        '2/3 EntryNormal ""\n'
        "Messages:\n"
        "1->2 MsgHeartbeat Term:2 Log:0/0\n"
    )
    assert describe_ready(Ready()) == "<empty Ready>"
