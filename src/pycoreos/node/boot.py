"""Boot preparation: everything a node does before its unit manager runs. Synchronous.

Order (as a CoreOS machine boots): take the root's lock, read the kernel command line and
the user-data (``--config``, else the command line's config URL), validate it, empty
``/run`` (a tmpfs on a real machine), seed the base accounts, place the shipped units
(etcd, etcd2, fleet, docker), act on the command line (``coreos.autologin`` getty drop-ins,
``sshkey=``), then apply the cloud-config with a :class:`~pycoreos.node.sink.NodeUnitSink`.
The result is a :class:`Prepared` whose ``ops`` the driver runs once the unit manager is up
and whose ``environment`` every unit gets.

Invariants:

* A config with validator *errors*, or that is not a cloud-config or script, refuses the
  boot (:class:`~pycoreos.node.config.RefusedError` carrying the validator's lines) before
  anything below the root is touched. Warnings are reported and the boot goes on.
* ``/run`` is emptied only for a root other than ``/`` run by the built-in supervisor (a
  root run by systemd has a live ``/run``), and only while holding the lock.
* Preparing twice with the same config leaves the root as the first time (cloud-config
  apply is idempotent and the shipped units render identically).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pycoreos.cloudinit import (
    Metadata,
    RealSystem,
    Report,
    UserDataKind,
    apply,
    apply_config,
    parse_user_data,
    plan_script,
    seed_root,
)
from pycoreos.cloudinit.cmdline import KernelCmdline, plan_cmdline
from pycoreos.cloudinit.plan import DEFAULT_WORKSPACE, PlaceDropIn
from pycoreos.cloudinit.system import write_atomic
from pycoreos.node.cmdline import kernel_cmdline, read_user_data
from pycoreos.node.config import ContainerEngine, NodeConfig, RefusedError, UnitManagerKind
from pycoreos.node.manager import resolve_manager
from pycoreos.node.services import ServiceFacts, base_units, default_environment
from pycoreos.node.sink import NodeUnitSink, UnitOp

__all__ = ["Prepared", "lock_root", "machine_id", "prepare"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepared:
    """The outcome of :func:`prepare`.

    Attributes:
        report: what applying the cloud-config did, step by step.
        ops: unit jobs to run once the unit manager is up, in order.
        warnings: validator warnings (``line N: ...``).
        notes: things deliberately not done (network units, ownership without root).
        hostname: the node's hostname after the config.
        machine_id: ``/etc/machine-id`` of the node.
        config_source: where the user-data came from (``file:PATH``, ``url:URL``, ``none``).
        cmdline: the kernel command line the node acted on.
        autologin: the getty units given the autologin drop-in (empty: none).
        environment: the default environment of every unit (``DOCKER_HOST``, ``COREOS_*``).
        units: the units this node owns: the shipped ones and every unit the config
            touched (what a node sharing host systemd stops at shutdown, and no other).
    """

    report: Report
    ops: tuple[UnitOp, ...]
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    hostname: str
    machine_id: str
    config_source: str = ""
    cmdline: KernelCmdline = field(default_factory=KernelCmdline)
    autologin: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    units: tuple[str, ...] = ()


def lock_root(cfg: NodeConfig) -> int:
    """Take the root's lock; returns the open descriptor (keep it for the node's life).

    Raises:
        RefusedError: another node process holds the lock.
    """
    path = cfg.layout.lock_file
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RefusedError(f"node: {cfg.root} is in use by another node process") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def machine_id(root: Path) -> str:
    """``<root>/etc/machine-id``, created (random, 32 hex digits) if missing or invalid."""
    p = root / "etc/machine-id"
    with contextlib.suppress(OSError):
        mid = p.read_text().strip()
        if len(mid) == 32 and all(c in "0123456789abcdef" for c in mid):
            return mid
    mid = os.urandom(16).hex()
    write_atomic(p, f"{mid}\n".encode(), 0o444)
    return mid


def _dockerd(engine: ContainerEngine) -> str:
    if engine is ContainerEngine.NONE:
        return ""
    found = shutil.which("dockerd") or ""
    if engine is ContainerEngine.DOCKERD and not found:
        raise RefusedError("node: --container-engine=dockerd but dockerd is not installed")
    return found


def _reset_run(cfg: NodeConfig) -> None:
    if cfg.is_host_root:
        return
    run = cfg.layout.run_dir
    if run.is_dir() and not run.is_symlink():
        shutil.rmtree(run)


def prepare(cfg: NodeConfig) -> Prepared:
    """Validate and apply the node's cloud-config below its root (see the module doc).

    The caller holds the root's lock (:func:`lock_root`).

    Raises:
        RefusedError: the config cannot be read, has validator errors, or is not usable.
        CloudConfigError: applying failed (``PlanError``: nothing changed).
    """
    cmd = kernel_cmdline(cfg)
    user_data = read_user_data(cfg, cmd)
    raw = user_data.data
    where = cfg.config_file or user_data.source
    metadata = Metadata(
        private_ipv4=cfg.private_ipv4, public_ipv4=cfg.public_ipv4 or cfg.private_ipv4
    )
    ud = parse_user_data(raw, substitutions=metadata.substitutions())
    lines = tuple(str(i) for i in ud.issues)
    if ud.has_errors:
        raise RefusedError(f"node: {where} has errors; refusing to boot", lines)
    if ud.kind in (UserDataKind.IGNITION, UserDataKind.UNKNOWN):
        raise RefusedError(f"node: {where}: unsupported user-data ({ud.kind})", lines)
    dockerd = _dockerd(cfg.container_engine)
    # An impossible --unit-manager refuses here, before anything below the root changes.
    kind = resolve_manager(cfg)
    if kind is UnitManagerKind.BUILTIN:
        # A root run by a live systemd has a live /run (its bus, its state): never empty it.
        _reset_run(cfg)
    root = cfg.root.absolute()
    if not cfg.is_host_root:
        seed_root(root)
    mid = machine_id(root)
    facts = ServiceFacts(
        root=str(root),
        python=cfg.python,
        machine_id=mid,
        private_ipv4=cfg.private_ipv4,
        fleet_api_port=cfg.fleet_api_port,
        units_socket=str(cfg.layout.units_socket.absolute()),
        dockerd=dockerd,
        public_ipv4=cfg.public_ipv4 or cfg.private_ipv4,
    )
    for name, text in base_units(facts).items():
        write_atomic(cfg.layout.vendor_units / name, text.encode(), 0o644)
    sink = NodeUnitSink(root)
    system = RealSystem(root, units=sink, host=cfg.is_host_root)
    # The command line acts before cloud-config, as coreos-autologin-generator and
    # update-ssh-keys ran before coreos-cloudinit: its drop-ins are runtime (/run).
    cmd_actions = plan_cmdline(cmd)
    cmd_report = apply(cmd_actions, system)
    autologin = tuple(a.unit for a in cmd_actions if isinstance(a, PlaceDropIn))
    report = apply_config(ud.config, system, metadata=metadata)
    report = Report(cmd_report.steps + report.steps, cmd_report.notes + report.notes)
    if ud.script is not None:
        report = Report(
            report.steps + apply(plan_script(ud.script, DEFAULT_WORKSPACE), system).steps,
            report.notes,
        )
    return Prepared(
        report=report,
        ops=tuple(sink.ops),
        warnings=lines,
        notes=(*report.notes, *sink.notes),
        hostname=system.hostname(),
        machine_id=mid,
        config_source=user_data.source,
        cmdline=cmd,
        autologin=autologin,
        environment=default_environment(facts),
        units=tuple(dict.fromkeys([*base_units(facts), *sink.touched])),
    )
