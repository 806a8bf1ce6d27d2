"""Boot preparation: everything a node does before its unit manager runs. Synchronous.

Order (as a CoreOS machine boots): take the root's lock, empty ``/run`` (a tmpfs on a real
machine), read and validate the cloud-config, seed the base accounts, place the shipped
units (etcd, etcd2, fleet, docker), then apply the cloud-config with a
:class:`~pycoreos.node.sink.NodeUnitSink`. The result is a :class:`Prepared` whose ``ops``
the driver runs once the unit manager is up.

Invariants:

* A config with validator *errors*, or that is not a cloud-config or script, refuses the
  boot (:class:`~pycoreos.node.config.RefusedError` carrying the validator's lines) before
  anything below the root is touched. Warnings are reported and the boot goes on.
* ``/run`` is emptied only for a root other than ``/``, and only while holding the lock.
* Preparing twice with the same config leaves the root as the first time (cloud-config
  apply is idempotent and the shipped units render identically).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from dataclasses import dataclass
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
from pycoreos.cloudinit.plan import DEFAULT_WORKSPACE
from pycoreos.cloudinit.system import write_atomic
from pycoreos.node.config import ContainerEngine, NodeConfig, RefusedError
from pycoreos.node.services import ServiceFacts, base_units
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
    """

    report: Report
    ops: tuple[UnitOp, ...]
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    hostname: str
    machine_id: str


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
    if cfg.root.resolve() == Path("/"):
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
    try:
        raw = cfg.config_file.read_bytes()
    except OSError as exc:
        raise RefusedError(f"node: cannot read {cfg.config_file}: {exc.strerror}") from None
    metadata = Metadata(
        private_ipv4=cfg.private_ipv4, public_ipv4=cfg.public_ipv4 or cfg.private_ipv4
    )
    ud = parse_user_data(raw, substitutions=metadata.substitutions())
    lines = tuple(str(i) for i in ud.issues)
    if ud.has_errors:
        raise RefusedError(f"node: {cfg.config_file} has errors; refusing to boot", lines)
    if ud.kind in (UserDataKind.IGNITION, UserDataKind.UNKNOWN):
        raise RefusedError(f"node: {cfg.config_file}: unsupported user-data ({ud.kind})", lines)
    dockerd = _dockerd(cfg.container_engine)
    _reset_run(cfg)
    root = cfg.root.absolute()
    if root.resolve() != Path("/"):
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
    )
    for name, text in base_units(facts).items():
        write_atomic(cfg.layout.vendor_units / name, text.encode(), 0o644)
    sink = NodeUnitSink(root)
    system = RealSystem(root, units=sink, host=root.resolve() == Path("/"))
    report = apply_config(ud.config, system, metadata=metadata)
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
    )
