"""TLS mode of the robustness suite, without member processes: the loopback source address a
member dials from, the proxy telling TLS dialers apart by it (and keeping it upstream, so the
member's peer SAN check judges the real dialer), and the run's certificates."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator

import pytest
from cryptography import x509

from pycoreos.errors import ConfigError
from pycoreos.robustness.pki import ClusterPki, member_peer_host
from pycoreos.testing.peerproxy import ProxyNet
from pycoreos.testing.procs import free_ports
from pycoreos.tls.info import TLSInfo, check_tls_info, client_context, server_context
from pycoreos.tls.san import cert_sans, san_problem
from pycoreos.transport.config import TransportOptions, dial_local_addr, loopback_source_host

# -- where a member dials from ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("urls", "want"),
    [
        (["https://127.0.0.3:2380"], "127.0.0.3"),
        (["http://127.0.0.1:2380"], "127.0.0.1"),
        (["https://10.0.0.1:2380", "https://127.0.0.9:2380"], "127.0.0.9"),
        (["https://10.0.0.1:2380"], None),  # may be a NAT'd address: left to the kernel
        (["https://localhost:2380"], None),  # a name, not an address
        (["https://[::1]:2380"], None),
        ([], None),
    ],
)
def test_loopback_source_host(urls: list[str], want: str | None) -> None:
    assert loopback_source_host(urls) == want


def test_dial_local_addr_only_between_loopback_addresses() -> None:
    assert dial_local_addr("127.0.0.3", "127.0.0.4") == ("127.0.0.3", 0)
    assert dial_local_addr("127.0.0.3", "10.1.2.3") is None  # unreachable from 127.x
    assert dial_local_addr("127.0.0.3", "localhost") is None
    assert dial_local_addr(None, "127.0.0.4") is None


def test_transport_options_refuse_a_non_loopback_source() -> None:
    with pytest.raises(ConfigError, match="loopback_source"):
        TransportOptions(loopback_source="10.0.0.1")
    assert TransportOptions(loopback_source="127.0.0.7").loopback_source == "127.0.0.7"


# -- certificates ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ClusterPki:
    return ClusterPki(tmp_path_factory.mktemp("pki"), now=dt.datetime.now(dt.UTC))


def test_member_addresses_are_distinct_and_never_the_proxies_nobody_address() -> None:
    hosts = [member_peer_host(i) for i in range(250)]
    assert len(set(hosts)) == 250
    assert "127.0.0.1" not in hosts
    with pytest.raises(ValueError):
        member_peer_host(250)


def test_member_certificates_pass_the_startup_checks(pki: ClusterPki) -> None:
    certs = pki.member("m1", "127.0.0.2")
    now = dt.datetime.now(dt.UTC)
    client = TLSInfo(
        cert_file=str(certs.cert),
        key_file=str(certs.key),
        trusted_ca_file=str(pki.ca_file),
        client_cert_auth=True,
    )
    peer = TLSInfo(
        cert_file=str(certs.peer_cert),
        key_file=str(certs.peer_key),
        trusted_ca_file=str(pki.ca_file),
        client_cert_auth=True,
    )
    assert check_tls_info(client, peer=False, now=now) == check_tls_info(peer, peer=True, now=now)
    assert check_tls_info(peer, peer=True, now=now).problems == ()
    peer_cert = x509.load_pem_x509_certificate(certs.peer_cert.read_bytes())
    assert cert_sans(peer_cert) == (["127.0.0.2", "127.0.0.1"], [])
    api_cert = x509.load_pem_x509_certificate(certs.cert.read_bytes())
    assert cert_sans(api_cert) == (["127.0.0.1"], ["localhost"])
    args = pki.member_args(certs)
    for flag in ("--client-cert-auth", "--peer-client-cert-auth"):
        assert flag in args
    assert args[args.index("--peer-cert-file") + 1] == str(certs.peer_cert)


# -- the proxy in front of a TLS peer listener ------------------------------------------------


class _TLSEcho(socketserver.BaseRequestHandler):
    """Echoes, after first sending the address the connection came from."""

    context: ssl.SSLContext
    seen: list[tuple[str, str | None]]

    def handle(self) -> None:
        with (
            contextlib.suppress(OSError),
            self.context.wrap_socket(self.request, server_side=True) as tls,
        ):
            source = str(self.client_address[0])
            der = tls.getpeercert(binary_form=True)
            cert = x509.load_der_x509_certificate(der) if der else None
            self.seen.append((source, san_problem(cert, source) if cert else "no cert"))
            tls.sendall(source.encode() + b"\n")
            while data := tls.recv(65536):
                tls.sendall(data)


@pytest.fixture
def tls_member(pki: ClusterPki) -> Iterator[tuple[int, list[tuple[str, str | None]]]]:
    """A TLS "member" on 127.0.0.1 requiring client certificates, serving m-dst's peer cert."""
    certs = pki.member("dst", "127.0.0.5")
    info = TLSInfo(
        cert_file=str(certs.peer_cert),
        key_file=str(certs.peer_key),
        trusted_ca_file=str(pki.ca_file),
        client_cert_auth=True,
    )
    seen: list[tuple[str, str | None]] = []
    handler = type("H", (_TLSEcho,), {"context": server_context(info), "seen": seen})
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1], seen
    srv.shutdown()
    srv.server_close()


