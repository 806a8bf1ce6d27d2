"""The engine driver: hold the lease, read the registry, reconcile, write decisions.

One pass (:meth:`Engine.reconcile_once`):

1. Quorum-read the registry (one recursive GET). On failure, tell the
   :class:`~pycoreos.fleet.engine.reconciler.MachineTracker` (absence observed so far no
   longer counts) and stop.
2. Lease: acquire it if free (``prevExist=false``), renew it (``prevIndex``) if ours. A
   renewal that loses means someone else leads: stop acting at once. A new leader does not
   wait out the old lease: it can only acquire after the old one expired or was released.
3. Reconcile (pure) and apply the decisions with conditional writes, checking before each
   write that our lease has not locally expired (a pass may never outlive its lease).
4. Garbage-collect unit states of machines declared gone.
"""

from __future__ import annotations

import logging

from pycoreos._clock import Clock
from pycoreos.fleet.engine.reconciler import (
    DecisionKind,
    EngineDecision,
    MachineTracker,
    Policy,
    reconcile,
)
from pycoreos.fleet.errors import ConflictError, RegistryError
from pycoreos.fleet.registry import LeaseRecord, Registry, Snapshot

__all__ = ["Engine"]

log = logging.getLogger("pycoreos.fleet.engine")


class Engine:
    """The scheduling role of one fleetd."""

    def __init__(
        self,
        registry: Registry,
        machine_id: str,
        clock: Clock,
        *,
        lease_ttl: float,
        policy: Policy,
    ) -> None:
        self.registry = registry
        self.machine_id = machine_id
        self.clock = clock
        self.lease_ttl = lease_ttl
        self.policy = policy
        self.tracker = MachineTracker()
        self.lease: LeaseRecord | None = None
        self._lease_deadline = 0.0
        self.decisions: list[EngineDecision] = []  # applied, for metrics and tests
        self.passes = 0
        self.max_index = 0

    @property
    def is_leader(self) -> bool:
        """We hold a lease that has not locally expired."""
        return self.lease is not None and self.clock.monotonic() < self._lease_deadline

    async def _hold_lease(self, snap: Snapshot) -> bool:
        now = self.clock.monotonic()
        try:
            if self.lease is None:
                cur = snap.lease
                if cur is not None and cur.machine_id == self.machine_id:
                    self.lease = await self.registry.renew_lease(
                        cur, self.lease_ttl
                    )  # ours, from before a restart
                elif cur is None:
                    self.lease = await self.registry.acquire_lease(self.machine_id, self.lease_ttl)
                    log.info("engine: acquired leadership")
                    self.tracker = MachineTracker()  # a new leader knows nothing yet
                else:
                    return False
            else:
                self.lease = await self.registry.renew_lease(self.lease, self.lease_ttl)
        except ConflictError:
            if self.lease is not None:
                log.warning("engine: lost leadership")
            self.lease = None
            return False
        # margin: act only while the lease surely holds in etcd's time as well
        self._lease_deadline = now + self.lease_ttl * 0.8
        return True

    async def reconcile_once(self) -> list[EngineDecision]:
        """One pass (no-op when not leader); returns the decisions applied."""
        try:
            snap = await self.registry.snapshot(quorum=True)
        except RegistryError as e:
            self.tracker.store_failed(self.clock.monotonic())
            log.warning("engine: registry unavailable: %s", e)
            return []
        if snap.index < self.max_index:
            log.warning("engine: stale registry read (index %d < %d)", snap.index, self.max_index)
            return []
        self.max_index = snap.index
        try:
            if not await self._hold_lease(snap):
                return []
        except RegistryError as e:
            self.tracker.store_failed(self.clock.monotonic())
            log.warning("engine: lease renewal failed: %s", e)
            return []
        self.passes += 1
        now = self.clock.monotonic()
        units = list(snap.units.values())
        self.tracker.observe(now, snap.machines, {u.target for u in units if u.target})
        absent = self.tracker.absent_for(now)
        decisions = reconcile(
            units, snap.machines, absent_for=absent, known=self.tracker.known, policy=self.policy
        )
        applied = await self._apply(decisions)
        await self._collect_states(snap, absent)
        return applied

    async def _apply(self, decisions: list[EngineDecision]) -> list[EngineDecision]:
        applied: list[EngineDecision] = []
        for d in decisions:
            if not self.is_leader:
                log.warning("engine: lease expiring, abandoning the pass")
                break
            try:
                if d.kind is DecisionKind.SCHEDULE:
                    await self.registry.schedule(d.unit, d.machine)
                else:
                    await self.registry.unschedule(d.unit, d.machine, d.target_index)
            except ConflictError as e:
                log.info("engine: decision lost a race, re-reading next pass: %s (%s)", d, e)
                continue
            except RegistryError as e:
                log.warning("engine: registry write failed: %s (%s)", d, e)
                break
            log.info("EngineReconciler completed task: %s", d)
            applied.append(d)
        self.decisions.extend(applied)
        return applied

    async def _collect_states(self, snap: Snapshot, absent: dict[str, float]) -> None:
        gone = {m for m, t in absent.items() if t >= self.policy.grace}
        for s in snap.states:
            orphan = s.name not in snap.units and s.machine_id not in snap.machines
            if s.machine_id in gone or orphan:
                try:
                    await self.registry.remove_unit_state(s.name, s.machine_id)
                except RegistryError:
                    return
        for m in gone:
            if not any(u.target == m for u in snap.units.values()):
                self.tracker.forget(m)

    async def release(self) -> None:
        """Give up the lease (clean shutdown)."""
        if self.lease is not None:
            try:
                await self.registry.release_lease(self.lease)
            except RegistryError:
                pass
            self.lease = None
