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

TLS peer traffic cannot be read, so there the dialer is known by its **source address**: each
member advertises its own loopback address 127.0.0.K (the proxy in front of it listens there)
and dials its peers from it (:func:`pycoreos.transport.config.loopback_source_host`);
:meth:`ProxyNet.bind_source` maps 127.0.0.K to the member id. The proxy then dials the member
from that same address, so the member's peer SAN check sees the dialer's real address, and
TLS stays end to end (the proxy never holds a key). A source address bound to a member wins
over the handshake; unbound sources fall back to reading it.

Raft messages from A to B travel on a stream A dialed, through B's proxy, so a rule at B's proxy
about sender A acts on the A → B direction only: :meth:`ProxyNet.cut` (one way),
:meth:`ProxyNet.blackhole_tx` / :meth:`ProxyNet.blackhole_rx` (asymmetric), per-link latency
with jitter (:meth:`ProxyNet.delay`) and a drop rate (:meth:`ProxyNet.drop`: each forwarded
chunk is lost with that probability, which breaks the stream, so the connection is reset and
the messages in flight are lost, as a lossy link makes TCP give up).

The proxies run on one background thread with their own event loop, so synchronous tests can
drive them. Cutting closes the affected live connections at once. Randomness (jitter, drops)
comes from one seeded ``random.Random`` per :class:`ProxyNet`. ``ProxyNet.counters`` counts
what the rules did (refused connections, reset streams, delayed chunks), so a scenario can
tell a fault that bit from one that never met any traffic.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pycoreos.transport.codec import FRAME_HEADER, HELLO, MAGIC, decode_hello

_HELLO_LEN = len(MAGIC) + FRAME_HEADER.size + HELLO.size


@dataclass
class _Rules:
    block_all: bool = False
    blocked_from: set[int] = field(default_factory=set)
    delay: float = 0.0
    jitter: float = 0.0
    # Per-sender latency (mean, jitter) on top of ``delay``; key None = connections without
    # a handshake.
    link_delay: dict[int | None, tuple[float, float]] = field(default_factory=dict)
    drop_rate: float = 0.0
    link_drop: dict[int | None, float] = field(default_factory=dict)


