"""The v2 key space model: values, modifiedIndex and error codes 100/101/105."""

from __future__ import annotations

from pycoreos.testing.history import UNKNOWN, Operation
from pycoreos.testing.linearizability import CheckResult, check
from pycoreos.testing.models.v2_keyspace import (
    V2KeyspaceModel,
    V2KeyState,
    V2OpKind,
    V2Request,
    V2Response,
)

MODEL = V2KeyspaceModel()
K = V2OpKind
_t = 0.0


def op(
    kind,
    key="/a",
    value=None,
    *,
    pv=None,
    pi=None,
    ok=None,
    err=None,
    got=None,
    index=None,
    unknown=False,
    client=0,
):
    """A sequential operation (each call after the previous return) unless ``unknown``."""
    global _t
    _t += 2
    req = V2Request(kind=kind, key=key, value=value, prev_value=pv, prev_index=pi)
    if unknown:
        return Operation(client_id=client, input=req, call=_t, output=UNKNOWN)
    out = V2Response(error_code=err, value=got, modified_index=ok, index=index)
    return Operation(client_id=client, input=req, call=_t, output=out, return_time=_t + 1)


def lin(*ops) -> bool:
    r = check(MODEL, list(ops)).result
    assert r is not CheckResult.UNKNOWN
    return r is CheckResult.LINEARIZABLE


def test_set_then_get_must_show_value_and_index():
    assert lin(op(K.SET, value="x", ok=5), op(K.GET, got="x", ok=5))
    assert not lin(op(K.SET, value="x", ok=5), op(K.GET, got="x", ok=6))
    assert not lin(op(K.SET, value="x", ok=5), op(K.GET, got="y", ok=5))


def test_write_indexes_increase_per_key():
    assert lin(op(K.SET, value="x", ok=5), op(K.SET, value="y", ok=9))
    assert not lin(op(K.SET, value="x", ok=5), op(K.SET, value="y", ok=5))
    # Other keys have their own order (the global index is not checked across keys).
    assert lin(op(K.SET, "/a", "x", ok=5), op(K.SET, "/b", "y", ok=3))


def test_get_absent_is_100():
    assert lin(op(K.GET, err=100, index=0))
    assert not lin(op(K.SET, value="x", ok=5), op(K.GET, err=100))
    # The error's index is the etcd index: never below the key's last write.
    assert not lin(op(K.SET, value="x", ok=5), op(K.DELETE, ok=6), op(K.GET, err=100, index=4))
    assert lin(op(K.SET, value="x", ok=5), op(K.DELETE, ok=6), op(K.GET, err=100, index=8))


def test_create_is_105_when_present():
    assert lin(op(K.CREATE, value="x", ok=3), op(K.CREATE, value="y", err=105))
    assert not lin(op(K.CREATE, value="x", ok=3), op(K.CREATE, value="y", ok=4))
    assert not lin(op(K.CREATE, value="x", err=105))


def test_update_needs_the_key():
    assert lin(op(K.UPDATE, value="x", err=100))
    assert not lin(op(K.UPDATE, value="x", ok=2))
    assert lin(op(K.SET, value="x", ok=2), op(K.UPDATE, value="y", ok=3), op(K.GET, got="y", ok=3))


def test_cas_by_prev_value_and_prev_index():
    s = op(K.SET, value="x", ok=4)
    assert lin(s, op(K.CAS, value="y", pv="x", ok=6), op(K.GET, got="y", ok=6))
    assert lin(s, op(K.CAS, value="y", pv="z", err=101))
    assert not lin(s, op(K.CAS, value="y", pv="z", ok=6))
    assert not lin(s, op(K.CAS, value="y", pv="x", err=101))
    assert lin(s, op(K.CAS, value="y", pi=4, ok=7))
    assert not lin(s, op(K.CAS, value="y", pi=3, ok=7))
    assert lin(s, op(K.CAS, value="y", pi=3, err=101))
    assert not lin(s, op(K.CAS, value="y", pv="x", pi=3, ok=7))  # both must hold
    assert lin(op(K.CAS, value="y", pv="x", err=100))  # absent key: 100, not 101
    assert not lin(op(K.CAS, value="y", pv="x", err=101))


