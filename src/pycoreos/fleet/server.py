"""fleetd: one machine's engine, agent, heartbeat, registry watch and API, wired together.

Loops (each tolerant of registry failures):

- heartbeat and engine lease: on their own thread and etcd connections
  (:mod:`pycoreos.fleet.keeper`), so they keep their deadlines however busy this loop is.
- engine: every ``engine_reconcile_interval`` and on registry events, while it holds the
  lease (unless ``disable_engine``).
- agent: every ``agent_reconcile_interval`` and on registry events.
- watch: long-polls ``job/`` only, so heartbeats, lease renewals and unit states do not wake
  every fleetd (the thundering herd of fleet-scaling.md).

Event-driven passes are coalesced: a pass starts ``_COALESCE`` after the first event and at
most every ``_MIN_GAP`` seconds, so submitting 200 units (600 job events) costs a handful
of registry reads per fleetd rather than one per event.

Shutdown: SIGTERM stops the units (as fleet does: purge), releases the lease and removes the
presence. A crash (SIGKILL) leaves units running; a restarted fleetd adopts them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import ssl
from pathlib import Path
from types import MappingProxyType

from pycoreos._clock import Clock, RealClock
from pycoreos.api.http import HttpProtocol
from pycoreos.client.v2_errors import EtcdError
from pycoreos.fleet.agent.runner import Agent
from pycoreos.fleet.api.server import FleetAPI
from pycoreos.fleet.config import FleetConfig
from pycoreos.fleet.engine.driver import Engine
from pycoreos.fleet.engine.reconciler import Policy
from pycoreos.fleet.errors import RegistryError
from pycoreos.fleet.job import JobState
from pycoreos.fleet.keeper import Keeper
from pycoreos.fleet.machine import MachineState, is_machine_id
from pycoreos.fleet.registry import AsyncEtcd, Registry
from pycoreos.units.manager import UnitManager

__all__ = ["FleetServer", "machine_id_for", "open_manager"]

log = logging.getLogger("pycoreos.fleet")
VERSION = "1.0.0-pycoreos"
_COALESCE = 0.05
_MIN_GAP = 0.2


def machine_id_for(root: Path) -> str:
    """``<root>/etc/machine-id``; generated and kept if missing or invalid."""
    p = root / "etc/machine-id"
    with contextlib.suppress(OSError):
        mid = p.read_text().strip()
        if is_machine_id(mid):
            return mid
    mid = os.urandom(16).hex()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(mid + "\n")
    return mid


async def open_manager(cfg: FleetConfig) -> UnitManager:
    """The unit manager ``cfg.unit_manager`` names: builtin supervisor, a daemon socket,
    or the in-memory fake."""
    kind, _, arg = cfg.unit_manager.partition(":")
    if kind == "fake":
        from pycoreos.fleet.fake_units import FakeUnitManager

        return FakeUnitManager()
    if kind == "socket":
        from pycoreos.units.client import UnitClient

        return UnitClient(Path(arg))
    from pycoreos.units.loader import UnitPaths
    from pycoreos.units.supervisor import Supervisor, SupervisorConfig

    root = Path(cfg.root)
    sup = Supervisor(
        SupervisorConfig(
            paths=UnitPaths.under(root),
            state_dir=root / "var/lib/pycoreos-units",
            tracker=arg or "auto",
        )
    )
    return await sup.open()


def _ssl(cfg: FleetConfig) -> ssl.SSLContext | None:
    if not (cfg.etcd_cafile or cfg.etcd_certfile):
        return None
    ctx = ssl.create_default_context(cafile=cfg.etcd_cafile or None)
    if cfg.etcd_certfile:
        ctx.load_cert_chain(cfg.etcd_certfile, cfg.etcd_keyfile or None)
    return ctx


class FleetServer:
    """A running fleetd. ``start()``, then ``stop(purge=...)``."""

    def __init__(
        self, cfg: FleetConfig, manager: UnitManager, *, clock: Clock | None = None
    ) -> None:
        self.cfg = cfg
        self.clock = clock or RealClock()
        self.manager = manager
        self.etcd = self._etcd(cfg)
        self.registry = Registry(self.etcd, cfg.etcd_key_prefix)
        self.machine_id = machine_id_for(Path(cfg.root))
        self.machine = self._machine_state(cfg)
        units_dir = cfg.under_root(cfg.units_directory)
        self.agent = Agent(
            self.registry,
            manager,
            self.machine,
            units_dir / "fleet-agent.json",
            concurrency=cfg.agent_concurrency,
            sweep_interval=cfg.agent_reconcile_interval,
            clock=self.clock,
        )
        self.engine = Engine(
            self.registry,
            self.machine_id,
            self.clock,
            lease_ttl=cfg.lease_ttl,
            policy=Policy(grace=cfg.grace, max_moves=cfg.max_reschedules),
            concurrency=cfg.registry_concurrency,
        )
        self.keeper = Keeper(
            Registry(self._etcd(cfg), cfg.etcd_key_prefix),
            self.machine,
            agent_ttl=cfg.agent_ttl,
            engine=None if cfg.disable_engine else self.engine,
            lease_interval=cfg.engine_reconcile_interval,
            on_published=self.wake,
            on_leader=self._wake_engine_now,
        )
        self.api = FleetAPI(
            self.registry,
            token_limit=cfg.token_limit,
            manager=manager,
            allow_exec=cfg.enable_remote_exec,
            metrics=self.metrics,
            managed=self._launched_here,
        )
        self._wake_engine = asyncio.Event()
        self._wake_agent = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._servers: list[asyncio.AbstractServer] = []
        self._stopping = False
        self.loop_lag_max = 0.0

    @staticmethod
    def _etcd(cfg: FleetConfig) -> AsyncEtcd:
        auth = ""
        if cfg.etcd_username:
            auth = base64.b64encode(f"{cfg.etcd_username}:{cfg.etcd_password}".encode()).decode()
        return AsyncEtcd(
            cfg.etcd_servers,
            timeout=cfg.etcd_request_timeout,
            ssl_context=_ssl(cfg),
            basic_auth=auth,
        )

    def _launched_here(self, name: str) -> bool:
        cur = self.agent.current.get(name)
        return cur is not None and cur.state is JobState.LAUNCHED

    @property
    def heartbeats(self) -> int:
        """Presence writes that succeeded."""
        return self.keeper.heartbeats

    def _machine_state(self, cfg: FleetConfig) -> MachineState:
        ip = cfg.public_ip or "127.0.0.1"
        endpoint = ""
        if cfg.api_listen:
            host, _, port = cfg.api_listen.rpartition(":")
            endpoint = f"http://{host or ip}:{port}"
        return MachineState(
            id=self.machine_id,
            public_ip=ip,
            metadata=MappingProxyType(dict(cfg.metadata)),
            version=VERSION,
            api_endpoint=endpoint,
        )

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Adopt units from a previous run, open the API, start the loops."""
        self.agent.load_record()
        loop = asyncio.get_running_loop()
        sock = (
            self.cfg.under_root(self.cfg.api_socket)
            if self.cfg.root != "/"
            else Path(self.cfg.api_socket)
        )
        sock.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()
        self.api_socket = sock
        self._servers.append(
            await loop.create_unix_server(lambda: HttpProtocol(self.api), path=str(sock))
        )
        if self.cfg.api_listen:
            host, _, port = self.cfg.api_listen.rpartition(":")
            self._servers.append(
                await loop.create_server(
                    lambda: HttpProtocol(self.api), host=host or "127.0.0.1", port=int(port)
                )
            )
        self.keeper.start()
        self._tasks = [
            asyncio.ensure_future(self._lag_loop()),
            asyncio.ensure_future(self._watch_loop()),
            asyncio.ensure_future(self._agent_loop()),
        ]
        if not self.cfg.disable_engine:
            self._tasks.append(asyncio.ensure_future(self._engine_loop()))
        log.info("fleetd %s started: machine %s", VERSION, self.machine_id)

    async def stop(self, *, purge: bool) -> None:
        """Stop the loops; with ``purge`` (SIGTERM) also stop units and leave the cluster."""
        self._stopping = True
        agent_task = self._tasks[2] if len(self._tasks) > 2 else None
        for t in self._tasks:
            if t is not agent_task:
                t.cancel()
        if agent_task is not None:
            # let a running agent pass finish its unit job rather than cancel it mid-stop
            self._wake_agent.set()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                async with asyncio.timeout(10):
                    await agent_task
            agent_task.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        for s in self._servers:
            s.close()
        if purge:
            await self.agent.purge()
        await self.keeper.stop(purge=purge)
        with contextlib.suppress(FileNotFoundError, AttributeError):
            self.api_socket.unlink()
        await self.registry.close()

    def reload(self, cfg: FleetConfig) -> None:
        """SIGHUP: new metadata/IP/timeouts; units untouched; presence republished."""
        self.cfg = cfg
        self.machine = self._machine_state(cfg)
        self.agent.machine = self.machine
        self.keeper.agent_ttl = cfg.agent_ttl
        self.keeper.republish(self.machine)
        self.wake()

    def wake(self) -> None:
        """Run the engine and agent passes now."""
        self._wake_engine.set()
        self._wake_agent.set()

    # -- loops ------------------------------------------------------------------------

    def _wake_engine_now(self) -> None:
        self._wake_engine.set()

    async def _sleep_or_wake(self, ev: asyncio.Event, seconds: float) -> None:
        woke = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await ev.wait()
                woke = True
        if woke:
            # let the rest of a burst of writes (a unit is 3 keys; fleetctl sends many
            # units at once) land before the registry is read
            await asyncio.sleep(_COALESCE)
        ev.clear()

    async def _engine_loop(self) -> None:
        while True:
            t0 = self.clock.monotonic()
            try:
                if await self.engine.reconcile_once():
                    self._wake_agent.set()
            except Exception:
                log.exception("engine pass failed")
            await asyncio.sleep(max(0.0, _MIN_GAP - (self.clock.monotonic() - t0)))
            await self._sleep_or_wake(self._wake_engine, self.cfg.engine_reconcile_interval)

    async def _agent_loop(self) -> None:
        while True:
            await self._sleep_or_wake(self._wake_agent, self.cfg.agent_reconcile_interval)
            if self._stopping:
                return
            t0 = self.clock.monotonic()
            try:
                await self.agent.reconcile()
            except Exception:
                log.exception("agent pass failed")
            await asyncio.sleep(max(0.0, _MIN_GAP - (self.clock.monotonic() - t0)))

    async def _lag_loop(self) -> None:
        # how late this loop wakes up: the measure of "busy" that matters for the API's and
        # the agent's request deadlines (reported in /metrics)
        while True:
            t0 = self.clock.monotonic()
            await asyncio.sleep(0.1)
            lag = self.clock.monotonic() - t0 - 0.1
            self.loop_lag_max = max(self.loop_lag_max, lag)

    async def _watch_loop(self) -> None:
        if self.cfg.disable_watches:
            return
        key = self.registry.keys.jobs_dir
        index: int | None = None
        while True:
            try:
                if index is None:
                    index = await self._current_index() + 1
                ev = await self.etcd.watch(key, wait_index=index, poll_seconds=60)
                if ev is not None:
                    index = (
                        max(ev.node.modified_index, ev.etcd_index if ev.action == "expire" else 0)
                        + 1
                    )
                    self.wake()
            except EtcdError as e:
                if e.code == 401:  # history cleared: re-list and go on from now
                    index = None
                    self.wake()
                else:
                    await asyncio.sleep(1)
            except RegistryError:
                await asyncio.sleep(1)

    async def _current_index(self) -> int:
        try:
            r = await self.etcd.request("GET", self.registry.keys.prefix)
            return r.etcd_index
        except EtcdError as e:
            return e.index

    def metrics(self) -> str:
        """Prometheus text."""
        lines = [
            "# TYPE fleet_engine_leader gauge",
            f"fleet_engine_leader {int(self.engine.is_leader)}",
            "# TYPE fleet_engine_reconcile_passes_total counter",
            f"fleet_engine_reconcile_passes_total {self.engine.passes}",
            "# TYPE fleet_engine_decisions_total counter",
            f"fleet_engine_decisions_total {len(self.engine.decisions)}",
            "# TYPE fleet_agent_reconcile_passes_total counter",
            f"fleet_agent_reconcile_passes_total {self.agent.passes}",
            "# TYPE fleet_agent_units gauge",
            f"fleet_agent_units {len(self.agent.current)}",
            "# TYPE fleet_loop_lag_max_seconds gauge",
            f"fleet_loop_lag_max_seconds {self.loop_lag_max:.3f}",
            "# TYPE fleet_heartbeats_total counter",
            f"fleet_heartbeats_total {self.heartbeats}",
            "# TYPE fleet_etcd_requests_total counter",
            f"fleet_etcd_requests_total {self.etcd.requests + self.keeper.registry.etcd.requests}",
        ]
        return "\n".join(lines) + "\n"
