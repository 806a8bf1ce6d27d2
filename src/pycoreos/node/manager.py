"""Which unit manager a node runs its units with, and opening it.

CoreOS ran everything through systemd, PID 1. A node does the same where systemd is PID 1
and the node *is* the machine (root ``/``): it drives host systemd over D-Bus
(:class:`~pycoreos.units.systemd.SystemdManager`). Everywhere else (a node root on a
host, a container, a machine without systemd) it runs the built-in supervisor.

Invariants:

* ``auto`` is ``systemd`` only when systemd is booted (``/run/systemd/system`` exists, as
  ``sd_booted()`` checks) *and* the root is ``/``: host systemd reads unit files from the
  host's directories, never from a node root, so it cannot run a node root's units. The
  one exception is a root whose own systemd is reachable (``systemd_bus``: a container's
  root and bus): that systemd reads that root's units.
* Asking for ``systemd`` where it cannot work refuses the boot instead of falling back:
  the operator asked for something specific.
* :func:`choose_manager` is pure (the facts are arguments); :func:`open_manager` does I/O.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pycoreos.node.config import NodeConfig, RefusedError, UnitManagerKind
from pycoreos.units.errors import UnitError
from pycoreos.units.loader import UnitPaths
from pycoreos.units.manager import UnitManager
from pycoreos.units.names import SpecifierContext
from pycoreos.units.supervisor import Supervisor, SupervisorConfig

__all__ = [
    "SYSTEMD_BOOTED_DIR",
    "OpenManager",
    "UnitManagerKind",
    "choose_manager",
    "open_manager",
    "resolve_manager",
]

SYSTEMD_BOOTED_DIR = Path("/run/systemd/system")


def choose_manager(
    kind: UnitManagerKind,
    *,
    root: Path,
    systemd_booted: bool,
    root_bus: bool = False,
    host_root: bool | None = None,
) -> UnitManagerKind:
    """Resolve ``kind`` to ``builtin`` or ``systemd`` (see the module doc).

    Args:
        kind: what was asked for.
        root: the node root (``Path("/")`` for a real machine).
        systemd_booted: whether systemd is PID 1 (``/run/systemd/system`` exists).
        root_bus: the bus of the systemd that owns ``root`` is given.
        host_root: whether ``root`` is this machine's ``/`` (default: ``root == /``).

    Raises:
        RefusedError: ``systemd`` was asked for where it cannot run the node's units.
    """
    if kind is UnitManagerKind.BUILTIN:
        return kind
    if root_bus:
        return UnitManagerKind.SYSTEMD
    on_host = root == Path("/") if host_root is None else host_root
    if kind is UnitManagerKind.SYSTEMD:
        if not systemd_booted:
            raise RefusedError("node: --unit-manager=systemd but systemd is not PID 1 here")
        if not on_host:
            raise RefusedError(
                f"node: --unit-manager=systemd needs --root / (host systemd cannot read "
                f"units below {root})"
            )
        return kind
    return UnitManagerKind.SYSTEMD if systemd_booted and on_host else UnitManagerKind.BUILTIN


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenManager:
    """An open unit manager and what the node reports about it.

    Attributes:
        manager: the manager (close it with ``await manager.close()``).
        kind: ``builtin`` or ``systemd``.
        tracker: how it tracks processes (``cgroup2``, ``pgroup``, ``systemd``...).
    """

    manager: UnitManager
    kind: UnitManagerKind
    tracker: str


def resolve_manager(cfg: NodeConfig) -> UnitManagerKind:
    """:func:`choose_manager` for ``cfg`` on this machine."""
    return choose_manager(
        cfg.unit_manager,
        root=cfg.root,
        systemd_booted=SYSTEMD_BOOTED_DIR.is_dir(),
        root_bus=cfg.systemd_bus is not None,
        host_root=cfg.is_host_root,
    )


async def open_manager(
    cfg: NodeConfig,
    kind: UnitManagerKind,
    environment: Mapping[str, str],
    specifiers: SpecifierContext | None = None,
) -> OpenManager:
    """Open the unit manager ``kind`` (already resolved) for the node.

    The built-in supervisor gets ``environment`` as its default environment and
    ``specifiers`` (the node's hostname, machine ID and boot ID for ``%H %m %b``: fleet
    identifies machines by that machine ID, so units see the same one). Host systemd
    gets it through ``SetEnvironment`` (its manager environment, which every unit it
    starts afterwards inherits, as ``DefaultEnvironment=`` does), then a reload so the
    unit files and drop-ins the boot just wrote are read.

    Raises:
        RefusedError: host systemd cannot be reached.
    """
    root = cfg.root.absolute()
    if kind is UnitManagerKind.SYSTEMD:
        # Imported here: dbus-fast is only needed where systemd is the manager.
        from pycoreos.units.systemd import SystemdManager

        try:
            sd = await SystemdManager(bus_address=cfg.systemd_bus, root=root).open()
            await sd.set_environment(environment)
            await sd.daemon_reload()
        except UnitError as exc:
            raise RefusedError(f"node: host systemd: {exc}") from None
        return OpenManager(manager=sd, kind=kind, tracker="systemd")
    sup = Supervisor(
        SupervisorConfig(
            paths=UnitPaths.under(root),
            state_dir=root / "var/lib/pycoreos-units",
            tracker=cfg.tracker,
            reap_all=True,
            cgroup_root=f"pycoreos-node-{os.getpid()}",
            default_environment=dict(environment),
            specifiers=specifiers or SpecifierContext(),
        )
    )
    await sup.open()
    return OpenManager(manager=sup, kind=UnitManagerKind.BUILTIN, tracker=sup.tracker_kind)
