"""``HttpTransport`` against a tiny in-process HTTP/1.1 server on 127.0.0.1 (no etcd):
keep-alive reuse, recovery from connections the server closed, and failure classification."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pycoreos.client.http_transport import HttpRequest, HttpTransport
from pycoreos.client.v2 import Client, EndpointError
from pycoreos.testing.procs import free_ports


class Server(ThreadingHTTPServer):
    daemon_threads = True
    connections = 0
    close_after_response = False
    silent = threading.Event()
    closed = threading.Event()

    def shutdown_request(self, request: object) -> None:
        super().shutdown_request(request)  # type: ignore[arg-type]
        self.closed.set()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self) -> None:
        if self.server.silent.is_set():
            self.server.silent.wait(5)  # never answer while the test holds it
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        payload = (
            b'{"action":"set","node":{"key":"/k","value":"'
            + (body.split(b"value=")[-1] if body else b"v")
            + b'","modifiedIndex":3,"createdIndex":3}}'
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Etcd-Index", "3")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        if self.server.close_after_response:
            # Close the idle keep-alive connection behind the client's back.
            self.close_connection = True

    do_GET = do_PUT = _answer  # noqa: N815 - BaseHTTPRequestHandler names


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server(("127.0.0.1", 0), Handler)
    srv.silent = threading.Event()
    srv.closed = threading.Event()
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.silent.set()
        srv.shutdown()
        srv.server_close()
        t.join()


def url(srv: Server) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}"


def test_keep_alive_reuses_one_connection(server: Server) -> None:
    with Client([url(server)]) as c:
        for i in range(5):
            assert c.set("/k", f"v{i}").node.value == f"v{i}"
            assert c.get("/k").etcd_index == 3
    assert server.connections == 1


def test_connection_closed_by_server_is_replaced_before_a_write(server: Server) -> None:
    server.close_after_response = True
    with Client([url(server)]) as c:
        c.get("/k")
        assert server.closed.wait(5)
        # The pooled socket is now closed by the server; a write must not be sent on it and
        # end up with an unknown outcome. (A close racing with the send stays ambiguous and
        # is reported as UnknownOutcomeError, as Go's transport does for non-replayable
        # requests; this test waits for the close so it checks only the detection.)
        assert c.set("/k", "after").node.value == "after"
    assert server.connections == 2


def test_refused_is_unsent_connection_error() -> None:
    (port,) = free_ports(1)
    t = HttpTransport()
    with pytest.raises(EndpointError) as ei:
        t.round_trip(
            f"http://127.0.0.1:{port}/v2/keys/k",
            HttpRequest(method="GET", path="/v2/keys/k"),
            timeout=1,
            headers={},
        )
    e = ei.value
    assert str(e) == f"dial tcp 127.0.0.1:{port}: connect: connection refused"
    assert (e.sent, e.connection, e.timed_out) == (False, True, False)


def test_no_answer_is_a_sent_header_timeout(server: Server) -> None:
    server.silent.set()
    t = HttpTransport()
    with pytest.raises(EndpointError) as ei:
        t.round_trip(
            url(server) + "/v2/keys/k",
            HttpRequest(method="PUT", path="/v2/keys/k", body=b"value=1", idempotent=False),
            timeout=0.2,
            headers={},
        )
    e = ei.value
    assert str(e) == f"client: endpoint {url(server)} exceeded header timeout"
    assert (e.sent, e.connection, e.timed_out) == (True, False, True)
    t.close()


def test_unsupported_scheme() -> None:
    with pytest.raises(EndpointError, match='unsupported protocol scheme "ftp"'):
        HttpTransport().round_trip(
            "ftp://h/x", HttpRequest(method="GET", path="/x"), timeout=1, headers={}
        )


def test_read_on_a_connection_closed_mid_flight_is_replayed_once(server: Server) -> None:
    server.close_after_response = True
    t = HttpTransport()
    get = HttpRequest(method="GET", path="/v2/keys/k")
    u = url(server) + "/v2/keys/k"
    for _ in range(20):  # whether the close races the send or not, reads always succeed
        assert t.round_trip(u, get, timeout=2, headers={}).status == 200
    t.close()
