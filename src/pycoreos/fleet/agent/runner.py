"""The agent driver: read the registry, plan with the pure planner, run tasks, publish states.

One pass (:meth:`Agent.reconcile`):

1. Read a registry snapshot. **If that fails, stop here**: a disconnected agent keeps every
   unit as it is (fail-static; fleet #708 stopped everything instead).
2. ``desired_state`` + ``plan_tasks`` (pure) against the agent's own record of what it
   loaded and launched.
3. Run the tasks in order on the unit manager. A failed task ends the pass (fleet halts
   reconciliation too); the next pass re-plans from scratch.
4. Publish unit states that changed (written on change only, so an idle cluster does not
   write per unit; stale states of dead machines are collected by the engine).

The record of what this agent loaded (name, hash, loaded/launched) is kept in
``<units_directory>/fleet-agent.json`` so a restarted fleetd adopts its running units
instead of restarting them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path

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

__all__ = ["Agent"]

log = logging.getLogger("pycoreos.fleet.agent")
_START_WAIT = 30.0


class Agent:
    """Runs this machine's share of the cluster on a unit manager."""

    def __init__(
        self, registry: Registry, manager: UnitManager, machine: MachineState, state_file: Path
    ) -> None:
        self.registry = registry
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
        me = self.machine.with_metadata(snap.machine_meta.get(self.machine.id, {}))
        desired = desired_state(me, snap.units.values(), loaded=self.current)
        tasks = plan_tasks(desired, self.current)
        done: list[Task] = []
        for t in tasks:
            try:
                await self._run(t)
            except Exception as e:  # a unit manager error ends the pass; re-planned next time
                log.error("agent: task %s failed, halting reconciliation: %s", t, e)
                break
            log.info("AgentReconciler completed task: %s", t)
            self.tasks_done.append(f"{t.kind.value} {t.name}")
            done.append(t)
        if done:
            self._save_record()
        await self.publish_states()
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

    async def publish_states(self) -> None:
        """Write changed unit states and remove those of units no longer here."""
        try:
            for name, cur in sorted(self.current.items()):
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
                    await self.registry.save_unit_state(rec, self.machine)
                    self.published[name] = rec
            for name in [n for n in self.published if n not in self.current]:
                await self.registry.remove_unit_state(name, self.machine.id)
                del self.published[name]
        except RegistryError as e:
            log.warning("agent: could not publish unit states: %s", e)

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
