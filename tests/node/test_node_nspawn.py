"""A node whose units run under a real systemd (slow): the root and bus of a container
booted with ``systemd-nspawn`` (``tests/units/nspawn.py``) stand for a CoreOS machine's
``/`` and its PID 1. The node applies its config into that root, gives systemd its default
environment, starts the config's unit there, and at shutdown stops that unit and nothing
of the machine's own."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycoreos.node import (
    ContainerEngine,
    NodeConfig,
    UnitManagerKind,
    lock_root,
    prepare,
    read_status,
    run_node,
)
from units.nspawn import NspawnNode, missing_requirements  # tests/ is on sys.path

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(missing_requirements() is not None, reason=str(missing_requirements())),
]

CONFIG = """#cloud-config
hostname: nspawn-node
coreos:
  units:
    - name: greet.service
      command: start
      content: |
        [Service]
        ExecStart=/bin/sh -c 'echo "ip=$COREOS_PRIVATE_IPV4 m=%m" > /tmp/greet.out; exec sleep 1000'
"""


@pytest.fixture
def machine(tmp_path: Path) -> Iterator[NspawnNode]:
    n = NspawnNode(tmp_path / "console.log")
    try:
        n.wait_running()
        yield n
    finally:
        n.stop()


def _active(machine: NspawnNode, unit: str) -> str:
    out = subprocess.run(
        machine.nsenter("systemctl", "is-active", unit), capture_output=True, text=True
    )
    return out.stdout.strip()


@pytest.mark.timeout(180)
async def test_node_units_run_under_the_machines_systemd(tmp_path, machine):
    user_data = tmp_path / "user-data"
    user_data.write_text(CONFIG)
    cfg = NodeConfig(
        config_file=user_data,
        root=machine.root,
        private_ipv4="10.9.8.7",
        container_engine=ContainerEngine.NONE,
        unit_manager=UnitManagerKind.AUTO,
        systemd_bus=machine.bus_address,
        stop_timeout=30,
    )
    fd = lock_root(cfg)
    try:
        prepared = prepare(cfg)
        assert (machine.root / "run/dbus/system_bus_socket").exists()  # /run left alone
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.ensure_future(run_node(cfg, prepared, stop, ready=ready))
        await asyncio.wait_for(ready.wait(), 60)
        st = read_status(cfg.root)
        assert st is not None
        assert (st.unit_manager, st.failed) == ("systemd", [])
        assert _active(machine, "greet.service") == "active"
        mid = (machine.root / "etc/machine-id").read_text().strip()
        # Type=simple is "active" as soon as it forked: give the shell time to write.
        greet = machine.root / "tmp/greet.out"
        async with asyncio.timeout(20):
            while not greet.exists() or not greet.read_text().strip():  # noqa: ASYNC110 - a file in another mount namespace gives no event
                await asyncio.sleep(0.05)
        out = greet.read_text().strip()
        assert out == f"ip=10.9.8.7 m={mid}"  # systemd's own %m, our default environment
        stop.set()
        final = await asyncio.wait_for(task, 60)
        assert final.phase == "stopped"
        assert _active(machine, "greet.service") == "inactive"
        assert _active(machine, "dbus.service") == "active"  # the machine's units stay up
        assert _active(machine, "systemd-journald.service") == "active"
    finally:
        os.close(fd)
