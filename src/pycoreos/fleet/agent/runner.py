"""The agent driver: read the registry, plan with the pure planner, run tasks, publish states.

One pass (:meth:`Agent.reconcile`):

1. Read a registry snapshot. **If that fails, stop here**: a disconnected agent keeps every
   unit as it is (fail-static; fleet #708 stopped everything instead).
2. ``desired_state`` + ``plan_tasks`` (pure) against the agent's own record of what it
   loaded and launched.
3. Run the tasks on the unit manager, phase by phase in the planner's order (stops,
   unloads, loads, reload, starts); the tasks of one phase concern different units and run
   together, at most ``concurrency`` at once (200 units scheduled here at once must not
   take 200 sequential job waits). A failed task ends the pass after its phase (fleet
   halts reconciliation too); the next pass re-plans from scratch.
4. Publish unit states that changed (written on change only, so an idle cluster does not
   write per unit; stale states of dead machines are collected by the engine), several
   writes in flight at once. Asking the unit manager for every unit's status is not free
   (the builtin supervisor reads the unit's files for each), so a pass asks only about the
   units its tasks touched, plus a full sweep at most every ``sweep_interval`` seconds
   (how a unit that died on its own reaches the registry), yielding to the loop as it goes.

The record of what this agent loaded (name, hash, loaded/launched) is kept in
``<units_directory>/fleet-agent.json`` so a restarted fleetd adopts its running units
instead of restarting them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from itertools import groupby
from pathlib import Path
from typing import TypeVar

from pycoreos._clock import Clock, RealClock
from pycoreos.fleet.agent.reconcile import (
    CurrentUnit,
    Task,
    TaskKind,
    desired_state,
    plan_tasks,
)
from pycoreos.fleet.errors import RegistryError
from pycoreos.fleet.job import JobState
from pycoreos.fleet.machine import MachineState
from pycoreos.fleet.registry import Registry, Snapshot, UnitStateRecord
from pycoreos.units.manager import UnitManager

__all__ = ["Agent", "bounded"]

log = logging.getLogger("pycoreos.fleet.agent")
_START_WAIT = 30.0


_T = TypeVar("_T")


async def bounded(
    items: Iterable[_T], fn: Callable[[_T], Awaitable[None]], limit: int
) -> list[BaseException | None]:
    """Run ``fn`` on every item, at most ``limit`` at once; one result (error or None) each."""
    sem = asyncio.Semaphore(limit)

    async def one(x: _T) -> None:
        async with sem:
            await fn(x)

    res = await asyncio.gather(*(one(x) for x in items), return_exceptions=True)
    return [r if isinstance(r, BaseException) else None for r in res]


class Agent:
    """Runs this machine's share of the cluster on a unit manager."""

    def __init__(
        self,
        registry: Registry,
        manager: UnitManager,
        machine: MachineState,
        state_file: Path,
        *,
        concurrency: int = 16,
        sweep_interval: float = 5.0,
        clock: Clock | None = None,
    ) -> None:
        self.registry = registry
        self.concurrency = max(1, concurrency)
        self.sweep_interval = sweep_interval
        self.clock = clock or RealClock()
        self._last_sweep: float | None = None
        self.manager = manager
        self.machine = machine
        self.state_file = state_file
        self.current: dict[str, CurrentUnit] = {}
        self.published: dict[str, UnitStateRecord] = {}
        self.passes = 0
        self.max_index = 0
        self.tasks_done: list[str] = []

    # -- persistence of the agent's own record --------------------------------------

    def load_record(self) -> None:
        """Adopt units a previous fleetd on this machine loaded (missing file: none)."""
        try:
            data = json.loads(self.state_file.read_text())
        except (FileNotFoundError, ValueError):
            return
        for name, d in data.items():
            with contextlib.suppress(KeyError, ValueError):
                self.current[name] = CurrentUnit(name, JobState(d["state"]), str(d["hash"]))

    def _save_record(self) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        data = {n: {"state": c.state.value, "hash": c.hash} for n, c in self.current.items()}
        tmp.write_text(json.dumps(data, sort_keys=True))
        tmp.replace(self.state_file)

    # -- one pass ---------------------------------------------------------------------

    async def reconcile(self, snap: Snapshot | None = None) -> list[Task]:
        """One pass; returns the tasks run. Registry errors leave everything untouched."""
        if snap is None:
            try:
                snap = await self.registry.snapshot()
            except RegistryError as e:
                log.warning("agent: registry unavailable, keeping units as they are: %s", e)
                return []
        if snap.index < self.max_index:
            # an etcd member that restarted (or lags) can answer from an older state; acting
            # on it would unload units that are still scheduled here (fail-static)
            log.warning(
                "agent: stale registry read (index %d < %d), skipped", snap.index, self.max_index
            )
            return []
        self.max_index = snap.index
        self.passes += 1
        # States the registry lost (the engine collects a machine's states when it declares
        # it gone, e.g. while this agent was cut off) are written again, whatever changed.
        mine = {s.name for s in snap.states if s.machine_id == self.machine.id}
        for name in [n for n in self.published if n not in mine]:
            del self.published[name]
        me = self.machine.with_metadata(snap.machine_meta.get(self.machine.id, {}))
        desired = desired_state(me, snap.units.values(), loaded=self.current)
        tasks = plan_tasks(desired, self.current)
        done: list[Task] = []
        for _, phase in groupby(tasks, key=lambda t: t.kind):
            batch = list(phase)
            errors = await bounded(batch, self._run, self.concurrency)
            failed = False
            for t, err in zip(batch, errors, strict=True):
                if err is not None:
                    # a unit manager error ends the pass; re-planned next time
                    log.error("agent: task %s failed, halting reconciliation: %s", t, err)
                    failed = True
                    continue
                log.info("AgentReconciler completed task: %s", t)
                self.tasks_done.append(f"{t.kind.value} {t.name}")
                done.append(t)
            if failed:
                break
        if done:
            self._save_record()
        now = self.clock.monotonic()
        if self._last_sweep is None or now - self._last_sweep >= self.sweep_interval:
            self._last_sweep = now
            await self.publish_states()
        else:
            await self.publish_states({t.name for t in done if t.name})
        return done

    async def _run(self, t: Task) -> None:
        m = self.manager
        match t.kind:
            case TaskKind.LOAD:
                assert t.unit is not None
                await m.write_unit(t.name, t.unit.text, runtime=True)
                self.current[t.name] = CurrentUnit(t.name, JobState.LOADED, t.unit.hash)
                if t.unit.enable:
                    await m.daemon_reload()
                    await m.enable(t.name, runtime=True)
            case TaskKind.UNLOAD:
                with contextlib.suppress(Exception):
                    await m.disable(t.name)
                await m.remove_unit(t.name, runtime=True)
                self.current.pop(t.name, None)
            case TaskKind.RELOAD:
                await m.daemon_reload()
            case TaskKind.START:
                cur = self.current[t.name]
                # fleet's desired-state model: "launched" means the start was issued, whatever
                # systemd made of it (a failed unit is not restarted by fleet, #1091).
                self.current[t.name] = CurrentUnit(t.name, JobState.LAUNCHED, cur.hash)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_START_WAIT):
                        await m.start(t.name)
            case TaskKind.STOP:
                await m.stop(t.name)
                cur = self.current[t.name]
                self.current[t.name] = CurrentUnit(t.name, JobState.LOADED, cur.hash)

    async def publish_states(self, only: set[str] | None = None) -> None:
        """Write changed unit states (of ``only``, default all) and remove those of units no
        longer here."""
        changed: list[UnitStateRecord] = []
        for i, (name, cur) in enumerate(sorted(self.current.items())):
            if only is not None and name not in only and name in self.published:
                continue
            if i % 8 == 7:
                await asyncio.sleep(0)  # status may not yield: let heartbeats and the API in
            st = await self.manager.status(name)
            rec = UnitStateRecord(
                name=name,
                machine_id=self.machine.id,
                load_state=st.load_state,
                active_state=st.active_state,
                sub_state=st.sub_state,
                hash=cur.hash,
                fleet_state=cur.state,
            )
            if self.published.get(name) != rec:
                changed.append(rec)
        gone = [n for n in self.published if n not in self.current]

        async def save(rec: UnitStateRecord) -> None:
            await self.registry.save_unit_state(rec, self.machine)
            self.published[rec.name] = rec

        async def remove(name: str) -> None:
            await self.registry.remove_unit_state(name, self.machine.id)
            self.published.pop(name, None)

        errors = [
            *await bounded(changed, save, self.concurrency),
            *await bounded(gone, remove, self.concurrency),
        ]
        for err in errors:
            if isinstance(err, RegistryError):
                log.warning("agent: could not publish unit states: %s", err)
                break
            if err is not None:
                raise err

    async def purge(self) -> None:
        """Stop and unload every unit (fleetd SIGTERM, as fleet does), drop their states."""
        for name, cur in sorted(self.current.items()):
            with contextlib.suppress(Exception):
                if cur.state is JobState.LAUNCHED:
                    await self.manager.stop(name)
                await self.manager.remove_unit(name, runtime=True)
        self.current.clear()
        self._save_record()
        with contextlib.suppress(Exception):
            await self.manager.daemon_reload()
        for name in list(self.published):
            with contextlib.suppress(RegistryError):
                await self.registry.remove_unit_state(name, self.machine.id)
        self.published.clear()
