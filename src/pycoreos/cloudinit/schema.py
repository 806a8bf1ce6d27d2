"""Typed cloud-config: frozen dataclasses mirroring coreos-cloudinit's ``config`` package.

Each dataclass field carries the original Go struct tags as metadata (see :func:`_f`):

* ``yaml`` - the key name (already with ``_``; ``-`` in user keys is normalised to ``_``),
* ``env`` - the environment variable a service section renders it to,
* ``valid`` - the regex the validator and the planner check non-empty values against,
* ``deprecated`` - the reason printed by the validator's ``deprecated key`` warning.

Invariants:

* Field order is the Go struct field order. The validator walks it and the ``Environment=``
  drop-ins are rendered in it, so reordering fields changes output.
* Field types are limited to ``str``, ``int``, ``float``, ``bool``, a nested dataclass, or a
  ``tuple`` of ``str``/dataclass. :mod:`pycoreos.cloudinit.validate` and
  :mod:`pycoreos.cloudinit.parse` derive the YAML kinds (Go ``reflect.Kind``) from them.
* The zero value of every field is "not set", as in Go: ``""``, ``0``, ``0.0``, ``False``,
  ``()``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

_FROZEN = {"frozen": True, "slots": True, "kw_only": True}

# The Go tags that validate values (config/*.go ``valid:"..."``).
COMMAND_RE = r"^(start|stop|restart|reload|try-restart|reload-or-restart|reload-or-try-restart)$"
ENCODING_RE = r"^(base64|b64|gz|gzip|gz\+base64|gzip\+base64|gz\+b64|gzip\+b64)$"
PERMISSIONS_RE = r"^0?[0-7]{3,4}$"
# best-effort was accepted by old locksmith but is rejected by the final coreos-cloudinit.
REBOOT_STRATEGY_RE = r"^(etcd-lock|reboot|off)$"
WINDOW_START_RE = (
    r"^((?i:sun|mon|tue|wed|thu|fri|sat|sun) )?0*([0-9]|1[0-9]|2[0-3]):0*([0-9]|[1-5][0-9])$"
)
WINDOW_LENGTH_RE = r"^[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+$"
PROXY_RE = r"^(on|off|readonly)$"

_ETCD2_ONLY = "etcd2 options no longer work for etcd"
_REMOTE_KEYS = "trying to fetch from a remote endpoint introduces too many intermittent errors"


def _meta(*, env: str = "", valid: str = "", deprecated: str = "", yaml: str = "") -> Any:
    return {"env": env, "valid": valid, "deprecated": deprecated, "yaml": yaml}


def _f(
    default: Any = "",
    *,
    env: str = "",
    valid: str = "",
    deprecated: str = "",
    yaml: str = "",
) -> Any:
    meta = _meta(env=env, valid=valid, deprecated=deprecated, yaml=yaml)
    if isinstance(default, type):
        return field(default_factory=default, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(**_FROZEN)
class Etcd:
    """``coreos.etcd`` (etcd 0.4, deprecated): rendered to ``etcd.service``'s drop-in."""

    addr: str = _f(env="ETCD_ADDR")
    advertise_client_urls: str = _f(env="ETCD_ADVERTISE_CLIENT_URLS", deprecated=_ETCD2_ONLY)
    bind_addr: str = _f(env="ETCD_BIND_ADDR")
    ca_file: str = _f(env="ETCD_CA_FILE")
    cert_file: str = _f(env="ETCD_CERT_FILE")
    cluster_active_size: int = _f(0, env="ETCD_CLUSTER_ACTIVE_SIZE")
    cluster_remove_delay: float = _f(0.0, env="ETCD_CLUSTER_REMOVE_DELAY")
    cluster_sync_interval: float = _f(0.0, env="ETCD_CLUSTER_SYNC_INTERVAL")
    cors: str = _f(env="ETCD_CORS")
    data_dir: str = _f(env="ETCD_DATA_DIR")
    discovery: str = _f(env="ETCD_DISCOVERY")
    discovery_fallback: str = _f(env="ETCD_DISCOVERY_FALLBACK", deprecated=_ETCD2_ONLY)
    discovery_srv: str = _f(env="ETCD_DISCOVERY_SRV", deprecated=_ETCD2_ONLY)
    discovery_proxy: str = _f(env="ETCD_DISCOVERY_PROXY", deprecated=_ETCD2_ONLY)
    election_timeout: int = _f(0, env="ETCD_ELECTION_TIMEOUT", deprecated=_ETCD2_ONLY)
    force_new_cluster: bool = _f(False, env="ETCD_FORCE_NEW_CLUSTER", deprecated=_ETCD2_ONLY)
    graphite_host: str = _f(env="ETCD_GRAPHITE_HOST")
    heartbeat_interval: int = _f(0, env="ETCD_HEARTBEAT_INTERVAL", deprecated=_ETCD2_ONLY)
    http_read_timeout: float = _f(0.0, env="ETCD_HTTP_READ_TIMEOUT")
    http_write_timeout: float = _f(0.0, env="ETCD_HTTP_WRITE_TIMEOUT")
    initial_advertise_peer_urls: str = _f(
        env="ETCD_INITIAL_ADVERTISE_PEER_URLS", deprecated=_ETCD2_ONLY
    )
    initial_cluster: str = _f(env="ETCD_INITIAL_CLUSTER", deprecated=_ETCD2_ONLY)
    initial_cluster_state: str = _f(env="ETCD_INITIAL_CLUSTER_STATE", deprecated=_ETCD2_ONLY)
    initial_cluster_token: str = _f(env="ETCD_INITIAL_CLUSTER_TOKEN", deprecated=_ETCD2_ONLY)
    key_file: str = _f(env="ETCD_KEY_FILE")
    listen_client_urls: str = _f(env="ETCD_LISTEN_CLIENT_URLS", deprecated=_ETCD2_ONLY)
    listen_peer_urls: str = _f(env="ETCD_LISTEN_PEER_URLS", deprecated=_ETCD2_ONLY)
    max_result_buffer: int = _f(0, env="ETCD_MAX_RESULT_BUFFER")
    max_retry_attempts: int = _f(0, env="ETCD_MAX_RETRY_ATTEMPTS")
    max_snapshots: int = _f(0, env="ETCD_MAX_SNAPSHOTS", deprecated=_ETCD2_ONLY)
    max_wals: int = _f(0, env="ETCD_MAX_WALS", deprecated=_ETCD2_ONLY)
    name: str = _f(env="ETCD_NAME")
    peer_addr: str = _f(env="ETCD_PEER_ADDR")
    peer_bind_addr: str = _f(env="ETCD_PEER_BIND_ADDR")
    peer_ca_file: str = _f(env="ETCD_PEER_CA_FILE")
    peer_cert_file: str = _f(env="ETCD_PEER_CERT_FILE")
    peer_election_timeout: int = _f(0, env="ETCD_PEER_ELECTION_TIMEOUT")
    peer_heartbeat_interval: int = _f(0, env="ETCD_PEER_HEARTBEAT_INTERVAL")
    peer_key_file: str = _f(env="ETCD_PEER_KEY_FILE")
    peers: str = _f(env="ETCD_PEERS")
    peers_file: str = _f(env="ETCD_PEERS_FILE")
    proxy: str = _f(env="ETCD_PROXY", deprecated=_ETCD2_ONLY)
    retry_interval: float = _f(0.0, env="ETCD_RETRY_INTERVAL")
    snapshot: bool = _f(False, env="ETCD_SNAPSHOT")
    snapshot_count: int = _f(0, env="ETCD_SNAPSHOTCOUNT")
    trace: str = _f(env="ETCD_TRACE")
    verbose: bool = _f(False, env="ETCD_VERBOSE")
    very_verbose: bool = _f(False, env="ETCD_VERY_VERBOSE")
    very_very_verbose: bool = _f(False, env="ETCD_VERY_VERY_VERBOSE")