def test_delete_and_compare_and_delete():
    s = op(K.SET, value="x", ok=4)
    assert lin(s, op(K.DELETE, ok=5), op(K.GET, err=100), op(K.DELETE, err=100))
    assert not lin(op(K.DELETE, ok=5))
    assert lin(s, op(K.CAD, pv="x", ok=5), op(K.GET, err=100))
    assert lin(s, op(K.CAD, pi=9, err=101), op(K.GET, got="x", ok=4))
    assert not lin(s, op(K.CAD, pi=4, err=101))
    assert lin(op(K.CAD, pv="x", err=100))
    # A create after a delete gets a newer index than the delete.
    assert not lin(s, op(K.DELETE, ok=8), op(K.CREATE, value="z", ok=7))


def test_unknown_set_may_or_may_not_happen():
    s = op(K.SET, value="x", ok=4)
    u = op(K.SET, value="y", unknown=True)
    assert lin(s, u, op(K.GET, got="x", ok=4))
    assert lin(s, u, op(K.GET, got="y", ok=11))  # its index, unseen until now, is 11
    assert not lin(s, u, op(K.GET, got="y", ok=4))  # it must be newer than 4


def test_unknown_write_index_is_pinned_by_the_first_observation():
    s = op(K.SET, value="x", ok=4)
    u = op(K.SET, value="y", unknown=True)
    g1 = op(K.GET, got="y", ok=11)
    assert not lin(s, u, g1, op(K.GET, got="y", ok=12))
    assert lin(s, u, op(K.CAS, value="z", pi=11, ok=13), op(K.GET, got="z", ok=13))
    assert lin(s, u, op(K.CAS, value="z", pv="y", ok=20))
    assert not lin(s, u, g1, op(K.SET, value="w", ok=10))


def test_unknown_create_forks_only_when_absent():
    assert lin(op(K.CREATE, value="x", unknown=True), op(K.GET, got="x", ok=3))
    s = op(K.SET, value="x", ok=4)
    assert not lin(s, op(K.CREATE, value="y", unknown=True), op(K.GET, got="y", ok=9))


def test_unexplained_error_codes_are_illegal():
    assert not lin(op(K.SET, value="x", err=300))


def test_describe():
    req = V2Request(kind=K.CAS, key="/a", value="y", prev_index=7)
    assert (
        MODEL.describe_operation(req, V2Response(modified_index=9))
        == "cas(/a, 'y', prevIndex=7) -> ok@9"
    )
    assert MODEL.describe_operation(req, V2Response(error_code=101, index=12)) == (
        "cas(/a, 'y', prevIndex=7) -> error 101@12"
    )
    assert MODEL.describe_operation(req, UNKNOWN) == "cas(/a, 'y', prevIndex=7) -> unknown"
    assert MODEL.describe_state(V2KeyState("x", 9, False)) == "'x'@>=9"
    assert MODEL.describe_state(V2KeyState()) == "absent@0"


def test_concurrent_history_per_key():
    # Two clients race a create; exactly one wins.
    a = Operation(
        client_id=1,
        input=V2Request(kind=K.CREATE, key="/l", value="1"),
        call=0.0,
        output=V2Response(modified_index=7),
        return_time=3.0,
    )
    b = Operation(
        client_id=2,
        input=V2Request(kind=K.CREATE, key="/l", value="2"),
        call=1.0,
        output=V2Response(error_code=105, index=7),
        return_time=2.0,
    )
    assert check(MODEL, [a, b]).ok
    both = Operation(
        client_id=2, input=b.input, call=1.0, output=V2Response(modified_index=8), return_time=2.0
    )
    assert not check(MODEL, [a, both]).ok
