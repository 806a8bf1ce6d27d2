"""The search itself, on hand-made cas-register histories (porcupine's register examples and
unknown-outcome cases)."""

from __future__ import annotations

import pytest

from pycoreos._clock import ManualClock
from pycoreos.testing.linearizability import CheckResult, check
from pycoreos.testing.models.cas_register import CasRegisterModel

from .helpers import cas, read, write

MODEL = CasRegisterModel()


def verdict(ops) -> CheckResult:
    return check(MODEL, ops).result


LIN = CheckResult.LINEARIZABLE
NOT = CheckResult.NOT_LINEARIZABLE


def test_empty_history_is_linearizable():
    report = check(MODEL, [])
    assert report.ok
    assert report.partitions == 0


def test_porcupine_register_examples():
    # 6.824 2017 quiz 2, section VII, as in porcupine's TestRegisterModel.
    ok = [write(0, 0, 100, 100), read(1, 25, 75, 100), read(2, 30, 60, None)]
    assert verdict(ok) is LIN
    bad = [write(0, 0, 100, 200), read(1, 10, 30, 200), read(2, 40, 90, None)]
    assert verdict(bad) is NOT


def test_touching_operations_count_as_concurrent():
    # Equal timestamps: calls sort before returns (porcupine's TestZeroDuration).
    ok = [write(0, 0, 100, 100), read(1, 25, 75, 100), read(2, 30, 30, None), read(3, 30, 30, None)]
    assert verdict(ok) is LIN
    bad = [write(0, 0, 100, 200), read(1, 10, 10, 200), read(2, 10, 10, 200), read(3, 40, 90, None)]
    assert verdict(bad) is NOT


def test_sequential_stale_read_is_not_linearizable():
    assert verdict([write(0, 0, 1, 1), write(0, 2, 3, 2), read(1, 4, 5, 1)]) is NOT
    assert verdict([write(0, 0, 1, 1), write(0, 2, 3, 2), read(1, 4, 5, 2)]) is LIN


def test_cas_success_and_failure_must_match_state():
    assert verdict([write(0, 0, 1, 1), cas(0, 2, 3, 1, 2, True), read(0, 4, 5, 2)]) is LIN
    assert verdict([write(0, 0, 1, 1), cas(0, 2, 3, 3, 2, True)]) is NOT
    assert verdict([write(0, 0, 1, 1), cas(0, 2, 3, 1, 2, False)]) is NOT
    assert verdict([write(0, 0, 1, 1), cas(0, 2, 3, 3, 2, False), read(0, 4, 5, 1)]) is LIN


def test_failed_write_did_not_happen():
    assert verdict([write(0, 0, 1, 1, ok=False), read(1, 2, 3, 1)]) is NOT
    assert verdict([write(0, 0, 1, 1, ok=False), read(1, 2, 3, None)]) is LIN


def test_unknown_write_may_have_happened():
    # The write timed out; a later read sees it.
    assert verdict([write(0, 0, 1, 7, ok=None), read(1, 5, 6, 7)]) is LIN


def test_unknown_write_may_not_have_happened():
    assert verdict([write(0, 0, 1, 7, ok=None), read(1, 5, 6, None)]) is LIN


def test_unknown_write_may_take_effect_long_after_the_client_gave_up():
    # Return time is +inf: the value appears after a later write by someone else.
    ops = [write(0, 0, 1, 7, ok=None), write(1, 2, 3, 8), read(2, 4, 5, 8), read(2, 6, 7, 7)]
    assert verdict(ops) is LIN


def test_unknown_write_takes_effect_at_most_once():
    ops = [
        write(0, 0, 1, 7, ok=None),
        read(1, 2, 3, 7),
        write(1, 4, 5, 8),
        read(1, 6, 7, 7),  # 7 again: it cannot apply twice
    ]
    assert verdict(ops) is NOT


def test_unknown_write_cannot_take_effect_before_its_call():
    ops = [read(1, 0, 1, 7), write(0, 2, 3, 7, ok=None)]
    assert verdict(ops) is NOT


def test_unknown_cas_forks_on_its_condition():
    base = [write(0, 0, 1, 1), cas(1, 2, 3, 1, 5, None)]
    assert verdict([*base, read(2, 4, 5, 5)]) is LIN
    assert verdict([*base, read(2, 4, 5, 1)]) is LIN
    # A cas whose condition can never hold cannot produce its value.
    assert verdict([write(0, 0, 1, 1), cas(1, 2, 3, 9, 5, None), read(2, 4, 5, 5)]) is NOT


def test_keys_are_checked_separately():
    ops = [write(0, 0, 1, 1, key="a"), write(0, 2, 3, 2, key="b"), read(1, 4, 5, 1, key="a")]
    report = check(MODEL, ops)
    assert report.ok
    assert report.partitions == 2
    bad = [*ops, read(1, 6, 7, 1, key="b")]
    report = check(MODEL, bad)
    assert report.result is NOT
    assert report.failure is not None
    assert report.failure.index == 1  # partition "b"


def test_shortest_failing_prefix_is_reported():
    ops = [
        write(0, 0, 1, 1),
        read(1, 2, 3, 1),
        write(0, 4, 5, 2),
        read(1, 6, 7, 1),  # stale: the history fails here (event 8)
        read(2, 8, 9, 2),
        write(0, 10, 11, 3),
    ]
    report = check(MODEL, ops)
    assert report.failure is not None
    f = report.failure
    assert f.prefix_events == 8
    assert f.prefix == tuple(ops[:4])
    assert f.stuck == ops[3]
    assert f.linearized == tuple(ops[:3])
    assert f.states == ("2",)


def test_prefix_turns_pending_calls_into_unknown():
    # The read fails at its return (event 5 of 6); the slow write is still in flight then, so
    # the prefix shows it with an unknown outcome.
    ops = [
        write(0, 0, 1, 1),
        write(1, 2, 20, 5),  # slow write, pending when the read returns
        read(2, 3, 4, 9),  # impossible value: fails at event 4 (its return)
    ]
    report = check(MODEL, ops)
    f = report.failure
    assert f is not None
    assert f.prefix_events == 5
    assert [op.unknown for op in f.prefix] == [False, True, False]


def test_explain_false_skips_the_explanation():
    report = check(MODEL, [read(0, 0, 1, 3)], explain=False)
    assert report.result is NOT
    assert report.failure is None


class _TickingClock(ManualClock):
    """Moves one second each time it is read, so any timeout expires mid-search."""

    def monotonic(self) -> float:
        self.advance(1.0)
        return super().monotonic()


def _hard_history():
    # Many concurrent writes and reads of values that never come back force a full search.
    ops = [write(c, 0, 100, c) for c in range(14)]
    ops.append(read(99, 200, 201, 1000))
    return ops


def test_timeout_gives_unknown():
    report = check(MODEL, _hard_history(), timeout=0.5, clock=_TickingClock())
    assert report.result is CheckResult.UNKNOWN
    assert not report.ok


def test_timeout_needs_a_clock():
    with pytest.raises(ValueError, match="together"):
        check(MODEL, [], timeout=1.0)
