"""Runtime membership with the real Debian etcdctl (v2 mode) against our cluster."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from pycoreos.testing.procs import REAL_ETCDCTL, free_ports, start_cluster, start_member

from .cluster_util import call, leader_of, wait_converged

pytestmark = pytest.mark.e2e


def _etcdctl(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ETCDCTL_API": "2"}
    return subprocess.run(
        [REAL_ETCDCTL, "--endpoints", endpoint, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_member_added_with_real_etcdctl_catches_up_through_a_snapshot(tmp_path: Path) -> None:
    small_log = ["--snapshot-count", "30", "--experimental-snapshot-catchup-entries", "10"]
    members = start_cluster("ours", tmp_path, 3, extra_args=small_log)
    newcomer = None
    try:
        for i in range(120):
            status, _, body = call(members[i % 3], "PUT", f"/v2/keys/pre/k{i}", {"value": str(i)})
            assert status in (200, 201), body
        client_port, peer_port = free_ports(2)
        peer_url = f"http://127.0.0.1:{peer_port}"
        out = _etcdctl(members[0].client_url, "member", "add", "m4", peer_url)
        assert out.returncode == 0, out.stderr
        assert "Added member named m4" in out.stdout
        initial = re.search(r'ETCD_INITIAL_CLUSTER="([^"]+)"', out.stdout)
        assert initial is not None, out.stdout
        assert 'ETCD_INITIAL_CLUSTER_STATE="existing"' in out.stdout
        newcomer = start_member(
            "ours",
            tmp_path,
            name="m4",
            ports=(client_port, peer_port),
            initial_cluster=initial.group(1),
            extra_args=["--initial-cluster-state", "existing", *small_log],
        )
        members.append(newcomer)
        # It serves linearizable reads of data written before it joined.
        deadline = time.monotonic() + 20
        while True:
            status, _, body = call(newcomer, "GET", "/v2/keys/pre/k0", {"quorum": "true"})
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert status == 200, body
        status, _, body = call(newcomer, "GET", "/v2/keys/pre/k119", {"quorum": "true"})
        assert status == 200
        assert body["node"]["value"] == "119"  # type: ignore[index]
        wait_converged(members)
        # The leader's log was compacted, so the newcomer must have been sent a snapshot.
        assert list((newcomer.data_dir / "member" / "snap").glob("*.snap"))
        listed = _etcdctl(members[0].client_url, "member", "list")
        assert listed.returncode == 0
        assert listed.stdout.count("name=") == 4
        assert "name=m4" in listed.stdout
    finally:
        for m in members:
            m.stop()


def test_removed_member_shuts_itself_down(tmp_path: Path) -> None:
    members = start_cluster("ours", tmp_path, 3)
    try:
        status, _, body = call(members[0], "GET", "/v2/members")
        leader = leader_of(members)
        victim = next(m for m in members if m is not leader)
        vid = next(m["id"] for m in body["members"] if m["name"] == victim.name)  # type: ignore[index]
        out = _etcdctl(leader.client_url, "member", "remove", vid)
        assert out.returncode == 0, out.stderr
        victim.proc.wait(timeout=15)  # exits by itself
        status, _, body = call(leader, "GET", "/v2/members")
        assert len(body["members"]) == 2  # type: ignore[index]
        survivor = next(m for m in members if m is not leader and m is not victim)
        status, _, _ = call(survivor, "PUT", "/v2/keys/after", {"value": "x"})
        assert status == 201
    finally:
        for m in members:
            m.stop()
