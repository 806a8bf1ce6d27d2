"""The peer proxy's rules on plain TCP: one-way cuts, per-link delay, drops (seeded)."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from pycoreos.testing.peerproxy import ProxyNet
from pycoreos.testing.procs import free_ports
from pycoreos.transport.codec import StreamKind, encode_hello


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        # A reset by the proxy (drop) is part of the test, not an error.
        with contextlib.suppress(OSError):
            while data := self.request.recv(65536):
                self.request.sendall(data)


@pytest.fixture
def echo() -> Iterator[int]:
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def _dial(port: int, sender: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    s.sendall(encode_hello(7, sender, 1, StreamKind.MESSAGE))
    return s


def _roundtrip(port: int, sender: int, payload: bytes = b"ping") -> tuple[bytes, float]:
    """Send the handshake and ``payload``; return what came back after the echoed handshake."""
    hello_len = len(encode_hello(7, sender, 1, StreamKind.MESSAGE))
    with _dial(port, sender) as s:
        t0 = time.monotonic()
        s.sendall(payload)
        got = b""
        try:
            while len(got) < hello_len + len(payload):
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except OSError:
            pass
        return got[hello_len:], time.monotonic() - t0


@pytest.fixture
def net(echo: int) -> Iterator[tuple[ProxyNet, int]]:
    n = ProxyNet(seed=1)
    (port,) = free_ports(1)
    proxy = n.add(port, echo)
    n.bind(1, proxy)
    yield n, port
    n.close()


def test_forwarding_and_one_way_cut(net: tuple[ProxyNet, int]) -> None:
    n, port = net
    assert _roundtrip(port, 2)[0] == b"ping"
    n.cut(2, 1)  # member 2 -> member 1 only
    assert _roundtrip(port, 2)[0] == b""
    assert _roundtrip(port, 3)[0] == b"ping"
    assert n.counters["refused"] >= 1
    n.heal()
    assert _roundtrip(port, 2)[0] == b"ping"


def test_per_link_delay(net: tuple[ProxyNet, int]) -> None:
    n, port = net
    n.delay(1, 0.3, sender=2)
    got, slow = _roundtrip(port, 2)
    assert got == b"ping"
    assert slow >= 0.3
    got, fast = _roundtrip(port, 3)
    assert got == b"ping"
    assert fast < 0.3


def test_drop_resets_the_stream(net: tuple[ProxyNet, int]) -> None:
    n, port = net
    n.drop(1, 1.0)
    assert _roundtrip(port, 2)[0] == b""
    assert n.counters["dropped"] >= 1
