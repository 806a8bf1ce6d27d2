"""fleetd configuration: fleet.conf-style INI file, then ``FLEET_*`` environment. Pure parsing.

The file has ``key = value`` lines at top level (no section needed; a ``[fleet]`` header is
tolerated), ``#``/``;`` comments. ``FLEET_<UPPER_NAME>`` overrides the file. Every problem is
collected and reported at once (:class:`~pycoreos.errors.ConfigError`).

Options beyond fleet's (all optional): ``root`` (the node's root directory: machine-id,
units, sockets live below it), ``unit_manager`` (``builtin``, ``socket:<path>`` or ``fake``),
``api_socket``, ``api_listen`` (``host:port`` for TCP), ``machine_grace``,
``max_reschedules``, ``agent_reconcile_interval``, ``agent_concurrency`` (unit jobs an agent
runs at once, default 16), ``registry_concurrency`` (registry writes in flight per pass,
default 16), ``enable_remote_exec`` (default false: ``fleetctl ssh`` may run commands through
this machine's API; the API has no authentication, as fleet's, so only enable it where the
API socket/port is reachable by trusted users alone).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType

from pycoreos.errors import ConfigError
from pycoreos.fleet.errors import ValidationError
from pycoreos.fleet.machine import parse_metadata

__all__ = ["FleetConfig", "parse_duration", "parse_ini"]

_DUR_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """A Go duration (``30s``, ``1m30s``, ``500ms``) or plain seconds (``2``, ``0.5``).

    Raises:
        ValueError: unparsable text.
    """
    t = text.strip()
    try:
        return float(t)
    except ValueError:
        pass
    pos, total = 0, 0.0
    for m in _DUR_RE.finditer(t):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(t) or not t:
        raise ValueError(f"invalid duration {text!r}")
    return total


def parse_ini(text: str) -> dict[str, str]:
    """``key = value`` lines; section headers ignored; surrounding quotes removed."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;" or line.startswith("["):
            continue
        key, eq, value = line.partition("=")
        if eq:
            v = value.strip()
            if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
                v = v[1:-1]
            out[key.strip()] = v
    return out


def _servers(text: str) -> tuple[str, ...]:
    items = [s.strip().strip("[]").strip().strip("\"'") for s in text.split(",")]
    return tuple(s for s in items if s)


def _bool(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on", "t")


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetConfig:
    """fleetd settings (names as in fleet.conf). Durations are seconds."""

    verbosity: int = 0
    etcd_servers: tuple[str, ...] = ("http://127.0.0.1:2379", "http://127.0.0.1:4001")
    etcd_username: str = ""
    etcd_password: str = ""
    etcd_cafile: str = ""
    etcd_certfile: str = ""
    etcd_keyfile: str = ""
    etcd_key_prefix: str = "/_coreos.com/fleet/"
    etcd_request_timeout: float = 1.0
    engine_reconcile_interval: float = 2.0
    public_ip: str = ""
    metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    agent_ttl: float = 30.0
    units_directory: str = "/run/fleet/units/"
    systemd_user: bool = False
    token_limit: int = 100
    enable_grpc: bool = False
    disable_engine: bool = False
    disable_watches: bool = False
    # pycoreos additions
    root: str = "/"
    unit_manager: str = "builtin"
    api_socket: str = "/var/run/fleet.sock"
    api_listen: str = ""
    machine_grace: float | None = None  # default: agent_ttl / 2
    max_reschedules: int = 32
    agent_reconcile_interval: float = 5.0
    agent_concurrency: int = 16
    registry_concurrency: int = 16
    enable_remote_exec: bool = False

    @property
    def grace(self) -> float:
        """Seconds a machine must stay absent before its units move."""
        return self.agent_ttl / 2 if self.machine_grace is None else self.machine_grace

    @property
    def lease_ttl(self) -> float:
        """Engine lease TTL: 5 x reconcile interval (fleet)."""
        return 5 * self.engine_reconcile_interval

    def under_root(self, path: str) -> Path:
        """``path`` below the node root (absolute paths are re-rooted)."""
        return Path(self.root) / path.lstrip("/")

    @classmethod
    def load(
        cls, text: str = "", env: Mapping[str, str] | None = None, **overrides: str
    ) -> FleetConfig:
        """Build from file text, then ``FLEET_*`` env, then explicit overrides.

        Raises:
            ConfigError: listing every bad value.
        """
        raw = parse_ini(text)
        for k, v in (env or {}).items():
            if k.startswith("FLEET_"):
                raw[k[6:].lower()] = v
        raw.update(overrides)
        values: dict[str, object] = {}
        problems: list[str] = []
        known = {f.name: f for f in fields(cls)}
        for key, value in raw.items():
            f = known.get(key)
            if f is None:
                continue  # fleet ignores unknown and deprecated options
            try:
                values[key] = _convert(key, str(f.type), value)
            except (ValueError, ValidationError) as e:
                problems.append(f"{key}: {e}")
        if problems:
            raise ConfigError(problems)
        cfg = replace(cls(), **values)  # type: ignore[arg-type]
        if cfg.agent_ttl <= 0 or cfg.engine_reconcile_interval <= 0:
            raise ConfigError("agent_ttl and engine_reconcile_interval must be positive")
        if cfg.agent_concurrency < 1 or cfg.registry_concurrency < 1:
            raise ConfigError("agent_concurrency and registry_concurrency must be at least 1")
        return cfg


def _convert(key: str, typ: str, value: str) -> object:
    if key == "etcd_servers":
        return _servers(value)
    if key == "metadata":
        return MappingProxyType(parse_metadata(value))
    if key in ("agent_ttl", "etcd_request_timeout", "engine_reconcile_interval",
               "agent_reconcile_interval", "machine_grace"):  # fmt: skip
        return parse_duration(value)
    if typ == "bool":
        return _bool(value)
    if typ == "int":
        return int(value)
    return value
