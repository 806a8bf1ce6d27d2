"""Start fleetd processes (builtin unit manager, own root each) and run fleetctl."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pycoreos.testing.procs import free_ports


@dataclass
class Fleetd:
    root: Path
    proc: subprocess.Popen[bytes]
    sock: Path
    port: int

    @property
    def machine_id(self) -> str:
        return (self.root / "etc/machine-id").read_text().strip()

    def children(self) -> list[int]:
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True
        )
        return [int(x) for x in out.stdout.split()]

    def kill_with_units(self) -> None:
        kids = self.children()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        for pid in kids:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill_with_units()


def start_fleetd(
    base: Path,
    i: int,
    etcd: str,
    prefix: str,
    *,
    ttl: str = "3s",
    meta: str = "",
    extra: dict[str, str] | None = None,
) -> Fleetd:
    root = base / f"m{i}"
    root.mkdir(parents=True, exist_ok=True)
    (port,) = free_ports(1)
    sock = root / "run/fleet.sock"
    env = dict(os.environ)
    env.update(
        FLEET_ETCD_SERVERS=etcd,
        FLEET_ETCD_KEY_PREFIX=prefix,
        FLEET_AGENT_TTL=ttl,
        FLEET_ENGINE_RECONCILE_INTERVAL="0.3",
        FLEET_AGENT_RECONCILE_INTERVAL="1",
        FLEET_ETCD_REQUEST_TIMEOUT="2",
        FLEET_ROOT=str(root),
        FLEET_API_SOCKET="/run/fleet.sock",
        FLEET_API_LISTEN=f"127.0.0.1:{port}",
        FLEET_METADATA=meta,
        FLEET_UNIT_MANAGER="builtin:pgroup",
        FLEET_ENABLE_REMOTE_EXEC="1",
    )
    env.update(extra or {})
    log = open(base / f"fleetd{i}.log", "ab")  # noqa: SIM115  # the child keeps its own copy
    with log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pycoreos", "fleetd"], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=env, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 20
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError((base / f"fleetd{i}.log").read_text())
        time.sleep(0.05)
    return Fleetd(root, proc, sock, port)


def fleetctl(
    sock: Path, *args: str, check: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        [sys.executable, "-m", "pycoreos", "fleetctl", f"--endpoint=unix://{sock}", *args],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    if check and r.returncode != 0:
        raise AssertionError(f"fleetctl {args} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r
