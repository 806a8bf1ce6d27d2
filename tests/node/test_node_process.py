"""``pycoreos node`` as a process: boots etcd, fleet and a config unit; SIGTERM stops them
in order with nothing left behind; a restart keeps the data; a bad config refuses to boot."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pycoreos.cluster.health import probe_etcd, probe_fleet
from pycoreos.node import read_status
from pycoreos.testing.procs import free_ports

pytestmark = pytest.mark.e2e


def _config(c: int, p: int, marker: str) -> str:
    return f"""#cloud-config
hostname: solo
coreos:
  etcd2:
    name: solo
    listen-client-urls: http://$private_ipv4:{c}
    advertise-client-urls: http://$private_ipv4:{c}
    listen-peer-urls: http://$private_ipv4:{p}
    initial-advertise-peer-urls: http://$private_ipv4:{p}
    initial-cluster: solo=http://$private_ipv4:{p}
  fleet:
    etcd-servers: http://$private_ipv4:{c}
  units:
    - name: etcd2.service
      command: start
    - name: fleet.service
      command: start
    - name: marker.service
      command: start
      content: |
        [Service]
        ExecStart=/bin/sleep {marker}
"""


def _start(cfg: Path, root: Path, fleet_port: int, log: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "pycoreos", "node", "--config", str(cfg), "--root", str(root),
            "--fleet-api-port", str(fleet_port), "--container-engine", "none"]  # fmt: skip
    with open(log, "ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _wait(pred, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


def _with_marker(marker: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmd:
                pids.append(int(entry))
    return pids


def test_node_boots_stops_in_order_and_restarts_with_its_data(tmp_path):
    c, p, f = free_ports(3)
    marker = f"4242.{random.Random().randrange(10**6):06d}"
    cfg = tmp_path / "cc.yaml"
    cfg.write_text(_config(c, p, marker))
    root, log = tmp_path / "root", tmp_path / "node.log"
    url = f"http://127.0.0.1:{c}"
    proc = _start(cfg, root, f, log)
    try:
        _wait(lambda: (st := read_status(root)) is not None and st.phase == "running", proc, log)
        _wait(lambda: probe_etcd(url).healthy, proc, log)
        _wait(lambda: len(probe_fleet(f"http://127.0.0.1:{f}").machines) == 1, proc, log)
        st = read_status(root)
        assert st is not None
        assert st.failed == []
        assert st.hostname == "solo"
        assert len(_with_marker(marker)) == 1
        req = urllib.request.Request(url + "/v2/keys/kept", data=b"value=yes", method="PUT")
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
        urllib.request.urlopen(req, timeout=5).close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()
        text = log.read_text()
        order = [text.index(f"stopping {u}") for u in ("fleet", "marker", "etcd2")]
        assert order == sorted(order), text
        assert _with_marker(marker) == []
        after = read_status(root)
        assert after is not None
        assert after.phase == "stopped"

        proc = _start(cfg, root, f, log)
        _wait(lambda: probe_etcd(url).healthy, proc, log)
        with urllib.request.urlopen(url + "/v2/keys/kept", timeout=5) as resp:
            assert json.loads(resp.read())["node"]["value"] == "yes"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    assert _with_marker(marker) == []


def test_node_with_a_bad_config_refuses_to_boot_with_the_validator_report(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("#cloud-config\ncoreos:\n  update:\n    reboot-strategy: always\n")
    r = subprocess.run(
        [sys.executable, "-m", "pycoreos", "node", "--config", str(cfg),
         "--root", str(tmp_path / "root")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 1
    assert "line 4: error: invalid value always" in r.stderr
    assert "refusing to boot" in r.stderr
    assert not (tmp_path / "root/etc").exists()
