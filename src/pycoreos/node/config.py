"""A node's settings and its errors, and where its files live below its root.

A node is one machine: everything it owns (cloud-config results, unit files, etcd data,
journals, the unit manager's socket, its status file) lives below ``root``. Nothing here
does I/O except :func:`socket_path`, which only measures a path, and
:attr:`NodeConfig.is_host_root`, which compares ``root`` with ``/`` by ``stat``.

Invariants:

* Paths are derived from ``root`` alone, so a restarted node finds its data again.
* Unix socket paths stay under the kernel's 108-byte limit: a root too deep for the
  default gets a short, stable path in ``/tmp`` derived from the root's hash.
"""

from __future__ import annotations

import enum
import hashlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pycoreos.errors import StackError

__all__ = [
    "ContainerEngine",
    "NodeConfig",
    "NodeError",
    "NodeLayout",
    "RefusedError",
    "UnitManagerKind",
]

# sun_path is 108 bytes including the terminating NUL.
_MAX_SOCKET_PATH = 107


class NodeError(StackError):
    """A node could not boot or run."""


class RefusedError(NodeError):
    """The node refused to boot (bad cloud-config, or another node owns the root).

    Attributes:
        report: the lines explaining why (validator messages with line numbers).
    """

    def __init__(self, message: str, report: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.report = report


class ContainerEngine(enum.StrEnum):
    """What ``docker.service`` runs: ``auto`` is ``dockerd`` when installed, else none."""

    AUTO = "auto"
    DOCKERD = "dockerd"
    NONE = "none"


class UnitManagerKind(enum.StrEnum):
    """``--unit-manager``: ``auto``, ``builtin`` (the supervisor) or host ``systemd``."""

    AUTO = "auto"
    BUILTIN = "builtin"
    SYSTEMD = "systemd"


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeConfig:
    """How to boot one node.

    Attributes:
        config_file: the cloud-config (user-data) to apply at boot; ``None``: the kernel
            command line's ``coreos.config.url``/``cloud-config-url``, else no user-data.
        root: the node's root directory (``/`` on a real machine).
        private_ipv4: ``$private_ipv4`` (and fleet's public IP when unset).
        public_ipv4: ``$public_ipv4`` (defaults to ``private_ipv4``).
        fleet_api_port: also serve fleet's HTTP API on ``private_ipv4:PORT`` (0: socket only).
        container_engine: what ``docker.service`` maps to.
        tracker: the unit manager's process tracker (``auto``, ``cgroup2``, ``pgroup``...).
        python: the interpreter that runs ``pycoreos etcd``/``fleetd`` units.
        stop_timeout: seconds allowed for an orderly shutdown before the node gives up.
        cmdline: the kernel command line; ``None``: ``/proc/cmdline`` for root ``/``,
            else empty (see :mod:`pycoreos.node.cmdline`).
        unit_manager: the built-in supervisor, host systemd, or ``auto``.
        fetch_timeout: seconds to wait for a command line's config URL to answer.
        systemd_bus: D-Bus address of the systemd that owns ``root`` (a container's, as
            ``unix:path=/proc/PID/root/run/dbus/system_bus_socket``); with it, that
            systemd is the node's manager although the root is not ``/``.
    """

    config_file: Path | None = None
    root: Path = Path("/")
    private_ipv4: str = "127.0.0.1"
    public_ipv4: str = ""
    fleet_api_port: int = 0
    container_engine: ContainerEngine = ContainerEngine.AUTO
    tracker: str = "auto"
    python: str = field(default_factory=lambda: sys.executable)
    stop_timeout: float = 60.0
    cmdline: str | None = None
    unit_manager: UnitManagerKind = UnitManagerKind.AUTO
    fetch_timeout: float = 60.0
    systemd_bus: str | None = None

    @property
    def is_host_root(self) -> bool:
        """Whether ``root`` is this machine's ``/`` (the same directory, not the same name:
        a container's root seen as ``/proc/PID/root`` resolves to ``/`` but is not it)."""
        try:
            return os.path.samefile(self.root, "/")
        except OSError:
            return False

    @property
    def layout(self) -> NodeLayout:
        """The node's file layout."""
        return NodeLayout(self.root)


@dataclass(frozen=True, slots=True)
class NodeLayout:
    """Where a node's files live below its root."""

    root: Path

    @property
    def state_dir(self) -> Path:
        """The node's own bookkeeping (lock file)."""
        return self.root / "var/lib/pycoreos-node"

    @property
    def lock_file(self) -> Path:
        """Held (``flock``) while a node process owns this root."""
        return self.state_dir / "lock"

    @property
    def run_dir(self) -> Path:
        """``/run``: emptied at every boot, as a tmpfs is."""
        return self.root / "run"

    @property
    def status_file(self) -> Path:
        """The node's status (JSON), rewritten at every phase change."""
        return self.root / "run/pycoreos/node.json"

    @property
    def units_socket(self) -> Path:
        """The unit manager's socket (``pycoreos units --socket``, fleetd's manager)."""
        return socket_path(self.root / "run/pycoreos/units.sock", self.root, "units")

    @property
    def vendor_units(self) -> Path:
        """``/lib/systemd/system``: the units the node ships (etcd, fleet, docker)."""
        return self.root / "lib/systemd/system"

    @property
    def etcd_data_dir(self) -> Path:
        """Default data directory of ``etcd2.service`` (``etcd.service``: ``etcd``)."""
        return self.root / "var/lib/etcd2"


def socket_path(preferred: Path, root: Path, kind: str) -> Path:
    """``preferred`` if it fits in ``sun_path``, else ``/tmp/pycoreos-<kind>-<hash>.sock``."""
    if len(str(preferred.absolute()).encode()) <= _MAX_SOCKET_PATH:
        return preferred
    digest = hashlib.sha256(str(root.absolute()).encode()).hexdigest()[:16]
    return Path(f"/tmp/pycoreos-{kind}-{digest}.sock")