@dataclass(**_FROZEN)
class Etcd2:
    """``coreos.etcd2`` (deprecated): rendered to ``etcd2.service``'s drop-in."""

    advertise_client_urls: str = _f(env="ETCD_ADVERTISE_CLIENT_URLS")
    ca_file: str = _f(
        env="ETCD_CA_FILE", deprecated="ca_file obsoleted by trusted_ca_file and client_cert_auth"
    )
    cert_file: str = _f(env="ETCD_CERT_FILE")
    client_cert_auth: bool = _f(False, env="ETCD_CLIENT_CERT_AUTH")
    cors: str = _f(env="ETCD_CORS")
    data_dir: str = _f(env="ETCD_DATA_DIR")
    debug: bool = _f(False, env="ETCD_DEBUG")
    discovery: str = _f(env="ETCD_DISCOVERY")
    discovery_fallback: str = _f(env="ETCD_DISCOVERY_FALLBACK")
    discovery_srv: str = _f(env="ETCD_DISCOVERY_SRV")
    discovery_proxy: str = _f(env="ETCD_DISCOVERY_PROXY")
    election_timeout: int = _f(0, env="ETCD_ELECTION_TIMEOUT")
    enable_pprof: bool = _f(False, env="ETCD_ENABLE_PPROF")
    force_new_cluster: bool = _f(False, env="ETCD_FORCE_NEW_CLUSTER")
    heartbeat_interval: int = _f(0, env="ETCD_HEARTBEAT_INTERVAL")
    initial_advertise_peer_urls: str = _f(env="ETCD_INITIAL_ADVERTISE_PEER_URLS")
    initial_cluster: str = _f(env="ETCD_INITIAL_CLUSTER")
    initial_cluster_state: str = _f(env="ETCD_INITIAL_CLUSTER_STATE")
    initial_cluster_token: str = _f(env="ETCD_INITIAL_CLUSTER_TOKEN")
    key_file: str = _f(env="ETCD_KEY_FILE")
    listen_client_urls: str = _f(env="ETCD_LISTEN_CLIENT_URLS")
    listen_peer_urls: str = _f(env="ETCD_LISTEN_PEER_URLS")
    log_package_levels: str = _f(env="ETCD_LOG_PACKAGE_LEVELS")
    max_snapshots: int = _f(0, env="ETCD_MAX_SNAPSHOTS")
    max_wals: int = _f(0, env="ETCD_MAX_WALS")
    name: str = _f(env="ETCD_NAME")
    peer_ca_file: str = _f(
        env="ETCD_PEER_CA_FILE",
        deprecated="peer_ca_file obsoleted peer_trusted_ca_file and peer_client_cert_auth",
    )
    peer_cert_file: str = _f(env="ETCD_PEER_CERT_FILE")
    peer_key_file: str = _f(env="ETCD_PEER_KEY_FILE")
    peer_client_cert_auth: bool = _f(False, env="ETCD_PEER_CLIENT_CERT_AUTH")
    peer_trusted_ca_file: str = _f(env="ETCD_PEER_TRUSTED_CA_FILE")
    proxy: str = _f(env="ETCD_PROXY", valid=PROXY_RE)
    proxy_dial_timeout: int = _f(0, env="ETCD_PROXY_DIAL_TIMEOUT")
    proxy_failure_wait: int = _f(0, env="ETCD_PROXY_FAILURE_WAIT")
    proxy_read_timeout: int = _f(0, env="ETCD_PROXY_READ_TIMEOUT")
    proxy_refresh_interval: int = _f(0, env="ETCD_PROXY_REFRESH_INTERVAL")
    proxy_write_timeout: int = _f(0, env="ETCD_PROXY_WRITE_TIMEOUT")
    snapshot_count: int = _f(0, env="ETCD_SNAPSHOT_COUNT")
    strict_reconfig_check: bool = _f(False, env="ETCD_STRICT_RECONFIG_CHECK")
    trusted_ca_file: str = _f(env="ETCD_TRUSTED_CA_FILE")
    wal_dir: str = _f(env="ETCD_WAL_DIR")


