"""The engine's reconciler: desired vs. scheduled state -> decisions. Pure.

One pass (fleet ``engine/reconciler.go``, plus the rules fleet lacked, reliability.md §7.3):

1. Scheduled units, in name order. Unschedule when the desired state is ``inactive``; when
   the target machine is *gone*; when the target can no longer run the unit (metadata
   changed, a conflict appeared). Conflicts are checked only against units kept before in
   the same pass, so two conflicting units on one machine lose one, not both.
2. Unscheduled units with desired state loaded/launched, in name order: pick a machine with
   :func:`~pycoreos.fleet.engine.scheduler.decide`. A Replaces match moves the replaced units.

What fleet did not do, and we do:

- **A machine is gone only after a grace period.** Its presence key expiring is not enough:
  the :class:`MachineTracker` must have seen it absent for ``grace`` seconds of *healthy*
  store access (an engine that could not read etcd restarts the clock). Units of a machine
  in grace stay put and still count towards its load.
- **Mass expiry is a store outage, not N machine deaths.** If more than half of the machines
  the engine knows are absent at once, nothing is unscheduled for "went away" (fleet #373,
  #746): when etcd comes back, agents re-heartbeat well within the grace.
- **Rescheduling is rate-limited**: at most ``max_moves`` units are unscheduled because their
  machine went away per pass; the rest wait for the next pass.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pycoreos.fleet.engine.scheduler import Action, Cluster, able_to_run, decide
from pycoreos.fleet.job import JobState, Unit
from pycoreos.fleet.machine import MachineState

__all__ = [
    "DecisionKind",
    "EngineDecision",
    "MachineTracker",
    "Policy",
    "reconcile",
]


class DecisionKind(enum.Enum):
    """What the driver writes."""

    SCHEDULE = "AttemptScheduleUnit"
    UNSCHEDULE = "UnscheduleUnit"


@dataclass(frozen=True, slots=True)
class EngineDecision:
    """One registry change. ``target_index`` conditions an unschedule on the value read."""

    kind: DecisionKind
    unit: str
    machine: str
    reason: str
    target_index: int = 0

    def __str__(self) -> str:
        return f"{{Type: {self.kind.value}, JobName: {self.unit}, MachineID: {self.machine}, Reason: {self.reason!r}}}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """Safety knobs. ``grace``: seconds a machine must be absent (with healthy store access)
    before its units move. ``max_moves``: unschedules for lost machines per pass.
    ``outage_fraction``: absent/known above which absence is treated as a store outage."""

    grace: float = 15.0
    max_moves: int = 32
    outage_fraction: float = 0.5


class MachineTracker:
    """When the engine first saw each machine absent, counting only healthy store time.

    Sans-IO: the driver calls :meth:`observe` after each successful registry read and
    :meth:`store_failed` after a failed one, passing its monotonic time.
    """

    def __init__(self) -> None:
        self._absent_since: dict[str, float] = {}
        self._known: set[str] = set()
        self._healthy_since: float | None = None

    def store_failed(self, now: float) -> None:
        """The engine could not read the store: absence observed so far proves nothing."""
        self._healthy_since = None
        del now  # the clock restarts at the next successful observation

    def observe(self, now: float, present: Iterable[str], referenced: Iterable[str]) -> None:
        """Record a successful read: ``present`` machines, and machines units point at."""
        if self._healthy_since is None:
            self._healthy_since = now
            self._absent_since.clear()  # restart every absence clock from healthy time
        live = set(present)
        self._known |= live
        for mid in set(referenced) | self._known:
            if mid in live:
                self._absent_since.pop(mid, None)
            else:
                self._known.add(mid)
                self._absent_since.setdefault(mid, now)

    def forget(self, machine: str) -> None:
        """Stop tracking a machine (no unit refers to it any more)."""
        self._known.discard(machine)
        self._absent_since.pop(machine, None)

    def absent_for(self, now: float) -> dict[str, float]:
        """Seconds each absent machine has been absent (healthy store time only)."""
        return {m: now - t for m, t in self._absent_since.items()}

    @property
    def known(self) -> frozenset[str]:
        """Every machine seen live or referenced since this engine started."""
        return frozenset(self._known)


def _gone_set(
    machines: Mapping[str, MachineState],
    absent_for: Mapping[str, float],
    known: Iterable[str],
    policy: Policy,
) -> tuple[frozenset[str], bool]:
    known_all = set(known) | set(machines) | set(absent_for)
    absent = {m for m in known_all if m not in machines}
    outage = bool(known_all) and len(absent) > policy.outage_fraction * len(known_all)
    if outage:
        return frozenset(), True
    return frozenset(m for m in absent if absent_for.get(m, 0.0) >= policy.grace), False


def reconcile(
    units: Sequence[Unit],
    machines: Mapping[str, MachineState],
    *,
    absent_for: Mapping[str, float] | None = None,
    known: Iterable[str] = (),
    policy: Policy | None = None,
) -> list[EngineDecision]:
    """Compute one pass of engine decisions.

    Args:
        units: every non-global unit with its desired state and current target.
        machines: live machines (presence keys present), with API metadata merged.
        absent_for: seconds each absent machine has been absent (see :class:`MachineTracker`).
            A machine missing from it is treated as absent for 0 s, i.e. still in grace.
        known: machines the engine has seen, for outage detection.
        policy: grace, rate limit and outage threshold.

    Returns:
        Decisions in the order to apply them (an unschedule before the schedule it frees).
    """
    policy = policy or Policy()
    gone, outage = _gone_set(machines, absent_for or {}, known, policy)
    del outage  # reported by the driver's metrics; here it only empties ``gone``
    units = sorted((u for u in units if not u.is_global), key=lambda u: u.name)
    c = Cluster(machines.values(), units)
    out: list[EngineDecision] = []
    moves = 0
    kept: dict[str, list[str]] = {}
    for u in units:
        if not u.scheduled:
            continue
        reason = ""
        if u.target_state is JobState.INACTIVE:
            reason = "target state inactive"
        elif u.target not in machines:
            if u.target in gone and moves < policy.max_moves:
                moves += 1
                reason = f"target Machine({u.target}) went away"
        else:
            action, _, _ = able_to_run(machines[u.target], u, c, placed=kept.get(u.target, []))
            if action is Action.UNSCHEDULE:
                reason = f"target Machine({u.target}) unable to run unit"
        if reason:
            out.append(
                EngineDecision(DecisionKind.UNSCHEDULE, u.name, u.target, reason, u.target_index)
            )
            c.unschedule(u.name)
        else:
            kept.setdefault(u.target, []).append(u.name)
    for u in units:
        if u.name in c.target or u.target_state is JobState.INACTIVE:
            continue
        d = decide(c, u)
        if d is None:
            continue
        for r in d.replaced:
            out.append(
                EngineDecision(
                    DecisionKind.UNSCHEDULE,
                    r,
                    d.machine,
                    f"unit replaced by Unit({u.name})",
                    _index_of(units, r),
                )
            )
            c.unschedule(r)
        reason = f"target state {u.target_state.value} and unit not scheduled"
        out.append(EngineDecision(DecisionKind.SCHEDULE, u.name, d.machine, reason))
        c.schedule(u.name, d.machine)
    return out


def _index_of(units: Sequence[Unit], name: str) -> int:
    for u in units:
        if u.name == name:
            return u.target_index
    return 0
