"""Certificates made for a cluster: the right SANs, key usages and chains (``pycoreos certs``)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from pycoreos.cli import certs as certs_cli
from pycoreos.tls.certs import Authority, CertKind, KeyType, issue, new_ca, public_keys_match

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def ca() -> Authority:
    return new_ca(now=NOW)


def _eku(cert: x509.Certificate) -> set[x509.ObjectIdentifier]:
    return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_ca_is_a_ca_that_signs_only_certificates(ca: Authority) -> None:
    bc = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    ku = ca.cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert bc.ca
    assert bc.path_length == 0
    assert ku.key_cert_sign
    assert ku.crl_sign
    assert ca.cert.not_valid_before_utc == NOW - dt.timedelta(hours=1)


@pytest.mark.parametrize(
    ("kind", "eku"),
    [
        (CertKind.SERVER, {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}),
        (CertKind.PEER, {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}),
        (CertKind.CLIENT, {ExtendedKeyUsageOID.CLIENT_AUTH}),
    ],
)
def test_leaf_key_usages_and_chain(ca: Authority, kind: CertKind, eku: set[object]) -> None:
    issued = issue(ca, kind, "m1", ["10.0.0.1", "m1.example"], now=NOW)
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    assert _eku(cert) == eku
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.issuer == ca.cert.subject
    cert.verify_directly_issued_by(ca.cert)  # raises if the signature does not check


def test_ip_hosts_become_ip_sans_and_names_dns_sans(ca: Authority) -> None:
    issued = issue(ca, CertKind.PEER, "m1", ["10.0.0.1", "::1", "m1.example"], now=NOW)
    san = (
        x509.load_pem_x509_certificate(issued.cert_pem)
        .extensions.get_extension_for_class(x509.SubjectAlternativeName)
        .value
    )
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("10.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    assert san.get_values_for_type(x509.DNSName) == ["m1.example"]


def test_server_and_peer_certificates_need_a_host(ca: Authority) -> None:
    with pytest.raises(ValueError, match="needs at least one host"):
        issue(ca, CertKind.PEER, "m1", [], now=NOW)
    issue(ca, CertKind.CLIENT, "root", [], now=NOW)  # a client needs none


def test_rsa_keys_and_key_matching(ca: Authority) -> None:
    issued = issue(ca, CertKind.CLIENT, "u", now=NOW, key_type=KeyType.RSA)
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    assert cert.public_key().key_size == 2048  # type: ignore[union-attr]
    assert not public_keys_match(cert, ca.key)


def test_authority_round_trips_and_refuses_a_foreign_key(ca: Authority) -> None:
    again = Authority.load(ca.cert_pem, ca.key_pem)
    assert again.cert == ca.cert
    with pytest.raises(ValueError, match="does not match"):
        Authority.load(ca.cert_pem, new_ca(now=NOW).key_pem)


def test_self_signed_leaf_is_its_own_issuer() -> None:
    issued = issue(None, CertKind.SERVER, "etcd", ["127.0.0.1"], now=NOW)
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    assert cert.issuer == cert.subject


# ---------------------------------------------------------------- pycoreos certs (CLI)
def test_cli_writes_a_cluster_pki_with_private_keys_0600(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "pki"
    rc = certs_cli.main(
        ["--dir", str(d), "--member", "m1=10.0.0.1", "--member", "m2", "--client", "root"]
    )
    assert rc == 0
    names = sorted(os.listdir(d))
    assert names == sorted(
        ["ca.crt", "ca.key", "root.crt", "root.key"]
        + [f"{m}{s}" for m in ("m1", "m2") for s in (".crt", ".key", "-peer.crt", "-peer.key")]
    )
    for n in names:
        mode = stat.S_IMODE(os.stat(d / n).st_mode)
        assert mode == (0o600 if n.endswith(".key") else 0o644), n
    m1 = x509.load_pem_x509_certificate((d / "m1-peer.crt").read_bytes())
    ips = m1.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(i) for i in ips.get_values_for_type(x509.IPAddress)] == ["10.0.0.1", "127.0.0.1"]
    assert "--peer-trusted-ca-file" in capsys.readouterr().err


def test_cli_reuses_the_ca_and_never_overwrites_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = str(tmp_path)
    assert certs_cli.main(["--dir", d, "--member", "m1"]) == 0
    ca_before = (tmp_path / "ca.crt").read_bytes()
    assert certs_cli.main(["--dir", d, "--member", "m2"]) == 0  # adds a member, same CA
    assert (tmp_path / "ca.crt").read_bytes() == ca_before
    m2 = x509.load_pem_x509_certificate((tmp_path / "m2.crt").read_bytes())
    m2.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_before))
    key_before = (tmp_path / "m1.key").read_bytes()
    assert certs_cli.main(["--dir", d, "--member", "m1"]) == 1
    assert "exists (use --force" in capsys.readouterr().err
    assert (tmp_path / "m1.key").read_bytes() == key_before
    assert certs_cli.main(["--dir", d, "--member", "m1", "--force"]) == 0
    assert (tmp_path / "m1.key").read_bytes() != key_before


@pytest.mark.parametrize("spec", [["--member", "=1.2.3.4"], ["--member", "a", "--member", "a"]])
def test_cli_rejects_bad_member_specs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: list[str]
) -> None:
    assert certs_cli.main(["--dir", str(tmp_path), *spec]) == 1
    assert capsys.readouterr().err.startswith("certs: ")