class PeerProxy:
    """Forwards ``listen_host:listen_port`` → ``127.0.0.1:target_port``, applying
    :class:`_Rules`. ``senders`` maps a source address to the member dialing from it."""

    def __init__(
        self,
        listen_port: int,
        target_port: int,
        rng: random.Random | None = None,
        counters: collections.Counter[str] | None = None,
        *,
        listen_host: str = "127.0.0.1",
        senders: dict[str, int] | None = None,
    ) -> None:
        self.listen_port = listen_port
        self.target_port = target_port
        self.listen_host = listen_host
        self.senders: dict[str, int] = senders if senders is not None else {}
        self.rules = _Rules()
        self.rng = rng or random.Random(0)
        self.counters: collections.Counter[str] = (
            counters if counters is not None else collections.Counter()
        )
        self._conns: set[tuple[int | None, asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self.listen_host, self.listen_port, reuse_address=True
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
        peername = writer.get_extra_info("peername")
        source = str(peername[0]) if peername else ""
        sender = self.senders.get(source)
        first = b""
        try:
            # Wait for the dialer's first bytes either way (a TLS ClientHello is forwarded
            # untouched), so a connection refused by the rules never reaches the member.
            first = await reader.read(len(MAGIC))
            if first == MAGIC:
                first += await reader.readexactly(_HELLO_LEN - len(MAGIC))
                if sender is None:
                    _, sender, _, _ = decode_hello(first[len(MAGIC) + FRAME_HEADER.size :])
        except (OSError, asyncio.IncompleteReadError, ValueError):
            writer.close()
            return
        if not self._allowed(sender):
            self.counters["refused"] += 1
            if not self.rules.block_all:
                # Refused for who dialed, not for where: the sender was recognised.
                self.counters["refused_sender"] += 1
            writer.close()
            return
        # Dial the member from the dialer's own address when it is a member's, so the
        # member's peer SAN check judges the real dialer, not the proxy.
        local_addr = (source, 0) if source in self.senders else None
        try:
            up_reader, up_writer = await asyncio.open_connection(
                "127.0.0.1", self.target_port, local_addr=local_addr
            )
        except OSError:
            writer.close()
            return
        conn = (sender, writer, up_writer)
        self._conns.add(conn)
        up_writer.write(first)
        await asyncio.gather(
            self._pump(reader, up_writer, sender),
            self._pump(up_reader, writer, None),
            return_exceptions=True,
        )
        self._conns.discard(conn)
        writer.close()
        up_writer.close()

    def _latency(self, sender: int | None) -> float:
        r = self.rules
        mean, jitter = r.delay, r.jitter
        if sender in r.link_delay:
            extra, extra_jitter = r.link_delay[sender]
            mean, jitter = mean + extra, max(jitter, extra_jitter)
        if mean <= 0:
            return 0.0
        return max(0.0, mean + self.rng.uniform(-jitter, jitter)) if jitter else mean

    async def _pump(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, sender: int | None
    ) -> None:
        """Forward ``src`` → ``dst``. ``sender`` is the dialer for the inbound direction (the
        one the rules are about); answers flowing back are delayed like the rest of the link."""
        with contextlib.suppress(OSError, ConnectionError):
            while True:
                data = await src.read(65536)
                if not data:
                    break
                rate = max(self.rules.drop_rate, self.rules.link_drop.get(sender, 0.0))
                if rate and self.rng.random() < rate:
                    # A lost chunk breaks the byte stream: reset the connection instead of
                    # delivering garbage (the transport redials, messages in flight are lost).
                    self.counters["dropped"] += 1
                    break
                latency = self._latency(sender)
                if latency:
                    self.counters["delayed"] += 1
                    await asyncio.sleep(latency)
                dst.write(data)
                await dst.drain()
        dst.close()


class ProxyNet:
    """The proxies of one cluster, keyed by member id, on a background event loop."""

    def __init__(self, seed: int = 0) -> None:
        self.proxies: dict[int, PeerProxy] = {}
        self.rng = random.Random(seed)
        self.counters: collections.Counter[str] = collections.Counter()
        self.senders: dict[str, int] = {}  # source address -> member id (TLS clusters)
        self._pending: list[PeerProxy] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def _run(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)  # type: ignore[arg-type]

    def add(self, listen_port: int, target_port: int, listen_host: str = "127.0.0.1") -> PeerProxy:
        """Start a proxy on ``listen_host:listen_port`` in front of ``target_port``."""
        proxy = PeerProxy(
            listen_port,
            target_port,
            self.rng,
            self.counters,
            listen_host=listen_host,
            senders=self.senders,
        )
        self._run(proxy.start())
        self._pending.append(proxy)
        return proxy

    def bind_ids(self, ids_by_listen_port: dict[int, int]) -> None:
        """Record which member id sits behind each proxy (ids are known once running)."""
        for proxy in self._pending:
            self.proxies[ids_by_listen_port[proxy.listen_port]] = proxy

    def bind(self, member_id: int, proxy: PeerProxy) -> None:
        """Record the member behind one proxy (a member added at runtime)."""
        self.proxies[member_id] = proxy

    def bind_source(self, address: str, member_id: int) -> None:
        """Connections from ``address`` come from ``member_id`` (it dials from there)."""
        self.senders[address] = member_id

    def remove(self, member_id: int) -> None:
        """Stop and forget the proxy of a removed member."""
        proxy = self.proxies.pop(member_id, None)
        if proxy is not None:
            with contextlib.suppress(Exception):
                self._run(proxy.stop())

    def _apply(self, fn: Callable[[], None]) -> None:
        def run() -> None:
            fn()
            for p in self.proxies.values():
                p.enforce()

        # Wait until the rules are in force, so a scenario's fault window starts when it says.
        async def apply() -> None:
            run()

        self._run(apply())

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

    def delay(
        self, member_id: int, seconds: float, jitter: float = 0.0, *, sender: int | None = None
    ) -> None:
        """Delay every chunk delivered to ``member_id`` by ``seconds`` ± ``jitter``.

        With ``sender``, only the link ``sender`` → ``member_id`` is delayed.
        """

        def fn() -> None:
            rules = self.proxies[member_id].rules
            if sender is None:
                rules.delay, rules.jitter = seconds, jitter
            else:
                rules.link_delay[sender] = (seconds, jitter)

        self._apply(fn)

    def delay_member(self, member_id: int, seconds: float, jitter: float = 0.0) -> None:
        """Delay all peer traffic to *and from* ``member_id`` (etcd's DelayPeerNetwork)."""

        def fn() -> None:
            for mid, p in self.proxies.items():
                if mid == member_id:
                    p.rules.delay, p.rules.jitter = seconds, jitter
                else:
                    p.rules.link_delay[member_id] = (seconds, jitter)

        self._apply(fn)

    def drop(self, member_id: int, rate: float) -> None:
        """Lose each chunk to and from ``member_id`` with probability ``rate`` (resets)."""

        def fn() -> None:
            for mid, p in self.proxies.items():
                if mid == member_id:
                    p.rules.drop_rate = rate
                else:
                    p.rules.link_drop[member_id] = rate

        self._apply(fn)

    def drop_all(self, rate: float) -> None:
        """Lose each chunk on every link with probability ``rate``."""

        def fn() -> None:
            for p in self.proxies.values():
                p.rules.drop_rate = rate

        self._apply(fn)

    def cut(self, src: int, dst: int) -> None:
        """Cut the one-way link ``src`` → ``dst`` (``dst`` → ``src`` still flows)."""

        def fn() -> None:
            self.proxies[dst].rules.blocked_from.add(src)

        self._apply(fn)

    def blackhole_tx(self, member_id: int) -> None:
        """``member_id`` can receive but none of its messages get out."""

        def fn() -> None:
            for mid, p in self.proxies.items():
                if mid != member_id:
                    p.rules.blocked_from.add(member_id)

        self._apply(fn)

    def blackhole_rx(self, member_id: int) -> None:
        """``member_id`` can send but receives nothing."""

        def fn() -> None:
            self.proxies[member_id].rules.block_all = True

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
