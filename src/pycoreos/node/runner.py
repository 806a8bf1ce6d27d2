"""The node's asyncio driver: unit manager up, boot, unit jobs, wait, ordered shutdown.

``run_node`` owns the node's life after :func:`~pycoreos.node.boot.prepare`:

1. open the node's unit manager (:mod:`~pycoreos.node.manager`: the built-in supervisor,
   a child subreaper, so no zombies, no orphans; or host systemd where it is PID 1) with
   the node's default environment (``DOCKER_HOST``, ``COREOS_*``), and serve it on the
   root's unit socket (``pycoreos units --socket``, and fleetd drives its units through
   it);
2. start ``default.target`` (enabled units), then the cloud-config's unit commands in order
   (a failing command is logged and recorded, the node keeps running, as a machine with a
   failed unit is still up);
3. wait for the stop event (SIGTERM/SIGINT in the CLI);
4. stop units in :func:`~pycoreos.node.services.shutdown_phases` order (fleet, the rest,
   docker, etcd), then close the manager, which stops anything left.

The status file (:class:`NodeStatus`, JSON) is rewritten at every phase change so that
``pycoreos cluster status`` can read it without talking to the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pycoreos.node.boot import Prepared
from pycoreos.node.config import NodeConfig, UnitManagerKind
from pycoreos.node.manager import open_manager, resolve_manager
from pycoreos.node.services import shutdown_phases
from pycoreos.node.sink import RunCommand, StartTransient, UnitOp
from pycoreos.units.daemon import UnitSocketServer
from pycoreos.units.errors import UnitError
from pycoreos.units.manager import UnitManager
from pycoreos.units.names import SpecifierContext

__all__ = ["NodeStatus", "read_status", "run_node"]

log = logging.getLogger("pycoreos.node")

_JOBS = {
    "start": "start",
    "stop": "stop",
    "restart": "restart",
    "reload": "reload",
    "try-restart": "restart",
    "reload-or-restart": "restart",
    "reload-or-try-restart": "restart",
}


@dataclass(kw_only=True)
class NodeStatus:
    """What a node says about itself in ``run/pycoreos/node.json``.

    Attributes:
        pid: the node process.
        phase: ``booting``, ``running``, ``stopping`` or ``stopped``.
        hostname, machine_id, private_ipv4: identity.
        units_socket: the unit manager's socket.
        tracker: how the unit manager tracks processes (``cgroup2``, ``pgroup``...).
        failed: unit commands from the config that failed (``"start x.service: ..."``).
        notes: what the boot deliberately skipped.
        since: wall-clock time of the last phase change.
        unit_manager: ``builtin`` or ``systemd``.
        config_source: where the user-data came from (``file:PATH``, ``url:URL``, ``none``).
        oem_id: ``coreos.oem.id`` of the kernel command line (empty: none).
        autologin: getty units given the autologin drop-in (``coreos.autologin``).
        environment: the default environment every unit gets.
    """

    pid: int
    phase: str
    hostname: str
    machine_id: str
    private_ipv4: str
    units_socket: str
    tracker: str = ""
    failed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    since: float = 0.0
    unit_manager: str = ""
    config_source: str = ""
    oem_id: str = ""
    autologin: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)


def read_status(root: Path) -> NodeStatus | None:
    """The status a node under ``root`` last wrote, or ``None``."""
    try:
        data = json.loads((root / "run/pycoreos/node.json").read_text())
        return NodeStatus(**data)
    except (OSError, ValueError, TypeError):
        return None


def _write_status(cfg: NodeConfig, st: NodeStatus, phase: str) -> None:
    st.phase = phase
    st.since = time.time()
    path = cfg.layout.status_file
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(st), indent=1) + "\n")
    os.replace(tmp, path)


def _transient_text(cfg: NodeConfig, op: StartTransient) -> str:
    argv = list(op.argv)
    # cloud-config saved the script under the node root; the unit runs on the host.
    if argv and argv[0].startswith("/") and (cfg.root / argv[0].lstrip("/")).exists():
        argv[0] = str((cfg.root / argv[0].lstrip("/")).absolute())
    return (
        f"[Unit]\nDescription={op.description}\n\n[Service]\nType=oneshot\n"
        f"WorkingDirectory={cfg.root.absolute()}\nExecStart={' '.join(argv)}\n"
    )


async def _execute(cfg: NodeConfig, sup: UnitManager, op: UnitOp) -> str:
    match op:
        case RunCommand(unit=unit, command=command):
            job = _JOBS.get(command)
            if job is None:
                raise UnitError(f"unsupported unit command {command!r}")
            result = await getattr(sup, job)(unit)
            return str(result)
        case StartTransient(unit=unit):
            await sup.write_unit(unit, _transient_text(cfg, op), runtime=True)
            return str(await sup.start(unit))


async def _run_ops(cfg: NodeConfig, sup: UnitManager, ops: tuple[UnitOp, ...]) -> list[str]:
    failed: list[str] = []
    for op in ops:
        what = f"{op.command} {op.unit}" if isinstance(op, RunCommand) else f"run {op.unit}"
        try:
            result = await _execute(cfg, sup, op)
        except UnitError as exc:
            result = f"error: {exc}"
        log.info("%s: %s", what, result)
        if result != "done":
            failed.append(f"{what}: {result}")
    return failed


async def _shutdown(sup: UnitManager, owned: frozenset[str] | None) -> None:
    # owned: None stops every unit (the node's own supervisor); with host systemd only the
    # node's units stop (fleetd's SIGTERM stops fleet's), never the host's sshd or gettys.
    units = await sup.list_units()
    active = [
        u.name
        for u in units
        if u.active_state not in ("inactive", "failed") and (owned is None or u.name in owned)
    ]
    for phase in shutdown_phases(active):
        log.info("stopping %s", " ".join(phase))
        results = await asyncio.gather(*(sup.stop(u) for u in phase), return_exceptions=True)
        for unit, res in zip(phase, results, strict=True):
            if isinstance(res, BaseException):
                log.warning("stop %s: %s", unit, res)


async def _boot(
    cfg: NodeConfig,
    sup: UnitManager,
    prepared: Prepared,
    status: NodeStatus,
    ready: asyncio.Event | None,
) -> None:
    # Host systemd booted its default target long ago; the supervisor starts it now.
    boot = await sup.start("default.target")
    log.info("default.target: %s", boot)
    status.failed = await _run_ops(cfg, sup, prepared.ops)
    _write_status(cfg, status, "running")
    if ready is not None:
        ready.set()


async def run_node(
    cfg: NodeConfig,
    prepared: Prepared,
    stop: asyncio.Event,
    *,
    ready: asyncio.Event | None = None,
) -> NodeStatus:
    """Run the node until ``stop`` is set, then shut it down in order.

    Args:
        cfg: the node's configuration.
        prepared: the result of :func:`~pycoreos.node.boot.prepare` for ``cfg``.
        stop: set it to shut the node down.
        ready: set once the boot's unit jobs have run.

    Returns:
        The final status (phase ``stopped``).
    """
    sock = cfg.layout.units_socket
    kind = resolve_manager(cfg)
    status = NodeStatus(
        pid=os.getpid(),
        phase="booting",
        hostname=prepared.hostname,
        machine_id=prepared.machine_id,
        private_ipv4=cfg.private_ipv4,
        units_socket=str(sock.absolute()),
        notes=list(prepared.notes),
        unit_manager=str(kind),
        config_source=prepared.config_source,
        oem_id=prepared.cmdline.oem_id,
        autologin=list(prepared.autologin),
        environment=dict(prepared.environment),
    )
    _write_status(cfg, status, "booting")
    owned = None if kind is UnitManagerKind.BUILTIN else frozenset(prepared.units)
    specifiers = SpecifierContext(
        hostname=prepared.hostname or "localhost",
        machine_id=prepared.machine_id,
        boot_id=os.urandom(16).hex(),  # every node start is a new boot
    )
    opened = await open_manager(cfg, kind, prepared.environment, specifiers)
    sup = opened.manager
    status.tracker = opened.tracker
    try:
        server = await UnitSocketServer(sup, sock, tracker=opened.tracker).start()
    except BaseException:
        await sup.close()
        raise
    try:
        booting = asyncio.ensure_future(_boot(cfg, sup, prepared, status, ready))
        stopping = asyncio.ensure_future(stop.wait())
        # A stop during boot abandons the remaining boot jobs (a slow unit must not hold
        # SIGTERM hostage); the shutdown below stops whatever did start.
        await asyncio.wait({booting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        await stopping
        if not booting.done():
            booting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await booting
        _write_status(cfg, status, "stopping")
        log.info("shutting down")
        try:
            async with asyncio.timeout(cfg.stop_timeout):
                await _shutdown(sup, owned)
        except TimeoutError:
            log.warning("orderly shutdown took over %ss; stopping everything", cfg.stop_timeout)
    finally:
        await server.close()
        await sup.close()
    _write_status(cfg, status, "stopped")
    return status
