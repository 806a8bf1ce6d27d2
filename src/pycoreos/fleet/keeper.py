"""fleetd's liveness duties on their own thread: the presence heartbeat and the engine lease.

Why a thread: the main loop runs unit jobs, decodes registry snapshots and serves the API.
With hundreds of units at once that work can hold the loop for long stretches, and a
heartbeat or lease renewal waiting behind it expires (fleet #925, #972: machines declared
dead and units killed because liveness starved under load; the first 200-unit run here
lost its lease the same way). This thread has its own event loop and its own etcd
connections, and does nothing else, so its deadlines hold however busy the main loop is
(the GIL hands it the interpreter every few milliseconds).

Invariants:

- The keeper only ever writes this machine's presence and the lease key; everything else is
  the main loop's. It tells the main loop about events with ``call_soon_threadsafe``.
- Heartbeat: every ``agent_ttl/2`` with ``refresh`` (no value, no watch event); a full
  write when the key had expired or the machine state changed; retries every
  ``min(1 s, ttl/10)`` on failure (one missed heartbeat must not expire the key, fleet #116).
- Lease: every ``engine_reconcile_interval`` (:meth:`Engine.maintain_lease`); the lease
  TTL is 5 x that, so four renewals can fail before it is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

from pycoreos.fleet.engine.driver import Engine
from pycoreos.fleet.errors import ConflictError, RegistryError
from pycoreos.fleet.machine import MachineState
from pycoreos.fleet.registry import Registry

__all__ = ["Keeper"]

log = logging.getLogger("pycoreos.fleet")


class Keeper:
    """Runs the heartbeat (and, with an engine, the lease loop) on a dedicated thread.

    ``registry`` must not be used by anyone else (its connections belong to this thread's
    loop). ``on_published`` runs on the caller's loop after each full presence write;
    ``on_leader`` after each leadership acquired.
    """

    def __init__(
        self,
        registry: Registry,
        machine: MachineState,
        *,
        agent_ttl: float,
        engine: Engine | None,
        lease_interval: float,
        on_published: Callable[[], None],
        on_leader: Callable[[], None],
    ) -> None:
        self.registry = registry
        self.machine = machine
        self.agent_ttl = agent_ttl
        self.engine = engine
        self.lease_interval = lease_interval
        self._on_published = on_published
        self._on_leader = on_leader
        self.published = False
        self.heartbeats = 0
        self.heartbeat_failures = 0
        self._main: asyncio.AbstractEventLoop | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # created here, bound to the keeper's loop on first use (Python >= 3.10)
        self._stop = asyncio.Event()
        self._poke = asyncio.Event()
        self._purge = False
        self._started = threading.Event()
        self._thread: threading.Thread | None = None

    def republish(self, machine: MachineState) -> None:
        """A new machine state (SIGHUP): written in full at the next heartbeat, soon."""
        self.machine = machine
        self.published = False
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # its loop already ended
                self._loop.call_soon_threadsafe(self._poke.set)

    def start(self) -> None:
        """Start the thread (call from the loop that should receive the callbacks)."""
        self._main = asyncio.get_running_loop()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._run()), name="fleet-keeper", daemon=True
        )
        self._thread.start()
        self._started.wait(10)

    async def stop(self, *, purge: bool) -> None:
        """Stop the loops; with ``purge`` also release the lease and remove the presence."""
        if self._thread is None:
            return
        self._purge = purge
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # its loop already ended
                self._loop.call_soon_threadsafe(self._stop.set)
        await asyncio.to_thread(self._thread.join, 30)
        self._thread = None

    # -- the thread -------------------------------------------------------------------

    def _notify(self, fn: Callable[[], None]) -> None:
        if self._main is not None:
            with contextlib.suppress(RuntimeError):  # main loop closed during shutdown
                self._main.call_soon_threadsafe(fn)

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._started.set()
        tasks = [asyncio.ensure_future(self._heartbeat_loop())]
        if self.engine is not None:
            tasks.append(asyncio.ensure_future(self._lease_loop()))
        await self._stop.wait()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self._purge:
            if self.engine is not None:
                await self.engine.release(self.registry)
            with contextlib.suppress(RegistryError):
                await self.registry.remove_machine(self.machine.id)
        await self.registry.close()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._poke.wait()
        self._poke.clear()

    async def _heartbeat_loop(self) -> None:
        while True:
            ttl = self.agent_ttl
            try:
                full = not self.published
                await self.registry.heartbeat(self.machine, ttl, refresh=not full)
                self.heartbeats += 1
                self.published = True
                if full:
                    self._notify(self._on_published)
                await self._pause(ttl / 2)
            except ConflictError:
                self.published = False  # expired (e.g. after an outage): publish in full
            except RegistryError as e:
                self.heartbeat_failures += 1
                log.warning("heartbeat failed, retrying: %s", e)
                await asyncio.sleep(min(1.0, ttl / 10))

    async def _lease_loop(self) -> None:
        assert self.engine is not None
        while True:
            was = self.engine.is_leader
            try:
                if await self.engine.maintain_lease(self.registry) and not was:
                    self._notify(self._on_leader)
            except RegistryError as e:
                log.warning("engine: lease renewal failed: %s", e)
            await asyncio.sleep(self.lease_interval)
