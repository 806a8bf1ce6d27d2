"""TLS settings of one side (client API or peer), their startup checks, and SSL contexts.

:class:`TLSInfo` mirrors etcd's ``transport.TLSInfo``: the files named by ``--cert-file``,
``--key-file``, ``--trusted-ca-file`` (or the ``--peer-*`` twins) and the two switches
``--client-cert-auth`` and ``--auto-tls``.

Invariants:

* :func:`check_tls_info` never raises: it returns every problem (fatal) and every warning
  (insecure but allowed), worded with the flag names, so the member can refuse to start with
  one clear message instead of failing on the first connection.
* Every context built here speaks TLS 1.2 at least and, for TLS 1.2, only ECDHE key exchange
  with AEAD ciphers (TLS 1.3 suites are all modern). etcd 3.4 has the same floor.
* A server context asks for a client certificate only with ``client_cert_auth``; then the
  handshake itself refuses a client without a certificate or with one from another CA, so
  no request from such a client ever reaches a handler.
"""

from __future__ import annotations

import datetime as dt
import ssl
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from pycoreos.tls.certs import public_keys_match

# OpenSSL cipher string for TLS 1.2: forward secrecy (ECDHE) and AEAD only.
MODERN_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


@dataclass(frozen=True, slots=True, kw_only=True)
class TLSInfo:
    """One side's TLS settings (all paths may be empty).

    Attributes:
        cert_file: this member's certificate (PEM), served to whoever connects.
        key_file: its private key (PEM, unencrypted).
        trusted_ca_file: CA bundle to verify the other side's certificate.
        client_cert_auth: require and verify a client certificate on the listener.
        auto_tls: generate a self-signed certificate when no cert/key is given.
        self_signed: this info describes an auto-TLS certificate, which no one can verify;
            clients built from it skip verification (etcd's ``selfCert``).
    """

    cert_file: str = ""
    key_file: str = ""
    trusted_ca_file: str = ""
    client_cert_auth: bool = False
    auto_tls: bool = False
    self_signed: bool = False

    @property
    def empty(self) -> bool:
        """No certificate and key given (etcd's ``TLSInfo.Empty``)."""
        return not self.cert_file and not self.key_file


@dataclass(frozen=True, slots=True)
class TLSCheck:
    """Outcome of :func:`check_tls_info`: fatal ``problems`` and ``warnings``."""

    problems: tuple[str, ...]
    warnings: tuple[str, ...]


def _read(path: str, flag: str, problems: list[str]) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        problems.append(f"--{flag}: cannot read {path!r}: {e.strerror or e}")
        return None


def _load_cert(data: bytes, path: str, flag: str, problems: list[str]) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        problems.append(f"--{flag}: {path!r} is not a PEM certificate")
        return None


def _check_pair(
    info: TLSInfo, prefix: str, now: dt.datetime, problems: list[str], warnings: list[str]
) -> None:
    cert_flag, key_flag = f"{prefix}cert-file", f"{prefix}key-file"
    cert_data = _read(info.cert_file, cert_flag, problems)
    key_data = _read(info.key_file, key_flag, problems)
    if cert_data is None or key_data is None:
        return
    cert = _load_cert(cert_data, info.cert_file, cert_flag, problems)
    try:
        key = serialization.load_pem_private_key(key_data, password=None)
    except (ValueError, TypeError):
        problems.append(f"--{key_flag}: {info.key_file!r} is not an unencrypted PEM private key")
        return
    if cert is None:
        return
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        problems.append(f"--{key_flag}: only ECDSA and RSA keys are supported")
    elif not public_keys_match(cert, key):
        problems.append(
            f"--{key_flag} {info.key_file!r} does not match --{cert_flag} {info.cert_file!r} "
            "(tls: private key does not match public key)"
        )
    if cert.not_valid_after_utc < now:
        problems.append(
            f"--{cert_flag} {info.cert_file!r} expired on {cert.not_valid_after_utc:%Y-%m-%d}"
        )
    elif cert.not_valid_before_utc > now:
        warnings.append(
            f"--{cert_flag} {info.cert_file!r} is not valid before "
            f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC (clock skew?)"
        )


def check_tls_info(info: TLSInfo, *, peer: bool, now: dt.datetime) -> TLSCheck:
    """Check files and flag combinations before anything listens.

    Args:
        info: the side's settings.
        peer: word messages with the ``--peer-`` flag names.
        now: the current UTC time (for expiry).

    Returns:
        The problems (the member must not start) and warnings (insecure choices).
    """
    prefix = "peer-" if peer else ""
    auth_flag = "peer-client-cert-auth" if peer else "client-cert-auth"
    problems: list[str] = []
    warnings: list[str] = []
    if bool(info.cert_file) != bool(info.key_file):
        problems.append(f"--{prefix}cert-file and --{prefix}key-file must be given together")
    elif info.cert_file:
        _check_pair(info, prefix, now, problems, warnings)
    if info.trusted_ca_file:
        data = _read(info.trusted_ca_file, f"{prefix}trusted-ca-file", problems)
        if data is not None:
            _load_cert(data, info.trusted_ca_file, f"{prefix}trusted-ca-file", problems)
        if not info.client_cert_auth:
            warnings.append(
                f"--{prefix}trusted-ca-file is set but --{auth_flag} is not: "
                f"{'peer' if peer else 'client'} certificates will not be checked"
            )
    if info.client_cert_auth and not info.trusted_ca_file:
        problems.append(f"--{auth_flag} needs --{prefix}trusted-ca-file to verify certificates")
    if info.auto_tls and not info.empty:
        warnings.append(f"ignoring --{prefix}auto-tls since certs given")
    return TLSCheck(tuple(problems), tuple(warnings))


def _base(ctx: ssl.SSLContext) -> ssl.SSLContext:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(MODERN_CIPHERS)
    # No renegotiation or compression (both have had attacks; Go never offers them).
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    return ctx


def server_context(info: TLSInfo) -> ssl.SSLContext:
    """The listener's context: serve ``cert_file``; with ``client_cert_auth`` require a
    client certificate signed by ``trusted_ca_file``.

    Raises:
        ssl.SSLError, OSError: unreadable or mismatched files (run :func:`check_tls_info` first
            for a clear message).
    """
    ctx = _base(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    ctx.load_cert_chain(info.cert_file, info.key_file)
    if info.client_cert_auth:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=info.trusted_ca_file)
    return ctx


def client_context(info: TLSInfo) -> ssl.SSLContext:
    """A dialer's context: verify the server against ``trusted_ca_file`` (or the system
    roots) and its name against the URL host; present ``cert_file`` when given.

    A self-signed (auto-TLS) info skips verification, as etcd does: the certificate is
    encrypted but unauthenticated, which is why auto-TLS is warned about at startup.
    """
    ctx = _base(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    if info.self_signed:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif info.trusted_ca_file:
        ctx.load_verify_locations(cafile=info.trusted_ca_file)
    else:
        ctx.load_default_certs()
    if info.cert_file:
        ctx.load_cert_chain(info.cert_file, info.key_file or None)
    return ctx
