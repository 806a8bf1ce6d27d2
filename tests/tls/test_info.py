"""Startup checks of the TLS files, and what the contexts accept and refuse (in-process)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from pathlib import Path

import pytest

from pycoreos.tls.autotls import self_cert
from pycoreos.tls.certs import CertKind, issue, new_ca
from pycoreos.tls.info import TLSInfo, check_tls_info, client_context, server_context

from .conftest import Pki

NOW = dt.datetime.now(dt.UTC)


def _check(info: TLSInfo, peer: bool = False):  # type: ignore[no-untyped-def]
    return check_tls_info(info, peer=peer, now=NOW)


def test_good_files_pass(pki: Pki) -> None:
    info = TLSInfo(cert_file=pki.f("m1.crt"), key_file=pki.f("m1.key"),
                   trusted_ca_file=pki.f("ca.crt"), client_cert_auth=True)  # fmt: skip
    assert _check(info).problems == ()
    assert _check(info).warnings == ()


def test_cert_without_key_and_missing_files(pki: Pki, tmp_path: Path) -> None:
    assert _check(TLSInfo(cert_file=pki.f("m1.crt"))).problems == (
        "--cert-file and --key-file must be given together",
    )
    missing = str(tmp_path / "nope.crt")
    (problem,) = _check(TLSInfo(cert_file=missing, key_file=pki.f("m1.key")), peer=True).problems
    assert problem.startswith(f"--peer-cert-file: cannot read {missing!r}")


def test_key_of_another_certificate_is_named_at_startup(pki: Pki) -> None:
    (problem,) = _check(TLSInfo(cert_file=pki.f("m1.crt"), key_file=pki.f("m2.key"))).problems
    assert "--key-file" in problem
    assert "does not match --cert-file" in problem


def test_not_pem_files(pki: Pki, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("hello")
    problems = _check(TLSInfo(cert_file=str(junk), key_file=str(junk))).problems
    assert any("is not an unencrypted PEM private key" in p for p in problems)
    (ca_problem,) = _check(TLSInfo(trusted_ca_file=str(junk), client_cert_auth=True)).problems
    assert "is not a PEM certificate" in ca_problem


def test_expired_certificate_is_a_startup_error(tmp_path: Path) -> None:
    old = NOW - dt.timedelta(days=400)
    ca = new_ca(now=old)
    leaf = issue(ca, CertKind.SERVER, "m1", ["127.0.0.1"], now=old, days=30)
    (tmp_path / "c.crt").write_bytes(leaf.cert_pem)
    (tmp_path / "c.key").write_bytes(leaf.key_pem)
    (problem,) = _check(
        TLSInfo(cert_file=str(tmp_path / "c.crt"), key_file=str(tmp_path / "c.key"))
    ).problems
    assert "expired on" in problem


def test_client_cert_auth_needs_a_ca_and_a_ca_alone_is_a_warning(pki: Pki) -> None:
    assert _check(TLSInfo(client_cert_auth=True), peer=True).problems == (
        "--peer-client-cert-auth needs --peer-trusted-ca-file to verify certificates",
    )
    check = _check(TLSInfo(trusted_ca_file=pki.f("ca.crt")))
    assert check.problems == ()
    assert check.warnings == (
        "--trusted-ca-file is set but --client-cert-auth is not: client certificates will "
        "not be checked",
    )


def test_auto_tls_with_given_certs_is_ignored_with_a_warning(pki: Pki) -> None:
    info = TLSInfo(cert_file=pki.f("m1.crt"), key_file=pki.f("m1.key"), auto_tls=True)
    assert _check(info).warnings == ("ignoring --auto-tls since certs given",)


# ------------------------------------------------------------------ handshakes
async def _handshake(server: ssl.SSLContext, client: ssl.SSLContext, host: str = "127.0.0.1"):  # type: ignore[no-untyped-def]
    """True when a TLS connection carries a byte both ways."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(await reader.readexactly(1))
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=server)
    port = srv.sockets[0].getsockname()[1]
    try:
        async with asyncio.timeout(5):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=client, server_hostname=host
            )
            writer.write(b"x")
            # TLS 1.3 reports a refused client certificate only on the first read.
            got = await reader.read(1)
            writer.close()
            return got == b"x"
    except (OSError, ssl.SSLError):
        return False
    finally:
        srv.close()


