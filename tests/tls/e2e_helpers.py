"""Start TLS members (ours or the real etcd) with certificates from ``pycoreos certs``."""

from __future__ import annotations

import contextlib
import os
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from pycoreos.testing.procs import REAL_ETCDCTL, Kind, Member, start_member

from .conftest import Pki


def tls_args(
    pki: Pki, name: str, client: int, peer: int, *, peer_dir: Path | None = None
) -> list[str]:
    """Flags for an all-https member ``name`` whose certificates are in ``pki`` (peer
    certificate from ``peer_dir`` when given, e.g. another CA's)."""
    pd = peer_dir or pki.dir
    return [
        "--listen-client-urls", f"https://127.0.0.1:{client}",
        "--advertise-client-urls", f"https://127.0.0.1:{client}",
        "--listen-peer-urls", f"https://127.0.0.1:{peer}",
        "--initial-advertise-peer-urls", f"https://127.0.0.1:{peer}",
        "--cert-file", pki.f(f"{name}.crt"), "--key-file", pki.f(f"{name}.key"),
        "--client-cert-auth", "--trusted-ca-file", pki.f("ca.crt"),
        "--peer-cert-file", str(pd / f"{name}-peer.crt"),
        "--peer-key-file", str(pd / f"{name}-peer.key"),
        "--peer-client-cert-auth", "--peer-trusted-ca-file", pki.f("ca.crt"),
    ]  # fmt: skip


def client_ssl(pki: Pki) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=pki.f("ca.crt"))
    ctx.load_cert_chain(pki.f("client.crt"), pki.f("client.key"))
    return ctx


def https_url(m: Member) -> str:
    return f"https://127.0.0.1:{m.client_port}"


def wait_https_healthy(pki: Pki, members: Sequence[Member], timeout: float = 60.0) -> None:
    """Poll each member's ``/health`` over TLS until 200 (processes give no other signal)."""
    ctx = client_ssl(pki)
    deadline = time.monotonic() + timeout
    for m in members:
        while True:
            if m.proc.poll() is not None:
                raise RuntimeError(f"{m.name} exited {m.proc.returncode}:\n{m.log()[-3000:]}")
            url = https_url(m) + "/health"
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(url, timeout=1, context=ctx) as r,
            ):
                if r.status == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{m.name} not healthy:\n{m.log()[-3000:]}")
            time.sleep(0.1)


def start_tls_cluster(kind: Kind, pki: Pki, base: Path, ports: list[int]) -> list[Member]:
    """Three all-https members m1..m3 (``ports``: 3 client ports then 3 peer ports)."""
    initial = ",".join(f"m{i + 1}=https://127.0.0.1:{ports[3 + i]}" for i in range(3))
    members = [
        start_member(
            kind,
            base,
            name=f"m{i + 1}",
            ports=(ports[i], ports[3 + i]),
            wait=False,
            initial_cluster=initial,
            extra_args=tls_args(pki, f"m{i + 1}", ports[i], ports[3 + i]),
        )
        for i in range(3)
    ]
    try:
        wait_https_healthy(pki, members)
    except Exception:
        for m in members:
            m.kill()
        raise
    return members


def etcdctl(
    endpoint: str, *args: str, env: dict[str, str] | None = None, tls: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """The real Debian etcdctl in v2 mode."""
    full_env = {**os.environ, "ETCDCTL_API": "2", **(env or {})}
    return subprocess.run(
        [REAL_ETCDCTL, "--endpoints", endpoint, *tls, *args],
        capture_output=True, text=True, env=full_env, timeout=30, check=False,
    )  # fmt: skip
