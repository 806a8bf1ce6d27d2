"""Jobs: a unit submitted to fleet, its desired state and its ``[X-Fleet]`` requirements. Pure.

Vocabulary (fleet's): a *unit* is the submitted file plus its desired state ("target state");
it is *scheduled* when the engine has written a target machine for it. Global units are never
scheduled: each agent decides for itself.

Requirement keys, with the deprecated forms fleet still accepts (``job/job.go``):

==================  ==========================================================
MachineID           X-ConditionMachineID, X-ConditionMachineBootID (legacy)
MachineOf           X-ConditionMachineOf
MachineMetadata     X-ConditionMachineMetadata
Conflicts           X-Conflicts
Global, Replaces    (no old form)
==================  ==========================================================

Specifiers ``%n %N %p %i`` are substituted in every value, with the job's own name.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from pycoreos.fleet.errors import ValidationError
from pycoreos.fleet.unit import FleetUnitFile, UnitNameInfo, unit_printf

__all__ = [
    "VALID_REQUIREMENTS",
    "JobState",
    "Requirements",
    "Unit",
    "is_truthy",
    "parse_job_state",
    "requirements",
    "validate_requirements",
    "validate_unit",
]


class JobState(enum.StrEnum):
    """fleet's unit states, desired or current. Transitions go through adjacent states."""

    INACTIVE = "inactive"
    LOADED = "loaded"
    LAUNCHED = "launched"

    @property
    def rank(self) -> int:
        """0, 1, 2: used to compare "at least loaded" and similar."""
        return _RANK[self]


_RANK = {JobState.INACTIVE: 0, JobState.LOADED: 1, JobState.LAUNCHED: 2}


def parse_job_state(s: str) -> JobState:
    """Parse a desired state.

    Raises:
        ValidationError: ``invalid value "x" for JobState`` (fleet's message).
    """
    try:
        return JobState(s)
    except ValueError:
        raise ValidationError(f'invalid value "{s}" for JobState') from None


VALID_REQUIREMENTS = frozenset(
    {
        "MachineID", "X-ConditionMachineID", "X-ConditionMachineBootID",
        "X-ConditionMachineOf", "MachineOf", "X-Conflicts", "Conflicts",
        "X-ConditionMachineMetadata", "MachineMetadata", "Global", "Replaces",
    }
)  # fmt: skip


def is_truthy(s: str) -> bool:
    """fleet's ``isTruthyValue``: true, yes, 1, on, t (any case)."""
    return s.lower() in ("true", "yes", "1", "on", "t")


@dataclass(frozen=True, slots=True, kw_only=True)
class Requirements:
    """What ``[X-Fleet]`` asks of a machine, after specifier substitution.

    ``metadata`` maps a key to the values allowed for it: any value of one key (OR), every
    key (AND). ``conflicts`` and ``replaces`` are glob patterns; ``peers`` exact names.
    """

    machine_id: str = ""
    peers: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    replaces: tuple[str, ...] = ()
    metadata: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    global_: bool = False
    unknown: tuple[str, ...] = ()


def _raw_requirements(name: str, uf: FleetUnitFile) -> dict[str, list[str]]:
    info = UnitNameInfo.parse(name)
    xf = uf.contents().get("X-Fleet", {})
    out: dict[str, list[str]] = {}
    for key, values in xf.items():
        out[key] = [unit_printf(v, info) for v in values] if info else list(values)
    return out


def requirements(name: str, uf: FleetUnitFile) -> Requirements:
    """Extract the requirements of unit ``name`` (substituting specifiers with its name)."""
    req = _raw_requirements(name, uf)

    def get(*keys: str) -> list[str]:
        return [v for k in keys for v in req.get(k, [])]

    target = ""
    for key in ("MachineID", "X-ConditionMachineID", "X-ConditionMachineBootID"):
        if req.get(key):
            target = req[key][0]
            break
    meta: dict[str, set[str]] = {}
    for pair in get("X-ConditionMachineMetadata", "MachineMetadata"):
        parts = pair.split("=")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            continue  # fleet ignores malformed pairs
        meta.setdefault(parts[0], set()).add(parts[1])
    glob = req.get("Global", [])
    return Requirements(
        machine_id=target,
        peers=tuple(get("X-ConditionMachineOf", "MachineOf")),
        conflicts=tuple(c for v in get("X-Conflicts", "Conflicts") for c in v.split()),
        replaces=tuple(r for v in get("Replaces") for r in v.split()),
        metadata=MappingProxyType({k: frozenset(v) for k, v in meta.items()}),
        global_=bool(glob) and is_truthy(glob[-1]),
        unknown=tuple(sorted(k for k in req if k not in VALID_REQUIREMENTS)),
    )


