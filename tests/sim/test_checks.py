"""The checks themselves: each must fire on a hand-made violation and stay quiet otherwise."""

from __future__ import annotations

import math

from pycoreos.raft.types import Entry
from pycoreos.testing.history import UNKNOWN, Operation
from pycoreos.testing.linearizability import CheckResult
from pycoreos.testing.models.v2_keyspace import V2OpKind, V2Request, V2Response
from pycoreos.testing.sim.checks import (
    ELECTION_SAFETY,
    LEADER_COMPLETENESS,
    LOG_MATCHING,
    STATE_MACHINE_SAFETY,
    MemberView,
    SafetyMonitor,
    check_convergence,
    check_linearizable,
    check_log_matching,
)


def e(index: int, term: int, data: bytes = b"") -> Entry:
    return Entry(term=term, index=index, data=data or f"{index}/{term}".encode())


def log_of(*entries: Entry):
    by = {x.index: x.term for x in entries}
    first = min(by) if by else 1
    last = max(by) if by else 0
    return (lambda i: by.get(i, 0)), first, last


def test_election_safety_two_leaders_in_one_term():
    m = SafetyMonitor()
    m.observe_leader("n1", 3, *log_of(e(1, 1)), now=1.0)
    m.observe_leader("n1", 4, *log_of(e(1, 1)), now=2.0)
    assert m.violations == []
    m.observe_leader("n2", 4, *log_of(e(1, 1)), now=3.0)
    assert [v.kind for v in m.violations] == [ELECTION_SAFETY]
    assert "n1 and n2" in m.violations[0].detail


def test_state_machine_safety_different_entries_at_one_index():
    m = SafetyMonitor()
    m.observe_apply("n1", [e(1, 1), e(2, 1, b"x")], now=1.0)
    m.observe_apply("n2", [e(1, 1), e(2, 1, b"x")], now=1.0)  # same entries: fine
    assert m.violations == []
    assert m.committed_index == 2
    m.observe_apply("n3", [e(2, 2, b"y")], now=2.0)
    assert [v.kind for v in m.violations] == [STATE_MACHINE_SAFETY]


def test_leader_completeness_missing_or_different_committed_entry():
    m = SafetyMonitor()
    m.observe_apply("n1", [e(1, 1), e(2, 1), e(3, 2)], now=1.0)
    m.observe_leader("n2", 3, *log_of(e(1, 1), e(2, 1), e(3, 2), e(4, 3)), now=2.0)
    assert m.violations == []
    m.observe_leader("n3", 4, *log_of(e(1, 1), e(2, 1)), now=3.0)  # lacks index 3
    m.observe_leader("n1", 5, *log_of(e(1, 1), e(2, 1), e(3, 4)), now=4.0)  # other term at 3
    assert [v.kind for v in m.violations] == [LEADER_COMPLETENESS, LEADER_COMPLETENESS]


def test_leader_completeness_ignores_the_compacted_prefix():
    m = SafetyMonitor()
    m.observe_apply("n1", [e(i, 1) for i in range(1, 11)], now=1.0)
    # The leader's log starts at 9 (snapshot at 8): entries 1..8 are in its snapshot.
    m.observe_leader("n2", 2, *log_of(e(9, 1), e(10, 1)), now=2.0)
    assert m.violations == []


def test_log_matching():
    same_prefix = [e(1, 1), e(2, 1), e(3, 2)]
    logs = {"n1": [*same_prefix, e(4, 2)], "n2": [*same_prefix, e(4, 3)], "n3": same_prefix[1:]}
    assert check_log_matching(logs, 1.0) == []  # diverging tails are allowed
    bad = {"n1": [e(1, 1), e(2, 1, b"a"), e(3, 2)], "n2": [e(1, 1), e(2, 1, b"b"), e(3, 2)]}
    found = check_log_matching(bad, 1.0)
    assert [v.kind for v in found] == [LOG_MATCHING]
    earlier = {"n1": [e(1, 1, b"a"), e(2, 2)], "n2": [e(1, 1, b"b"), e(2, 2)]}
    assert "index 1" in check_log_matching(earlier, 1.0)[0].detail


def test_convergence():
    a = MemberView(10, 7, (("/1/a", "x", 7, 3),))
    b = MemberView(10, 7, (("/1/a", "y", 7, 3),))
    assert check_convergence({"n1": a, "n2": a}, 1.0) == []
    found = check_convergence({"n1": a, "n2": b}, 1.0)
    assert len(found) == 1
    assert "'y'" in found[0].detail


def op(client, kind, call, ret, out, **kw):
    return Operation(
        client_id=client,
        input=V2Request(kind=kind, key="/1/k", **kw),
        call=call,
        output=out,
        return_time=ret,
    )


def test_linearizability_accepts_and_rejects():
    good = [
        op(1, V2OpKind.SET, 0.0, 1.0, V2Response(modified_index=5), value="a"),
        op(2, V2OpKind.GET, 2.0, 3.0, V2Response(value="a", modified_index=5)),
        op(3, V2OpKind.SET, 2.5, math.inf, UNKNOWN, value="b"),
        op(1, V2OpKind.GET, 4.0, 5.0, V2Response(value="b", modified_index=9)),
    ]
    assert check_linearizable(good, 9.0).result is CheckResult.LINEARIZABLE
    stale = [
        *good[:2],
        op(3, V2OpKind.SET, 3.5, 3.8, V2Response(modified_index=6), value="b"),
        op(1, V2OpKind.GET, 4.0, 5.0, V2Response(value="a", modified_index=5)),  # stale read
    ]
    out = check_linearizable(stale, 9.0)
    assert out.result is CheckResult.NOT_LINEARIZABLE
    assert out.violation is not None
    assert "get(/1/k) -> 'a'@5" in out.violation.detail
