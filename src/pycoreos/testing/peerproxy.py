"""A userspace TCP proxy in front of each member's peer port, to cut, delay and drop peer
traffic of real member processes (``tc netem`` does not exist on these machines; etcd's
robustness tests use a userspace proxy too).

Each member *listens* on its real peer port but *advertises* its proxy's port, so every
connection into a member goes through that member's proxy. A proxy reads the transport's
handshake (``MAGIC`` + ``HELLO``, see :mod:`pycoreos.transport.codec`) to learn which member
dialed, so it can refuse traffic from chosen members only: ``isolate(m)`` = m's proxy refuses
everyone and every other proxy refuses m. Connections without a handshake (the peer HTTP API)
are "from nobody" and only ``block_all`` stops them. A real etcd's peer traffic is HTTP, so
against it only ``block_all``/``delay`` apply.

The proxies run on one background thread with their own event loop, so synchronous tests can
drive them. Cutting closes the affected live connections at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from pycoreos.transport.codec import FRAME_HEADER, HELLO, MAGIC, decode_hello

_HELLO_LEN = len(MAGIC) + FRAME_HEADER.size + HELLO.size


@dataclass
class _Rules:
    block_all: bool = False
    blocked_from: set[int] = field(default_factory=set)
    delay: float = 0.0


class PeerProxy:
    """Forwards ``listen_port`` → ``target_port`` on 127.0.0.1, applying :class:`_Rules`."""

    def __init__(self, listen_port: int, target_port: int) -> None:
        self.listen_port = listen_port
        self.target_port = target_port
        self.rules = _Rules()
        self._conns: set[tuple[int | None, asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.listen_port, reuse_address=True
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for _, a, b in list(self._conns):
            a.close()
            b.close()
        self._conns.clear()

    def _allowed(self, sender: int | None) -> bool:
        if self.rules.block_all:
            return False
        return sender is None or sender not in self.rules.blocked_from

    def enforce(self) -> None:
        """Close live connections the current rules forbid."""
        for conn in list(self._conns):
            sender, a, b = conn
            if not self._allowed(sender):
                a.close()
                b.close()
                self._conns.discard(conn)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sender: int | None = None
        first = b""
        try:
            first = await reader.read(len(MAGIC))
            if first == MAGIC:
                first += await reader.readexactly(_HELLO_LEN - len(MAGIC))
                _, sender, _, _ = decode_hello(first[len(MAGIC) + FRAME_HEADER.size :])
        except (OSError, asyncio.IncompleteReadError, ValueError):
            writer.close()
            return
        if not self._allowed(sender):
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        conn = (sender, writer, up_writer)
        self._conns.add(conn)
        up_writer.write(first)
        await asyncio.gather(
            self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True
        )
        self._conns.discard(conn)
        writer.close()
        up_writer.close()

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while True:
                data = await src.read(65536)
                if not data:
                    break
                if self.rules.delay:
                    await asyncio.sleep(self.rules.delay)
                dst.write(data)
                await dst.drain()
        dst.close()


class ProxyNet:
    """The proxies of one cluster, keyed by member id, on a background event loop."""

    def __init__(self) -> None:
        self.proxies: dict[int, PeerProxy] = {}
        self._pending: list[PeerProxy] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def _run(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)  # type: ignore[arg-type]

    def add(self, listen_port: int, target_port: int) -> PeerProxy:
        proxy = PeerProxy(listen_port, target_port)
        self._run(proxy.start())
        self._pending.append(proxy)
        return proxy

    def bind_ids(self, ids_by_listen_port: dict[int, int]) -> None:
        """Record which member id sits behind each proxy (ids are known once running)."""
        for proxy in self._pending:
            self.proxies[ids_by_listen_port[proxy.listen_port]] = proxy

    def _apply(self, fn: object) -> None:
        def run() -> None:
            fn()  # type: ignore[operator]
            for p in self.proxies.values():
                p.enforce()

        self._loop.call_soon_threadsafe(run)

    def isolate(self, member_id: int) -> None:
        """Cut every peer connection to and from ``member_id`` (both directions)."""

        def fn() -> None:
            for mid, p in self.proxies.items():
                if mid == member_id:
                    p.rules.block_all = True
                else:
                    p.rules.blocked_from.add(member_id)

        self._apply(fn)

    def partition(self, side: Iterable[int]) -> None:
        """Cut traffic between ``side`` and the other members."""
        a = set(side)

        def fn() -> None:
            for mid, p in self.proxies.items():
                p.rules.blocked_from |= (set(self.proxies) - a) if mid in a else a

        self._apply(fn)

    def delay(self, member_id: int, seconds: float) -> None:
        """Delay every chunk delivered to ``member_id`` by ``seconds``."""

        def fn() -> None:
            self.proxies[member_id].rules.delay = seconds

        self._apply(fn)

    def heal(self) -> None:
        def fn() -> None:
            for p in self.proxies.values():
                p.rules = _Rules()

        self._apply(fn)

    def close(self) -> None:
        for p in [*self.proxies.values(), *self._pending]:
            with contextlib.suppress(Exception):
                self._run(p.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
