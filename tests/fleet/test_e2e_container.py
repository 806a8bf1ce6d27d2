"""A busybox container unit through fleet and a real Docker engine, end to end; and
``fleetctl journal``/``status`` served by whichever machine runs the unit.

Three fleetd processes share one private dockerd (the unit manager's test helper). The unit
is the CoreOS pattern: ``docker run --rm`` in the foreground, ``docker stop`` to stop.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from pycoreos.testing.procs import start_member
from units.dockerd import IMAGE, Dockerd, missing_requirements  # tests/units (rootdir import)

from .e2e_helpers import fleetctl, start_fleetd
from .test_e2e_cluster import running, wait

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(missing_requirements() is not None, reason=str(missing_requirements())),
]


@pytest.fixture(scope="module")
def engine() -> Iterator[Dockerd]:
    d = Dockerd()
    try:
        yield d
    finally:
        d.stop()


def container_unit(engine: Dockerd, name: str) -> str:
    docker = shutil.which("docker") or "/usr/bin/docker"
    return (
        f"[Unit]\nDescription=busybox container {name}\n\n"
        f"[Service]\nEnvironment=DOCKER_HOST={engine.host}\n"
        "TimeoutStartSec=60\n"
        f"ExecStartPre=-{docker} rm -f {name}\n"
        f"ExecStart={docker} run --rm --init --network none --name {name} {IMAGE} "
        "sh -c 'echo container $$(hostname) up; i=0; "
        "while true; do echo tick $$i; i=$$((i+1)); sleep 0.2; done'\n"
        f"ExecStop={docker} stop -t 2 {name}\n"
        "SuccessExitStatus=137 143\n"
    )


def test_container_unit_end_to_end(tmp_path, engine):
    etcd = start_member("ours", tmp_path)
    fs = []
    try:
        fs = [start_fleetd(tmp_path, i, etcd.client_url, "/ctr/") for i in range(3)]
        unit = tmp_path / "web.service"
        unit.write_text(container_unit(engine, "fleet-web"))
        r = fleetctl(fs[0].sock, "start", str(unit), timeout=120)
        assert "Unit web.service launched on" in r.stdout
        where = wait(lambda: running(fs[0].sock).get("web.service"), 60, "web running")
        host = next(f for f in fs if f.machine_id == where[0])
        wait(lambda: engine.containers("fleet-web"), 30, "the container")
        assert engine.docker("inspect", "-f", "{{.State.Running}}", "fleet-web").stdout.strip() == (
            "true"
        )

        # journal from every machine's fleetctl: served by the machine running the unit
        def ticks(sock):
            out = fleetctl(sock, "journal", "--lines=50", "web.service").stdout
            return out if "container" in out and "tick" in out else None

        for f in fs:
            out = wait(lambda f=f: ticks(f.sock), 30, "container output in the journal")
            assert " up" in out or "tick" in out
        status = fleetctl(fs[(fs.index(host) + 1) % 3].sock, "status", "web.service").stdout
        assert "Active: active (running)" in status

        # journal -f streams new lines as the container writes them
        follow = subprocess.Popen(
            [sys.executable, "-m", "pycoreos", "fleetctl", f"--endpoint=unix://{fs[0].sock}",
             "journal", "-f", "--lines=1", "web.service"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert follow.stdout is not None
            seen = [follow.stdout.readline() for _ in range(4)]
            assert sum("tick" in ln for ln in seen) >= 3, seen
        finally:
            follow.kill()
            follow.wait(10)
            assert follow.stdout is not None
            follow.stdout.close()

        # stop: fleet stops the unit, ExecStop stops the container (run --rm removes it)
        fleetctl(fs[1].sock, "stop", "web.service", timeout=60)
        wait(lambda: not engine.containers("fleet-web"), 30, "the container removed")
        t0 = time.monotonic()
        fleetctl(fs[2].sock, "start", "web.service", timeout=60)
        wait(lambda: engine.containers("fleet-web"), 30, "the container again")
        print(f"container restart through fleet: {time.monotonic() - t0:.1f}s")
        fleetctl(fs[0].sock, "destroy", "web.service", timeout=60)
        wait(lambda: not engine.containers("fleet-web"), 30, "the container removed")
        assert "web.service" not in fleetctl(fs[0].sock, "list-unit-files").stdout
    finally:
        for f in fs:
            f.stop()
        etcd.stop()
