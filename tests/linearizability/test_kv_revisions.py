"""The v3-style store with revisions: exact header/mod revisions, txns, unknown outcomes."""

from __future__ import annotations

from pycoreos.testing.history import UNKNOWN, Operation
from pycoreos.testing.linearizability import CheckResult, check
from pycoreos.testing.models.kv_revisions import (
    Compare,
    CompareTarget,
    KvOp,
    KvOpKind,
    KvRequest,
    KvResponse,
    KvResult,
    KvRevisionsModel,
    KvState,
    apply,
)

MODEL = KvRevisionsModel()


def seq(*pairs, start: float = 0.0):
    """Sequential operations from (request, response-or-UNKNOWN) pairs."""
    ops = []
    t = start
    for i, (req, resp) in enumerate(pairs):
        t += 2
        if resp is UNKNOWN:
            ops.append(Operation(client_id=i, input=req, call=t, output=UNKNOWN))
        else:
            ops.append(Operation(client_id=i, input=req, call=t, output=resp, return_time=t + 1))
    return ops


def lin(*pairs) -> bool:
    r = check(MODEL, seq(*pairs)).result
    assert r is not CheckResult.UNKNOWN
    return r is CheckResult.LINEARIZABLE


def put(rev: int) -> KvResponse:
    return KvResponse(revision=rev, results=(KvResult(),))


def got(rev: int, value: str | None = None, mod: int = 0) -> KvResponse:
    return KvResponse(revision=rev, results=(KvResult(value, mod),))


def test_apply_stamps_revisions_and_versions():
    s, r = apply(KvState(), KvRequest.put("a", "1"))
    assert r == put(2)
    s, r = apply(s, KvRequest.put("a", "2"))
    assert dict(s.kvs)["a"].version == 2
    assert dict(s.kvs)["a"].create_revision == 2
    assert dict(s.kvs)["a"].mod_revision == 3
    s2, r = apply(s, KvRequest.delete("zz"))  # nothing deleted: no new revision
    assert s2 == s
    assert r == KvResponse(revision=3, results=(KvResult(deleted=0),))


def test_put_get_revisions():
    assert lin((KvRequest.get("a"), got(1)))
    assert lin((KvRequest.put("a", "1"), put(2)), (KvRequest.get("a"), got(2, "1", 2)))
    assert not lin((KvRequest.put("a", "1"), put(2)), (KvRequest.get("a"), got(1)))  # stale
    assert not lin((KvRequest.put("a", "1"), put(3)))  # revision skipped
    # The revision is global: a put to b moves it for reads of a too.
    assert lin(
        (KvRequest.put("a", "1"), put(2)),
        (KvRequest.put("b", "1"), put(3)),
        (KvRequest.get("a"), got(3, "1", 2)),
    )


def test_delete():
    assert lin(
        (KvRequest.put("a", "1"), put(2)),
        (KvRequest.delete("a"), KvResponse(revision=3, results=(KvResult(deleted=1),))),
        (KvRequest.get("a"), got(3)),
    )
    assert not lin((KvRequest.delete("a"), KvResponse(revision=2, results=(KvResult(deleted=1),))))


def cas_txn(key: str, mod: int, value: str) -> KvRequest:
    return KvRequest(
        compares=(Compare(key, CompareTarget.MOD, mod),),
        success=(KvOp(KvOpKind.PUT, key, value),),
        failure=(KvOp(KvOpKind.GET, key),),
    )


def test_txn_branches_on_compares():
    p = (KvRequest.put("a", "1"), put(2))
    ok = KvResponse(revision=3, succeeded=True, results=(KvResult(),))
    assert lin(p, (cas_txn("a", 2, "2"), ok))
    assert not lin(p, (cas_txn("a", 1, "2"), ok))
    fail = KvResponse(revision=2, succeeded=False, results=(KvResult("1", 2),))
    assert lin(p, (cas_txn("a", 1, "2"), fail))
    assert not lin(p, (cas_txn("a", 2, "2"), fail))
    for target, expected in [
        (CompareTarget.VALUE, "1"),
        (CompareTarget.CREATE, 2),
        (CompareTarget.VERSION, 1),
    ]:
        req = KvRequest(
            compares=(Compare("a", target, expected),), success=(KvOp(KvOpKind.PUT, "a", "x"),)
        )
        assert lin(p, (req, ok))
    absent = KvRequest(
        compares=(Compare("b", CompareTarget.VERSION, 0),), success=(KvOp(KvOpKind.PUT, "b", "x"),)
    )
    assert lin(p, (absent, ok))


def test_unknown_put_forks():
    p = (KvRequest.put("a", "1"), put(2))
    u = (KvRequest.put("a", "2"), UNKNOWN)
    assert lin(p, u, (KvRequest.get("a"), got(2, "1", 2)))
    assert lin(p, u, (KvRequest.get("a"), got(3, "2", 3)))
    assert not lin(p, u, (KvRequest.get("a"), got(3, "1", 2)))
    # and it can take effect after a later put, shifting that put's revision
    assert lin(p, u, (KvRequest.put("b", "x"), put(3)), (KvRequest.get("a"), got(4, "2", 4)))


def test_unknown_reads_are_dropped():
    ops = seq((KvRequest.get("a"), UNKNOWN))
    assert MODEL.partition(ops) == []
    assert check(MODEL, ops).ok


def test_describe():
    req = cas_txn("a", 2, "2")
    out = KvResponse(revision=2, succeeded=False, results=(KvResult("1", 2),))
    assert MODEL.describe_operation(req, out) == (
        "txn(mod(a)==2 ? put(a, '2') : get(a)) -> rev 2 (failure branch) ['1'@2]"
    )
    assert MODEL.describe_operation(KvRequest.put("a", "1"), UNKNOWN) == "put(a, '1') -> unknown"
    s, _ = apply(KvState(), KvRequest.put("a", "1"))
    assert MODEL.describe_state(s) == "rev 2 {a='1'@2}"