def _tls_dial(pki: ClusterPki, name: str, source: str, proxy_port: int) -> ssl.SSLSocket:
    """Dial the proxy at 127.0.0.5 from ``source`` as member ``name``, verifying the server as
    the dialer of a peer URL ``https://127.0.0.5:...`` does."""
    certs = pki.member(name, source)
    ctx = client_context(
        TLSInfo(
            cert_file=str(certs.peer_cert),
            key_file=str(certs.peer_key),
            trusted_ca_file=str(pki.ca_file),
        )
    )
    raw = socket.create_connection(("127.0.0.5", proxy_port), timeout=3, source_address=(source, 0))
    return ctx.wrap_socket(raw, server_hostname="127.0.0.5")


def _line(s: ssl.SSLSocket) -> bytes:
    got = b""
    while not got.endswith(b"\n"):
        chunk = s.recv(1)
        if not chunk:
            break
        got += chunk
    return got.strip()


def test_proxy_knows_tls_dialers_by_source_and_keeps_the_source_upstream(
    pki: ClusterPki, tls_member: tuple[int, list[tuple[str, str | None]]]
) -> None:
    target, seen = tls_member
    (proxy_port,) = free_ports(1)
    net = ProxyNet(seed=3)
    try:
        proxy = net.add(proxy_port, target, listen_host="127.0.0.5")
        net.bind(5, proxy)
        net.bind_source("127.0.0.3", 3)
        net.bind_source("127.0.0.4", 4)
        # End to end TLS through the proxy: the member sees the dialer's own address, which
        # its certificate names, so the SAN check accepts it.
        with _tls_dial(pki, "a", "127.0.0.3", proxy_port) as s:
            assert _line(s) == b"127.0.0.3"
            s.sendall(b"raft")
            assert s.recv(4) == b"raft"
        assert seen == [("127.0.0.3", None)]
        # A one-way cut of 3 -> 5 refuses 3's connections only; 4 still gets through.
        net.cut(3, 5)
        with (
            pytest.raises((ssl.SSLError, OSError)),
            _tls_dial(pki, "a", "127.0.0.3", proxy_port) as s,
        ):
            _line(s)
        with _tls_dial(pki, "b", "127.0.0.4", proxy_port) as s:
            assert _line(s) == b"127.0.0.4"
        assert net.counters["refused"] == net.counters["refused_sender"] == 1
        # An unbound source (the harness, urllib) is "from nobody": only block_all stops it.
        net.heal()
        net.isolate(3)
        with _tls_dial(pki, "c", "127.0.0.6", proxy_port) as s:
            assert _line(s) == b"127.0.0.1"
    finally:
        net.close()
