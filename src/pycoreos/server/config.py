"""The member's configuration: etcd's flags and ``ETCD_*`` environment variables.

Flags follow Go's ``flag`` package as etcd uses it: ``--name x``, ``--name=x``, ``-name x``;
booleans as ``--flag`` or ``--flag=true|false``. Every flag ``--my-flag`` may instead be given as
``ETCD_MY_FLAG``; a flag on the command line wins over the environment (as etcd). Defaults are
etcd 2.x's, which listened on both the IANA and the legacy ports.

All problems are collected and raised together in one :class:`ConfigError`; insecure but
allowed choices (plain HTTP on a non-loopback address, auto-TLS, a CA without client-cert
auth) are kept in :attr:`ServerConfig.warnings` for the member to log at startup.

TLS (``--cert-file`` ... ``--peer-auto-tls``) becomes two :class:`~pycoreos.tls.TLSInfo`
values whose files are checked here (readable, key matching certificate, not expired), so a
bad file is a startup error rather than a failed handshake later. ``--ca-file`` and
``--peer-ca-file`` are etcd 2's spellings of "trusted CA + client-cert-auth".
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from pycoreos.errors import ConfigError
from pycoreos.tls.info import TLSInfo, check_tls_info

DEFAULT_CLIENT_URLS = "http://localhost:2379,http://localhost:4001"
DEFAULT_PEER_URLS = "http://localhost:2380,http://localhost:7001"
MAX_REQUEST_BYTES = 1572864  # 1.5 MiB, etcd's --max-request-bytes default


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """A validated member configuration (see ``pycoreos etcd --help``)."""

    name: str = "default"
    data_dir: str = ""
    wal_dir: str = ""
    listen_client_urls: tuple[str, ...] = ()
    advertise_client_urls: tuple[str, ...] = ()
    listen_peer_urls: tuple[str, ...] = ()
    initial_advertise_peer_urls: tuple[str, ...] = ()
    initial_cluster: tuple[tuple[str, str], ...] = ()  # (name, peer url) pairs, in order
    initial_cluster_state: str = "new"
    initial_cluster_token: str = "etcd-cluster"
    snapshot_count: int = 10000
    snapshot_catchup_entries: int = 5000
    heartbeat_interval_ms: int = 100
    election_timeout_ms: int = 1000
    max_request_bytes: int = MAX_REQUEST_BYTES
    max_snapshots: int = 5
    max_wals: int = 5
    log_level: str = "info"
    strict_reconfig_check: bool = True
    force_new_cluster: bool = False
    client_tls: TLSInfo = field(default_factory=TLSInfo)
    peer_tls: TLSInfo = field(default_factory=TLSInfo)
    discovery: str = ""  # discovery URL (https://discovery.etcd.io/<token>)
    discovery_srv: str = ""  # DNS domain for SRV discovery
    discovery_srv_name: str = ""  # suffix of the SRV service names (_etcd-server-<name>)
    discovery_fallback: str = "proxy"  # when the token is full: "exit" or "proxy"
    discovery_proxy: str = ""  # HTTP proxy for talking to the discovery service
    # True when --initial-cluster / ETCD_INITIAL_CLUSTER was given explicitly.
    initial_cluster_given: bool = False
    warnings: tuple[str, ...] = ()
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def election_ticks(self) -> int:
        """The election timeout in heartbeat ticks (Raft sees only ticks)."""
        return max(1, self.election_timeout_ms // self.heartbeat_interval_ms)


# flag name -> (kind, default). kind: str, int, bool, urls, cluster.
_FLAGS: dict[str, tuple[str, str]] = {
    "name": ("str", "default"),
    "data-dir": ("str", ""),
    "wal-dir": ("str", ""),
    "listen-client-urls": ("urls", DEFAULT_CLIENT_URLS),
    "advertise-client-urls": ("urls", DEFAULT_CLIENT_URLS),
    "listen-peer-urls": ("urls", DEFAULT_PEER_URLS),
    "initial-advertise-peer-urls": ("urls", DEFAULT_PEER_URLS),
    "initial-cluster": ("cluster", ""),
    "initial-cluster-state": ("str", "new"),
    "initial-cluster-token": ("str", "etcd-cluster"),
    "snapshot-count": ("int", "10000"),
    # etcd 3.5's name: entries kept after a snapshot so slow followers catch up from the log.
    "experimental-snapshot-catchup-entries": ("int", "5000"),
    "heartbeat-interval": ("int", "100"),
    "election-timeout": ("int", "1000"),
    "max-request-bytes": ("int", str(MAX_REQUEST_BYTES)),
    "max-snapshots": ("int", "5"),
    "max-wals": ("int", "5"),
    "log-level": ("str", "info"),
    "strict-reconfig-check": ("bool", "true"),
    "force-new-cluster": ("bool", "false"),
    # Accepted for compatibility with etcd 3.4 command lines; v2 is always on here.
    "enable-v2": ("bool", "true"),
    "debug": ("bool", "false"),
    "logger": ("str", "capnslog"),
    "cors": ("str", "*"),
}

# TLS and discovery flags: all strings except the switches in _SWITCHES.
_TLS_DISCOVERY_FLAGS = [
    "cert-file",
    "key-file",
    "client-cert-auth",
    "trusted-ca-file",
    "auto-tls",
    "ca-file",  # etcd 2: trusted CA + client-cert-auth
    "peer-cert-file",
    "peer-key-file",
    "peer-client-cert-auth",
    "peer-trusted-ca-file",
    "peer-auto-tls",
    "peer-ca-file",
    "discovery",
    "discovery-srv",
    "discovery-srv-name",
    "discovery-fallback",
    "discovery-proxy",
]
_SWITCHES = ("client-cert-auth", "auto-tls", "peer-auto-tls", "peer-client-cert-auth")

_BOOL_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_BOOL_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def parse_bool(text: str) -> bool | None:
    """Go's ``strconv.ParseBool``; ``None`` when ``text`` is not a boolean."""
    if text in _BOOL_TRUE:
        return True
    if text in _BOOL_FALSE:
        return False
    return None


