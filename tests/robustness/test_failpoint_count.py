"""``action@N``: a failpoint fires from its N-th hit on (robustness crashes mid-run)."""

from __future__ import annotations

import pytest

from pycoreos import _failpoints
from pycoreos._failpoints import FailpointError, arm, disarm, failpoint


def test_raise_at_third_hit_and_after() -> None:
    arm("robust_test_fp", "raise@3")
    try:
        failpoint("robust_test_fp")
        failpoint("robust_test_fp")
        for _ in range(2):
            with pytest.raises(FailpointError):
                failpoint("robust_test_fp")
    finally:
        disarm("robust_test_fp")
    failpoint("robust_test_fp")  # disarmed: no-op


def test_zero_count_is_rejected() -> None:
    with pytest.raises(ValueError, match="N >= 1"):
        arm("robust_test_fp", "panic@0")
    assert "robust_test_fp" not in _failpoints._armed
