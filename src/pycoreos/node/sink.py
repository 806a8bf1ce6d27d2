"""The node's :class:`~pycoreos.cloudinit.UnitSink`: files now, unit jobs after boot.

cloud-config is applied synchronously before the unit manager runs (as coreos-cloudinit ran
early in boot), so the sink writes unit files and drop-ins at once (through
:class:`~pycoreos.cloudinit.RootUnitSink`), enables units by creating their ``[Install]``
links (the unit manager reads them when it starts), and queues what needs a running
manager: unit commands and transient units, in call order, as :data:`UnitOp` values the
node's driver executes after ``default.target`` is up.

Invariants:

* ``ops`` keeps the order of the calls; the driver executes it in that order.
* Network units (``*.network``, ``*.netdev``, ``*.link``) are written but never handed to
  the unit manager (there is no networkd in a node root), and a
  ``systemd-networkd.service`` restart is noted instead of run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pycoreos.cloudinit import RootUnitSink
from pycoreos.units import loader
from pycoreos.units.errors import UnitError

__all__ = ["NodeUnitSink", "RunCommand", "StartTransient", "UnitOp"]

NETWORKD = "systemd-networkd.service"
_NETWORK_SUFFIXES = (".network", ".netdev", ".link")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunCommand:
    """``systemctl <command> <unit>`` for a unit of the config."""

    unit: str
    command: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StartTransient:
    """Run ``argv`` as the transient oneshot service ``unit`` (a ``#!`` user-data script)."""

    unit: str
    argv: tuple[str, ...]
    description: str


UnitOp = RunCommand | StartTransient


@dataclass
class NodeUnitSink:
    """A unit sink over a node root whose unit manager starts after the config is applied.

    Attributes:
        root: the node root.
        ops: queued unit jobs, in call order.
        notes: what was deliberately not done (network units, enable failures).
        touched: every unit the config wrote, enabled or queued a job for, in first-seen
            order (the units a node sharing host systemd owns and stops at shutdown).
    """

    root: Path
    ops: list[UnitOp] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    touched: list[str] = field(default_factory=list)
    files: RootUnitSink = field(init=False)

    def __post_init__(self) -> None:
        self.files = RootUnitSink(self.root)

    @property
    def _paths(self) -> loader.UnitPaths:
        return loader.UnitPaths.under(self.root)

    def _touch(self, name: str) -> None:
        if name not in self.touched and not name.endswith(_NETWORK_SUFFIXES):
            self.touched.append(name)

    def place_unit(self, name: str, runtime: bool, content: str) -> bool:
        """Write the unit file below the root."""
        self._touch(name)
        return self.files.place_unit(name, runtime, content)

    def place_drop_in(self, unit: str, runtime: bool, name: str, content: str) -> bool:
        """Write ``<unit>.d/<name>`` below the root."""
        return self.files.place_drop_in(unit, runtime, name, content)

    def mask(self, name: str, runtime: bool) -> bool:
        """Link the unit to ``/dev/null``."""
        return self.files.mask(name, runtime)

    def unmask(self, name: str, runtime: bool) -> bool:
        """Remove a ``/dev/null`` link or empty unit file."""
        return self.files.unmask(name, runtime)

    def enable(self, name: str, runtime: bool) -> bool:
        """Create the ``[Install]`` links now (the manager reads them when it starts)."""
        if name.endswith(_NETWORK_SUFFIXES):
            return False
        self._touch(name)
        try:
            return bool(loader.enable(name, self._paths, runtime=runtime))
        except UnitError as exc:
            self.notes.append(f"enable {name}: {exc}")
            return False

    def daemon_reload(self) -> None:
        """Nothing to do: the manager loads unit files when it starts."""

    def run_command(self, name: str, command: str) -> str:
        """Queue ``command`` for ``name``; returns ``queued`` (the job runs after boot)."""
        if name == NETWORKD or name.endswith(_NETWORK_SUFFIXES):
            self.notes.append(f"{command} {name}: no systemd-networkd in a node root; skipped")
            return "skipped"
        self._touch(name)
        self.ops.append(RunCommand(unit=name, command=command))
        return "queued"

    def start_transient(self, name: str, argv: Sequence[str], description: str) -> str:
        """Queue a transient oneshot unit running ``argv``."""
        self._touch(name)
        self.ops.append(StartTransient(unit=name, argv=tuple(argv), description=description))
        return "queued"
