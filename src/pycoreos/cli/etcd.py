"""``pycoreos etcd``: run one etcd member until SIGTERM/SIGINT.

Flags and ``ETCD_*`` variables are etcd's (see :mod:`pycoreos.server.config`). The client API
is served on every ``--listen-client-urls`` address with uvloop; ``https://`` listeners use the
``--cert-file``/``--key-file`` context (TLS >= 1.2, client certificates required with
``--client-cert-auth``), and ``https://`` peer listeners the ``--peer-*`` one, with the
connecting peer's certificate SANs checked against its address.

Every insecure choice found while loading the configuration is logged as a warning before
anything listens.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import signal
import ssl
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pycoreos.errors import ConfigError, StackError

if TYPE_CHECKING:
    from pycoreos.raft.types import ConfChange
    from pycoreos.server.config import ServerConfig
    from pycoreos.server.membership import Cluster
    from pycoreos.server.server import EtcdServer
    from pycoreos.tls.info import TLSInfo
    from pycoreos.transport.transport import PeerTransport

log = logging.getLogger("pycoreos.etcd")


async def serve(argv: Sequence[str]) -> int:
    from pycoreos.api.http import HttpProtocol, Response
    from pycoreos.api.v2http.router import COMMON_HEADERS, Router
    from pycoreos.server.config import load_config
    from pycoreos.server.server import EtcdServer

    cfg = load_config(argv)
    for warning in cfg.warnings:
        log.warning("%s", warning)
    cfg = _with_auto_tls(cfg)
    client_ssl = _server_ssl(cfg.client_tls) if _uses_https(cfg.listen_client_urls) else None
    from pycoreos.discovery.errors import FullClusterError

    try:
        server = EtcdServer(cfg)
    except FullClusterError:
        if cfg.discovery_fallback != "proxy":
            raise
        log.warning("discovery cluster full, falling back to proxy")
        return await _run_proxy(cfg, client_ssl)
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
        srv = await loop.create_server(
            lambda: HttpProtocol(
                router, common_headers=COMMON_HEADERS, max_body=max_body, too_large=too_large
            ),
            host=parts.hostname,
            port=parts.port or 2379,
            reuse_address=True,
            backlog=1024,
            ssl=client_ssl if parts.scheme == "https" else None,
        )
        servers.append(srv)
        log.info("serving client requests on %s", url)
    stop = asyncio.Event()
    peer_servers: list[asyncio.Server] = []
    transport = await _start_peer_transport(server, stop, peer_servers)
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
    for srv in peer_servers:
        srv.close()
    if server.fatal is not None:
        log.critical("member stopped: %s", server.fatal)
        return 1
    return 0


async def _run_proxy(cfg: ServerConfig, client_ssl: ssl.SSLContext | None) -> int:
    """Serve the v2 proxy on the client URLs until SIGTERM/SIGINT (etcd's proxy fallback)."""
    from pycoreos.api.http import HttpProtocol
    from pycoreos.discovery.bootstrap import cluster_peer_urls
    from pycoreos.discovery.proxy import V2Proxy
    from pycoreos.server.bootstrap import fetch_remote_cluster

    log.warning("proxy: this proxy supports v2 API only!")
    peer_urls = cluster_peer_urls(cfg.discovery, cfg.discovery_proxy)
    log.info("proxy: using peer urls %s", peer_urls)
    upstream_tls = cfg.client_tls if not cfg.client_tls.empty else cfg.peer_tls
    ctx = _client_ssl(upstream_tls)
    _, members = fetch_remote_cluster(peer_urls, context=_client_ssl(cfg.peer_tls))
    endpoints = [u for m in members for u in m.client_urls]
    log.info("proxy: endpoints found %s", endpoints)
    proxy = V2Proxy(endpoints, ssl_context=ctx)
    loop = asyncio.get_running_loop()
    servers = []
    for url in cfg.listen_client_urls:
        parts = urlsplit(url)
        servers.append(
            await loop.create_server(
                lambda: HttpProtocol(proxy),
                host=parts.hostname,
                port=parts.port or 2379,
                reuse_address=True,
                ssl=client_ssl if parts.scheme == "https" else None,
            )
        )
        log.info("v2 proxy started listening on client requests on %s", url)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for srv in servers:
        srv.close()
    return 0


def _uses_https(urls: Sequence[str]) -> bool:
    return any(urlsplit(u).scheme == "https" for u in urls)


def _with_auto_tls(cfg: ServerConfig) -> ServerConfig:
    """Generate (or reuse) the self-signed certificates of ``--auto-tls``/``--peer-auto-tls``.

    As etcd: only when no certificate was given and an https listener needs one; they live
    under ``<data-dir>/fixtures/{client,peer}``.
    """
    from pycoreos.tls.autotls import self_cert

    now = dt.datetime.now(dt.UTC)
    fixtures = os.path.join(cfg.data_dir, "fixtures")
    client_tls, peer_tls = cfg.client_tls, cfg.peer_tls
    if client_tls.auto_tls and client_tls.empty and _uses_https(cfg.listen_client_urls):
        hosts = [urlsplit(u).hostname or "" for u in cfg.listen_client_urls]
        client_tls = self_cert(os.path.join(fixtures, "client"), hosts, now=now, peer=False)
    if peer_tls.auto_tls and peer_tls.empty and _uses_https(cfg.listen_peer_urls):
        hosts = [urlsplit(u).hostname or "" for u in cfg.listen_peer_urls]
        peer_tls = self_cert(os.path.join(fixtures, "peer"), hosts, now=now, peer=True)
    return replace(cfg, client_tls=client_tls, peer_tls=peer_tls)


def _server_ssl(info: TLSInfo) -> ssl.SSLContext:
    from pycoreos.tls.info import server_context

    try:
        return server_context(info)
    except (OSError, ssl.SSLError) as e:
        # load_config checked the files; this is a race (files changed) or an OpenSSL refusal.
        raise ConfigError(f"tls: cannot load {info.cert_file!r}/{info.key_file!r}: {e}") from e


def _client_ssl(info: TLSInfo) -> ssl.SSLContext:
    from pycoreos.tls.info import client_context

    try:
        return client_context(info)
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(f"tls: cannot build the peer client context: {e}") from e


async def _start_peer_transport(
    server: EtcdServer, stop: asyncio.Event, tls_servers: list[asyncio.Server]
) -> PeerTransport:
    """Listen on the peer URLs and connect to every known member.

    Plain listeners belong to the transport; TLS listeners are appended to ``tls_servers``
    for the caller to close after the transport stopped.
    """
    from pycoreos.api.peerhttp import PeerHandler
    from pycoreos.raft.rawnode import SnapshotStatus
    from pycoreos.tls.san import san_checked
    from pycoreos.transport.config import TransportOptions, loopback_source_host
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
        ssl_client=_client_ssl(server.cfg.peer_tls),
        # A member advertising its own 127.x address dials loopback peers from it, so the
        # source of its connections says who it is (peer SAN check, test proxies).
        options=TransportOptions(
            loopback_source=loopback_source_host(server.cfg.initial_advertise_peer_urls)
        ),
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
    peer_ssl = (
        _server_ssl(server.cfg.peer_tls) if _uses_https(server.cfg.listen_peer_urls) else None
    )
    loop = asyncio.get_running_loop()
    for url in server.cfg.listen_peer_urls:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or 2380
        if parts.scheme == "https":
            # The transport's own serve() has no hook for the SAN check, so the TLS listener
            # is created here around its protocol factory; stop() still closes the streams.
            srv = await loop.create_server(
                san_checked(transport.protocol_factory(handler)), host, port, ssl=peer_ssl
            )
            tls_servers.append(srv)
        else:
            await transport.serve(host, port, peer_http_handler=handler)
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
