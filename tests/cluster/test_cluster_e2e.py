"""The main job end to end: ``pycoreos cluster up`` (3 nodes from the example config),
hello.service through fleetctl, ``kill`` of its machine moves it, ``restart`` brings the
node back with its data, ``down`` leaves no process behind. ``--netns`` the same (slow,
root only)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pycoreos.cluster import load_record
from pycoreos.cluster.procs import alive

pytestmark = pytest.mark.e2e

REPO = Path(__file__).parents[2]
HELLO = REPO / "examples" / "hello.service"


def _pycoreos(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pycoreos", *args],
        capture_output=True, text=True, timeout=timeout, cwd=REPO,
    )  # fmt: skip


def _cluster(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    r = _pycoreos("cluster", "--state-dir", str(state), *args)
    assert r.returncode == 0, f"{args}: {r.stdout}\n{r.stderr}"
    return r


def _units(endpoint: str) -> list[list[str]]:
    r = _pycoreos("fleetctl", "--endpoint", endpoint, "list-units", "--no-legend", "--full",
                  "--fields=unit,machine,sub")  # fmt: skip
    return [ln.split("\t") for ln in r.stdout.splitlines() if ln.strip()]


def _running_on(endpoint: str, unit: str, timeout: float, avoid: str = "") -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for row in _units(endpoint):
            if row[0] == unit and row[2] == "running" and not row[1].startswith(avoid or "~"):
                return row[1].split("/")[0]
        time.sleep(0.3)
    raise AssertionError(
        f"{unit} not running (avoiding {avoid!r}): {_units(endpoint)}\n{_journals()}"
    )


_STATE: list[Path] = []


def _journals() -> str:
    # On failure: the end of every node's fleet journal (the state dir is kept).
    pattern = "node*/root/var/lib/pycoreos-units/journal/fleet.service.jsonl"
    files = sorted(p for s in _STATE for p in s.glob(pattern))
    return "\n".join(f"== {j}\n" + "\n".join(j.read_text().splitlines()[-15:]) for j in files)


def _cgroup_pids(state: Path) -> set[int]:
    rec = load_record(state)
    assert rec is not None
    pids: set[int] = set()
    for n in rec.nodes:
        if n.cgroup:
            for f in Path(n.cgroup).rglob("cgroup.procs"):
                pids |= {int(p) for p in f.read_text().split()}
    return pids


def _live(pid: int) -> bool:
    # A zombie waiting for init to reap it is not a process left behind.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _node_of(state: Path, machine: str) -> str:
    for d in sorted(state.glob("node*")):
        if (d / "root/etc/machine-id").read_text().startswith(machine.rstrip(".")):
            return d.name
    raise AssertionError(machine)


def _scenario(state: Path, extra: list[str]) -> None:
    _STATE[:] = [state]
    t0 = time.monotonic()
    up = _cluster(state, "up", "--container-engine", "none", "--timeout", "120", *extra)
    lines = up.stdout.splitlines()
    exports = dict(
        ln.removeprefix("export ").split("=", 1) for ln in lines if not ln.startswith("#")
    )  # fmt: skip
    assert set(exports) == {"ETCDCTL_ENDPOINTS", "FLEETCTL_ENDPOINT"}
    assert exports["ETCDCTL_ENDPOINTS"].count("http://") == 3
    # The other nodes' fleet APIs, for when the exported one dies (a comment for eval).
    others = [ln for ln in lines if ln.startswith("# fleet API on the other nodes: ")]
    assert len(others) == 1
    assert others[0].count("http://") == 2
    assert exports["FLEETCTL_ENDPOINT"] not in others[0]
    health = _pycoreos("etcdctl", "--endpoints", exports["ETCDCTL_ENDPOINTS"], "cluster-health")
    assert "cluster is healthy" in health.stdout, health.stdout + health.stderr
    again = _pycoreos("cluster", "--state-dir", str(state), "up", *extra)
    assert again.returncode == 1
    assert "already running" in again.stderr
    health = _pycoreos("etcdctl", "--endpoints", exports["ETCDCTL_ENDPOINTS"], "cluster-health")
    assert "cluster is healthy" in health.stdout, "a refused up must not touch the cluster"
    fleet = exports["FLEETCTL_ENDPOINT"]
    start = _pycoreos("fleetctl", "--endpoint", fleet, "start", "--no-block", str(HELLO))
    assert start.returncode == 0, start.stderr
    machine = _running_on(fleet, "hello.service", 30)
    first_unit = time.monotonic() - t0
    victim = _node_of(state, machine)
    rec = load_record(state)
    assert rec is not None
    other = next(n for n in rec.nodes if n.name != victim)
    before = _cgroup_pids(state)
    _cluster(state, "kill", victim)
    v = load_record(state)
    assert v is not None
    assert v.node(victim).pid == 0
    moved = _running_on(other.plan(state).fleet_url, "hello.service", 60, avoid=machine)
    assert moved != machine
    status = _cluster(state, "status").stdout
    assert "stopped" in status
    assert "hello.service active/running" in status
    _cluster(state, "restart", victim)
    status = _cluster(state, "status").stdout
    assert status.count("running") >= 3
    all_pids = before | _cgroup_pids(state)
    assert all_pids
    _cluster(state, "down")
    assert [p for p in all_pids if _live(p)] == []
    after = load_record(state)
    assert after is not None
    assert not any(alive(n.pid, n.start_time) for n in after.nodes)
    assert first_unit < 90


def test_cluster_up_hello_kill_moves_it_restart_down_leaves_nothing(tmp_path):
    state = tmp_path / "c"
    try:
        _scenario(state, [])
    finally:
        _pycoreos("cluster", "--state-dir", str(state), "down")  # logs kept in tmp_path
    _cluster(state, "down", "--purge")
    assert not state.exists()


def test_up_twice_is_refused_and_status_without_cluster_says_so(tmp_path):
    r = _pycoreos("cluster", "--state-dir", str(tmp_path / "none"), "status")
    assert r.returncode == 3
    assert "no cluster" in r.stderr
    r = _pycoreos("cluster", "--state-dir", str(tmp_path / "none"), "kill", "node1")
    assert r.returncode == 1
    assert "no cluster" in r.stderr


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_netns_cluster_same_scenario_and_cleanup(tmp_path):
    state = tmp_path / "n"
    try:
        _scenario(state, ["--netns"])
        rec = load_record(state)
        assert rec is not None
        ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert f"pycoreos-{rec.netns['tag']}-" not in ns
        links = subprocess.run(["ip", "link"], capture_output=True, text=True).stdout
        assert f"pc{rec.netns['tag']}h" not in links
    finally:
        _pycoreos("cluster", "--state-dir", str(state), "down")
