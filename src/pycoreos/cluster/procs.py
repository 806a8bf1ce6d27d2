"""Node processes: start one (in its own cgroup and, optionally, network namespace), tell
whether it still runs, stop it, and kill it with every process below it.

Strategy: each node runs in a cgroup of its own, ``<our cgroup>/pycoreos-cluster-<id>/
<node>`` in the unified (v2) hierarchy; the node's unit manager nests its units' cgroups
below that, so ``cgroup.kill`` on the node's cgroup kills the node, etcd, fleetd, every unit
and anything they forked or daemonized, at once. Without a usable cgroup v2 hierarchy the
fallback freezes the process tree with SIGSTOP (repeated until no new descendant appears, so
nothing can fork away), then SIGKILLs it.

Invariants:

* A PID is acted on only if its start time matches the one recorded at spawn: a recycled PID
  is never signalled.
* After :func:`kill_tree` returns, no process of the node remains (or
  :class:`~pycoreos.errors.BrokenError` says which).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pycoreos.errors import BrokenError

__all__ = [
    "alive",
    "free_ports",
    "kill_tree",
    "make_cgroup",
    "proc_start_time",
    "remove_cgroup",
    "spawn_node",
    "wait_gone",
]

_CLONE_NEWNET = 0x40000000

# Nodes outlive the command that started them; keeping their Popen objects stops Python
# from warning (ResourceWarning) that a child is still running when one is collected.
_SPAWNED: dict[int, subprocess.Popen[bytes]] = {}


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct TCP ports on ``host`` that were free a moment ago."""
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def proc_start_time(pid: int) -> int:
    """Field 22 of ``/proc/PID/stat`` (start time in clock ticks), 0 if the PID is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    rest = stat[stat.rfind(")") + 2 :].split()
    return int(rest[19])


def alive(pid: int, start_time: int) -> bool:
    """Whether ``pid`` is the process started at ``start_time`` and not a zombie."""
    if pid <= 0 or proc_start_time(pid) != start_time:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _unified_mount() -> Path | None:
    try:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            if right.split(" ", 1)[0] == "cgroup2":
                return Path(left.split()[4])
    except OSError:
        return None
    return None


def _own_v2_path() -> str | None:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return line[3:]
    except OSError:
        return None
    return None


def make_cgroup(cluster_id: str, node: str) -> Path | None:
    """Create ``<our v2 cgroup>/pycoreos-cluster-<cluster_id>/<node>``; ``None`` if the host
    gives us no writable cgroup v2 hierarchy (the caller falls back to process trees)."""
    mount, own = _unified_mount(), _own_v2_path()
    if mount is None or own is None:
        return None
    path = mount / own.lstrip("/") / f"pycoreos-cluster-{cluster_id}" / node
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return path if (path / "cgroup.procs").exists() else None


def remove_cgroup(path: Path) -> None:
    """Remove an empty cgroup subtree (children first), then its parent if now empty."""
    if not path.is_dir():
        return
    for sub in sorted((p for p in path.rglob("*") if p.is_dir()), reverse=True):
        with contextlib.suppress(OSError):
            sub.rmdir()
    with contextlib.suppress(OSError):
        path.rmdir()
    with contextlib.suppress(OSError):
        path.parent.rmdir()  # the cluster's directory, once its last node is gone


def _preexec(cgroup: Path | None, netns: str) -> Callable[[], None]:
    def run() -> None:
        # In the child, before exec: join the node's cgroup (so nothing of the node ever
        # runs outside it), then enter its network namespace.
        if cgroup is not None:
            (cgroup / "cgroup.procs").write_text(str(os.getpid()))
        if netns:
            fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.setns(fd, _CLONE_NEWNET) != 0:
                os._exit(126)
            os.close(fd)

    return run


def spawn_node(
    argv: Sequence[str], log: Path, *, cgroup: Path | None, netns: str = ""
) -> tuple[int, int]:
    """Start a node process detached from us; returns ``(pid, start_time)``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_preexec(cgroup, netns),  # safe: the cluster CLI is single-threaded
        )
    _SPAWNED[proc.pid] = proc
    return proc.pid, proc_start_time(proc.pid)


def _reap(pid: int) -> None:
    # Our own child (spawned by this process): collect it so it does not stay a zombie.
    proc = _SPAWNED.get(pid)
    if proc is not None and proc.poll() is not None:
        del _SPAWNED[pid]


def wait_gone(pid: int, start_time: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for the process to exit; ``True`` if it did."""
    deadline = time.monotonic() + timeout
    while alive(pid, start_time):
        _reap(pid)
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    _reap(pid)
    return True


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _descendants(pid: int) -> set[int]:
    kids, out, todo = _children(), set(), [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            if k not in out:
                out.add(k)
                todo.append(k)
    return out


def _kill_cgroup(cgroup: Path, timeout: float) -> bool:
    kill = cgroup / "cgroup.kill"
    deadline = time.monotonic() + timeout
    while True:
        procs = [p for f in cgroup.rglob("cgroup.procs") for p in f.read_text().split()]
        if not procs:
            return True
        if kill.exists():
            kill.write_text("1")
        else:
            for p in procs:
                with contextlib.suppress(OSError):
                    os.kill(int(p), signal.SIGKILL)
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def _kill_walk(pid: int, start_time: int) -> None:
    if not alive(pid, start_time):
        return
    frozen: set[int] = set()
    while True:
        tree = {pid} | _descendants(pid)
        new = tree - frozen
        if not new:
            break
        for p in new:
            with contextlib.suppress(OSError):
                os.kill(p, signal.SIGSTOP)
        frozen |= new
    for p in frozen:
        with contextlib.suppress(OSError):
            os.kill(p, signal.SIGKILL)


def kill_tree(pid: int, start_time: int, cgroup: Path | None, timeout: float = 10.0) -> None:
    """SIGKILL the node and every process below it, and remove its cgroup.

    Raises:
        BrokenError: processes of the node's cgroup survived ``timeout`` seconds.
    """
    if cgroup is not None and cgroup.is_dir():
        ok = _kill_cgroup(cgroup, timeout)
        _reap(pid)
        if not ok:
            raise BrokenError(f"cluster: processes of {cgroup} survived SIGKILL")
        remove_cgroup(cgroup)
        return
    _kill_walk(pid, start_time)
    wait_gone(pid, start_time, timeout)
