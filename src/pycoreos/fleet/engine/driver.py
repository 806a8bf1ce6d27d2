"""The engine driver: hold the lease, read the registry, reconcile, write decisions.

Two activities, run by two loops of fleetd:

- :meth:`Engine.maintain_lease` (the keeper thread, :mod:`pycoreos.fleet.keeper`, every
  ``engine_reconcile_interval``): a non-leader reads the lease key (small, non-quorum: a
  stale "absent" only costs a failed ``prevExist=false`` create) and takes it when it is
  free; the leader renews it with ``prevIndex``. A renewal that loses means someone else
  leads. The lease lives on its own thread so a pass busy with hundreds of units can never
  make it expire (fleet #925, #972: liveness starved under load).
- :meth:`Engine.reconcile_once` (the main loop), only while the lease holds:

  1. Quorum-read the registry (one recursive GET). On failure, tell the
     :class:`~pycoreos.fleet.engine.reconciler.MachineTracker` (absence observed so far no
     longer counts) and stop.
  2. Reconcile (pure) and apply the decisions with conditional writes, several units at
     once (decisions about one unit stay in order), checking before each write that our
     lease has not locally expired (a pass may never outlive its lease).
  3. Garbage-collect unit states of machines declared gone.

A new leader starts with a fresh tracker (it has seen no absence yet) and can only acquire
after the old lease expired or was released.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

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
        concurrency: int = 16,
    ) -> None:
        self.registry = registry
        self.machine_id = machine_id
        self.clock = clock
        self.lease_ttl = lease_ttl
        self.policy = policy
        self.concurrency = max(1, concurrency)
        self.tracker = MachineTracker()
        # written by the lease keeper (its own thread), read here: single attribute
        # assignments, each consistent on its own
        self.lease: LeaseRecord | None = None
        self._lease_deadline = 0.0
        self.terms = 0  # leaderships acquired; a new one resets the tracker
        self._term_seen = 0
        self.decisions: list[EngineDecision] = []  # applied, for metrics and tests
        self.passes = 0
        self.max_index = 0

    @property
    def is_leader(self) -> bool:
        """We hold a lease that has not locally expired."""
        return self.lease is not None and self.clock.monotonic() < self._lease_deadline

    async def maintain_lease(self, registry: Registry) -> bool:
        """Acquire or renew the lease through ``registry``; returns whether we lead.

        Raises:
            RegistryError: etcd unreachable (the lease is kept until it locally expires).
        """
        now = self.clock.monotonic()
        try:
            if self.lease is None:
                cur = await registry.get_lease()
                if cur is not None and cur.machine_id == self.machine_id:
                    # ours: from before a restart, or a renewal whose answer we lost
                    lease = await registry.renew_lease(cur, self.lease_ttl)
                    log.info("engine: resumed leadership (the lease names this machine)")
                elif cur is None:
                    lease = await registry.acquire_lease(self.machine_id, self.lease_ttl)
                    log.info("engine: acquired leadership")
                else:
                    return False
                self.terms += 1
            else:
                lease = await registry.renew_lease(self.lease, self.lease_ttl)
        except ConflictError:
            if self.lease is not None:
                log.warning("engine: lost leadership")
            self.lease = None
            return False
        # margin: act only while the lease surely holds in etcd's time as well
        self._lease_deadline = now + self.lease_ttl * 0.8
        self.lease = lease
        return True

    async def reconcile_once(self) -> list[EngineDecision]:
        """One pass (no-op when not leader); returns the decisions applied."""
        if not self.is_leader:
            return []
        if self._term_seen != self.terms:
            self._term_seen = self.terms
            self.tracker = MachineTracker()  # a new leader knows nothing yet
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

    async def _apply(self, decisions: Sequence[EngineDecision]) -> list[EngineDecision]:
        # Writes for different units are independent keys: send them together (v2 has no
        # batch write, so this is the pipelining we have). One unit's decisions keep their
        # order. A store failure stops every chain: the rest waits for the next pass.
        chains: dict[str, list[EngineDecision]] = {}
        for d in decisions:
            chains.setdefault(d.unit, []).append(d)
        applied: list[EngineDecision] = []
        sem = asyncio.Semaphore(self.concurrency)
        broken = False
        # Decisions are logged in the order the reconciler made them (completions below can
        # finish in any order, since they are written concurrently).
        for d in decisions:
            log.info("EngineReconciler decided: %s", d)

        async def run(chain: list[EngineDecision]) -> None:
            nonlocal broken
            async with sem:
                for d in chain:
                    if broken:
                        return
                    if not self.is_leader:
                        log.warning("engine: lease expiring, abandoning the pass")
                        broken = True
                        return
                    try:
                        if d.kind is DecisionKind.SCHEDULE:
                            await self.registry.schedule(d.unit, d.machine)
                        else:
                            await self.registry.unschedule(d.unit, d.machine, d.target_index)
                    except ConflictError as e:
                        log.info(
                            "engine: decision lost a race, re-reading next pass: %s (%s)", d, e
                        )
                        return
                    except RegistryError as e:
                        log.warning("engine: registry write failed: %s (%s)", d, e)
                        broken = True
                        return
                    log.info("EngineReconciler completed task: %s", d)
                    applied.append(d)

        await asyncio.gather(*(run(c) for c in chains.values()))
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

    async def release(self, registry: Registry | None = None) -> None:
        """Give up the lease (clean shutdown)."""
        lease, self.lease = self.lease, None
        if lease is not None:
            try:
                await (registry or self.registry).release_lease(lease)
            except RegistryError:
                pass
