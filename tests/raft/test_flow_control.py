"""Flow control of log replication: probe/replicate states, the inflight window, message
size batching, and fast back-tracking on rejection (etcd-io/raft TestMsgAppFlowControl*,
TestProgress*, TestFastLogRejection)."""

from __future__ import annotations

import pytest

from pycoreos.raft import Entry, HardState, Message, MessageType, ProgressState
from pycoreos.raft.core import Raft
from pycoreos.raft.progress import Inflights, Progress
from pycoreos.testing.raft_env import (
    RaftNet,
    accept_and_reply,
    new_test_raft,
    read_messages,
    storage_with,
)

MT = MessageType
PROP = Message(type=MT.MsgProp, from_=1, to=1, entries=(Entry(0, 0, data=b"somedata"),))


def leader(max_inflight: int = 4, max_size_per_msg: int = 1 << 40) -> Raft:
    r = new_test_raft(
        1, [1, 2], election=5, max_inflight_msgs=max_inflight, max_size_per_msg=max_size_per_msg
    )
    r.become_candidate()
    r.become_leader()
    read_messages(r)
    return r


def test_window_full_blocks_and_acks_move_it_forward():
    r = leader(max_inflight=4)
    pr2 = r.prs.progress[2]
    pr2.become_replicate()
    for _ in range(4):
        r.step(PROP)
        ms = read_messages(r)
        assert [m.type for m in ms] == [MT.MsgApp]
    assert pr2.inflights.full()
    for _ in range(10):
        r.step(PROP)
        assert read_messages(r) == []
    # Entry 1 is the leader's empty entry; the window holds MsgApps ending at 2..5.
    r.step(Message(type=MT.MsgAppResp, from_=2, to=1, term=r.term, index=2))
    assert pr2.inflights.count() == 3 + 1  # one freed, refilled with the backlog
    ms = read_messages(r)
    assert [m.type for m in ms] == [MT.MsgApp]
    assert ms[0].entries[-1].index == r.raft_log.last_index()
    # Stale acks free nothing.
    r.step(Message(type=MT.MsgAppResp, from_=2, to=1, term=r.term, index=1))
    assert pr2.inflights.full()


def test_heartbeat_response_frees_one_slot_of_a_full_window():
    r = leader(max_inflight=2)
    pr2 = r.prs.progress[2]
    pr2.become_replicate()
    for _ in range(2):
        r.step(PROP)
    read_messages(r)
    assert pr2.is_paused()
    r.step(Message(type=MT.MsgHeartbeatResp, from_=2, to=1, term=r.term))
    assert not pr2.is_paused()
    # The response also re-sends the tail (empty: everything is in flight already).
    assert [len(m.entries) for m in read_messages(r)] == [0]
    r.step(PROP)
    assert [m.type for m in read_messages(r)] == [MT.MsgApp]
    for _ in range(5):
        r.step(PROP)
        assert read_messages(r) == []


def test_probe_sends_one_append_until_response_or_heartbeat():
    r = leader()
    pr2 = r.prs.progress[2]
    assert pr2.state == ProgressState.PROBE
    r.step(PROP)
    assert len(read_messages(r)) == 1
    assert pr2.probe_sent
    r.step(PROP)
    r.step(PROP)
    assert read_messages(r) == []
    # A heartbeat response unpauses the probe and re-sends.
    r.step(Message(type=MT.MsgHeartbeatResp, from_=2, to=1, term=r.term))
    msgs = read_messages(r)
    assert [m.type for m in msgs] == [MT.MsgApp]
    # A successful response switches to replicate.
    r.step(accept_and_reply(msgs[0]))
    assert pr2.state == ProgressState.REPLICATE


