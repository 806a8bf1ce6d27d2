"""The peer listener's check of a connecting peer's certificate SANs against its address."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from pathlib import Path

from cryptography import x509

from pycoreos.tls.certs import Authority, CertKind, issue, new_ca
from pycoreos.tls.info import TLSInfo, client_context, server_context
from pycoreos.tls.san import san_checked, san_problem

NOW = dt.datetime.now(dt.UTC)
CA: Authority = new_ca(now=NOW)


def _cert(hosts: list[str]) -> x509.Certificate:
    kind = CertKind.PEER if hosts else CertKind.CLIENT
    return x509.load_pem_x509_certificate(issue(CA, kind, "p", hosts, now=NOW).cert_pem)


def test_ip_san_must_match_the_remote_address() -> None:
    cert = _cert(["10.0.0.1", "127.0.0.1"])
    assert san_problem(cert, "127.0.0.1") is None
    assert san_problem(cert, "::ffff:127.0.0.1") is None  # v4 on a dual-stack socket
    problem = san_problem(cert, "10.0.0.9")
    assert problem == (
        "tls: peer certificate is valid for 10.0.0.1, 127.0.0.1, "
        "not for the connecting address 10.0.0.9"
    )


def test_dns_sans_count_once_resolved() -> None:
    cert = _cert(["m1.example"])
    assert san_problem(cert, "10.0.0.1") is not None  # not resolved yet
    assert san_problem(cert, "10.0.0.1", ["10.0.0.2"]) is not None
    assert san_problem(cert, "10.0.0.1", ["10.0.0.2", "10.0.0.1"]) is None


def test_certificate_without_sans_is_accepted() -> None:
    assert san_problem(_cert([]), "10.0.0.1") is None


def _files(tmp_path: Path, name: str, hosts: list[str]) -> TLSInfo:
    kind = CertKind.PEER if hosts else CertKind.CLIENT
    issued = issue(CA, kind, name, hosts, now=NOW)
    (tmp_path / f"{name}.crt").write_bytes(issued.cert_pem)
    (tmp_path / f"{name}.key").write_bytes(issued.key_pem)
    (tmp_path / "ca.crt").write_bytes(CA.cert_pem)
    return TLSInfo(cert_file=str(tmp_path / f"{name}.crt"), key_file=str(tmp_path / f"{name}.key"),
                   trusted_ca_file=str(tmp_path / "ca.crt"), client_cert_auth=True)  # fmt: skip


class _Echo(asyncio.Protocol):
    made: list[bool] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = transport
        _Echo.made.append(True)

    def data_received(self, data: bytes) -> None:
        self.t.write(data)  # type: ignore[attr-defined]


async def _talk(tmp_path: Path, client_hosts: list[str]) -> bytes:
    server_info = _files(tmp_path, "server", ["127.0.0.1"])
    client_info = _files(tmp_path, "client", client_hosts)
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(san_checked(_Echo), "127.0.0.1", 0,
                                   ssl=server_context(server_info))  # fmt: skip
    port = srv.sockets[0].getsockname()[1]
    try:
        async with asyncio.timeout(5):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=client_context(client_info), server_hostname="127.0.0.1"
            )
            writer.write(b"ping")
            try:
                data = await reader.read(4)
            except (ConnectionError, ssl.SSLError):
                data = b""
            writer.close()
            return data
    finally:
        srv.close()


async def test_peer_from_its_own_address_gets_through(tmp_path: Path) -> None:
    _Echo.made.clear()
    assert await _talk(tmp_path, ["127.0.0.1"]) == b"ping"
    assert await _talk(tmp_path, ["localhost"]) == b"ping"  # DNS SAN resolved off-loop


async def test_peer_certificate_used_from_another_address_is_dropped(tmp_path: Path) -> None:
    _Echo.made.clear()
    assert await _talk(tmp_path, ["10.1.2.3"]) == b""
    assert _Echo.made == []  # the inner protocol never saw the connection
