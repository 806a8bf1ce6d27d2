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
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pycoreos.testing.peerproxy import ProxyNet

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
    initial_cluster: str | None = None
    advertise_peer_port: int | None = None

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
    kind: Kind,
    name: str,
    data_dir: Path,
    client_port: int,
    peer_port: int,
    initial_cluster: str | None = None,
    advertise_peer_port: int | None = None,
) -> list[str]:
    """The full command line of a member (of a one-member cluster unless told otherwise).

    ``advertise_peer_port`` (a proxy in front of the member) is what the member advertises
    to its peers; it still listens on ``peer_port``.
    """
    client = f"http://127.0.0.1:{client_port}"
    listen_peer = f"http://127.0.0.1:{peer_port}"
    peer = f"http://127.0.0.1:{advertise_peer_port or peer_port}"
    cmd = [REAL_ETCD, "--enable-v2=true"] if kind == "real" else ours_command()
    return [
        *cmd,
        "--name", name,
        "--data-dir", str(data_dir),
        "--listen-client-urls", client,
        "--advertise-client-urls", client,
        "--listen-peer-urls", listen_peer,
        "--initial-advertise-peer-urls", peer,
        "--initial-cluster", initial_cluster or f"{name}={peer}",
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


def wait_healthy(members: Sequence[Member], timeout: float = 30.0) -> None:
    """Poll until every member's ``/health`` is 200 (a leader is known everywhere)."""
    deadline = time.monotonic() + timeout
    pending = list(members)
    while pending and time.monotonic() < deadline:
        still = []
        for m in pending:
            ok = False
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(m.client_url + "/health", timeout=1) as resp,
            ):
                ok = resp.status == 200
            if not ok:
                still.append(m)
        pending = still
        if pending:
            time.sleep(0.05)
    if pending:
        raise TimeoutError(f"not healthy after {timeout}s: {[m.name for m in pending]}")


def start_member(
    kind: Kind,
    base_dir: Path,
    *,
    name: str = "default",
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    ports: tuple[int, int] | None = None,
    wait: bool = True,
    initial_cluster: str | None = None,
    advertise_peer_port: int | None = None,
) -> Member:
    """Start a member of ``kind`` with its data under ``base_dir`` and wait for it.

    Without ``initial_cluster`` it is a one-member cluster; with it, ``extra_args`` may add
    ``--initial-cluster-state existing`` etc.
    """
    client_port, peer_port = ports or tuple(free_ports(2))
    data_dir = base_dir / f"{kind}-{name}.etcd"
    log_path = base_dir / f"{kind}-{name}.log"
    args = [
        *member_args(
            kind, name, data_dir, client_port, peer_port, initial_cluster, advertise_peer_port
        ),
        *extra_args,
    ]
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
    member = Member(
        kind,
        name,
        data_dir,
        client_port,
        peer_port,
        proc,
        log_path,
        list(extra_args),
        initial_cluster,
        advertise_peer_port,
    )
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
        initial_cluster=member.initial_cluster,
        advertise_peer_port=member.advertise_peer_port,
    )


def start_cluster(
    kind: Kind,
    base_dir: Path,
    size: int,
    *,
    extra_args: Sequence[str] = (),
    proxies: ProxyNet | None = None,
) -> list[Member]:
    """Start a ``size``-member cluster of ``kind`` on loopback and wait until it serves.

    With ``proxies``, every member advertises a :class:`PeerProxy` port in front of its
    peer port, so tests can cut and delay peer traffic (see :mod:`pycoreos.testing.peerproxy`).
    """
    ports = free_ports(3 * size)
    names = [f"m{i}" for i in range(1, size + 1)]
    peer_ports = ports[size : 2 * size]
    proxy_ports = ports[2 * size :] if proxies is not None else peer_ports
    initial = ",".join(f"{n}=http://127.0.0.1:{proxy_ports[i]}" for i, n in enumerate(names))
    if proxies is not None:
        for i in range(size):
            proxies.add(proxy_ports[i], peer_ports[i])
    members = [
        start_member(
            kind,
            base_dir,
            name=n,
            extra_args=extra_args,
            wait=False,
            ports=(ports[i], peer_ports[i]),
            initial_cluster=initial,
            advertise_peer_port=proxy_ports[i] if proxies is not None else None,
        )
        for i, n in enumerate(names)
    ]
    try:
        for m in members:
            wait_ready(m.client_url, m.proc, timeout=60)
        wait_healthy(members)
    except Exception:
        for m in members:
            m.kill()
        raise
    if proxies is not None:
        from pycoreos.server.membership import compute_member_id

        proxies.bind_ids(
            {
                proxy_ports[i]: compute_member_id(
                    [f"http://127.0.0.1:{proxy_ports[i]}"], "etcd-cluster"
                )
                for i in range(size)
            }
        )
    return members


@contextlib.contextmanager
def running_member(kind: Kind, base_dir: Path, **kwargs: object) -> Iterator[Member]:
    """Context manager around :func:`start_member` that always stops the member."""
    member = start_member(kind, base_dir, **kwargs)  # type: ignore[arg-type]
    try:
        yield member
    finally:
        member.stop()
