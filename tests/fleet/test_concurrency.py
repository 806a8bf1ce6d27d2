"""Many units at once: bounded concurrency in the agent and the engine, liveness on its own
thread, and fleetctl's single-list wait. No etcd: fake registries record the calls."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

import pytest

from pycoreos._clock import ManualClock
from pycoreos.cli import fleetctl_lifecycle
from pycoreos.cli.fleetctl_lifecycle import wait_for_states
from pycoreos.fleet.agent.runner import Agent
from pycoreos.fleet.engine.driver import Engine
from pycoreos.fleet.engine.reconciler import DecisionKind, EngineDecision, Policy
from pycoreos.fleet.errors import RegistryUnavailableError
from pycoreos.fleet.fake_units import FakeUnitManager
from pycoreos.fleet.keeper import Keeper
from pycoreos.fleet.registry import LeaseRecord, Snapshot, UnitStateRecord
from pycoreos.units.manager import JobResult

from .helpers import machine, mid, unit


class SlowStarts(FakeUnitManager):
    """Starts block until released; records how many were in flight at most."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.max_in_flight = 0
        self.release = asyncio.Event()

    async def start(self, name: str) -> JobResult:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await self.release.wait()
        self.in_flight -= 1
        return await super().start(name)


class RecordingRegistry:
    def __init__(self) -> None:
        self.saved: list[str] = []

    async def save_unit_state(self, rec, ms=None) -> None:
        self.saved.append(rec.name)

    async def remove_unit_state(self, name, mid) -> None:
        self.saved.append("-" + name)


def snapshot(n: int, me: str) -> Snapshot:
    units = {f"u{i:03d}.service": unit(f"u{i:03d}.service", target=me) for i in range(n)}
    return Snapshot(index=10, units=units)


async def test_agent_starts_many_units_concurrently_within_the_bound(tmp_path):
    mgr = SlowStarts()
    reg = RecordingRegistry()
    me = machine(1)
    agent = Agent(reg, mgr, me, tmp_path / "rec.json", concurrency=5)  # type: ignore[arg-type]
    task = asyncio.ensure_future(agent.reconcile(snapshot(40, me.id)))
    for _ in range(50):
        await asyncio.sleep(0)
    assert mgr.in_flight == 5  # the bound is reached, and held
    mgr.release.set()
    done = await task
    assert mgr.max_in_flight == 5
    assert sum(1 for t in done if t.kind.value == "StartUnit") == 40
    assert all(mgr.starts[f"u{i:03d}.service"] == 1 for i in range(40))
    assert sorted(reg.saved) == sorted(f"u{i:03d}.service" for i in range(40))


async def test_agent_pass_only_asks_status_of_touched_units_between_sweeps(tmp_path):
    mgr = FakeUnitManager()
    asked: list[str] = []
    real_status = mgr.status

    async def status(name):
        asked.append(name)
        return await real_status(name)

    mgr.status = status  # type: ignore[method-assign]
    clock = ManualClock()
    me = machine(1)
    agent = Agent(RecordingRegistry(), mgr, me, tmp_path / "r.json", sweep_interval=5, clock=clock)  # type: ignore[arg-type]
    snap = snapshot(10, me.id)
    await agent.reconcile(snap)  # first pass: full sweep
    assert len(asked) == 10
    asked.clear()
    more = dict(snap.units)
    more["new.service"] = unit("new.service", target=me.id)
    states = tuple(UnitStateRecord(name=n, machine_id=me.id) for n in more)
    await agent.reconcile(Snapshot(index=11, units=more, states=states))
    assert asked == ["new.service"]  # between sweeps: only what this pass touched
    asked.clear()
    clock.advance(5)
    await agent.reconcile(Snapshot(index=12, units=more, states=states))
    assert len(asked) == 11  # sweep due: every unit, so a unit that died is reported


