"""fleet's key layout in etcd, and decoding one recursive GET of it. Pure.

Keys under the prefix (default ``/_coreos.com/fleet/``)::

    job/<unit>/object         {"Name": "<unit>", "UnitHash": [20 ints]}
    job/<unit>/target-state   inactive | loaded | launched
    job/<unit>/target         machine ID (engine; created prevExist=false)
    unit/<sha1hex>            {"Raw": "<serialized unit file>"}  (immutable, shared)
    machines/<id>/object      MachineState JSON, TTL agent_ttl
    machines/<id>/metadata/k  API-set metadata (survives the machine leaving)
    states/<unit>/<id>        unit state JSON (written on change by the agent that runs it)
    lease/engine-leader       {"MachineID": "<id>", "Version": 1}, TTL 5 x reconcile interval
    engine/version            cluster engine version

The whole registry is read with one recursive GET (cheap at fleet's scale, and one etcd
index for everything, so a decision is made on a consistent cut). Malformed records are
skipped, never fatal: one bad key must not stop scheduling for everyone.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from pycoreos.client.v2_types import Node
from pycoreos.fleet.errors import ValidationError
from pycoreos.fleet.job import JobState, Unit
from pycoreos.fleet.machine import MachineState
from pycoreos.fleet.unit import FleetUnitFile, parse_unit_file

__all__ = [
    "DEFAULT_PREFIX",
    "ENGINE_VERSION",
    "Keys",
    "LeaseRecord",
    "Snapshot",
    "UnitStateRecord",
    "decode_snapshot",
    "job_object",
    "unit_object",
]

DEFAULT_PREFIX = "/_coreos.com/fleet/"
ENGINE_VERSION = 1


class Keys:
    """Key names under one prefix."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = "/" + prefix.strip("/") + "/"

    def job(self, name: str) -> str:
        return f"{self.prefix}job/{name}"

    def job_object(self, name: str) -> str:
        return f"{self.prefix}job/{name}/object"

    def target_state(self, name: str) -> str:
        return f"{self.prefix}job/{name}/target-state"

    def target(self, name: str) -> str:
        return f"{self.prefix}job/{name}/target"

    def unit(self, hash_hex: str) -> str:
        return f"{self.prefix}unit/{hash_hex}"

    def machine(self, mid: str) -> str:
        return f"{self.prefix}machines/{mid}/object"

    def machine_meta(self, mid: str, key: str = "") -> str:
        return f"{self.prefix}machines/{mid}/metadata" + (f"/{key}" if key else "")

    def state(self, name: str, mid: str) -> str:
        return f"{self.prefix}states/{name}/{mid}"

    @property
    def lease(self) -> str:
        return f"{self.prefix}lease/engine-leader"

    @property
    def engine_version(self) -> str:
        return f"{self.prefix}engine/version"

    @property
    def jobs_dir(self) -> str:
        return f"{self.prefix}job"


def job_object(name: str, uf: FleetUnitFile) -> str:
    """The ``job/<name>/object`` value (hash as a JSON array of byte values, as Go writes)."""
    return json.dumps({"Name": name, "UnitHash": list(uf.hash)}, separators=(",", ":"))


def unit_object(uf: FleetUnitFile) -> str:
    """The ``unit/<hash>`` value."""
    return json.dumps({"Raw": uf.serialize()}, separators=(",", ":"))


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitStateRecord:
    """What an agent reports for one unit on its machine."""

    name: str
    machine_id: str
    load_state: str = ""
    active_state: str = ""
    sub_state: str = ""
    hash: str = ""
    fleet_state: JobState = JobState.LOADED

    def to_json(self, machine: MachineState | None = None) -> str:
        """fleet's ``states`` JSON (plus ``fleetState``: what the agent drove it to)."""
        return json.dumps(
            {
                "loadState": self.load_state,
                "activeState": self.active_state,
                "subState": self.sub_state,
                "machineState": {"ID": self.machine_id}
                if machine is None
                else json.loads(machine.to_json()),
                "unitHash": self.hash,
                "fleetState": self.fleet_state.value,
            },
            separators=(",", ":"),
        )


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """The engine leader lease as read."""

    machine_id: str
    version: int
    index: int
    ttl: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """The registry at one etcd index."""

    index: int = 0
    units: Mapping[str, Unit] = field(default_factory=lambda: MappingProxyType({}))
    machines: Mapping[str, MachineState] = field(default_factory=lambda: MappingProxyType({}))
    machine_meta: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    states: tuple[UnitStateRecord, ...] = ()
    lease: LeaseRecord | None = None

    def current_state(self, name: str) -> JobState | None:
        """fleet's derived current state: inactive unless the target's agent reports it."""
        u = self.units.get(name)
        if u is None or u.is_global:
            return None
        if not u.target:
            return JobState.INACTIVE
        for s in self.states:
            if s.name == name and s.machine_id == u.target:
                return s.fleet_state
        return JobState.INACTIVE


