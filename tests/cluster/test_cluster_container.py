"""A container unit through fleet on a cluster whose nodes run private dockerds (slow).

``examples/hello-container.service`` names no node: each unit finds its node's engine
through ``DOCKER_HOST`` in the node's default environment. Started unchanged with
``fleetctl start``, its output shows in ``fleetctl journal``, the container runs in the
engine of the machine fleet chose (named after that machine's ID, ``%m``), and
``cluster down`` leaves no engine and no container behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from .test_cluster_e2e import REPO, _cluster, _live, _node_of, _pycoreos, _running_on

HELLO = REPO / "examples" / "hello-container.service"


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "dockerd needs root"
    for tool in ("dockerd", "docker", "busybox"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (a container engine is needed)"
    return None


pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(_missing() is not None, reason=str(_missing())),
]


def _ours(state: Path) -> list[int]:
    # Every process whose command line names the state dir (node roots, dockerd's
    # --data-root) or one of its containers: what `down` must leave none of.
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if (str(state).encode() in cmd or b"Hello World" in cmd) and _live(int(entry)):
                out.append(int(entry))
    return out


def test_container_unit_reaches_its_nodes_engine_and_shows_in_the_journal(tmp_path):
    state = tmp_path / "c"
    try:
        up = _cluster(
            state, "up", "-n", "2", "--container-engine", "dockerd", "--timeout", "120"
        )
        exports = dict(
            ln.removeprefix("export ").split("=", 1)
            for ln in up.stdout.splitlines()
            if ln.startswith("export ")
        )
        fleet = exports["FLEETCTL_ENDPOINT"]
        start = _pycoreos("fleetctl", "--endpoint", fleet, "start", "--no-block", str(HELLO))
        assert start.returncode == 0, start.stderr
        machine = _running_on(fleet, "hello-container.service", 120)
        deadline = time.monotonic() + 60
        journal = ""
        while time.monotonic() < deadline and "Hello World" not in journal:
            journal = _pycoreos(
                "fleetctl", "--endpoint", fleet, "journal", "hello-container.service"
            ).stdout
            time.sleep(0.5)
        assert "Hello World" in journal, journal
        # The container runs in the chosen machine's own engine, named with its machine ID.
        node = _node_of(state, machine)
        root = state / node / "root"
        mid = (root / "etc/machine-id").read_text().strip()
        ps = subprocess.run(
            ["docker", "-H", f"unix://{root}/run/docker.sock", "ps", "--format", "{{.Names}}"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert ps.stdout.split() == [f"hello-{mid}"], ps.stdout + ps.stderr
        _cluster(state, "down")
        deadline = time.monotonic() + 15
        while _ours(state) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _ours(state) == []
    finally:
        _pycoreos("cluster", "--state-dir", str(state), "down")
