"""The HTTP/1.1 layer on a mock transport: ordering, limits, streaming, malformed input."""

from __future__ import annotations

import asyncio

from pycoreos.api.http import HttpProtocol, Request, Response, StreamResponse


class MockTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.data += bytes(data)

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 1234) if name == "peername" else default


def _conn(handler, **kw) -> tuple[HttpProtocol, MockTransport]:  # type: ignore[no-untyped-def]
    proto = HttpProtocol(handler, **kw)
    tr = MockTransport()
    proto.connection_made(tr)
    return proto, tr


async def test_pipelined_responses_keep_request_order() -> None:
    loop = asyncio.get_running_loop()
    pending: list[asyncio.Future[Response]] = []

    def handler(req: Request) -> Response | asyncio.Future[Response]:
        if req.path == "/slow":
            fut: asyncio.Future[Response] = loop.create_future()
            pending.append(fut)
            return fut
        return Response(200, b"fast")

    proto, tr = _conn(handler)
    proto.data_received(
        b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert tr.data == b""  # the fast answer must wait behind the slow one
    pending[0].set_result(Response(200, b"slow"))
    await asyncio.sleep(0)
    text = bytes(tr.data)
    assert text.index(b"slow") < text.index(b"fast")
    assert text.count(b"HTTP/1.1 200 OK") == 2


async def test_oversized_body_is_refused_before_the_handler() -> None:
    calls: list[Request] = []

    def handler(req: Request) -> Response:
        calls.append(req)
        return Response(200)

    proto, tr = _conn(handler, max_body=10, too_large=Response(413, b"too big"))
    proto.data_received(b"PUT /k HTTP/1.1\r\nContent-Length: 11\r\n\r\n01234567890")
    assert calls == []
    assert tr.data.startswith(b"HTTP/1.1 413")
    assert tr.closed


async def test_chunked_body_over_limit_is_refused() -> None:
    proto, tr = _conn(lambda req: Response(200), max_body=4)
    proto.data_received(
        b"PUT /k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n"
    )
    assert tr.data.startswith(b"HTTP/1.1 413")


async def test_malformed_request_gets_400_and_close() -> None:
    proto, tr = _conn(lambda req: Response(200))
    proto.data_received(b"NOT A REQUEST\r\n\r\n")
    assert tr.data.startswith(b"HTTP/1.1 400")
    assert tr.closed


async def test_stream_response_is_chunked_and_blocks_later_requests() -> None:
    streams: list[StreamResponse] = []

    def handler(req: Request) -> Response | StreamResponse:
        if req.path == "/watch":
            s = StreamResponse(200, [("Content-Type", "application/json")])
            streams.append(s)
            return s
        return Response(200, b"after")

    proto, tr = _conn(handler)
    proto.data_received(b"GET /watch HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in tr.data
    assert b"after" not in tr.data
    streams[0].send(b'{"a":1}\n')
    assert b'8\r\n{"a":1}\n\r\n' in tr.data
    streams[0].finish()
    assert b"0\r\n\r\n" in tr.data
    assert tr.data.endswith(b"after")


async def test_client_disconnect_runs_stream_cleanup() -> None:
    closed: list[bool] = []

    def handler(req: Request) -> StreamResponse:
        s = StreamResponse(200, [])
        s.on_close = lambda: closed.append(True)
        return s

    proto, _ = _conn(handler)
    proto.data_received(b"GET /watch HTTP/1.1\r\n\r\n")
    proto.connection_lost(None)
    assert closed == [True]


async def test_head_sends_length_without_body() -> None:
    proto, tr = _conn(lambda req: Response(200, b"12345", head_only=True))
    proto.data_received(b"HEAD /k HTTP/1.1\r\n\r\n")
    assert b"Content-Length: 5\r\n" in tr.data
    assert not tr.data.endswith(b"12345")


async def test_handler_exception_becomes_500_and_connection_survives() -> None:
    def handler(req: Request) -> Response:
        if req.path == "/boom":
            raise RuntimeError("bug")
        return Response(200, b"ok")

    proto, tr = _conn(handler)
    proto.data_received(b"GET /boom HTTP/1.1\r\n\r\nGET /ok HTTP/1.1\r\n\r\n")
    assert tr.data.startswith(b"HTTP/1.1 500")
    assert tr.data.endswith(b"ok")
