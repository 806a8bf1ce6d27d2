"""fleet unit files and unit names: parse, serialize, hash, validate. Pure.

Parsing reuses the unit manager's systemd parser (:func:`pycoreos.units.unitfile.parse_unit`):
it keeps options in file order with repetitions, which is what fleet hashes. Serialization is
fleet's own (go-systemd ``unit.Serialize``), *not* the unit manager's: go-systemd groups all
options of a section under the section's first header, so a file that reopens ``[Unit]`` after
``[Service]`` hashes as if both ``[Unit]`` blocks were one. Hashes must match fleet's to share a
registry with it, so we copy that grouping exactly.

Invariants:

- ``hash`` is SHA-1 of ``serialize()``, and two files with equal options have equal hashes.
- ``[X-Fleet]`` values that start and end with ``"`` are split into several values
  (fleet's ``parseMultivalueLine``); every other value is one value.
- Names are validated with fleet's rules and messages (``api/units.go`` ``ValidateName``).
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from pycoreos.fleet.errors import ValidationError
from pycoreos.units.errors import UnitFileError
from pycoreos.units.unitfile import UnitOption, parse_unit

__all__ = [
    "TEMPLATE_SUFFIXES",
    "UNIT_TYPES",
    "FleetUnitFile",
    "UnitNameInfo",
    "UnitOption",
    "default_unit_name",
    "parse_multivalue",
    "parse_unit_file",
    "unit_printf",
    "validate_name",
]

UNIT_NAME_MAX = 256
_VALID_CHARS = frozenset(string.ascii_letters + string.digits + ":-_.\\@")
UNIT_TYPES = frozenset(
    {"service", "socket", "busname", "target", "snapshot", "device", "mount", "automount",
     "swap", "timer", "path", "slice", "scope"}
)  # fmt: skip
TEMPLATE_SUFFIXES = frozenset({"path", "service", "socket", "target", "timer"})
# fleetctl appends ".service" unless the name ends in one of these (unit.RecognizedUnitType).
_RECOGNIZED = ("service", "socket", "timer", "path", "device", "mount", "automount")


def validate_name(name: str) -> None:
    """Check a unit name as fleet's API does, reporting the first problem.

    Raises:
        ValidationError: with fleet's message (e.g. ``unit name must contain "."``).
    """
    if not name:
        raise ValidationError("unit name cannot be empty")
    if len(name.encode()) > UNIT_NAME_MAX:
        raise ValidationError(f"unit name exceeds maximum length ({UNIT_NAME_MAX})")
    dot = name.rfind(".")
    if dot == -1:
        raise ValidationError('unit name must contain "."')
    if dot == len(name) - 1:
        raise ValidationError('unit name cannot end in "."')
    suffix = name[dot + 1 :]
    if suffix not in UNIT_TYPES:
        raise ValidationError(f'invalid unit type: "{suffix}"')
    for ch in name[:dot]:
        if ch not in _VALID_CHARS:
            raise ValidationError(f"invalid character '{ch}' in unit name")
    if name.startswith("@"):
        raise ValidationError('unit name cannot start in "@"')


def default_unit_name(arg: str) -> str:
    """fleetctl's rule: append ``.service`` unless the name has a recognized unit suffix."""
    if any(arg.endswith("." + t) for t in _RECOGNIZED):
        return arg
    return f"{arg}.service"


@dataclass(frozen=True, slots=True)
class UnitNameInfo:
    """The parts of a unit name (fleet ``unit.UnitNameInfo``).

    ``foo@bar.service``: name ``foo@bar``, prefix ``foo``, template ``foo@.service``,
    instance ``bar``. Plain units have empty ``template`` and ``instance``.
    """

    full_name: str
    name: str
    prefix: str
    template: str = ""
    instance: str = ""

    @classmethod
    def parse(cls, unit_name: str) -> UnitNameInfo | None:
        """Split ``unit_name``; ``None`` if it has no ``.`` at all."""
        dot = unit_name.rfind(".")
        if dot == -1:
            return None
        name, suffix = unit_name[:dot], unit_name[dot:]
        at = name.find("@")
        if at == -1:
            return cls(unit_name, name, name)
        return cls(unit_name, name, name[:at], f"{name[:at]}@{suffix}", name[at + 1 :])

    @property
    def is_instance(self) -> bool:
        """``foo@bar.service``."""
        return bool(self.instance)

    @property
    def is_template(self) -> bool:
        """``foo@.service``."""
        return bool(self.template) and not self.instance