def test_size_limit_batches_entries_and_pipelines_after_ack():
    r = leader(max_inflight=16, max_size_per_msg=50)
    pr2 = r.prs.progress[2]
    for _ in range(6):
        r.append_entry([Entry(0, 0, data=b"x" * 20)])
    r.send_append(2)
    (probe,) = read_messages(r)
    # A 20-byte payload entry is ~26 bytes encoded: one fits in 50 with the empty entry.
    assert [e.index for e in probe.entries] == [1, 2]
    r.step(Message(type=MT.MsgAppResp, from_=2, to=1, term=r.term, index=2))
    assert pr2.state == ProgressState.REPLICATE
    msgs = [m for m in read_messages(r) if m.entries]
    # The rest is pipelined at once in size-limited messages.
    assert [[e.index for e in m.entries] for m in msgs] == [[3], [4], [5], [6], [7]]
    assert pr2.inflights.count() == 5


def test_unreachable_drops_replicate_to_probe():
    r = leader()
    pr2 = r.prs.progress[2]
    pr2.become_replicate()
    r.step(Message(type=MT.MsgUnreachable, from_=2, to=1))
    assert pr2.state == ProgressState.PROBE
    assert pr2.next == pr2.match + 1


@pytest.mark.parametrize(
    ("state", "rejected", "hint", "match", "next_", "wok", "wnext"),
    [
        (ProgressState.REPLICATE, 5, 0, 5, 10, False, 10),  # stale: rejected <= match
        (ProgressState.REPLICATE, 6, 0, 5, 10, True, 6),  # back to match+1
        (ProgressState.PROBE, 5, 5, 0, 10, False, 10),  # stale: not next-1
        (ProgressState.PROBE, 9, 9, 0, 10, True, 9),  # hint equal to rejected
        (ProgressState.PROBE, 9, 4, 0, 10, True, 5),  # jump to hint+1
        (ProgressState.PROBE, 9, 0, 0, 10, True, 1),  # never below 1
    ],
)
def test_progress_maybe_decr_to(
    state: ProgressState, rejected: int, hint: int, match: int, next_: int, wok: bool, wnext: int
):
    pr = Progress(match=match, next=next_, max_inflight=4)
    pr.state = state
    assert pr.maybe_decr_to(rejected, hint) is wok
    assert pr.next == wnext


def test_inflights_window():
    inf = Inflights(3)
    for i in (3, 5, 9):
        inf.add(i)
    assert inf.full()
    inf.free_le(4)
    assert inf.count() == 2
    inf.free_first_one()
    assert inf.count() == 1
    inf.free_le(100)
    assert inf.count() == 0


def _log(*terms: int) -> list[Entry]:
    return [Entry(term=t, index=i + 1) for i, t in enumerate(terms)]


def test_fast_log_rejection_skips_whole_terms():
    """Thesis §5.3 optimisation: the follower's hint lets the leader skip a conflicting
    term per round trip instead of one entry per round trip."""
    lead_log = _log(1, 1, 1, 2, 2, 2, 4, 4, 4, 4)
    fol_log = _log(1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3)
    lead = new_test_raft(1, [1, 2, 3], storage=storage_with([1, 2, 3], lead_log))
    lead._load_state(HardState(term=5, commit=3))
    fol = new_test_raft(2, [1, 2, 3], storage=storage_with([1, 2, 3], fol_log))
    fol._load_state(HardState(term=5, commit=3))
    net = RaftNet({1: lead, 2: fol, 3: None})
    rejections: list[Message] = []
    orig = fol.send

    def spy(m: Message) -> None:
        if m.type == MT.MsgAppResp and m.reject:
            rejections.append(m)
        orig(m)

    fol.send = spy  # type: ignore[method-assign]
    net.send(Message(type=MT.MsgHup, from_=1, to=1))
    net.send(Message(type=MT.MsgVoteResp, from_=3, to=1, term=6))
    assert lead.state.name == "Leader"
    assert fol.raft_log.all_entries() == lead.raft_log.all_entries()
    # Index 11 (probe) -> hint skips follower's term-3 run -> match at 3.
    assert 1 <= len(rejections) <= 2
