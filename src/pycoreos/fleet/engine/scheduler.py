"""The least-loaded scheduler (fleet ``engine/scheduler.go``, ``engine/cluster.go``). Pure.

A :class:`Cluster` is the engine's working view during one pass: live machines and, per
machine, the non-global units scheduled to it. :func:`decide` picks a machine for one unit:
machines sorted by (number of units scheduled, machine ID), the first that :func:`able_to_run`
accepts wins. The caller records each decision in the view (:meth:`Cluster.schedule`) so the
next unit of the same pass sees the new counts.

``able_to_run`` checks, in fleet's order: MachineID (full or 8-char short ID), every
MachineMetadata key, every MachineOf peer already on the machine, Conflicts in both
directions (Go ``path.Match`` globs), then Replaces (the machine is usable, but the matched
units must move). A unit replaced by one on a machine may not go back to that machine
(otherwise the two would trade places forever).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pycoreos.fleet.glob import match
from pycoreos.fleet.job import Requirements, Unit
from pycoreos.fleet.machine import MachineState, match_machine_id

__all__ = ["Action", "Cluster", "Decision", "able_to_run", "decide", "has_metadata"]


class Action(enum.Enum):
    """What :func:`able_to_run` concludes for one machine."""

    SCHEDULE = "schedule"
    RESCHEDULE = "reschedule"  # usable, after moving the units this one Replaces
    UNSCHEDULE = "unschedule"  # not usable


@dataclass(frozen=True, slots=True)
class Decision:
    """Run ``unit`` on ``machine``; ``replaced`` units there must move elsewhere first."""

    unit: str
    machine: str
    replaced: tuple[str, ...] = ()


def has_metadata(machine: MachineState, want: Mapping[str, frozenset[str]]) -> bool:
    """Every required key present with one of its allowed values."""
    return all(machine.metadata.get(k) in vals for k, vals in want.items())


class Cluster:
    """Machines and per-machine scheduled units, updated as decisions are made in a pass."""

    def __init__(self, machines: Iterable[MachineState], units: Iterable[Unit] = ()) -> None:
        self.machines: dict[str, MachineState] = {m.id: m for m in machines}
        self.reqs: dict[str, Requirements] = {}
        self.placed: dict[str, dict[str, None]] = {mid: {} for mid in self.machines}
        self.target: dict[str, str] = {}
        for u in units:
            self.reqs[u.name] = u.reqs
            if u.target and not u.is_global:
                self.schedule(u.name, u.target)

    def add_unit(self, u: Unit) -> None:
        """Make ``u``'s requirements known (for the reverse Conflicts/Replaces checks)."""
        self.reqs[u.name] = u.reqs

    def schedule(self, name: str, machine: str) -> None:
        """Record ``name`` on ``machine`` (machines not live still count, they are kept
        until the reconciler decides they are gone)."""
        self.unschedule(name)
        self.target[name] = machine
        self.placed.setdefault(machine, {})[name] = None

    def unschedule(self, name: str) -> None:
        """Forget where ``name`` is."""
        old = self.target.pop(name, None)
        if old is not None:
            self.placed.get(old, {}).pop(name, None)

    def units_on(self, machine: str) -> list[str]:
        """Units scheduled to ``machine``, in the order they were recorded."""
        return list(self.placed.get(machine, {}))

    def load(self, machine: str) -> int:
        """Number of units scheduled to ``machine``."""
        return len(self.placed.get(machine, {}))


def _conflict(name: str, reqs: Requirements, others: Iterable[str], c: Cluster) -> str:
    for other in others:
        if other == name:
            continue
        if any(match(p, other) for p in reqs.conflicts):
            return other
        oreqs = c.reqs.get(other)
        if oreqs is not None and any(match(p, name) for p in oreqs.conflicts):
            return other
    return ""


def able_to_run(
    machine: MachineState, unit: Unit, c: Cluster, *, placed: Iterable[str] | None = None
) -> tuple[Action, str, tuple[str, ...]]:
    """Can ``unit`` run on ``machine`` given what is scheduled there?

    Args:
        machine: the candidate.
        unit: the unit to place.
        c: the cluster view.
        placed: the units to check against (default: everything scheduled there).

    Returns:
        ``(action, reason, replaced)``: ``reason`` explains an UNSCHEDULE; ``replaced`` lists
        the units a RESCHEDULE would move.
    """
    r = unit.reqs
    here = list(c.units_on(machine.id) if placed is None else placed)
    if r.machine_id and not match_machine_id(r.machine_id, machine.id):
        return (
            Action.UNSCHEDULE,
            f'agent ID "{machine.id}" does not match required "{r.machine_id}"',
            (),
        )
    if r.metadata and not has_metadata(machine, r.metadata):
        return Action.UNSCHEDULE, "local Machine metadata insufficient", ()
    for peer in r.peers:
        if c.target.get(peer) != machine.id:
            return Action.UNSCHEDULE, f"required peer Unit({peer}) is not scheduled here", ()
    other = _conflict(unit.name, r, here, c)
    if other:
        return Action.UNSCHEDULE, f"found conflict with locally-scheduled Unit({other})", ()
    for o in here:
        oreqs = c.reqs.get(o)
        if (
            o != unit.name
            and oreqs is not None
            and any(match(p, unit.name) for p in oreqs.replaces)
        ):
            return Action.UNSCHEDULE, f"replaced by locally-scheduled Unit({o})", ()
    replaced = tuple(o for o in here if o != unit.name and any(match(p, o) for p in r.replaces))
    if replaced:
        return Action.RESCHEDULE, "", replaced
    return Action.SCHEDULE, "", ()


def decide(c: Cluster, unit: Unit, *, exclude: Iterable[str] = ()) -> Decision | None:
    """Pick the least-loaded live machine able to run ``unit``; ``None`` if none can.

    Args:
        c: the cluster view (not modified).
        unit: an unscheduled, non-global unit.
        exclude: machines not to consider (a replaced unit's current machine).
    """
    skip = set(exclude)
    for mid in sorted(c.machines, key=lambda m: (c.load(m), m)):
        if mid in skip:
            continue
        action, _, replaced = able_to_run(c.machines[mid], unit, c)
        if action is Action.UNSCHEDULE:
            continue
        return Decision(unit.name, mid, replaced)
    return None
