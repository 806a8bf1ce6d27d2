"""``pycoreos discovery``: serve the discovery token service (discovery.etcd.io).

Usage::

    pycoreos discovery --addr 127.0.0.1:8087 --etcd http://127.0.0.1:2379 \\
        [--host http://discovery.example.com] [--ca-file ca.crt --cert-file c.crt --key-file c.key]

``--etcd`` is the service's own etcd cluster (comma-separated client URLs), where tokens live
under ``/_etcd/registry``. ``--host`` is the base URL printed in new tokens (default
``http://<addr>``). Stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

log = logging.getLogger("pycoreos.discovery")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pycoreos discovery", description=__doc__.split("\n")[0])
    p.add_argument("--addr", default="127.0.0.1:8087", help="listen address host:port")
    p.add_argument("--etcd", default="http://127.0.0.1:2379", help="backing etcd client URLs")
    p.add_argument("--host", default="", help="public base URL of this service")
    p.add_argument("--ca-file", default="", help="CA to verify an https backing etcd")
    p.add_argument("--cert-file", default="", help="client certificate for the backing etcd")
    p.add_argument("--key-file", default="", help="client key for the backing etcd")
    return p


async def serve(args: argparse.Namespace) -> int:
    """Run the service until a signal; returns the exit code."""
    from pycoreos.api.http import HttpProtocol
    from pycoreos.discovery.service import DiscoveryService
    from pycoreos.tls.info import TLSInfo, client_context

    host, _, port_text = args.addr.rpartition(":")
    if not host or not port_text.isdigit():
        print(f"discovery: invalid --addr {args.addr!r} (want host:port)", file=sys.stderr)
        return 2
    endpoints = [e.strip() for e in args.etcd.split(",") if e.strip()]
    ctx = None
    if any(e.startswith("https://") for e in endpoints):
        info = TLSInfo(cert_file=args.cert_file, key_file=args.key_file,
                       trusted_ca_file=args.ca_file)  # fmt: skip
        ctx = client_context(info)
    service = DiscoveryService(endpoints, args.host or f"http://{args.addr}", ssl_context=ctx)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: HttpProtocol(service), host, int(port_text))
    log.info("discovery service on http://%s, registry in %s", args.addr, ",".join(endpoints))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    return 0


def main(argv: Sequence[str]) -> int:
    """Entry point of ``pycoreos discovery``."""
    args = _parser().parse_args(list(argv))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname).1s | %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return asyncio.run(serve(args))
    except OSError as e:
        print(f"discovery: {e}", file=sys.stderr)
        return 1
