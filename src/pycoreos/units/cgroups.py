"""Per-unit process tracking: a cgroup where the machine allows it, else process groups.

Backends, tried in order (``sandbox.md`` §4):

1. ``cgroup2``: a directory under the unified hierarchy (``/sys/fs/cgroup/unified`` on hybrid
   hosts, ``/sys/fs/cgroup`` on pure v2), below our own cgroup. ``cgroup.events`` tells
   whether it is populated, and ``cgroup.kill`` kills every member atomically, including
   processes that forked or called setsid().
2. ``cgroup1``: the ``name=systemd`` v1 hierarchy; tracking only (signals go to each listed
   PID, repeated until the list is stable).
3. ``pgroup``: every spawned process starts a new session (hence process group); signals go
   to those groups. Processes that leave their group (setsid daemons) escape: this is the
   weaker fallback and status says so.

Every child joins its unit's cgroup in the forked child before exec (``preexec``), so no
process of a unit ever runs outside it. Cgroup directories are named
``<root_name>/<unit name>``; ``root_name`` includes the supervisor's PID so that several
supervisors (tests) never collide, and :meth:`Tracker.close` removes them.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from pathlib import Path

__all__ = ["ProcessGroupTracker", "Tracker", "UnitProcesses", "open_tracker"]


def _own_cgroup(controller_field: str) -> str | None:
    """Our path in a hierarchy from /proc/self/cgroup ('' = v2, 'name=systemd' = v1)."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, ctrls, path = line.split(":", 2)
            if ctrls == controller_field:
                return path
    except OSError:
        return None
    return None


class UnitProcesses:
    """The processes of one unit. Methods never raise for processes that already exited."""

    def preexec(self) -> Callable[[], None] | None:
        """A function for the child to run before exec (joins the cgroup), or None."""
        return None

    def add(self, pid: int) -> None:
        """Record a spawned process (needed by the process-group backend)."""

    def pids(self) -> list[int]:
        """Every live process of the unit."""
        raise NotImplementedError

    def populated(self) -> bool:
        """Whether any process of the unit is alive."""
        return bool(self.pids())

    def kill(self, sig: int) -> int:
        """Signal every process; returns how many were signalled."""
        n = 0
        for _ in range(4):  # repeat: a process may fork while we iterate
            pids = self.pids()
            fresh = [p for p in pids if p != os.getpid()]
            if not fresh:
                break
            for pid in fresh:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
                    n += 1
            if sig != signal.SIGKILL:
                break
        return n

    def remove(self) -> None:
        """Forget the unit (remove its cgroup if empty)."""


class _CgroupUnit(UnitProcesses):
    def __init__(self, path: Path, v2: bool) -> None:
        self.path = path
        self.v2 = v2
        path.mkdir(parents=True, exist_ok=True)

    def preexec(self) -> Callable[[], None]:
        procs = str(self.path / "cgroup.procs")

        def join() -> None:
            fd = os.open(procs, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)

        return join

    def pids(self) -> list[int]:
        try:
            return [int(x) for x in (self.path / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def populated(self) -> bool:
        if self.v2:
            try:
                for line in (self.path / "cgroup.events").read_text().splitlines():
                    if line.startswith("populated "):
                        return line.split()[1] == "1"
            except OSError:
                return False
        return bool(self.pids())

    def kill(self, sig: int) -> int:
        if sig == signal.SIGKILL and self.v2 and (self.path / "cgroup.kill").exists():
            n = len(self.pids())
            with contextlib.suppress(OSError):
                (self.path / "cgroup.kill").write_text("1")
                return n
        return super().kill(sig)

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.rmdir()


class _PgroupUnit(UnitProcesses):
    def __init__(self) -> None:
        self.pgids: set[int] = set()

    def add(self, pid: int) -> None:
        self.pgids.add(pid)  # each spawn runs setsid(): its pgid is its pid

    def pids(self) -> list[int]:
        self._prune()
        if not self.pgids:
            return []
        out = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()
            if fields[0] != "Z" and int(fields[2]) in self.pgids:
                out.append(int(entry))
        return out

    def _prune(self) -> None:
        for pg in list(self.pgids):
            try:
                os.killpg(pg, 0)
            except ProcessLookupError:
                self.pgids.discard(pg)
            except PermissionError:
                pass

    def populated(self) -> bool:
        return bool(self.pids())

    def kill(self, sig: int) -> int:
        n = 0
        for pg in sorted(self.pgids):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pg, sig)
                n += 1
        return n


class Tracker:
    """Creates :class:`UnitProcesses` for units; one per supervisor."""

    kind = "abstract"

    def unit(self, name: str) -> UnitProcesses:
        """The process set of ``name`` (created on first use)."""
        raise NotImplementedError

    def close(self) -> None:
        """Remove the supervisor's cgroup directories (they must be empty)."""


class CgroupTracker(Tracker):
    """A cgroup hierarchy (v2 unified or v1 name=systemd) under ``base``."""

    def __init__(self, base: Path, v2: bool) -> None:
        self.base = base
        self.v2 = v2
        self.kind = "cgroup2" if v2 else "cgroup1"
        self._units: dict[str, _CgroupUnit] = {}
        base.mkdir(parents=False, exist_ok=True)

    def unit(self, name: str) -> UnitProcesses:
        u = self._units.get(name)
        if u is None:
            u = self._units[name] = _CgroupUnit(self.base / name, self.v2)
        return u

    def close(self) -> None:
        for u in self._units.values():
            u.remove()
        with contextlib.suppress(OSError):
            self.base.rmdir()


class ProcessGroupTracker(Tracker):
    """The fallback: one session/process group per spawned process."""

    kind = "pgroup"

    def __init__(self) -> None:
        self._units: dict[str, _PgroupUnit] = {}

    def unit(self, name: str) -> UnitProcesses:
        return self._units.setdefault(name, _PgroupUnit())


def open_tracker(root_name: str, prefer: str = "auto") -> Tracker:
    """The best available backend.

    Args:
        root_name: directory name for this supervisor's cgroups (make it unique: include
            the PID).
        prefer: ``auto``, ``cgroup2``, ``cgroup1`` or ``pgroup``.
    """
    candidates = []
    if prefer in ("auto", "cgroup2"):
        own = _own_cgroup("")
        for mount in (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup")):
            if (
                own is not None
                and (mount / "cgroup.procs").exists()
                and ((mount / "cgroup.controllers").exists() or mount.name == "unified")
            ):
                candidates.append((mount / own.lstrip("/") / root_name, True))
                break
    if prefer in ("auto", "cgroup1"):
        own = _own_cgroup("name=systemd")
        mount = Path("/sys/fs/cgroup/systemd")
        if own is not None and (mount / "cgroup.procs").exists():
            candidates.append((mount / own.lstrip("/") / root_name, False))
    for base, v2 in candidates:
        try:
            return CgroupTracker(base, v2)
        except OSError:
            continue
    return ProcessGroupTracker()
