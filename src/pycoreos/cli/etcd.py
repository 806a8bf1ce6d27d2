"""``pycoreos etcd``: run one etcd member until SIGTERM/SIGINT.

Flags and ``ETCD_*`` variables are etcd's (see :mod:`pycoreos.server.config`). The client API
is served on every ``--listen-client-urls`` address with uvloop.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pycoreos.errors import ConfigError, StackError

if TYPE_CHECKING:
    from pycoreos.raft.types import ConfChange
    from pycoreos.server.membership import Cluster
    from pycoreos.server.server import EtcdServer
    from pycoreos.transport.transport import PeerTransport

log = logging.getLogger("pycoreos.etcd")


async def serve(argv: Sequence[str]) -> int:
    from pycoreos.api.http import HttpProtocol, Response
    from pycoreos.api.v2http.router import COMMON_HEADERS, Router
    from pycoreos.server.config import load_config
    from pycoreos.server.server import EtcdServer

    cfg = load_config(argv)
    if cfg.extra:
        raise ConfigError(
            [
                f"--{k} is not supported yet (TLS/discovery land with a later release)"
                for k in cfg.extra
            ]
        )
    server = EtcdServer(cfg)
    router = Router(server)
    too_large = Response(
        413, b"http: request body too large\n", [("Content-Type", "text/plain; charset=utf-8")]
    )
    # The v2 API's own limit is Go's 10 MiB form limit (answered as error 210 by the keys
    # handler); this hard cap only protects the member's memory from absurd bodies.
    max_body = 32 << 20
    loop = asyncio.get_running_loop()
    servers = []
    for url in cfg.listen_client_urls:
        parts = urlsplit(url)
        if parts.scheme != "http":
            raise ConfigError(f"--listen-client-urls {url}: only http:// is supported yet")
        srv = await loop.create_server(
            lambda: HttpProtocol(
                router, common_headers=COMMON_HEADERS, max_body=max_body, too_large=too_large
            ),
            host=parts.hostname,
            port=parts.port or 2379,
            reuse_address=True,
            backlog=1024,
        )
        servers.append(srv)
        log.info("serving client requests on %s", url)
    stop = asyncio.Event()
    transport = await _start_peer_transport(server, stop)
    await server.start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    waiter = asyncio.ensure_future(server.wait_stopped())
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait([waiter, stopper], return_when=asyncio.FIRST_COMPLETED)
    for srv in servers:
        srv.close()
    if server.fatal is None and stop.is_set():
        # Graceful shutdown: hand leadership over first so the cluster does not wait an
        # election timeout for a new leader (etcd does the same).
        await server.transfer_leadership()
    await server.stop()
    await transport.stop()
    if server.fatal is not None:
        log.critical("member stopped: %s", server.fatal)
        return 1
    return 0


async def _start_peer_transport(server: EtcdServer, stop: asyncio.Event) -> PeerTransport:
    """Listen on the peer URLs and connect to every known member."""
    from pycoreos.api.peerhttp import PeerHandler
    from pycoreos.raft.rawnode import SnapshotStatus
    from pycoreos.transport.transport import PeerTransport

    def unreachable(peer_id: int) -> None:
        server.node.raw.report_unreachable(peer_id)
        server.node.notify()

    def snapshot_status(peer_id: int, ok: bool) -> None:
        status = SnapshotStatus.FINISH if ok else SnapshotStatus.FAILURE
        server.node.raw.report_snapshot(peer_id, status)
        server.node.notify()

    def removed() -> None:
        log.warning("the cluster says this member was removed; shutting down")
        stop.set()

    transport = PeerTransport(
        member_id=server.member_id,
        cluster_id=server.cluster.cluster_id,
        on_message=server.receive,
        on_unreachable=unreachable,
        on_snapshot_status=snapshot_status,
        is_removed=lambda mid: mid in server.cluster.removed,
        on_removed=removed,
    )

    def sync_peers(_cc: ConfChange | None, cluster: Cluster) -> None:
        for m in cluster.members.values():
            if m.id != server.member_id:
                transport.add_peer(m.id, m.peer_urls)
        for mid in cluster.removed:
            if mid in transport.peer_ids():
                transport.remove_peer(mid)

    for m in [*server.cluster.members.values(), *server.remote_members]:
        if m.id != server.member_id:
            transport.add_peer(m.id, m.peer_urls)
    server.on_membership_change = sync_peers
    server.send_messages = transport.send
    server.peer_stats = transport.stats
    handler = PeerHandler(server)
    for url in server.cfg.listen_peer_urls:
        parts = urlsplit(url)
        if parts.scheme != "http":
            raise ConfigError(f"--listen-peer-urls {url}: only http:// is supported yet")
        await transport.serve(parts.hostname or "", parts.port or 2380, peer_http_handler=handler)
        log.info("listening for peers on %s", url)
    await transport.start()
    return transport


def main(argv: Sequence[str]) -> int:
    """Entry point of ``pycoreos etcd``."""
    from pycoreos.server.config import usage

    if any(a in ("-h", "--help", "-help") for a in argv):
        print(usage())
        return 0
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname).1s | %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        import uvloop

        return uvloop.run(serve(argv))
    except ConfigError as e:
        for p in e.problems:
            print(f"etcd: {p}", file=sys.stderr)
        return 1
    except StackError as e:
        print(f"etcd: {e}", file=sys.stderr)
        return 1