@dataclass(**_FROZEN)
class Flannel:
    """``coreos.flannel``: written as ``/run/flannel/options.env`` (not a drop-in)."""

    etcd_endpoints: str = _f(env="FLANNELD_ETCD_ENDPOINTS")
    etcd_cafile: str = _f(env="FLANNELD_ETCD_CAFILE")
    etcd_certfile: str = _f(env="FLANNELD_ETCD_CERTFILE")
    etcd_keyfile: str = _f(env="FLANNELD_ETCD_KEYFILE")
    etcd_prefix: str = _f(env="FLANNELD_ETCD_PREFIX")
    etcd_username: str = _f(env="FLANNELD_ETCD_USERNAME")
    etcd_password: str = _f(env="FLANNELD_ETCD_PASSWORD")
    ip_masq: str = _f(env="FLANNELD_IP_MASQ")
    subnet_file: str = _f(env="FLANNELD_SUBNET_FILE")
    interface: str = _f(env="FLANNELD_IFACE")
    public_ip: str = _f(env="FLANNELD_PUBLIC_IP")


@dataclass(**_FROZEN)
class Fleet:
    """``coreos.fleet`` (deprecated): rendered to ``fleet.service``'s drop-in."""

    agent_ttl: str = _f(env="FLEET_AGENT_TTL")
    authorized_keys_file: str = _f(env="FLEET_AUTHORIZED_KEYS_FILE")
    disable_engine: bool = _f(False, env="FLEET_DISABLE_ENGINE")
    engine_reconcile_interval: float = _f(0.0, env="FLEET_ENGINE_RECONCILE_INTERVAL")
    etcd_cafile: str = _f(env="FLEET_ETCD_CAFILE")
    etcd_certfile: str = _f(env="FLEET_ETCD_CERTFILE")
    etcd_keyfile: str = _f(env="FLEET_ETCD_KEYFILE")
    etcd_key_prefix: str = _f(env="FLEET_ETCD_KEY_PREFIX")
    etcd_request_timeout: float = _f(0.0, env="FLEET_ETCD_REQUEST_TIMEOUT")
    etcd_servers: str = _f(env="FLEET_ETCD_SERVERS")
    etcd_username: str = _f(env="FLEET_ETCD_USERNAME")
    etcd_password: str = _f(env="FLEET_ETCD_PASSWORD")
    metadata: str = _f(env="FLEET_METADATA")
    public_ip: str = _f(env="FLEET_PUBLIC_IP")
    token_limit: int = _f(0, env="FLEET_TOKEN_LIMIT")
    verbosity: int = _f(0, env="FLEET_VERBOSITY")
    verify_units: bool = _f(False, env="FLEET_VERIFY_UNITS")


