"""Auto-TLS (``--auto-tls``, ``--peer-auto-tls``): a self-signed certificate per member.

As etcd's ``transport.SelfCert``: the certificate and key live in
``<data-dir>/fixtures/client`` or ``<data-dir>/fixtures/peer`` (``cert.pem``, ``key.pem``),
are created once and reused on restart, and cover the hosts of the listen URLs. Such a
certificate encrypts traffic but authenticates nobody, so clients built from the returned
:class:`TLSInfo` skip verification and the member warns about it at startup.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence

from pycoreos.tls.certs import CertKind, issue
from pycoreos.tls.info import TLSInfo

SELF_CERT_DAYS = 365  # etcd 3.4's selfSignedCertValidity (1 year)


def self_cert(directory: str, hosts: Sequence[str], *, now: dt.datetime, peer: bool) -> TLSInfo:
    """Create (or reuse) a self-signed certificate in ``directory`` covering ``hosts``.

    Raises:
        OSError: the directory or files cannot be written.
    """
    cert_path = os.path.join(directory, "cert.pem")
    key_path = os.path.join(directory, "key.pem")
    if not (os.path.exists(cert_path) and os.path.exists(key_path)):
        os.makedirs(directory, mode=0o700, exist_ok=True)
        kind = CertKind.PEER if peer else CertKind.SERVER
        issued = issue(None, kind, "etcd", sorted(set(hosts)), now=now, days=SELF_CERT_DAYS)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(issued.key_pem)
        with open(cert_path, "wb") as f:
            f.write(issued.cert_pem)
    return TLSInfo(cert_file=cert_path, key_file=key_path, auto_tls=True, self_signed=True)
