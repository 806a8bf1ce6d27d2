"""The acceptance sequence: the same scripted v2 requests against each kind and a fresh real etcd.

Responses must match field by field after normalisation (indexes relative to the run, ids, times
and raft counters by shape); see :mod:`pycoreos.testing.v2compat`.
"""

from __future__ import annotations

import pytest

from pycoreos.testing import v2compat
from pycoreos.testing.procs import Member

pytestmark = [pytest.mark.e2e, pytest.mark.compat]

# Every keys-API error code the reference's table marks as reachable from the v2 API.
EXPECTED_ERROR_CODES = {100, 101, 102, 104, 105, 107, 108, 201, 202, 203, 209, 210, 211, 212, 401}
EXPECTED_ACTIONS = {
    "get", "set", "create", "update", "compareAndSwap", "compareAndDelete", "delete", "expire",
}  # fmt: skip


def test_script_is_big_enough() -> None:
    requests = [s for s in v2compat.SCRIPT if not isinstance(s, v2compat.Join)]
    assert len(requests) >= 60
    names = list(v2compat.step_options(v2compat.SCRIPT))
    assert len(names) == len(set(names)), "step names must be unique"


def test_reference_covers_every_code_and_action(
    reference_recording: v2compat.Recording,
) -> None:
    codes, actions = set(), set()
    for res in reference_recording.results.values():
        assert res.error is None
        if isinstance(res.body, dict):
            if "errorCode" in res.body:
                codes.add(res.body["errorCode"])
            if "action" in res.body:
                actions.add(res.body["action"])
    assert codes >= EXPECTED_ERROR_CODES
    assert actions >= EXPECTED_ACTIONS


def test_sequence_matches_real(
    fresh_member: Member, reference_recording: v2compat.Recording
) -> None:
    rec = v2compat.run_script(fresh_member.client_url)
    diffs = v2compat.compare(v2compat.SCRIPT, reference_recording, rec)
    assert not diffs, f"{len(diffs)} differences from the real etcd:\n" + "\n".join(
        str(d) for d in diffs
    )
