"""fleetctl against three in-process fleetd servers (FakeUnitManager, API on unix + TCP):
restart of global and plain units, --no-block, --block-attempts, ssh and journal through the
machines' own APIs. fleetctl is synchronous: it runs in a thread, as its own process would."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from pycoreos.cli.fleetctl import main as fleetctl_main
from pycoreos.fleet.config import FleetConfig
from pycoreos.fleet.fake_units import FakeUnitManager
from pycoreos.fleet.server import FleetServer
from pycoreos.testing.procs import free_ports

_n = itertools.count()


@pytest.fixture
async def cluster(etcd_url, tmp_path):
    prefix = f"/fleetctl-inproc-{next(_n)}/"
    servers = []
    for i, port in enumerate(free_ports(3)):
        cfg = FleetConfig.load(
            etcd_servers=etcd_url,
            etcd_key_prefix=prefix,
            agent_ttl="5s",
            engine_reconcile_interval="0.2",
            agent_reconcile_interval="0.5",
            etcd_request_timeout="2",
            root=str(tmp_path / f"m{i}"),
            api_socket="/run/fleet.sock",
            api_listen=f"127.0.0.1:{port}",
            metadata=f"n={i}",
            enable_remote_exec="true" if i != 2 else "false",
        )
        s = FleetServer(cfg, FakeUnitManager())
        await s.start()
        servers.append(s)
    yield servers
    for s in servers:
        await s.stop(purge=False)


async def fleetctl(s: FleetServer, *args: str) -> int:
    return await asyncio.to_thread(fleetctl_main, [f"--endpoint=unix://{s.api_socket}", *args])


def unit_file(tmp_path, name: str, xfleet: str = "") -> str:
    p = tmp_path / name
    x = f"\n[X-Fleet]\n{xfleet}\n" if xfleet else ""
    p.write_text(f"[Service]\nExecStart=/bin/sleep 1000\n{x}")
    return str(p)


def host_of(servers, name: str) -> FleetServer:
    (s,) = [s for s in servers if name in s.manager.units and s.manager.units[name].active]
    return s


async def test_restart_plain_and_global_units(cluster, tmp_path, capsys):
    g = unit_file(tmp_path, "g.service", "Global=true")
    p = unit_file(tmp_path, "p.service")
    assert await fleetctl(cluster[0], "start", g, p) == 0
    out = capsys.readouterr().out
    assert "Triggered global unit g.service start" in out
    assert "Unit p.service launched on" in out

    async def global_everywhere():
        for _ in range(200):
            if all(s.agent.current.get("g.service") for s in cluster):
                states = [s.manager.units.get("g.service") for s in cluster]
                if all(u is not None and u.active for u in states):
                    return
            await asyncio.sleep(0.05)
        raise AssertionError("global unit not running everywhere")

    await global_everywhere()
    assert await fleetctl(cluster[1], "restart", "g.service", "p.service") == 0
    out = capsys.readouterr().out
    assert out.count("Unit g.service restarted on") == 3  # machine by machine
    assert "Unit p.service launched on" in out
    assert [s.manager.starts["g.service"] for s in cluster] == [2, 2, 2]
    assert host_of(cluster, "p.service").manager.starts["p.service"] == 2
    # a unit never loaded cannot be restarted
    assert await fleetctl(cluster[0], "restart", "nosuch.service") == 1
    assert "Error restarting unit nosuch.service: unit is not loaded" in capsys.readouterr().err


async def test_no_block_and_block_attempts(cluster, tmp_path, capsys):
    p = unit_file(tmp_path, "nb.service")
    assert await fleetctl(cluster[0], "start", "--no-block", p) == 0
    assert capsys.readouterr().out.strip() == "Triggered unit nb.service start"
    never = unit_file(tmp_path, "never.service", "MachineMetadata=n=9")  # no machine matches
    assert await fleetctl(cluster[0], "start", "--block-attempts=2", never) == 1
    err = capsys.readouterr().err
    assert (
        "Error waiting for units: timed out waiting for unit never.service to report state "
        "launched" in err
    )
    assert await fleetctl(cluster[0], "destroy", "never.service", "nb.service") == 0
    assert sorted(capsys.readouterr().out.split("\n")[:2]) == [
        "Destroyed nb.service",
        "Destroyed never.service",
    ]


async def test_ssh_and_journal_through_the_machines_api(cluster, tmp_path, capsys):
    p = unit_file(tmp_path, "j.service", "MachineMetadata=n=1")
    assert await fleetctl(cluster[0], "start", p) == 0
    capsys.readouterr()
    # journal asked on machine 0, answered by machine 1 (which runs the unit)
    assert await fleetctl(cluster[0], "journal", "j.service") == 0
    assert "Started j.service." in capsys.readouterr().out
    # ssh to a unit's machine: the words run in the remote shell, its status is ours
    assert await fleetctl(cluster[0], "ssh", "j.service", "echo", "hi", "$((1+1))") == 0
    assert capsys.readouterr().out == "hi 2\n"
    assert await fleetctl(cluster[2], "ssh", "--unit", "j.service", "exit 3") == 3
    m0 = cluster[0].machine_id
    assert await fleetctl(cluster[1], "ssh", m0[:6], "echo", "$FLEETSSH") == 0
    assert capsys.readouterr().out == "\n"
    # machine 2 did not enable remote execution
    m2 = cluster[2].machine_id
    assert await fleetctl(cluster[0], "ssh", "--machine", m2, "true") == 1
    assert "remote execution is disabled on this machine" in capsys.readouterr().err
    assert await fleetctl(cluster[0], "ssh", m0) == 2  # no command: interactive needs SSH
    assert "interactive sessions need SSH" in capsys.readouterr().err


async def test_sighup_reload_republishes_metadata_without_touching_units(cluster, tmp_path):
    import dataclasses
    from types import MappingProxyType

    s = cluster[0]
    assert await fleetctl(s, "start", unit_file(tmp_path, "h.service", "MachineMetadata=n=0")) == 0
    assert s.manager.starts == {"h.service": 1}
    s.reload(dataclasses.replace(s.cfg, metadata=MappingProxyType({"n": "0", "role": "web"})))

    async def republished():
        for _ in range(100):
            snap = await s.registry.snapshot()
            if snap.machines[s.machine_id].metadata.get("role") == "web":
                return
            await asyncio.sleep(0.05)
        raise AssertionError("new metadata not published")

    await republished()
    for _ in range(3):
        await s.agent.reconcile()
    assert s.manager.starts == {"h.service": 1}
    assert s.manager.stops == {}