@dataclass(**_FROZEN)
class Locksmith:
    """``coreos.locksmith``: rendered to ``locksmithd.service``'s drop-in."""

    endpoint: str = _f(env="LOCKSMITHD_ENDPOINT")
    etcd_cafile: str = _f(env="LOCKSMITHD_ETCD_CAFILE")
    etcd_certfile: str = _f(env="LOCKSMITHD_ETCD_CERTFILE")
    etcd_keyfile: str = _f(env="LOCKSMITHD_ETCD_KEYFILE")
    etcd_username: str = _f(env="LOCKSMITHD_ETCD_USERNAME")
    etcd_password: str = _f(env="LOCKSMITHD_ETCD_PASSWORD")
    group: str = _f(env="LOCKSMITHD_GROUP")
    # The window variables have no LOCKSMITHD_ prefix (locksmithd reads them as-is).
    window_start: str = _f(env="REBOOT_WINDOW_START", valid=WINDOW_START_RE)
    window_length: str = _f(env="REBOOT_WINDOW_LENGTH", valid=WINDOW_LENGTH_RE)


@dataclass(**_FROZEN)
class OEM:
    """``coreos.oem``: written as ``/etc/oem-release`` when ``id`` is set."""

    id: str = _f()
    name: str = _f()
    version_id: str = _f()
    home_url: str = _f()
    bug_report_url: str = _f()


@dataclass(**_FROZEN)
class Update:
    """``coreos.update``: ``/etc/coreos/update.conf`` plus locksmithd/update-engine units."""

    reboot_strategy: str = _f(env="REBOOT_STRATEGY", valid=REBOOT_STRATEGY_RE)
    group: str = _f(env="GROUP")
    server: str = _f(env="SERVER")


@dataclass(**_FROZEN)
class UnitDropIn:
    """One ``coreos.units[].drop_ins[]`` entry; both fields are required to be written."""

    name: str = _f()
    content: str = _f()


