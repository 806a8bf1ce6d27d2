"""Three fleetd servers in one process, each with a FakeUnitManager, on one etcd member."""

import asyncio
import itertools
import json

import pytest

from pycoreos.fleet.config import FleetConfig
from pycoreos.fleet.fake_units import FakeUnitManager
from pycoreos.fleet.job import JobState
from pycoreos.fleet.server import FleetServer
from pycoreos.fleet.unit import parse_unit_file

_n = itertools.count()


async def wait_for(pred, limit=20.0):
    # polls real etcd state across three servers: there is no single event to await
    for _ in range(int(limit / 0.05)):
        if await pred():
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("condition not reached")


@pytest.fixture
async def cluster(etcd_url, tmp_path):
    prefix = f"/fleet-inproc-{next(_n)}/"
    servers = []
    for i in range(3):
        cfg = FleetConfig.load(
            etcd_servers=etcd_url,
            etcd_key_prefix=prefix,
            agent_ttl="2s",
            engine_reconcile_interval="0.2",
            agent_reconcile_interval="0.5",
            machine_grace="1",
            etcd_request_timeout="2",
            root=str(tmp_path / f"m{i}"),
            api_socket="/run/fleet.sock",
            metadata=f"role={'db' if i == 2 else 'web'}",
        )
        s = FleetServer(cfg, FakeUnitManager())
        await s.start()
        servers.append(s)
    yield servers
    for s in servers:
        await s.stop(purge=False)


def text(x: str = "") -> str:
    return f"[Service]\nExecStart=/bin/sleep 1000\n[X-Fleet]\n{x}\n"


async def submit(s: FleetServer, name: str, x: str = "", state=JobState.LAUNCHED):
    await s.registry.create_unit(name, parse_unit_file(text(x)), state)


def running(servers):
    out = {}
    for s in servers:
        for name, u in s.manager.units.items():
            if u.active:
                out.setdefault(name, []).append(s.machine_id)
    return out


async def test_placement_and_machine_death(cluster):
    a, b, c = cluster
    await submit(a, "web@1.service", "Conflicts=web@*")
    await submit(a, "web@2.service", "Conflicts=web@*")
    await submit(a, "side.service", "MachineOf=web@1.service")
    await submit(a, "db.service", "MachineMetadata=role=db")
    await submit(a, "g.service", "Global=true")
    for i in range(4):
        await submit(a, f"plain{i}.service")

    async def settled():
        r = running(cluster)
        return len(r) == 9 and len(r["g.service"]) == 3

    await wait_for(settled)
    r = running(cluster)
    assert r["db.service"] == [c.machine_id]
    assert r["side.service"] == r["web@1.service"]
    assert r["web@1.service"] != r["web@2.service"]
    loads = [
        sum(1 for n, ms in r.items() if n != "g.service" and s.machine_id in ms) for s in cluster
    ]
    assert max(loads) - min(loads) <= 1

    # machine death (crash: no purge): units of the dead machine move exactly once
    victim = next(s for s in (a, b) if s.machine_id in r["web@2.service"] + r["plain0.service"])
    lost = sorted(n for n, ms in r.items() if ms == [victim.machine_id])
    await victim.stop(purge=False)
    live = [s for s in cluster if s is not victim]
    for name in lost:
        victim.manager.units[name].active = False

    async def moved():
        rr = running(live)
        return all(n in rr for n in lost)

    await wait_for(moved)
    rr = running(live)
    for name in lost:
        assert len(rr[name]) == 1
    # no live unit was restarted
    for s in live:
        assert all(v == 1 for v in s.manager.starts.values()), s.manager.starts
    # conflicts held: web@1 and web@2 never share a machine
    if "web@1.service" in rr and "web@2.service" in rr:
        assert rr["web@1.service"] != rr["web@2.service"]
    moves = [d for s in live for d in s.engine.decisions if "went away" in d.reason]
    assert sorted(d.unit for d in moves) == lost
    cluster.remove(victim)


