"""Start real etcd members (Debian's etcd 3.4 or ours) as processes, for e2e tests and benches.

Both kinds take the same etcd flags, so one helper serves the compatibility tests (ours beside
the real one), the benchmarks and the crash tests. Processes are started in their own session
and stopped by PID only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Kind = Literal["real", "ours"]

REAL_ETCD = shutil.which("etcd") or "/usr/bin/etcd"
REAL_ETCDCTL = shutil.which("etcdctl") or "/usr/bin/etcdctl"


def free_ports(n: int) -> list[int]:
    """Return ``n`` distinct TCP ports on 127.0.0.1 that were free a moment ago."""
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def ours_command() -> list[str]:
    """The command that runs our etcd member (``pycoreos etcd``) with this interpreter."""
    return [sys.executable, "-m", "pycoreos", "etcd"]


@dataclass
class Member:
    """A running etcd member process and its addresses."""

    kind: Kind
    name: str
    data_dir: Path
    client_port: int
    peer_port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    extra_args: list[str] = field(default_factory=list)

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    def kill(self) -> None:
        """SIGKILL the member and reap it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the member, escalating to SIGKILL after ``timeout`` seconds."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def member_args(
    kind: Kind, name: str, data_dir: Path, client_port: int, peer_port: int
) -> list[str]:
    """The full command line for a single-member cluster of ``kind``."""
    client = f"http://127.0.0.1:{client_port}"
    peer = f"http://127.0.0.1:{peer_port}"
    cmd = [REAL_ETCD, "--enable-v2=true"] if kind == "real" else ours_command()
    return [
        *cmd,
        "--name", name,
        "--data-dir", str(data_dir),
        "--listen-client-urls", client,
        "--advertise-client-urls", client,
        "--listen-peer-urls", peer,
        "--initial-advertise-peer-urls", peer,
        "--initial-cluster", f"{name}={peer}",
    ]  # fmt: skip


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Poll ``url``/version until it answers 200 (external processes give no other signal)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"member exited with {proc.returncode} before becoming ready")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(url + "/v2/keys/", timeout=1) as resp,
        ):
            if resp.status == 200:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {timeout}s")


def start_member(
    kind: Kind,
    base_dir: Path,
    *,
    name: str = "default",
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    ports: tuple[int, int] | None = None,
    wait: bool = True,
) -> Member:
    """Start a one-member cluster of ``kind`` with its data under ``base_dir`` and wait for it."""
    client_port, peer_port = ports or tuple(free_ports(2))
    data_dir = base_dir / f"{kind}-{name}.etcd"
    log_path = base_dir / f"{kind}-{name}.log"
    args = [*member_args(kind, name, data_dir, client_port, peer_port), *extra_args]
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            start_new_session=True,
        )
    member = Member(kind, name, data_dir, client_port, peer_port, proc, log_path, list(extra_args))
    if wait:
        try:
            wait_ready(member.client_url, proc)
        except Exception:
            member.kill()
            raise
    return member


def restart(member: Member, *, wait: bool = True) -> Member:
    """Start ``member`` again on the same ports and data dir (after kill/stop)."""
    return start_member(
        member.kind,
        member.data_dir.parent,
        name=member.name,
        extra_args=member.extra_args,
        ports=(member.client_port, member.peer_port),
        wait=wait,
    )


@contextlib.contextmanager
def running_member(kind: Kind, base_dir: Path, **kwargs: object) -> Iterator[Member]:
    """Context manager around :func:`start_member` that always stops the member."""
    member = start_member(kind, base_dir, **kwargs)  # type: ignore[arg-type]
    try:
        yield member
    finally:
        member.stop()