def unit_printf(value: str, info: UnitNameInfo) -> str:
    """fleet's specifier substitution: ``%n %N %p %i`` only, in that order, no escaping."""
    out = value.replace("%n", info.full_name).replace("%N", info.name)
    return out.replace("%p", info.prefix).replace("%i", info.instance)


def parse_multivalue(line: str) -> list[str]:
    """Split ``"a=b" "c=d"`` into ``["a=b", "c=d"]``; other lines are one value."""
    if not (line.startswith('"') and line.endswith('"')):
        return [line]
    values: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
            continue
        if ch == " " and not quoted:
            values.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    values.append("".join(cur))
    return values


@dataclass(frozen=True, slots=True)
class FleetUnitFile:
    """A unit file as fleet stores it: ordered options, content-addressed by SHA-1."""

    options: tuple[UnitOption, ...]
    _hash: bytes = field(default=b"", compare=False, repr=False)

    def __post_init__(self) -> None:
        # frozen: compute the hash once, on construction (it is read on every reconcile).
        object.__setattr__(self, "_hash", hashlib.sha1(self.serialize().encode()).digest())

    @classmethod
    def from_options(cls, options: Iterable[UnitOption]) -> FleetUnitFile:
        """Build from options (``file``/``line`` locations are dropped)."""
        return cls(tuple(UnitOption(o.section, o.name, o.value) for o in options))

    def serialize(self) -> str:
        """go-systemd ``Serialize``: sections in first-seen order, each header written once."""
        order: list[str] = []
        by_section: dict[str, list[UnitOption]] = {}
        for o in self.options:
            if o.section not in by_section:
                order.append(o.section)
                by_section[o.section] = []
            by_section[o.section].append(o)
        parts: list[str] = []
        for i, sect in enumerate(order):
            parts.append(f"[{sect}]\n")
            parts.extend(f"{o.name}={o.value}\n" for o in by_section[sect])
            if i < len(order) - 1:
                parts.append("\n")
        return "".join(parts)

    @property
    def hash(self) -> bytes:
        """SHA-1 of :meth:`serialize` (20 bytes)."""
        return self._hash

    @property
    def hash_hex(self) -> str:
        """The hash as 40 hex digits (registry ``unit/<hex>`` key, API ``hash`` field)."""
        return self._hash.hex()

    @property
    def short_hash(self) -> str:
        """First 7 hex digits, as ``list-unit-files`` shows."""
        return self.hash_hex[:7]

    def contents(self) -> Mapping[str, Mapping[str, tuple[str, ...]]]:
        """section -> key -> values, with fleet's multi-value split in ``[X-Fleet]``."""
        out: dict[str, dict[str, list[str]]] = {}
        for o in self.options:
            vals = parse_multivalue(o.value) if o.section == "X-Fleet" else [o.value]
            out.setdefault(o.section, {}).setdefault(o.name, []).extend(vals)
        return MappingProxyType(
            {s: MappingProxyType({k: tuple(v) for k, v in d.items()}) for s, d in out.items()}
        )

    @property
    def description(self) -> str:
        """The first ``[Unit] Description=``, or ``""``."""
        for o in self.options:
            if o.section == "Unit" and o.name == "Description":
                return o.value
        return ""

    def has_install(self) -> bool:
        """True if the file has an ``[Install]`` section (fleet then enables it on load)."""
        return any(o.section == "Install" for o in self.options)


def parse_unit_file(text: str, *, name: str = "<unit>") -> FleetUnitFile:
    """Parse unit-file text.

    Raises:
        ValidationError: on a syntax error, with the file and line.
    """
    try:
        uf = parse_unit(text, file=name)
    except UnitFileError as e:
        raise ValidationError(f"unable to parse unit file: {e}") from None
    return FleetUnitFile.from_options(uf.options)