async def test_api_over_unix_socket(cluster):
    a = cluster[0]

    async def call(method, path, body=None, ctype="application/json"):
        r, w = await asyncio.open_unix_connection(str(a.api_socket))
        data = (
            body
            if isinstance(body, bytes)
            else json.dumps(body).encode()
            if body is not None
            else b""
        )
        w.write(
            f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
            + data
        )
        raw = await r.read()
        w.close()
        await w.wait_closed()
        head, _, payload = raw.partition(b"\r\n\r\n")
        status = int(head.split()[1])
        return status, json.loads(payload) if payload.strip().startswith(b"{") else payload

    opts = [{"section": "Service", "name": "ExecStart", "value": "/bin/true"}]
    st, body = await call(
        "PUT",
        "/fleet/v1/units/x.service",
        {
            "desiredState": "launched",
            "options": [*opts, {"section": "X-Fleet", "name": "Bogus", "value": "1"}],
        },
    )
    assert st == 400
    assert body["error"]["message"] == 'unrecognized requirement in [X-Fleet] section: "Bogus"'
    assert (await call("PUT", "/fleet/v1/units/bad name.service", {"options": opts}))[0] == 400
    assert (
        await call("PUT", "/fleet/v1/units/x.service", {"desiredState": "running", "options": opts})
    )[0] == 400
    assert (await call("PUT", "/fleet/v1/units/x.service", {"desiredState": "launched"}))[0] == 409
    assert (await call("PUT", "/fleet/v1/units/x.service", {"options": opts}, ctype="text/plain"))[
        0
    ] == 415
    st, body = await call("PUT", "/fleet/v1/units/x.service", b"{nope")
    assert st == 400
    assert body["error"]["message"].startswith("unable to decode body")
    assert (await call("GET", "/fleet/v1/units"))[1] == {"units": []}  # nothing changed
    assert (
        await call(
            "PUT", "/fleet/v1/units/x.service", {"desiredState": "launched", "options": opts}
        )
    )[0] == 201
    assert (
        await call(
            "PUT", "/fleet/v1/units/t@.service", {"desiredState": "launched", "options": opts}
        )
    )[0] == 400
    st, body = await call("GET", "/fleet/v1/units/x.service")
    assert st == 200
    assert body["desiredState"] == "launched"

    async def launched():
        return (await call("GET", "/fleet/v1/units/x.service"))[1].get("currentState") == "launched"

    await wait_for(launched)
    st, body = await call("GET", "/fleet/v1/state?unitName=x.service")
    assert body["states"][0]["systemdActiveState"] == "active"
    st, body = await call("GET", "/fleet/v1/machines")
    assert len(body["machines"]) == 3
    bad_patch = [
        {"op": "add", "path": f"/{a.machine_id}/metadata/k", "value": "v"},
        {"op": "move", "path": "/x/metadata/y"},
    ]
    assert (await call("PATCH", "/fleet/v1/machines", bad_patch))[0] == 400
    snap = await a.registry.snapshot()
    assert "k" not in snap.machines[a.machine_id].metadata  # validated before applying
    assert (await call("PATCH", "/fleet/v1/machines", bad_patch[:1]))[0] == 204
    assert (await call("GET", "/fleet/v1/units?nextPageToken=zzz"))[0] == 400
    assert (await call("DELETE", "/fleet/v1/units/x.service"))[0] == 204
    assert (await call("DELETE", "/fleet/v1/units/x.service"))[0] == 404
    assert (await call("GET", "/fleet/v1/nothing"))[0] == 404


async def test_disable_engine_runs_units_but_never_leads(etcd_url, tmp_path):
    prefix = f"/fleet-noengine-{next(_n)}/"
    servers = []
    try:
        for i, disabled in enumerate(("true", "false")):
            cfg = FleetConfig.load(
                etcd_servers=etcd_url,
                etcd_key_prefix=prefix,
                agent_ttl="2s",
                engine_reconcile_interval="0.2",
                agent_reconcile_interval="0.5",
                etcd_request_timeout="2",
                root=str(tmp_path / f"n{i}"),
                api_socket="/run/fleet.sock",
                disable_engine=disabled,
            )
            s = FleetServer(cfg, FakeUnitManager())
            await s.start()
            servers.append(s)
        noengine, engine = servers
        for i in range(4):
            await submit(engine, f"u{i}.service")

        async def all_running():
            return len(running(servers)) == 4

        await wait_for(all_running)
        assert noengine.keeper.engine is None
        assert not noengine.engine.is_leader
        assert engine.engine.is_leader
        assert noengine.engine.passes == 0
        assert len(running([noengine])) == 2  # it runs its share: scheduled by the other
        snap = await engine.registry.snapshot()
        assert snap.lease is not None
        assert snap.lease.machine_id == engine.machine_id
    finally:
        for s in servers:
            await s.stop(purge=False)