def _server(pki: Pki, auth: bool = True) -> ssl.SSLContext:
    return server_context(TLSInfo(cert_file=pki.f("m1.crt"), key_file=pki.f("m1.key"),
                                  trusted_ca_file=pki.f("ca.crt"), client_cert_auth=auth))  # fmt: skip


async def test_client_with_a_certificate_of_the_cluster_ca_is_served(pki: Pki) -> None:
    client = client_context(TLSInfo(trusted_ca_file=pki.f("ca.crt"),
                                    cert_file=pki.f("client.crt"), key_file=pki.f("client.key")))  # fmt: skip
    assert await _handshake(_server(pki), client)


async def test_client_without_a_certificate_is_refused(pki: Pki) -> None:
    no_cert = client_context(TLSInfo(trusted_ca_file=pki.f("ca.crt")))
    assert not await _handshake(_server(pki), no_cert)
    assert await _handshake(_server(pki, auth=False), no_cert)  # unless auth is off


async def test_client_certificate_from_another_ca_is_refused(pki: Pki) -> None:
    other = client_context(TLSInfo(trusted_ca_file=pki.f("ca.crt"),
                                   cert_file=pki.o("client.crt"), key_file=pki.o("client.key")))  # fmt: skip
    assert not await _handshake(_server(pki), other)


async def test_client_checks_the_server_ca_and_name(pki: Pki) -> None:
    client = client_context(TLSInfo(trusted_ca_file=pki.o("ca.crt"),
                                    cert_file=pki.o("client.crt"), key_file=pki.o("client.key")))  # fmt: skip
    assert not await _handshake(_server(pki, auth=False), client)  # server from another CA
    right_ca = client_context(TLSInfo(trusted_ca_file=pki.f("ca.crt")))
    assert await _handshake(_server(pki, auth=False), right_ca, host="localhost")
    assert not await _handshake(_server(pki, auth=False), right_ca, host="10.9.9.9")  # no SAN


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
async def test_tls_1_1_and_weak_ciphers_are_refused(pki: Pki) -> None:
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        old.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:
        pytest.skip("this OpenSSL cannot even offer TLS 1.1")
    assert not await _handshake(_server(pki, auth=False), old)
    cbc = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cbc.check_hostname, cbc.verify_mode = False, ssl.CERT_NONE
    cbc.maximum_version = ssl.TLSVersion.TLSv1_2
    cbc.set_ciphers("ECDHE+AES128+SHA")  # CBC, no AEAD
    assert not await _handshake(_server(pki, auth=False), cbc)


def _self_cert_twice(tmp_path: Path) -> tuple[TLSInfo, bytes, bytes, int]:
    info = self_cert(str(tmp_path / "fx"), ["127.0.0.1"], now=NOW, peer=False)
    first = Path(info.cert_file).read_bytes()
    again = self_cert(str(tmp_path / "fx"), ["127.0.0.1"], now=NOW, peer=False)
    mode = Path(info.key_file).stat().st_mode & 0o777
    return info, first, Path(again.cert_file).read_bytes(), mode


async def test_auto_tls_certificate_is_created_once_and_encrypts_unverified(
    tmp_path: Path,
) -> None:
    info, first, again_pem, mode = _self_cert_twice(tmp_path)
    assert again_pem == first  # reused on restart
    assert mode == 0o600
    assert info.self_signed
    assert info.auto_tls
    assert await _handshake(server_context(info), client_context(info))
    verifying = client_context(TLSInfo())  # system roots: a self-signed cert fails
    assert not await _handshake(server_context(info), verifying)