class ScheduleRegistry:
    def __init__(self, fail_on: str = "") -> None:
        self.order: list[tuple[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.fail_on = fail_on

    async def _op(self, kind: str, name: str) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        self.in_flight -= 1
        if name == self.fail_on:
            raise RegistryUnavailableError("etcd cluster unavailable")
        self.order.append((kind, name))

    async def schedule(self, name, machine_id) -> None:
        await self._op("schedule", name)

    async def unschedule(self, name, machine_id, index=0) -> None:
        await self._op("unschedule", name)


def leader_engine(reg, concurrency: int) -> Engine:
    e = Engine(reg, mid(1), ManualClock(), lease_ttl=10, policy=Policy(), concurrency=concurrency)
    e.lease = LeaseRecord(mid(1), 1, 5, 10)
    e._lease_deadline = 8.0
    return e


async def test_engine_applies_decisions_concurrently_keeping_each_units_order():
    reg = ScheduleRegistry()
    e = leader_engine(reg, 4)
    ds = [EngineDecision(DecisionKind.SCHEDULE, f"u{i}", mid(2), "r") for i in range(20)]
    ds.insert(3, EngineDecision(DecisionKind.UNSCHEDULE, "u7", mid(3), "gone", 9))
    applied = await e._apply(ds)
    assert len(applied) == 21
    assert 1 < reg.max_in_flight <= 4
    assert reg.order.index(("unschedule", "u7")) < reg.order.index(("schedule", "u7"))


async def test_engine_stops_applying_after_a_store_failure():
    reg = ScheduleRegistry(fail_on="u0")
    e = leader_engine(reg, 1)
    ds = [EngineDecision(DecisionKind.SCHEDULE, f"u{i}", mid(2), "r") for i in range(5)]
    assert await e._apply(ds) == []  # the rest waits for the next pass (fresh read)
    assert reg.order == []


async def test_engine_without_lease_does_not_read_the_registry():
    class NoReads:
        async def snapshot(self, **kw):
            raise AssertionError("a non-leader must not read the whole registry")

    e = Engine(NoReads(), mid(1), ManualClock(), lease_ttl=10, policy=Policy())  # type: ignore[arg-type]
    assert await e.reconcile_once() == []


class HeartbeatRegistry:
    def __init__(self) -> None:
        self.beat = threading.Event()
        self.calls: list[bool] = []
        self.etcd = SimpleNamespace(requests=0)

    async def heartbeat(self, ms, ttl, *, refresh) -> None:
        self.calls.append(refresh)
        self.beat.set()

    async def remove_machine(self, machine_id) -> None:
        self.calls.append(False)

    async def close(self) -> None:
        pass


async def test_heartbeat_runs_while_the_main_loop_is_blocked():
    reg = HeartbeatRegistry()
    published = []
    k = Keeper(
        reg,  # type: ignore[arg-type]
        machine(1),
        agent_ttl=30,
        engine=None,
        lease_interval=1,
        on_published=lambda: published.append(1),
        on_leader=lambda: None,
    )
    k.start()
    try:
        # block this loop outright (as a busy agent pass would): the heartbeat still happens
        assert reg.beat.wait(10)
        reg.beat.clear()
        k.republish(machine(1, role="db"))
        assert reg.beat.wait(10)  # a SIGHUP's new state is written without waiting ttl/2
        assert reg.calls == [False, False]  # both full writes
    finally:
        await k.stop(purge=False)
    await asyncio.sleep(0)  # the callbacks queued by the keeper thread run now
    assert published == [1, 1]


class FakeApi:
    """Units reach 'launched' after a few list calls; counts list calls."""

    def __init__(self, names, after: int, stuck=()) -> None:
        self.names = list(names)
        self.after = after
        self.stuck = set(stuck)
        self.lists = 0

    def units(self):
        self.lists += 1
        state = "launched" if self.lists >= self.after else "inactive"
        return [
            {
                "name": n,
                "currentState": "inactive" if n in self.stuck else state,
                "machineID": mid(2),
                "options": [],
            }
            for n in self.names
        ]

    def machines(self):
        return [{"id": mid(2), "primaryIP": "10.0.0.2"}]


@pytest.fixture
def no_sleep(monkeypatch):
    monkeypatch.setattr(fleetctl_lifecycle, "_POLL", 0)
    monkeypatch.setattr(fleetctl_lifecycle.time, "sleep", lambda s: None)


def test_wait_polls_one_list_for_all_units(no_sleep, capsys):
    names = [f"u{i}.service" for i in range(200)]
    api = FakeApi(names, after=3)
    assert wait_for_states(api, names, "launched", 0, "launched") == 0  # type: ignore[arg-type]
    assert api.lists == 3  # one request per poll, not one per unit
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 200
    assert out[0] == f"Unit u0.service launched on {mid(2)[:8]}.../10.0.0.2"


def test_block_attempts_gives_up_with_fleetctls_message(no_sleep, capsys, monkeypatch):
    t = iter(range(1000))
    monkeypatch.setattr(fleetctl_lifecycle.time, "monotonic", lambda: next(t) * 0.5)
    api = FakeApi(["a.service", "b.service"], after=1, stuck=["b.service"])
    assert wait_for_states(api, ["a.service", "b.service"], "launched", 3, "launched") == 1  # type: ignore[arg-type]
    out, err = capsys.readouterr()
    assert "Unit a.service launched on" in out
    assert err.strip() == (
        "Error waiting for units: timed out waiting for unit b.service to report state launched"
    )
    assert api.lists == 3


async def test_agent_rewrites_states_the_registry_lost(tmp_path):
    """The engine deletes a gone machine's states; when the machine is back its agent must
    publish them again even though nothing changed locally (found by the F1 e2e test)."""
    reg = RecordingRegistry()
    me = machine(1)
    clock = ManualClock()
    agent = Agent(reg, FakeUnitManager(), me, tmp_path / "r.json", clock=clock)  # type: ignore[arg-type]
    snap = snapshot(2, me.id)
    await agent.reconcile(snap)
    assert sorted(reg.saved) == ["u000.service", "u001.service"]
    reg.saved.clear()
    kept = UnitStateRecord(name="u000.service", machine_id=me.id)
    await agent.reconcile(Snapshot(index=11, units=snap.units, states=(kept,)))
    assert reg.saved == ["u001.service"]  # lost from the registry: written again
    reg.saved.clear()
    await agent.reconcile(Snapshot(index=12, units=snap.units, states=(kept,)))
    assert reg.saved == ["u001.service"]  # still missing (the write did not land): again


def test_memoised_decoding_reflects_every_input():
    from pycoreos.client.v2_types import Node
    from pycoreos.fleet.job import JobState
    from pycoreos.fleet.registry.layout import Keys, decode_snapshot, job_object, unit_object

    from .helpers import ufile

    k = Keys("/memo/")
    uf = ufile("Conflicts=z*")

    def snap(state: str, target: str):
        nodes = [
            Node(key=k.unit(uf.hash_hex), value=unit_object(uf)),
            Node(key=k.job_object("a.service"), value=job_object("a.service", uf)),
            Node(key=k.target_state("a.service"), value=state),
        ]
        if target:
            nodes.append(Node(key=k.target("a.service"), value=target, modified_index=7))
        return decode_snapshot(k, Node(key="/memo", dir=True, nodes=tuple(nodes)), 9)

    one = snap("launched", "")
    assert snap("launched", "").units["a.service"] is one.units["a.service"]  # memo hit
    moved = snap("launched", mid(3)).units["a.service"]
    assert (moved.target, moved.target_index) == (mid(3), 7)
    assert snap("loaded", "").units["a.service"].target_state is JobState.LOADED
    assert one.units["a.service"].reqs.conflicts == ("z*",)