def _walk(node: Node) -> Iterator[Node]:
    for c in node.nodes:
        if c.dir:
            yield from _walk(c)
        else:
            yield c


def _rel(keys: Keys, key: str) -> list[str]:
    return key[len(keys.prefix) :].split("/") if key.startswith(keys.prefix) else []


def _decode_state(name: str, mid: str, value: str) -> UnitStateRecord | None:
    try:
        obj = json.loads(value)
        fs = JobState(obj.get("fleetState", "loaded"))
    except (ValueError, AttributeError):
        return None
    if not isinstance(obj, dict):
        return None
    return UnitStateRecord(
        name=name,
        machine_id=mid,
        load_state=str(obj.get("loadState", "")),
        active_state=str(obj.get("activeState", "")),
        sub_state=str(obj.get("subState", "")),
        hash=str(obj.get("unitHash", "")),
        fleet_state=fs,
    )


def decode_snapshot(keys: Keys, root: Node | None, index: int) -> Snapshot:
    """Decode a recursive GET of the prefix (``None``: the prefix does not exist yet)."""
    raw_units: dict[str, str] = {}
    jobs: dict[str, dict[str, tuple[str, int]]] = {}
    machines: dict[str, MachineState] = {}
    meta: dict[str, dict[str, str]] = {}
    states: list[UnitStateRecord] = []
    lease: LeaseRecord | None = None
    for n in _walk(root) if root is not None else ():
        parts = _rel(keys, n.key)
        value = n.value or ""
        match parts:
            case ["job", name, attr]:
                jobs.setdefault(name, {})[attr] = (value, n.modified_index)
            case ["unit", h]:
                raw_units[h] = value
            case ["machines", mid, "object"]:
                try:
                    machines[mid] = MachineState.from_json(value)
                except ValueError:
                    continue
            case ["machines", mid, "metadata", k]:
                meta.setdefault(mid, {})[k] = value
            case ["states", name, mid]:
                rec = _decode_state(name, mid, value)
                if rec is not None:
                    states.append(rec)
            case ["lease", "engine-leader"]:
                lease = _decode_lease(value, n)
            case _:
                pass
    units: dict[str, Unit] = {}
    for name, attrs in jobs.items():
        u = _decode_job(name, attrs, raw_units)
        if u is not None:
            units[name] = u
    merged = {mid: m.with_metadata(meta.get(mid, {})) for mid, m in machines.items()}
    return Snapshot(
        index=index,
        units=MappingProxyType(dict(sorted(units.items()))),
        machines=MappingProxyType(dict(sorted(merged.items()))),
        machine_meta=MappingProxyType({k: MappingProxyType(v) for k, v in meta.items()}),
        states=tuple(sorted(states, key=lambda s: (s.name, s.machine_id))),
        lease=lease,
    )


def _decode_lease(value: str, n: Node) -> LeaseRecord:
    try:
        obj = json.loads(value)
        if isinstance(obj, dict):
            return LeaseRecord(
                str(obj.get("MachineID", "")), int(obj.get("Version", 0)), n.modified_index, n.ttl
            )
    except ValueError:
        pass
    return LeaseRecord(value, 0, n.modified_index, n.ttl)  # old engines wrote the bare ID


# Memo of decoded units. Every engine and agent pass decodes the whole registry, and with
# hundreds of units parsing the unit files and their [X-Fleet] requirements dominated a pass
# (~35 ms for 200 units, on the same loop that must answer the API and the heartbeats). The
# key is every input of the decoding, so a hit returns exactly what decoding would; units are
# frozen, so sharing them is safe.
@functools.lru_cache(maxsize=4096)
def _parse_raw(raw_object: str) -> FleetUnitFile:
    return parse_unit_file(json.loads(raw_object)["Raw"])


@functools.lru_cache(maxsize=8192)
def _hash_of(job_obj: str) -> str:
    return bytes(json.loads(job_obj)["UnitHash"]).hex()


@functools.lru_cache(maxsize=8192)
def _unit(name: str, raw_object: str, state: str, target: str, target_index: int) -> Unit:
    return Unit.new(name, _parse_raw(raw_object), JobState(state), target, target_index)


def _decode_job(
    name: str,
    attrs: dict[str, tuple[str, int]],
    raw_units: dict[str, str],
) -> Unit | None:
    if "object" not in attrs:
        return None
    target, target_index = attrs.get("target", ("", 0))
    try:
        raw = raw_units[_hash_of(attrs["object"][0])]
        state = attrs.get("target-state", ("inactive", 0))[0]
        return _unit(name, raw, state, target, target_index)
    except (ValueError, KeyError, TypeError, ValidationError):
        return None