def _split_args(argv: Sequence[str], problems: list[str]) -> dict[str, str]:
    known = set(_FLAGS) | set(_TLS_DISCOVERY_FLAGS)
    values: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("-") or arg in ("-", "--"):
            problems.append(f"'{arg}' is not a valid flag")
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        if name not in known:
            problems.append(f"flag provided but not defined: -{name}")
            continue
        kind = _FLAGS.get(name, ("str", ""))[0]
        if not eq:
            if kind == "bool" or name in _SWITCHES:
                value = "true"
            elif i < len(argv):
                value = argv[i]
                i += 1
            else:
                problems.append(f"flag needs an argument: -{name}")
                continue
        values[name] = value
    return values


def _urls(name: str, text: str, problems: list[str]) -> tuple[str, ...]:
    urls = tuple(u.strip() for u in text.split(",") if u.strip())
    for u in urls:
        parts = urlsplit(u)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.port is None:
            problems.append(f"--{name}: invalid URL {u!r} (want scheme://host:port)")
    return urls


def _cluster(text: str, problems: list[str]) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, eq, url = item.partition("=")
        if not eq or not name:
            problems.append(f"--initial-cluster: invalid entry {item!r} (want name=url)")
            continue
        _urls("initial-cluster", url, problems)
        pairs.append((name, url))
    return tuple(pairs)


