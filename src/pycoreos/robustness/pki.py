"""Certificates and flags for running a :class:`~pycoreos.robustness.cluster.TortureCluster`
all over TLS (client and peer TLS, client certificates required on both sides).

One CA per run (``<run dir>/pki``), issued with :mod:`pycoreos.tls.certs` as ``pycoreos certs``
does. Each member gets:

* a client-API certificate for ``127.0.0.1``/``localhost`` (clients dial 127.0.0.1);
* a peer certificate for its own loopback address ``127.0.0.K`` (its advertised peer URL
  host, checked by every dialer) plus ``127.0.0.1`` (the address of connections it makes
  without the transport, such as the join-time member listing, which the other members' peer
  SAN check judges).

Invariants: a member's peer address ``127.0.0.K`` is unique in the cluster and never
``127.0.0.1`` (that one is the "nobody" address of the peer proxies); certificates are issued
once per member slot and kept for every restart.
"""

from __future__ import annotations

import datetime as dt
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from pycoreos.tls.certs import Authority, CertKind, Issued, issue, new_ca

__all__ = ["ClusterPki", "MemberCerts", "member_peer_host"]


def member_peer_host(slot: int) -> str:
    """The loopback address of the member in ``slot`` (0-based): 127.0.0.2, .3, ..."""
    if not 0 <= slot < 250:
        raise ValueError(f"member slot {slot} out of range (0..249)")
    return f"127.0.0.{slot + 2}"


@dataclass(frozen=True, slots=True)
class MemberCerts:
    """Paths of one member's certificates and keys."""

    cert: Path
    key: Path
    peer_cert: Path
    peer_key: Path


class ClusterPki:
    """A CA under ``directory``, the members' certificates and one client certificate."""

    def __init__(self, directory: Path, now: dt.datetime | None = None) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self._now = now or dt.datetime.now(dt.UTC)
        self._ca: Authority = new_ca(now=self._now, days=30)
        self.ca_file = self.dir / "ca.crt"
        self.ca_file.write_bytes(self._ca.cert_pem)
        client = issue(self._ca, CertKind.CLIENT, "torture-client", now=self._now, days=30)
        self.client_cert, self.client_key = self._write("client", client)

    def _write(self, stem: str, issued: Issued) -> tuple[Path, Path]:
        crt, key = self.dir / f"{stem}.crt", self.dir / f"{stem}.key"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(issued.key_pem)
        crt.write_bytes(issued.cert_pem)
        return crt, key

    def member(self, name: str, peer_host: str) -> MemberCerts:
        """Issue (or reissue) ``name``'s client-API and peer certificates."""
        server = issue(
            self._ca, CertKind.SERVER, name, ("127.0.0.1", "localhost"), now=self._now, days=30
        )
        peer = issue(
            self._ca, CertKind.PEER, name, (peer_host, "127.0.0.1"), now=self._now, days=30
        )
        cert, key = self._write(name, server)
        peer_cert, peer_key = self._write(f"{name}-peer", peer)
        return MemberCerts(cert, key, peer_cert, peer_key)

    def member_args(self, certs: MemberCerts) -> list[str]:
        """etcd's TLS flags for one member: certificates, CA, client certs required."""
        ca = str(self.ca_file)
        return [
            "--cert-file", str(certs.cert), "--key-file", str(certs.key),
            "--client-cert-auth", "--trusted-ca-file", ca,
            "--peer-cert-file", str(certs.peer_cert), "--peer-key-file", str(certs.peer_key),
            "--peer-client-cert-auth", "--peer-trusted-ca-file", ca,
        ]  # fmt: skip

    def client_context(self) -> ssl.SSLContext:
        """What the workload and the checks dial members with: the CA and the client cert."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        ctx.load_cert_chain(str(self.client_cert), str(self.client_key))
        return ctx
