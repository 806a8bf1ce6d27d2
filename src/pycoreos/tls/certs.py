"""Certificate authority and leaf certificates for a cluster (``pycoreos certs``, auto-TLS).

Everything here is pure: keys and certificates are values, PEM bytes come out, and the caller
decides where they go. Time comes in as an argument (``now``) so tests are deterministic.

What each kind of certificate carries, and why:

* **CA**: ``BasicConstraints(ca=True, path_length=0)``, key usage ``keyCertSign | cRLSign``.
* **server** (client API): EKU ``serverAuth`` + ``clientAuth`` (etcd's own docs issue the
  server cert with both, because the grpc-gateway and the v2 proxy dial back with it), SANs =
  the member's hosts.
* **peer**: EKU ``serverAuth`` + ``clientAuth`` (a member is the TLS server of its peer listener
  and the TLS client of every stream it dials, with the same certificate), SANs = the hosts of
  its peer URLs. A member's peers check those SANs against the URL they dial, and the peer
  listener checks them against the dialer's address (etcd >= 3.2, see :mod:`pycoreos.tls.san`).
* **client**: EKU ``clientAuth`` only, no SANs needed; the CN names the user.

Keys are ECDSA P-256 by default (what etcd's auto-TLS and cfssl examples use: small and fast
handshakes); RSA 2048 on request for old clients.
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class CertKind(enum.StrEnum):
    """What a leaf certificate is for (decides its extended key usages)."""

    SERVER = "server"
    PEER = "peer"
    CLIENT = "client"


class KeyType(enum.StrEnum):
    """Private key algorithm."""

    ECDSA = "ecdsa"
    RSA = "rsa"


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate and its private key (PEM, key unencrypted PKCS#8)."""

    cert_pem: bytes
    key_pem: bytes


@dataclass(frozen=True, slots=True)
class Authority:
    """A CA able to sign leaf certificates."""

    cert: x509.Certificate
    key: PrivateKey

    @property
    def cert_pem(self) -> bytes:
        """The CA certificate in PEM (what clients and peers trust)."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        """The CA private key in PEM (keep it offline once the cluster is issued)."""
        return _key_pem(self.key)

    @staticmethod
    def load(cert_pem: bytes, key_pem: bytes) -> Authority:
        """Rebuild an authority from PEM files written earlier.

        Raises:
            ValueError: unreadable PEM, a key that is not EC/RSA, or a key not matching the
                certificate.
        """
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError("tls: CA key must be ECDSA or RSA")
        if not public_keys_match(cert, key):
            raise ValueError("tls: CA key does not match the CA certificate")
        return Authority(cert, key)


def new_key(key_type: KeyType = KeyType.ECDSA) -> PrivateKey:
    """A fresh private key (P-256 or RSA 2048)."""
    if key_type is KeyType.RSA:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def public_keys_match(cert: x509.Certificate, key: PrivateKey) -> bool:
    """True when ``key`` is the private half of ``cert``'s public key."""
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    return cert.public_key().public_bytes(enc, fmt) == key.public_key().public_bytes(enc, fmt)


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str, org: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def san_entries(hosts: Sequence[str]) -> list[x509.GeneralName]:
    """Hosts as SAN entries: IP literals become IP SANs, anything else a DNS SAN."""
    out: list[x509.GeneralName] = []
    for h in hosts:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            out.append(x509.DNSName(h))
    return out


def new_ca(
    *,
    now: dt.datetime,
    days: int = 3650,
    common_name: str = "pycoreos CA",
    org: str = "pycoreos",
    key_type: KeyType = KeyType.ECDSA,
) -> Authority:
    """A self-signed certificate authority valid from ``now - 1h`` for ``days``.

    The hour of back-dating absorbs clock skew between the machine issuing and the members.
    """
    key = new_key(key_type)
    name = _name(common_name, org)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(cert, key)


def _usage(*, cert_sign: bool = False, key_enc: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=key_enc,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


_EKU = {
    CertKind.SERVER: [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
    CertKind.PEER: [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
    CertKind.CLIENT: [ExtendedKeyUsageOID.CLIENT_AUTH],
}


def issue(
    ca: Authority | None,
    kind: CertKind,
    common_name: str,
    hosts: Sequence[str] = (),
    *,
    now: dt.datetime,
    days: int = 365,
    org: str = "pycoreos",
    key_type: KeyType = KeyType.ECDSA,
) -> Issued:
    """Issue a leaf certificate of ``kind`` with ``hosts`` as SANs.

    With ``ca=None`` the certificate is self-signed (auto-TLS): nobody can verify it, which
    is why auto-TLS is reported as insecure at startup.

    Raises:
        ValueError: a server or peer certificate without any host (nothing to check against).
    """
    if kind is not CertKind.CLIENT and not hosts:
        raise ValueError(f"tls: a {kind} certificate needs at least one host for its SANs")
    key = new_key(key_type)
    subject = _name(common_name, org)
    issuer_name = ca.cert.subject if ca is not None else subject
    signer: PrivateKey = ca.key if ca is not None else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(key_enc=key_type is KeyType.RSA), critical=True)
        .add_extension(x509.ExtendedKeyUsage(_EKU[kind]), critical=False)
    )
    if hosts:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(san_entries(hosts)), critical=False
        )
    if ca is not None:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key())
        builder = builder.add_extension(aki, critical=False)
    cert = builder.sign(signer, hashes.SHA256())
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))
