"""A 3-member all-TLS cluster made with ``pycoreos certs``, driven by the real etcdctl (v2).

The refusals are checked against our cluster and, for comparison, against the real etcd 3.4
serving the same certificates.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycoreos.testing.procs import REAL_ETCD, REAL_ETCDCTL, Member, free_ports, start_member

from .conftest import Pki
from .e2e_helpers import (
    client_ssl,
    etcdctl,
    https_url,
    start_tls_cluster,
    tls_args,
    wait_https_healthy,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which(REAL_ETCDCTL) is None, reason="etcdctl not installed"),
]


@pytest.fixture(scope="module")
def cluster(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Member]]:
    members = start_tls_cluster("ours", pki, tmp_path_factory.mktemp("tls"), free_ports(6))
    yield members
    for m in members:
        m.stop()


def _tls(pki: Pki, d: Path | None = None) -> list[str]:
    d = d or pki.dir
    return ["--ca-file", pki.f("ca.crt"), "--cert-file", str(d / "client.crt"),
            "--key-file", str(d / "client.key")]  # fmt: skip


def test_real_etcdctl_with_client_certificates(pki: Pki, cluster: list[Member]) -> None:
    ep = ",".join(https_url(m) for m in cluster)
    r = etcdctl(ep, "set", "/tls/a", "hello", tls=_tls(pki))
    assert (r.returncode, r.stdout) == (0, "hello\n"), r.stderr
    # Read it back from another member, this time with the ETCDCTL_* variables.
    env = {"ETCDCTL_CA_FILE": pki.f("ca.crt"), "ETCDCTL_CERT_FILE": pki.f("client.crt"),
           "ETCDCTL_KEY_FILE": pki.f("client.key")}  # fmt: skip
    r = etcdctl(https_url(cluster[2]), "get", "/tls/a", env=env)
    assert (r.returncode, r.stdout) == (0, "hello\n"), r.stderr
    r = etcdctl(ep, "cluster-health", tls=_tls(pki))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("is healthy: got healthy result from https://") == 3
    assert r.stdout.endswith("cluster is healthy\n")


def test_our_etcdctl_with_client_certificates(pki: Pki, cluster: list[Member]) -> None:
    cmd = [sys.executable, "-m", "pycoreos", "etcdctl", "--endpoints", https_url(cluster[1]),
           *_tls(pki)]  # fmt: skip
    r = subprocess.run([*cmd, "set", "/tls/b", "ours"], capture_output=True, text=True,
                       timeout=30, check=False)  # fmt: skip
    assert (r.returncode, r.stdout) == (0, "ours\n"), r.stderr
    r = subprocess.run([*cmd, "get", "/tls/b"], capture_output=True, text=True, timeout=30,
                       check=False)  # fmt: skip
    assert r.stdout == "ours\n"


def _refusals(pki: Pki, m: Member) -> dict[str, bool]:
    """Which of the three bad clients got an answer (True = served)."""
    out: dict[str, bool] = {}
    no_cert = ssl.create_default_context(cafile=pki.f("ca.crt"))
    other = ssl.create_default_context(cafile=pki.f("ca.crt"))
    other.load_cert_chain(pki.o("client.crt"), pki.o("client.key"))
    for label, ctx, scheme in (("no-cert", no_cert, "https"), ("other-ca", other, "https"),
                               ("plain-http", None, "http")):  # fmt: skip
        url = f"{scheme}://127.0.0.1:{m.client_port}/v2/keys/"
        try:
            with urllib.request.urlopen(url, timeout=5, context=ctx) as r:
                out[label] = r.status == 200
        except (urllib.error.URLError, OSError):
            out[label] = False
    return out


def test_bad_clients_are_refused_as_by_the_real_etcd(
    pki: Pki, cluster: list[Member], tmp_path: Path
) -> None:
    assert _refusals(pki, cluster[0]) == dict.fromkeys(("no-cert", "other-ca", "plain-http"), False)
    r = etcdctl(https_url(cluster[0]), "get", "/tls/a", tls=_tls(pki, pki.other))
    assert r.returncode != 0
    # The good client is served, so the refusals above are about the certificates.
    with urllib.request.urlopen(https_url(cluster[0]) + "/v2/keys/", context=client_ssl(pki)) as ok:
        assert ok.status == 200
    if shutil.which(REAL_ETCD) is None:
        return
    c, p = free_ports(2)
    real = start_member("real", tmp_path, name="m1", ports=(c, p), wait=False,
                        initial_cluster=f"m1=https://127.0.0.1:{p}",
                        extra_args=tls_args(pki, "m1", c, p))  # fmt: skip
    try:
        wait_https_healthy(pki, [real])
        assert _refusals(pki, real) == _refusals(pki, cluster[0])
    finally:
        real.stop()


def test_peer_with_a_certificate_from_another_ca_cannot_join(
    pki: Pki, cluster: list[Member], tmp_path: Path
) -> None:
    c, p = free_ports(2)
    peer_url = f"https://127.0.0.1:{p}"
    r = etcdctl(https_url(cluster[0]), "member", "add", "m4", peer_url, tls=_tls(pki))
    assert r.returncode == 0, r.stderr
    initial = ",".join(f"m{i + 1}=https://127.0.0.1:{m.peer_port}" for i, m in enumerate(cluster))
    intruder = start_member(
        "ours", tmp_path, name="m4", ports=(c, p), wait=False,
        initial_cluster=f"{initial},m4={peer_url}",
        extra_args=[*tls_args(pki, "m4", c, p, peer_dir=pki.other),
                    "--initial-cluster-state", "existing"],
    )  # fmt: skip
    try:
        assert intruder.proc.wait(timeout=30) == 1
    finally:
        intruder.kill()
    assert "could not retrieve cluster information" in intruder.log()
    # The cluster never heard from it: m4 is still an unstarted member (no name).
    r = etcdctl(https_url(cluster[1]), "member", "list", tls=_tls(pki))
    m4 = [line for line in r.stdout.splitlines() if peer_url in line]
    assert len(m4) == 1
    assert "name= " in m4[0] or "unstarted" in m4[0]


def test_mismatched_key_is_a_startup_error(pki: Pki, tmp_path: Path) -> None:
    c, p = free_ports(2)
    args = tls_args(pki, "m1", c, p)
    args[args.index("--key-file") + 1] = pki.f("m2.key")
    m = start_member("ours", tmp_path, name="m1", ports=(c, p), wait=False,
                     initial_cluster=f"m1=https://127.0.0.1:{p}", extra_args=args)  # fmt: skip
    assert m.proc.wait(timeout=30) == 1
    assert "does not match --cert-file" in m.log()


def test_auto_tls_member_serves_https_with_a_warning(tmp_path: Path) -> None:
    c, p = free_ports(2)
    args = [
        "--listen-client-urls", f"https://127.0.0.1:{c}",
        "--advertise-client-urls", f"https://127.0.0.1:{c}",
        "--listen-peer-urls", f"https://127.0.0.1:{p}",
        "--initial-advertise-peer-urls", f"https://127.0.0.1:{p}",
        "--auto-tls", "--peer-auto-tls",
    ]  # fmt: skip
    m = start_member("ours", tmp_path, name="a1", ports=(c, p), wait=False,
                     initial_cluster=f"a1=https://127.0.0.1:{p}", extra_args=args)  # fmt: skip
    try:
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{c}/health", context=insecure,
                                            timeout=1) as r:  # fmt: skip
                    assert r.status == 200
                    break
            except (urllib.error.URLError, OSError):
                assert m.proc.poll() is None, m.log()
                assert time.monotonic() < deadline, m.log()
                time.sleep(0.1)
        # Encrypted but unauthenticated: a verifying client refuses the self-signed cert.
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(f"https://127.0.0.1:{c}/health", timeout=5)
        assert (m.data_dir / "fixtures" / "client" / "cert.pem").exists()
        assert (m.data_dir / "fixtures" / "peer" / "key.pem").exists()
        assert "--auto-tls: using a self-signed certificate" in m.log()
        assert "--peer-auto-tls: using a self-signed certificate" in m.log()
    finally:
        m.stop()
