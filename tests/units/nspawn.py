"""A real systemd booted in ``systemd-nspawn`` from a debootstrap rootfs (sandbox.md §2).

The rootfs (Debian bookworm minbase + systemd + dbus, console-getty masked) is built once
per machine into ``$PYCOREOS_DEBROOT`` (default ``/var/cache/pycoreos/debroot-bookworm``,
about 45-70 s and 241 MB) and booted with ``--volatile=overlay``, so every container writes
to a tmpfs and the cached tree is never modified. The launcher child moves itself into its
own cgroups first (named with our PID), so parallel containers never collide at the
hierarchy root; they are removed after the container exits.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

ROOTFS = Path(os.environ.get("PYCOREOS_DEBROOT", "/var/cache/pycoreos/debroot-bookworm"))
MIRROR = os.environ.get("PYCOREOS_DEBIAN_MIRROR", "http://deb.debian.org/debian")
_seq = itertools.count()


def missing_requirements() -> str | None:
    """Why the nspawn tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root"
    if shutil.which("systemd-nspawn") is None:
        return "systemd-nspawn missing (apt-get install systemd-container)"
    if not (ROOTFS / "usr/lib/systemd/systemd").exists() and shutil.which("debootstrap") is None:
        return "no cached rootfs and no debootstrap (apt-get install debootstrap)"
    try:
        import dbus_fast  # noqa: F401
    except ImportError:
        return "dbus-fast missing (pip install dbus-fast)"
    return None


def ensure_rootfs() -> Path:
    """Build the rootfs if it is not cached yet (under a lock: tests may run in parallel)."""
    if (ROOTFS / "usr/lib/systemd/systemd").exists():
        return ROOTFS
    ROOTFS.parent.mkdir(parents=True, exist_ok=True)
    with open(ROOTFS.parent / f".{ROOTFS.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (ROOTFS / "usr/lib/systemd/systemd").exists():
            return ROOTFS
        tmp = ROOTFS.with_name(ROOTFS.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(
            ["debootstrap", "--variant=minbase", "--include=systemd,systemd-sysv,dbus",
             "bookworm", str(tmp), MIRROR],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, timeout=900,
        )  # fmt: skip
        (tmp / "etc/systemd/system/console-getty.service").symlink_to("/dev/null")
        tmp.rename(ROOTFS)
    return ROOTFS


def _cgroup_bases() -> list[Path]:
    return [
        p
        for p in (Path("/sys/fs/cgroup/systemd"), Path("/sys/fs/cgroup/unified"))
        if (p / "cgroup.procs").exists()
    ]


def _rmtree_cgroup(p: Path) -> None:
    if not p.is_dir():
        return
    for child in p.iterdir():
        if child.is_dir():
            _rmtree_cgroup(child)
    with contextlib.suppress(OSError):
        p.rmdir()


class NspawnNode:
    """One booted container. ``pid1`` is its systemd, as seen from the host."""

    def __init__(self, log: Path) -> None:
        self.name = f"pyc{os.getpid()}n{next(_seq)}"
        self.cgroups = [base / f"pycoreos-nspawn-{self.name}" for base in _cgroup_bases()]
        for cg in self.cgroups:
            cg.mkdir(exist_ok=True)
        procs = [str(cg / "cgroup.procs") for cg in self.cgroups]

        def enter_cgroups() -> None:
            for p in procs:
                with open(p, "w") as f:
                    f.write("0")

        self._log = open(log, "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "-D", str(ensure_rootfs()), "--volatile=overlay", "--boot",
             "--register=no", "--keep-unit", f"--machine={self.name}", f"--hostname={self.name}",
             "--console=pipe"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            preexec_fn=enter_cgroups, start_new_session=True,
        )  # fmt: skip
        self.pid1 = self._find_pid1()
        self.root = Path(f"/proc/{self.pid1}/root")
        self.bus_address = f"unix:path={self.root}/run/dbus/system_bus_socket"

    def _find_pid1(self, limit: float = 30.0) -> int:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited with {self.proc.returncode}")
            for cg in self.cgroups:
                for pid in _cgroup_pids(cg):
                    if _nspid(pid)[-1:] == [1] and len(_nspid(pid)) > 1:
                        return pid
            time.sleep(0.02)
        raise RuntimeError("container systemd did not appear")

    def wait_running(self, limit: float = 60.0) -> str:
        """Wait for ``is-system-running`` to settle; returns the state."""
        deadline = time.monotonic() + limit
        state = ""
        while time.monotonic() < deadline:
            out = subprocess.run(
                self.nsenter("systemctl", "is-system-running"),
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            state = out.stdout.strip()
            if state in ("running", "degraded"):
                return state
            time.sleep(0.05)
        raise RuntimeError(f"container did not finish booting (state {state!r})")

    def nsenter(self, *cmd: str) -> list[str]:
        """A command line running ``cmd`` inside the container."""
        return ["nsenter", "-t", str(self.pid1), "-a", *cmd]

    def stop(self) -> None:
        """Halt the container and remove its cgroups."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()
        for cg in self.cgroups:
            _rmtree_cgroup(cg)


def _cgroup_pids(cg: Path) -> list[int]:
    out: list[int] = []
    for d, _, files in os.walk(cg):
        if "cgroup.procs" in files:
            with contextlib.suppress(OSError, ValueError):
                out += [int(x) for x in Path(d, "cgroup.procs").read_text().split()]
    return out


def _nspid(pid: int) -> list[int]:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return [int(x) for x in line.split()[1:]]
    except OSError:
        pass
    return []
