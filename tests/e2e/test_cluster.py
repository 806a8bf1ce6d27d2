"""Real multi-member clusters of ``pycoreos etcd`` processes on loopback (issue: Raft)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pycoreos.testing.procs import restart, start_cluster

from .cluster_util import (
    WriteLoad,
    call,
    leader_of,
    self_stats,
    wait_converged,
)

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("size", [3, 5])
def test_writes_replicate_and_quorum_reads_see_them(tmp_path: Path, size: int) -> None:
    members = start_cluster("ours", tmp_path, size)
    try:
        for i, m in enumerate(members):
            status, _, body = call(m, "PUT", f"/v2/keys/rep/k{i}", {"value": f"v{i}"})
            assert status == 201, body
        for m in members:
            for i in range(size):
                status, _, body = call(m, "GET", f"/v2/keys/rep/k{i}", {"quorum": "true"})
                assert status == 200, body
                assert body["node"]["value"] == f"v{i}"  # type: ignore[index]
        wait_converged(members)
        ids = {self_stats(m)["leaderInfo"]["leader"] for m in members}  # type: ignore[index]
        assert len(ids) == 1
    finally:
        for m in members:
            m.stop()


@pytest.mark.parametrize("size", [3, 5])
def test_leader_sigkill_under_load(tmp_path: Path, size: int) -> None:
    members = start_cluster("ours", tmp_path, size)
    load = WriteLoad(members, clients=16)
    try:
        load.start()
        deadline = time.monotonic() + 20
        while load.acked_count() < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        old = leader_of(members)
        old.kill()
        killed_at = time.monotonic()
        rest = [m for m in members if m is not old]
        new = leader_of(rest, timeout=10)
        elected_after = time.monotonic() - killed_at
        assert new is not old
        assert elected_after < 3.0, f"new leader after {elected_after:.2f}s"
        before = load.acked_count()
        deadline = time.monotonic() + 10
        while load.acked_count() < before + 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert load.acked_count() >= before + 200, "writes did not resume"
        load.stop()
        idx = members.index(old)
        members[idx] = restart(old)
        wait_converged(members, timeout=20)
        # No acknowledged write is missing, on any member.
        for m in members:
            status, _, body = call(m, "GET", "/v2/keys/load", {"recursive": "true"})
            assert status == 200
            found = {
                n["key"]: n["value"]
                for d in body["node"]["nodes"]  # type: ignore[index]
                for n in d.get("nodes", [])
            }
            missing = [k for k, v in load.acked if found.get(k) != v]
            assert not missing, f"{m.name}: {len(missing)} acknowledged writes missing"
    finally:
        load.stop()
        for m in members:
            m.stop()
