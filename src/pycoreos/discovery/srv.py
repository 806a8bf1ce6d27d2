"""DNS SRV bootstrap (``--discovery-srv DOMAIN``), as etcd's ``pkg/srv`` and ``embed`` do it.

A new member looks up ``_etcd-server-ssl[-NAME]._tcp.DOMAIN`` (peers on https) and
``_etcd-server[-NAME]._tcp.DOMAIN`` (http), ``NAME`` being ``--discovery-srv-name``. Every
record is one member: its peer URL is ``scheme://target:port`` (target without the trailing
dot). To tell which record is itself, the member resolves each target and each of its
advertised peer URLs to an ``ip:port`` (the first address, IPv4 preferred, through the system
resolver as Go's ``net.ResolveTCPAddr``); the matching record gets ``--name``, the others
temporary names ``0``, ``1``, ... (member ids come from peer URLs and the cluster token, not
from names, so members that name each other differently still agree on every id).

Rules kept from etcd: a record matching us with the other scheme is an error ("scheme
mismatch"); an unresolvable target is skipped; a failed lookup of one service is tolerated
when the other yields members; no member at all, or none matching us, is an error ("cannot
find local etcd member"). The cluster token stays ``--initial-cluster-token``.

Deliberate differences: etcd 3.4.x combines the two lookups only when the http one *failed*
(``httpCerr != nil``, a bug fixed in later releases: plain-http SRV clusters could not
bootstrap); we combine them when it succeeded, as etcd >= 3.5 does. etcd uses the SRV domain as
the TLS server name of https peers when no peer CA is given; we always verify a peer against
its URL host.

Records are ordered by priority, then target and port (Go shuffles equal priorities by weight;
a fixed order makes the temporary names reproducible). The DNS server is the system's unless
``PYCOREOS_DNS_SERVER=host:port`` names another one (for tests; see :func:`dns_server_from_env`).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from pycoreos.discovery.errors import DiscoveryError

__all__ = [
    "DNS_SERVER_ENV",
    "DnsResolver",
    "Resolver",
    "SrvError",
    "SrvRecord",
    "dns_cluster",
    "dns_server_from_env",
    "get_cluster",
    "srv_service",
]

log = logging.getLogger("pycoreos.discovery")

DNS_SERVER_ENV = "PYCOREOS_DNS_SERVER"


class SrvError(DiscoveryError):
    """SRV discovery failed; ``str()`` is ``srv: <etcd's message>``, ``detail`` the message."""

    message = "srv"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.args = (f"srv: {detail}",)

    def __str__(self) -> str:
        return f"srv: {self.detail}"


@dataclass(frozen=True, slots=True, order=True)
class SrvRecord:
    """One SRV answer (``target`` as in DNS, usually with a trailing dot)."""

    priority: int
    weight: int
    port: int
    target: str


class Resolver(Protocol):
    """The two lookups SRV discovery needs (injected: tests use a fake)."""

    def lookup_srv(self, qname: str) -> list[SrvRecord]:
        """The SRV records of ``qname``. Raises :class:`SrvError` when there are none."""
        ...

    def resolve_tcp(self, host: str, port: int) -> str:
        """``ip:port`` of ``host`` (first address, IPv4 first). Raises :class:`SrvError`."""
        ...


def srv_service(scheme: str, service_name: str = "") -> str:
    """``etcd-server-ssl`` / ``etcd-server``, with ``-NAME`` for ``--discovery-srv-name``."""
    base = "etcd-server-ssl" if scheme == "https" else "etcd-server"
    return f"{base}-{service_name}" if service_name else base