@dataclass(**_FROZEN)
class Unit:
    """One ``coreos.units[]`` entry.

    ``content`` empty means the unit already exists; only drop-ins, mask, enable and command
    are applied. ``command`` is ignored for network units (``.network``/``.netdev``/``.link``).
    """

    name: str = _f()
    mask: bool = _f(False)
    enable: bool = _f(False)
    runtime: bool = _f(False)
    content: str = _f()
    command: str = _f(valid=COMMAND_RE)
    drop_ins: tuple[UnitDropIn, ...] = _f(tuple)

    @property
    def type(self) -> str:
        """The unit type: the name's extension without the dot (``service``, ``network``)."""
        dot = self.name.rfind(".")
        slash = self.name.rfind("/")
        return self.name[dot + 1 :] if dot > slash else ""

    @property
    def group(self) -> str:
        """``network`` for networkd units, else ``system``; picks the unit directory."""
        return "network" if self.type in ("network", "netdev", "link") else "system"


@dataclass(**_FROZEN)
class File:
    """One ``write_files[]`` entry; ``permissions`` is the octal *string* (default 0644)."""

    encoding: str = _f(valid=ENCODING_RE)
    content: str = _f()
    owner: str = _f()
    path: str = _f()
    permissions: str = _f(valid=PERMISSIONS_RE)


@dataclass(**_FROZEN)
class User:
    """One ``users[]`` entry; entries without ``name`` are skipped when applied."""

    name: str = _f()
    passwd: str = _f()
    ssh_authorized_keys: tuple[str, ...] = _f(tuple)
    coreos_ssh_import_github: str = _f(deprecated=_REMOTE_KEYS)
    coreos_ssh_import_github_users: tuple[str, ...] = _f(tuple, deprecated=_REMOTE_KEYS)
    coreos_ssh_import_url: str = _f(deprecated=_REMOTE_KEYS)
    gecos: str = _f()
    homedir: str = _f()
    no_create_home: bool = _f(False)
    primary_group: str = _f()
    groups: tuple[str, ...] = _f(tuple)
    no_user_group: bool = _f(False)
    system: bool = _f(False)
    no_log_init: bool = _f(False)
    shell: str = _f()


@dataclass(**_FROZEN)
class CoreOS:
    """The ``coreos:`` section."""

    etcd: Etcd = field(
        default_factory=Etcd,
        metadata=_meta(deprecated="etcd is no longer shipped in Container Linux"),
    )
    etcd2: Etcd2 = field(
        default_factory=Etcd2,
        metadata=_meta(deprecated="etcd2 is no longer shipped in Container Linux"),
    )
    flannel: Flannel = field(default_factory=Flannel, metadata=_meta())
    fleet: Fleet = field(
        default_factory=Fleet,
        metadata=_meta(deprecated="fleet is no longer shipped in Container Linux"),
    )
    locksmith: Locksmith = field(default_factory=Locksmith, metadata=_meta())
    oem: OEM = field(default_factory=OEM, metadata=_meta())
    update: Update = field(default_factory=Update, metadata=_meta())
    units: tuple[Unit, ...] = _f(tuple)


@dataclass(**_FROZEN)
class CloudConfig:
    """A whole ``#cloud-config`` document. The empty instance is "nothing to do"."""

    ssh_authorized_keys: tuple[str, ...] = _f(tuple)
    coreos: CoreOS = field(default_factory=CoreOS, metadata=_meta())
    write_files: tuple[File, ...] = _f(tuple)
    hostname: str = _f()
    users: tuple[User, ...] = _f(tuple)
    manage_etc_hosts: str = _f()


@dataclass(**_FROZEN)
class Script:
    """User-data that starts with ``#!``: saved to the workspace and run once."""

    content: str


def key_of(f: dataclasses.Field[Any]) -> str:
    """The YAML key of a schema field (its ``yaml`` tag, else the attribute name)."""
    return str(f.metadata.get("yaml") or f.name)


def is_zero(value: object) -> bool:
    """Go's ``IsZero`` over schema values: empty string/tuple, 0, False, all-zero struct."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return all(is_zero(getattr(value, f.name)) for f in dataclasses.fields(value))
    return value in ("", 0, False, ())
