"""The agent's planner: what this machine should run vs. what it runs -> tasks. Pure.

:func:`desired_state` picks this machine's units from the registry snapshot: units the
engine scheduled here, and global units whose MachineMetadata this machine satisfies and
that conflict with nothing already chosen (fleet lets each agent decide globals). Units that
conflict with one already chosen here are refused (the engine raced; reliability.md §7.3
rule 7: constraints are re-validated by the agent).

:func:`plan_tasks` compares that with the agent's current state (fleet
``agent/reconcile.go``): unload what is no longer desired here, load what is missing or has
a different hash, start/stop to reach the desired state. Order: stops, unloads, loads, one
daemon-reload, starts, so a conflicting unit is gone before its replacement starts.

Fail-static: the planner only runs on a *complete* snapshot. A driver that could not read
the registry plans nothing and touches nothing (fleet #708).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pycoreos.fleet.engine.scheduler import has_metadata
from pycoreos.fleet.glob import match
from pycoreos.fleet.job import JobState, Unit
from pycoreos.fleet.machine import MachineState

__all__ = ["CurrentUnit", "DesiredUnit", "Task", "TaskKind", "desired_state", "plan_tasks"]


class TaskKind(enum.Enum):
    """fleet's agent task types."""

    LOAD = "LoadUnit"
    UNLOAD = "UnloadUnit"
    START = "StartUnit"
    STOP = "StopUnit"
    RELOAD = "ReloadUnitFiles"


@dataclass(frozen=True, slots=True)
class DesiredUnit:
    """A unit this machine should have: its file and its desired state (loaded/launched)."""

    name: str
    state: JobState
    hash: str
    text: str = ""
    enable: bool = False


@dataclass(frozen=True, slots=True)
class CurrentUnit:
    """A unit this agent has loaded, with the state it last drove it to."""

    name: str
    state: JobState
    hash: str


@dataclass(frozen=True, slots=True)
class Task:
    """One step for the runner. ``unit`` is ``None`` only for RELOAD."""

    kind: TaskKind
    name: str
    reason: str
    unit: DesiredUnit | None = None

    def __str__(self) -> str:
        return f"{{Type: {self.kind.value}, Unit: {self.name}, Reason: {self.reason!r}}}"


def _conflicts(a: Unit, b_name: str, b: Unit | None) -> bool:
    if any(match(p, b_name) for p in a.reqs.conflicts):
        return True
    return b is not None and any(match(p, a.name) for p in b.reqs.conflicts)


def desired_state(
    machine: MachineState, units: Iterable[Unit], loaded: Iterable[str] = ()
) -> dict[str, DesiredUnit]:
    """The units this machine should have loaded, with their desired states.

    Args:
        machine: this machine (metadata merged with API metadata).
        units: every unit in the registry.
        loaded: units currently loaded here; they win conflict ties, so an agent never
            swaps a running unit for a newcomer.
    """
    by_name = {u.name: u for u in units}
    loaded_set = set(loaded)
    cands = [
        u
        for u in by_name.values()
        if u.target_state is not JobState.INACTIVE
        and (
            (u.is_global and has_metadata(machine, u.reqs.metadata))
            or (not u.is_global and u.target == machine.id)
        )
    ]
    cands.sort(key=lambda u: (u.name not in loaded_set, u.name))
    chosen: list[Unit] = []
    for u in cands:
        if any(_conflicts(u, c.name, c) for c in chosen):
            continue
        chosen.append(u)
    return {
        u.name: DesiredUnit(
            u.name, u.target_state, u.file.hash_hex, u.file.serialize(), u.file.has_install()
        )
        for u in chosen
    }


def plan_tasks(
    desired: Mapping[str, DesiredUnit], current: Mapping[str, CurrentUnit]
) -> list[Task]:
    """Tasks that take ``current`` to ``desired``; empty when they agree."""
    stops: list[Task] = []
    unloads: list[Task] = []
    loads: list[Task] = []
    starts: list[Task] = []
    for name in sorted(set(desired) | set(current)):
        d, c = desired.get(name), current.get(name)
        if d is None:
            assert c is not None
            if c.state is JobState.LAUNCHED:
                stops.append(Task(TaskKind.STOP, name, "unit loaded but not scheduled here"))
            unloads.append(Task(TaskKind.UNLOAD, name, "unit loaded but not scheduled here"))
            continue
        if c is not None and c.hash != d.hash:
            if c.state is JobState.LAUNCHED:
                stops.append(Task(TaskKind.STOP, name, "unit file hash differs"))
            unloads.append(Task(TaskKind.UNLOAD, name, "unit file hash differs"))
            c = None
        if c is None:
            loads.append(Task(TaskKind.LOAD, name, "unit scheduled here but not loaded", d))
            if d.state is JobState.LAUNCHED:
                starts.append(
                    Task(
                        TaskKind.START,
                        name,
                        "unit currently loaded but desired state is launched",
                        d,
                    )
                )
            continue
        if c.state is not JobState.LAUNCHED and d.state is JobState.LAUNCHED:
            starts.append(
                Task(TaskKind.START, name, "unit currently loaded but desired state is launched", d)
            )
        elif c.state is JobState.LAUNCHED and d.state is JobState.LOADED:
            stops.append(
                Task(TaskKind.STOP, name, "unit currently launched but desired state is loaded", d)
            )
    reload = [Task(TaskKind.RELOAD, "", "unit files changed")] if loads or unloads else []
    return [*stops, *unloads, *loads, *reload, *starts]
