"""The pure checks U1-U3 and the answer-to-outcome mapping, on hand-made histories."""

from __future__ import annotations

import math

from pycoreos._clock import ManualClock
from pycoreos.robustness.checks import (
    check_index_order,
    check_linearizable,
    check_local_reads,
    check_watches,
)
from pycoreos.robustness.client import RawAnswer, outcome, request_params
from pycoreos.robustness.workload import IndexObservation, LocalRead, WatchEvent, WatchGap
from pycoreos.testing.history import UNKNOWN, Operation
from pycoreos.testing.models.v2_keyspace import V2OpKind, V2Request, V2Response

K = "/torture/k0"


def op(
    client: int, call: float, ret: float, req: V2Request, out: V2Response | None
) -> Operation[V2Request, V2Response]:
    return Operation(
        client_id=client,
        input=req,
        call=call,
        output=UNKNOWN if out is None else out,
        return_time=math.inf if out is None else ret,
    )


SET_A = V2Request(kind=V2OpKind.SET, key=K, value="a")
SET_B = V2Request(kind=V2OpKind.SET, key=K, value="b")
GET = V2Request(kind=V2OpKind.GET, key=K)


def test_stale_quorum_read_is_not_linearizable() -> None:
    history = [
        op(1, 0, 1, SET_A, V2Response(modified_index=5)),
        op(1, 2, 3, SET_B, V2Response(modified_index=6)),
        op(2, 4, 5, GET, V2Response(value="a", modified_index=5)),  # stale
    ]
    verdict, problems = check_linearizable(history, 10, ManualClock())
    assert verdict == "not linearizable"
    assert problems[0] == "U1: not linearizable"
    assert any("get(/torture/k0)" in p for p in problems)


def test_unknown_write_may_have_happened() -> None:
    history = [
        op(1, 0, 1, SET_A, V2Response(modified_index=5)),
        op(2, 2, 3, SET_B, None),  # unknown outcome
        op(3, 4, 5, GET, V2Response(value="b", modified_index=6)),
        op(3, 6, 7, GET, V2Response(value="b", modified_index=6)),
    ]
    assert check_linearizable(history, 10, ManualClock()) == ("linearizable", [])


def test_index_going_back_after_a_completed_operation_is_caught() -> None:
    ok = [IndexObservation(0, 1, 10), IndexObservation(2, 3, 10), IndexObservation(0.5, 4, 9)]
    assert check_index_order(ok) == []  # 9 was concurrent with the first op: fine
    bad = [IndexObservation(0, 1, 10), IndexObservation(2, 3, 9)]
    (problem,) = check_index_order(bad)
    assert "saw 9" in problem
    assert "saw 10" in problem


def test_local_reads_may_go_back_only_across_a_restart() -> None:
    reads = [LocalRead(1, 7000, 1.0, 10), LocalRead(1, 7000, 3.0, 8)]
    assert check_local_reads(reads, {7000: [2.0]}) == []
    assert len(check_local_reads(reads, {})) == 1


def ev(w: int, idx: int, value: str, t: float, action: str = "set") -> WatchEvent:
    return WatchEvent(w, 7000, idx, action, K, value, t)


def test_watch_rules() -> None:
    history = [
        op(1, 0, 1, SET_A, V2Response(modified_index=5)),
        op(1, 2, 3, SET_B, V2Response(modified_index=6)),
        op(1, 4, 5, V2Request(kind=V2OpKind.SET, key=K, value="c"), V2Response(modified_index=7)),
    ]
    good = [ev(0, 5, "a", 1), ev(0, 6, "b", 2), ev(0, 7, "c", 3)]
    assert check_watches(good, [], history) == []
    # A gap (6 missing) is fine only inside an EventIndexCleared window.
    gapped = [ev(0, 5, "a", 1), ev(0, 7, "c", 3)]
    assert any("missed" in p for p in check_watches(gapped, [], history))
    assert check_watches(gapped, [WatchGap(0, 5, 7)], history) == []
    # Duplicates, reordering, altered values and phantoms are all caught.
    dup = [ev(0, 5, "a", 1), ev(0, 5, "a", 2), ev(0, 6, "b", 3), ev(0, 7, "c", 4)]
    assert any("duplicate" in p for p in check_watches(dup, [], history))
    altered = [ev(0, 5, "a", 1), ev(0, 6, "zzz", 2), ev(0, 7, "c", 3)]
    problems = check_watches(altered, [], history)
    assert any("phantom" in p for p in problems)
    assert any("not the acknowledged write" in p for p in problems)
    # Two watchers must agree on what happened at an index.
    split = [*good, ev(1, 5, "a", 1), ev(1, 6, "c", 2), ev(1, 7, "c", 3)]
    assert any("disagree" in p for p in check_watches(split, [], history))


def test_outcome_mapping() -> None:
    ok = RawAnswer(201, {"x-etcd-index": "9"}, {"node": {"key": K, "modifiedIndex": 9}})
    assert outcome(SET_A, ok) == V2Response(modified_index=9)
    assert ok.header_int("x-etcd-index") == 9
    read = RawAnswer(200, {}, {"node": {"key": K, "value": "a", "modifiedIndex": 4}})
    assert outcome(GET, read) == V2Response(value="a", modified_index=4)
    failed = RawAnswer(412, {}, {"errorCode": 101, "index": 12})
    assert outcome(SET_A, failed) == V2Response(error_code=101, index=12)
    # Raft errors (300s), 5xx and unexpected answers may have been committed: unknown.
    for ans in (
        RawAnswer(500, {}, {"errorCode": 300}),
        RawAnswer(503, {}, None),
        RawAnswer(200, {}, {"no": "node"}),
    ):
        assert outcome(SET_A, ans) is UNKNOWN


def test_request_params() -> None:
    cas = V2Request(kind=V2OpKind.CAS, key=K, value="n", prev_index=3, prev_value="o")
    assert request_params(cas) == (
        "PUT",
        "/v2/keys" + K,
        {"value": "n", "prevValue": "o", "prevIndex": "3"},
    )
    assert request_params(GET) == ("GET", "/v2/keys" + K, {"quorum": "true"})
    create = V2Request(kind=V2OpKind.CREATE, key=K, value="v")
    assert request_params(create)[2] == {"prevExist": "false", "value": "v"}
    cad = V2Request(kind=V2OpKind.CAD, key=K, prev_value="o")
    assert request_params(cad) == ("DELETE", "/v2/keys" + K, {"prevValue": "o"})
