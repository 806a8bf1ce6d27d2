"""TLS for the client API and the peer transport: settings, checks, contexts and certificates.

* :mod:`~pycoreos.tls.info`: :class:`TLSInfo` (etcd's flags), :func:`check_tls_info` (startup
  problems and warnings), :func:`server_context` / :func:`client_context` (TLS >= 1.2).
* :mod:`~pycoreos.tls.certs`: a CA and server/peer/client certificates (``pycoreos certs``).
* :mod:`~pycoreos.tls.autotls`: self-signed certificates for ``--auto-tls``.
* :mod:`~pycoreos.tls.san`: the peer listener's certificate-SAN-vs-address check.
"""

from pycoreos.tls.autotls import self_cert
from pycoreos.tls.certs import Authority, CertKind, Issued, KeyType, issue, new_ca
from pycoreos.tls.info import (
    MODERN_CIPHERS,
    TLSCheck,
    TLSInfo,
    check_tls_info,
    client_context,
    server_context,
)
from pycoreos.tls.san import san_checked, san_problem

__all__ = [
    "MODERN_CIPHERS",
    "Authority",
    "CertKind",
    "Issued",
    "KeyType",
    "TLSCheck",
    "TLSInfo",
    "check_tls_info",
    "client_context",
    "issue",
    "new_ca",
    "san_checked",
    "san_problem",
    "self_cert",
    "server_context",
]
