"""``/v2/stats/store`` counters move like the real etcd's for the same client operations.

Absolute values differ legitimately (each implementation makes its own internal writes and reads
at start-up), so the test compares the change of every counter across one scripted batch of
operations, run under the same per-kind prefix on the kind under test and on the real reference.
"""

from __future__ import annotations

import pytest

from pycoreos.testing import v2compat as v
from pycoreos.testing.procs import Member

pytestmark = [pytest.mark.e2e, pytest.mark.compat]


def _batch(p: str) -> tuple[v.Step, ...]:
    return (
        v.put("set", f"{p}/a", value="1"),
        v.put("set_again", f"{p}/a", value="2"),
        v.get("get", f"{p}/a"),
        v.get("get_missing", f"{p}/missing"),
        v.get("get_quorum", f"{p}/a", quorum="true"),
        v.put("create", f"{p}/c", prevExist="false", value="1"),
        v.put("create_fail", f"{p}/c", prevExist="false", value="1"),
        v.put("update", f"{p}/c", prevExist="true", value="2"),
        v.put("update_fail", f"{p}/nope", prevExist="true", value="2"),
        v.put("cas", f"{p}/c", prevValue="2", value="3"),
        v.put("cas_fail", f"{p}/c", prevValue="9", value="4"),
        v.put("cas_missing", f"{p}/nope", prevValue="9", value="4"),
        v.delete("cad_fail", f"{p}/c", prevValue="9"),
        v.delete("cad", f"{p}/c", prevValue="3"),
        v.delete("delete", f"{p}/a"),
        v.delete("delete_fail", f"{p}/a"),
        v.post("post", f"{p}/q", value="x"),
        v.put("set_on_dir_fail", f"{p}/q", value="x"),
    )


def _counters(member: Member) -> dict[str, int]:
    res = v.exchange(member.client_url, "GET", "/v2/stats/store")
    assert res.status == 200
    counters: dict[str, int] = res.body
    return counters


def _deltas(member: Member, prefix: str) -> dict[str, int]:
    before = _counters(member)
    v.run_script(member.client_url, _batch(prefix))
    after = _counters(member)
    assert set(before) == set(after)
    return {k: after[k] - before[k] for k in sorted(after)}


def test_store_counters_move_like_real(member: Member, reference: Member, kind: str) -> None:
    prefix = f"/stats-{kind}"
    real = _deltas(reference, prefix)
    ours = _deltas(member, prefix)
    # The batch did count something (the comparison is not vacuous).
    assert real["setsSuccess"] >= 2
    assert real["compareAndSwapSuccess"] == 1
    mismatched = {k: (real[k], ours.get(k)) for k in real if real[k] != ours.get(k)}
    assert not mismatched, f"counter deltas (real, {kind}): {mismatched}"