def load_config(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> ServerConfig:
    """Build a :class:`ServerConfig` from command-line flags and ``ETCD_*`` variables.

    Raises:
        ConfigError: listing every problem found.
    """
    env = os.environ if environ is None else environ
    problems: list[str] = []
    given = _split_args(argv, problems)
    raw: dict[str, str] = {}
    for name in [*_FLAGS, *_TLS_DISCOVERY_FLAGS]:
        env_name = "ETCD_" + name.upper().replace("-", "_")
        if name in given:
            raw[name] = given[name]
        elif env_name in env:
            raw[name] = env[env_name]

    def get(name: str) -> str:
        return raw.get(name, _FLAGS[name][1])

    ints: dict[str, int] = {}
    for name, (kind, _) in _FLAGS.items():
        if kind == "int":
            try:
                ints[name] = int(get(name))
            except ValueError:
                problems.append(f"invalid value {get(name)!r} for flag -{name}")
                ints[name] = int(_FLAGS[name][1])
        elif kind == "bool" and parse_bool(get(name)) is None:
            problems.append(f"invalid boolean value {get(name)!r} for -{name}")

    name = get("name")
    peer_adv = _urls("initial-advertise-peer-urls", get("initial-advertise-peer-urls"), problems)
    discovery = _discovery(raw, problems)
    cluster_given = bool(raw.get("initial-cluster"))
    if discovery[0] or discovery[1]:
        # The member learns the cluster from the discovery service; until then its own
        # entry stands in for it (etcd's PeerURLsMapAndToken).
        cluster_text = ",".join(f"{name}={u}" for u in peer_adv)
    else:
        cluster_text = get("initial-cluster") or ",".join(f"{name}={u}" for u in peer_adv)
    cluster = _cluster(cluster_text, problems)
    state = get("initial-cluster-state")
    if state not in ("new", "existing"):
        problems.append(f"invalid value {state!r} for flag -initial-cluster-state")
    hb, el = ints["heartbeat-interval"], ints["election-timeout"]
    if hb <= 0:
        problems.append("--heartbeat-interval must be > 0")
    elif el < 5 * hb:
        problems.append(
            f"--election-timeout[{el}ms] should be at least as 5 times as "
            f"--heartbeat-interval[{hb}ms]"
        )
    if ints["snapshot-count"] <= 0:
        problems.append("--snapshot-count must be > 0")
    if name not in {n for n, _ in cluster} and state == "new":
        problems.append(f"couldn't find local name {name!r} in the initial cluster configuration")
    else:
        mine = sorted(u for n, u in cluster if n == name)
        if mine and sorted(peer_adv) != mine and state == "new":
            problems.append(
                f"--initial-cluster has {name}={','.join(mine)} but missing from "
                f"--initial-advertise-peer-urls={','.join(peer_adv)}"
            )
    listen_client = _urls("listen-client-urls", get("listen-client-urls"), problems)
    adv_client = _urls("advertise-client-urls", get("advertise-client-urls"), problems)
    listen_peer = _urls("listen-peer-urls", get("listen-peer-urls"), problems)
    warnings: list[str] = []
    client_tls = _tls_info(raw, "", problems)
    peer_tls = _tls_info(raw, "peer-", problems)
    if cluster_given and (discovery[0] or discovery[1]):
        problems.append(
            'multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", '
            '"discovery" or "discovery-srv"'
        )
    if discovery[0] and discovery[1]:
        problems.append('both "discovery" and "discovery-srv" are set; choose one')
    _check_schemes(listen_client, client_tls, "", problems, warnings)
    _check_schemes(listen_peer, peer_tls, "peer-", problems, warnings)
    now = dt.datetime.now(dt.UTC)
    for info, is_peer in ((client_tls, False), (peer_tls, True)):
        check = check_tls_info(info, peer=is_peer, now=now)
        problems += check.problems
        warnings += check.warnings
    if problems:
        raise ConfigError(problems)
    return ServerConfig(
        name=name,
        data_dir=get("data-dir") or f"{name}.etcd",
        wal_dir=get("wal-dir"),
        listen_client_urls=listen_client,
        advertise_client_urls=adv_client,
        listen_peer_urls=listen_peer,
        initial_advertise_peer_urls=peer_adv,
        initial_cluster=cluster,
        initial_cluster_state=state,
        initial_cluster_token=get("initial-cluster-token"),
        snapshot_count=ints["snapshot-count"],
        snapshot_catchup_entries=ints["experimental-snapshot-catchup-entries"],
        heartbeat_interval_ms=hb,
        election_timeout_ms=el,
        max_request_bytes=ints["max-request-bytes"],
        max_snapshots=ints["max-snapshots"],
        max_wals=ints["max-wals"],
        log_level=get("log-level"),
        strict_reconfig_check=parse_bool(get("strict-reconfig-check")) is True,
        force_new_cluster=parse_bool(get("force-new-cluster")) is True,
        client_tls=client_tls,
        peer_tls=peer_tls,
        discovery=discovery[0],
        discovery_srv=discovery[1],
        discovery_srv_name=raw.get("discovery-srv-name", ""),
        discovery_fallback=discovery[2],
        discovery_proxy=discovery[3],
        initial_cluster_given=cluster_given,
        warnings=tuple(warnings),
    )


def _discovery(raw: Mapping[str, str], problems: list[str]) -> tuple[str, str, str, str]:
    url = raw.get("discovery", "")
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(f"--discovery: invalid URL {url!r}")
    fallback = raw.get("discovery-fallback", "proxy")
    if fallback not in ("exit", "proxy"):
        problems.append(f'invalid value "{fallback}" for flag -discovery-fallback')
    return url, raw.get("discovery-srv", ""), fallback, raw.get("discovery-proxy", "")


def _switch(raw: Mapping[str, str], name: str, problems: list[str]) -> bool:
    value = parse_bool(raw.get(name, "false"))
    if value is None:
        problems.append(f"invalid boolean value {raw[name]!r} for -{name}")
    return value is True


def _tls_info(raw: Mapping[str, str], prefix: str, problems: list[str]) -> TLSInfo:
    legacy_ca = raw.get(f"{prefix}ca-file", "")
    return TLSInfo(
        cert_file=raw.get(f"{prefix}cert-file", ""),
        key_file=raw.get(f"{prefix}key-file", ""),
        trusted_ca_file=raw.get(f"{prefix}trusted-ca-file", "") or legacy_ca,
        client_cert_auth=_switch(raw, f"{prefix}client-cert-auth", problems) or bool(legacy_ca),
        auto_tls=_switch(raw, f"{prefix}auto-tls", problems),
    )


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (traffic that never leaves the box)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_schemes(
    listen: Sequence[str],
    info: TLSInfo,
    prefix: str,
    problems: list[str],
    warnings: list[str],
) -> None:
    side = "peer" if prefix else "client"
    for url in listen:
        parts = urlsplit(url)
        if parts.scheme == "https" and info.empty and not info.auto_tls:
            problems.append(
                f"TLS key/cert (--{prefix}cert-file, --{prefix}key-file) must be provided "
                f"for {side} url {url} with HTTPS scheme"
            )
        elif parts.scheme == "http":
            if not info.empty:
                warnings.append(
                    f"the scheme of {side} url {url} is HTTP while {side} key/cert files are "
                    "presented; ignored key/cert files"
                )
            if not is_loopback(parts.hostname or ""):
                warnings.append(
                    f"{side} url {url} serves plain HTTP on a non-loopback address: "
                    "traffic is neither encrypted nor authenticated"
                )
    if info.auto_tls and info.empty:
        warnings.append(
            f"--{prefix}auto-tls: using a self-signed certificate; {side} connections are "
            "encrypted but not authenticated"
        )


def usage() -> str:
    """Help text listing every flag and its default."""
    lines = ["usage: pycoreos etcd [flags]", "", "flags (each also as ETCD_<NAME>):"]
    for name, (kind, default) in _FLAGS.items():
        lines.append(f"  --{name} {kind!s:8} (default {default!r})")
    lines += ["", "TLS and discovery flags (also as ETCD_<NAME>):"]
    lines += [f"  --{name}" for name in _TLS_DISCOVERY_FLAGS]
    return "\n".join(lines)