def validate_requirements(name: str, uf: FleetUnitFile) -> None:
    """Reject unknown ``[X-Fleet]`` keys (``Job.ValidateRequirements``).

    Raises:
        ValidationError: ``unrecognized requirement in [X-Fleet] section: "Key"``.
    """
    r = requirements(name, uf)
    if r.unknown:
        raise ValidationError(f'unrecognized requirement in [X-Fleet] section: "{r.unknown[0]}"')


def validate_unit(name: str, uf: FleetUnitFile) -> Requirements:
    """Everything fleet checks before accepting a unit file (API ``ValidateOptions`` plus
    unknown keys and the Replaces rules), reporting the first problem.

    Returns:
        The parsed requirements.

    Raises:
        ValidationError: with fleet's message.
    """
    from pycoreos.fleet.glob import match  # local: glob is tiny and only needed here

    validate_requirements(name, uf)
    r = requirements(name, uf)
    for peer in sorted(set(r.peers)):
        for pat in sorted(set(r.conflicts)):
            if match(pat, peer):
                raise ValidationError(
                    f'unresolvable requirements: peer "{peer}" matches conflict "{pat}"'
                )
        for pat in sorted(set(r.replaces)):
            if match(pat, peer):
                raise ValidationError(
                    f'unresolvable requirements: peer "{peer}" matches replace "{pat}"'
                )
    has_target, has_peers = bool(r.machine_id), bool(r.peers)
    has_conflicts, has_replaces = bool(r.conflicts), bool(r.replaces)
    checks = [
        (has_target and has_peers, "MachineID cannot be used with Peers"),
        (has_target and has_conflicts, "MachineID cannot be used with Conflicts"),
        (has_target and r.global_, "MachineID cannot be used with Global"),
        (has_target and has_replaces, "MachineID cannot be used with Replaces"),
        (r.global_ and has_peers, "Global cannot be used with Peers"),
        (r.global_ and has_conflicts, "Global cannot be used with Conflicts"),
        (r.global_ and has_replaces, "Global cannot be used with Replaces"),
        (has_conflicts and has_replaces, "Conflicts cannot be used with Replaces"),
    ]
    for bad, msg in checks:
        if bad:
            raise ValidationError(msg)
    return r


@dataclass(frozen=True, slots=True, kw_only=True)
class Unit:
    """A unit as the engine and agents see it: name, file, desired state, target machine.

    ``target`` is ``""`` when unscheduled (always for global units). ``target_index`` is the
    etcd modified index of the ``target`` key when read (0 if absent): unscheduling writes
    are conditioned on it, so a decision made on stale data loses.
    """

    name: str
    file: FleetUnitFile
    target_state: JobState = JobState.INACTIVE
    target: str = ""
    target_index: int = 0
    reqs: Requirements = field(default_factory=Requirements)

    @classmethod
    def new(
        cls,
        name: str,
        file: FleetUnitFile,
        target_state: JobState = JobState.INACTIVE,
        target: str = "",
        target_index: int = 0,
    ) -> Unit:
        """Build a unit, parsing its requirements once."""
        return cls(
            name=name,
            file=file,
            target_state=target_state,
            target=target,
            target_index=target_index,
            reqs=requirements(name, file),
        )

    @property
    def is_global(self) -> bool:
        """``Global=true`` (the last ``Global=`` wins)."""
        return self.reqs.global_

    @property
    def scheduled(self) -> bool:
        """The engine has chosen a machine."""
        return bool(self.target)