def _join_host_port(host: str, port: int | str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def get_cluster(
    scheme: str,
    service: str,
    name: str,
    domain: str,
    advertised_peer_urls: Sequence[str],
    resolver: Resolver,
) -> list[str]:
    """``name=url`` entries from the records of ``_service._tcp.domain`` (etcd's
    ``srv.GetCluster``).

    Raises:
        SrvError: an advertised URL does not resolve, the lookup failed, or no record could be
            used (the last problem seen is given).
    """
    own: dict[str, str] = {}
    for url in advertised_peer_urls:
        parts = urlsplit(url)
        own[resolver.resolve_tcp(parts.hostname or "", parts.port or 0)] = url
    qname = f"_{service}._tcp.{domain}"
    problem: str | None = None
    try:
        records = sorted(resolver.lookup_srv(qname), key=lambda r: (r.priority, r.target, r.port))
    except SrvError as e:
        raise SrvError(f"error querying DNS SRV records for _{service} {e.detail}") from e
    entries: list[str] = []
    temp = 0
    for rec in records:
        try:
            addr = resolver.resolve_tcp(rec.target, rec.port)
        except SrvError as e:
            problem = e.detail
            continue
        mine = own.get(addr)
        if mine is not None:
            n = name
        else:
            n, temp = str(temp), temp + 1
        url_host = _join_host_port(rec.target.rstrip("."), rec.port)
        if mine is not None and urlsplit(mine).scheme != scheme:
            problem = (
                f"bootstrap at {scheme}://{url_host} from DNS for {service} has scheme mismatch "
                f"with expected peer {mine}"
            )
            continue
        entries.append(f"{n}={scheme}://{url_host}")
    if not entries:
        raise SrvError(
            f"error querying DNS SRV records for _{service} {problem or 'no usable record'}"
        )
    return entries


def dns_cluster(
    name: str,
    domain: str,
    advertised_peer_urls: Sequence[str],
    resolver: Resolver,
    service_name: str = "",
) -> tuple[tuple[str, str], ...]:
    """The initial cluster from both SRV services (etcd's ``GetDNSClusterNames`` and the SRV
    case of ``PeerURLsMapAndToken``).

    Raises:
        SrvError: no member found under either service, or none of them is this member.
    """
    entries: list[str] = []
    errors: list[str] = []
    for scheme in ("https", "http"):
        service = srv_service(scheme, service_name)
        try:
            found = get_cluster(scheme, service, name, domain, advertised_peer_urls, resolver)
        except SrvError as e:
            errors.append(e.detail)
            log.info("get cluster for %s SRV: %s", service, e.detail)
            continue
        log.info("get cluster for %s SRV: %s", service, ",".join(found))
        entries += found
    if not entries:
        raise SrvError(f"too many errors querying DNS SRV records ({'; '.join(errors)})")
    pairs: list[tuple[str, str]] = []
    for entry in entries:
        n, _, url = entry.partition("=")
        log.info("got bootstrap from DNS for etcd-server at %s", entry)
        pairs.append((n, url))
    if name not in {n for n, _ in pairs}:
        raise SrvError(f"cannot find local etcd member {name!r} in SRV records")
    return tuple(pairs)


def dns_server_from_env(environ: Mapping[str, str] | None = None) -> tuple[str, int] | None:
    """``(ip, port)`` from ``PYCOREOS_DNS_SERVER=ip[:port]`` (port 53 by default), or None.

    This is a test hook: it points SRV lookups at a local authoritative server instead of
    ``/etc/resolv.conf``. Production members leave it unset.

    Raises:
        SrvError: the value is not ``IPv4[:port]`` / ``[IPv6]:port``.
    """
    raw = (os.environ if environ is None else environ).get(DNS_SERVER_ENV, "").strip()
    if not raw:
        return None
    host, port_text = raw, "53"
    if raw.startswith("["):
        host, _, rest = raw[1:].partition("]")
        port_text = rest.removeprefix(":") or "53"
    elif raw.count(":") == 1:
        host, port_text = raw.split(":")
    try:
        ipaddress.ip_address(host)
        port = int(port_text)
    except ValueError as e:
        raise SrvError(f"{DNS_SERVER_ENV}={raw!r}: want IP[:port]") from e
    if not 0 < port < 65536:
        raise SrvError(f"{DNS_SERVER_ENV}={raw!r}: bad port")
    return host, port


class DnsResolver:
    """SRV lookups with dnspython (the system's DNS servers, or ``server``); addresses
    through the system resolver (``/etc/hosts`` included), as Go does."""

    def __init__(self, server: tuple[str, int] | None = None, timeout: float = 5.0) -> None:
        import dns.resolver

        if server is None:
            self._resolver = dns.resolver.Resolver()
        else:
            self._resolver = dns.resolver.Resolver(configure=False)
            self._resolver.nameservers = [server[0]]
            self._resolver.port = server[1]
        self._resolver.lifetime = timeout

    def lookup_srv(self, qname: str) -> list[SrvRecord]:
        import dns.exception
        import dns.rdtypes.IN.SRV
        import dns.resolver

        try:
            answer = self._resolver.resolve(qname, "SRV")
        except dns.resolver.NXDOMAIN as e:
            raise SrvError(f"lookup {qname}: no such host") from e
        except dns.resolver.NoAnswer as e:
            raise SrvError(f"lookup {qname}: no SRV records") from e
        except dns.exception.DNSException as e:
            raise SrvError(f"lookup {qname}: {e}") from e
        out = []
        for rr in answer:
            assert isinstance(rr, dns.rdtypes.IN.SRV.SRV)
            out.append(SrvRecord(rr.priority, rr.weight, rr.port, rr.target.to_text()))
        return out

    def resolve_tcp(self, host: str, port: int) -> str:
        try:
            infos = socket.getaddrinfo(host.rstrip("."), port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as e:
            raise SrvError(f"lookup {host}: {e}") from e
        v4 = [i for i in infos if i[0] == socket.AF_INET]
        family, _, _, _, sockaddr = (v4 or infos)[0]
        ip = str(sockaddr[0])
        return _join_host_port(ip, port) if family == socket.AF_INET6 else f"{ip}:{port}"
