"""Transport tunables, peer URL parsing and the reconnect backoff (all pure).

The defaults follow etcd's rafthttp where it has one: a 4096-message send buffer per peer
(``streamBufSize``), a 1 s dial timeout, a 5 s wait for the remote's answer
(``ConnReadTimeout``). The backoff range (100 ms .. 2 s) is pycoreos's own: etcd retries a
dead stream every 100 ms, which costs little in Go but wakes a Python loop for nothing.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from pycoreos.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportOptions:
    """Limits and timeouts of a :class:`~pycoreos.transport.PeerTransport`.

    Attributes:
        queue_size: messages buffered per peer; beyond it, messages are dropped and the peer
            is reported unreachable (etcd's ``streamBufSize``).
        max_frame_bytes: largest message frame accepted on a message stream. A batched
            MsgApp is bounded by Raft's ``max_size_per_msg`` (1 MiB) plus one oversized
            entry, so 64 MiB only ever stops garbage.
        max_snapshot_bytes: largest MsgSnap frame accepted on a snapshot stream.
        dial_timeout: seconds allowed for the TCP (and TLS) connect.
        handshake_timeout: seconds allowed for the handshake answer; also how long the
            listener waits for a new connection's first bytes.
        ping_timeout: seconds a heartbeat-borne PING may stay unanswered, while heartbeats
            keep going out, before the stream is declared dead and redialed.
        backoff_min: first reconnect delay in seconds (before jitter).
        backoff_max: cap of the reconnect delay in seconds.
        loopback_source: a 127.x address to dial loopback peers from (see
            :func:`loopback_source_host`); None leaves the source to the kernel.
    """

    queue_size: int = 4096
    max_frame_bytes: int = 64 << 20
    max_snapshot_bytes: int = 1 << 30
    dial_timeout: float = 1.0
    handshake_timeout: float = 5.0
    ping_timeout: float = 5.0
    backoff_min: float = 0.1
    backoff_max: float = 2.0
    loopback_source: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.queue_size < 1:
            problems.append("transport: queue_size must be at least 1")
        if self.max_frame_bytes < 1024 or self.max_snapshot_bytes < 1024:
            problems.append("transport: frame limits must be at least 1024 bytes")
        if not 0 < self.backoff_min <= self.backoff_max:
            problems.append("transport: need 0 < backoff_min <= backoff_max")
        if self.loopback_source is not None and not _is_loopback_v4(self.loopback_source):
            problems.append("transport: loopback_source must be an IPv4 address in 127.0.0.0/8")
        if min(self.dial_timeout, self.handshake_timeout, self.ping_timeout) <= 0:
            problems.append("transport: timeouts must be positive")
        if problems:
            raise ConfigError(problems)


@dataclass(frozen=True, slots=True)
class PeerAddress:
    """Where to dial a peer: host, port and whether to speak TLS (``https``)."""

    host: str
    port: int
    tls: bool

    def __str__(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"


def parse_peer_urls(urls: list[str] | tuple[str, ...]) -> tuple[PeerAddress, ...]:
    """Parse a member's peer URLs (``http://host:port`` or ``https://host:port``).

    Raises:
        ConfigError: no URL, or a URL with another scheme or without a port; every problem
            is listed.
    """
    if not urls:
        raise ConfigError("transport: a peer needs at least one URL")
    out: list[PeerAddress] = []
    problems: list[str] = []
    for url in urls:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
            problems.append(f"transport: invalid peer URL {url!r} (want http(s)://host:port)")
            continue
        out.append(PeerAddress(parts.hostname, port, parts.scheme == "https"))
    if problems:
        raise ConfigError(problems)
    return tuple(out)


def backoff_delay(attempt: int, rng: random.Random, low: float, high: float) -> float:
    """Delay before reconnect attempt ``attempt`` (0-based): exponential, jittered, capped.

    The nominal delay doubles from ``low``; the result is drawn uniformly from
    ``[nominal, 2 * nominal]`` and capped at ``high``, so it always lies in ``[low, high]``
    and members that lost the same peer at the same moment do not redial in lockstep.
    """
    nominal = min(high, low * (2 ** min(attempt, 30)))
    return min(high, rng.uniform(nominal, 2 * nominal))


def _is_loopback_v4(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return isinstance(ip, ipaddress.IPv4Address) and ip.is_loopback


def loopback_source_host(advertised_peer_urls: Sequence[str]) -> str | None:
    """The 127.x address a member advertises to its peers, to dial loopback peers from.

    Several members on one machine (tests, the robustness suite) may each advertise their own
    loopback address: all of 127.0.0.0/8 is local on Linux. Dialing from it makes a
    connection's source address name its member, as it does between machines, which the peer
    SAN check (etcd's ``checkCertSAN`` compares the source with the certificate's IP SANs)
    and a fault-injecting proxy in between both rely on. A non-loopback address is left alone:
    an advertised address may be a NAT'd one that does not exist on this host.
    """
    for url in advertised_peer_urls:
        host = urlsplit(url).hostname or ""
        if _is_loopback_v4(host):
            return host
    return None


def dial_local_addr(source: str | None, dest_host: str) -> tuple[str, int] | None:
    """``local_addr`` for dialing ``dest_host``: ``(source, 0)`` only when both are IPv4
    loopback addresses (a loopback source cannot reach anything else)."""
    if source is None or not _is_loopback_v4(dest_host):
        return None
    return (source, 0)
