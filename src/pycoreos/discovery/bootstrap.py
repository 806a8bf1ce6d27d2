"""Glue between a member's configuration and the discovery client.

etcd's ``PeerURLsMapAndToken``/``NewServer`` rules: with ``--discovery URL`` the member first
stands alone (its own name and advertised peer URLs) with the discovery URL as the cluster
token, so its member id is ``sha1(peer URLs + discovery URL)``, the same on every retry and
unique per token. That id is its key under the token; the initial cluster it gets back is
then built with the same token, so every member computes the same member and cluster ids.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pycoreos.discovery.client import DiscoveryClient
from pycoreos.discovery.errors import DiscoveryError
from pycoreos.server.config import ServerConfig
from pycoreos.server.membership import Cluster

log = logging.getLogger("pycoreos.discovery")


def discover_initial_cluster(
    cfg: ServerConfig, *, client_factory: Callable[[str, str], DiscoveryClient] | None = None
) -> tuple[tuple[tuple[str, str], ...], str]:
    """Register with ``cfg.discovery`` and wait for the whole cluster.

    Returns:
        The initial cluster (name, peer URL) pairs and the cluster token to build it with.

    Raises:
        FullClusterError: the token already has ``size`` members (see ``--discovery-fallback``).
        DiscoveryError: any other discovery failure, with etcd's advice appended.
    """
    token = cfg.discovery
    me = Cluster.new(tuple((cfg.name, u) for u in cfg.initial_advertise_peer_urls), token)
    member = me.member_by_name(cfg.name)
    assert member is not None  # built from our own name just above
    entry = ",".join(f"{cfg.name}={u}" for u in cfg.initial_advertise_peer_urls)
    make = client_factory or (lambda url, proxy: DiscoveryClient(url, proxy=proxy))
    client = make(token, cfg.discovery_proxy)
    log.info("joining discovery cluster %s as %x", token, member.id)
    try:
        pairs = client.join_cluster(member.id, entry)
    except DiscoveryError as e:
        log.error("failed to join discovery cluster (%s)", e)
        log.info(
            "discovery token %s was used, but failed to bootstrap the cluster. "
            "please generate a new discovery token and try to bootstrap again.",
            token,
        )
        raise
    urls = [u for _, u in pairs]
    if len(set(urls)) != len(urls):
        raise DiscoveryError(f"discovery cluster {token} has duplicate url")
    log.info("discovered initial cluster %s", ",".join(f"{n}={u}" for n, u in pairs))
    return tuple(pairs), token


def cluster_peer_urls(url: str, proxy: str = "") -> list[str]:
    """Peer URLs of the cluster registered under a discovery URL (for the proxy fallback).

    Raises:
        DiscoveryError: the token cannot be read or is incomplete.
    """
    return [u for _, u in DiscoveryClient(url, proxy=proxy).get_cluster()]
