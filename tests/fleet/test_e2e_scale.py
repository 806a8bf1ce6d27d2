"""200 units started at once on three fleetd processes (builtin supervisor) and one etcd.

The case that failed before: the working fleetd's lease renewal and heartbeats timed out
behind the unit starts, and fleetctl got a 500. Here every unit must launch, spread evenly
(least loaded), with no heartbeat failure and no leadership change while it happens.
"""

from __future__ import annotations

import time

import pytest

from pycoreos.testing.procs import start_member

from .e2e_helpers import fleetctl, metric, start_fleetd

pytestmark = pytest.mark.slow
N = 200


def test_200_units_at_once(tmp_path):
    etcd = start_member("ours", tmp_path)
    fs = []
    extra = {"FLEET_ENGINE_RECONCILE_INTERVAL": "1", "FLEET_AGENT_RECONCILE_INTERVAL": "5"}
    try:
        fs = [
            start_fleetd(tmp_path, i, etcd.client_url, "/scale/", ttl="10s", extra=extra)
            for i in range(3)
        ]
        d = tmp_path / "units"
        d.mkdir()
        files = []
        for i in range(N):
            p = d / f"u{i:03d}.service"
            p.write_text(f"[Service]\nExecStart=/bin/sh -c 'echo {i}; exec sleep 1000'\n")
            files.append(str(p))
        t0 = time.monotonic()
        r = fleetctl(fs[0].sock, "start", *files, timeout=300)
        elapsed = time.monotonic() - t0
        print(f"fleetctl start of {N} units: {elapsed:.1f}s")
        assert r.stdout.count("launched on") == N
        assert elapsed < 120
        out = fleetctl(fs[1].sock, "list-units", "--no-legend", "--full").stdout
        rows = [ln.split() for ln in out.splitlines()]
        assert len(rows) == N
        assert all(row[3] == "running" for row in rows), [r for r in rows if r[3] != "running"]
        per_machine: dict[str, int] = {}
        for row in rows:
            per_machine[row[1]] = per_machine.get(row[1], 0) + 1
        assert sorted(per_machine.values()) == [66, 67, 67]  # least loaded: an even spread
        logs = "".join((tmp_path / f"fleetd{i}.log").read_text() for i in range(3))
        assert "heartbeat failed" not in logs
        assert "lost leadership" not in logs
        assert logs.count("acquired leadership") == 1
        for f in fs:
            print("loop lag max", metric(f.port, "fleet_loop_lag_max_seconds"))
    finally:
        for f in fs:
            f.stop()
        etcd.stop()
