"""fleet API v1 entities, page tokens and JSON-patch validation. Pure.

JSON shapes follow fleet's ``schema/v1.json`` (empty fields omitted, as Go's ``omitempty``):
Unit ``{name, options[{section,name,value}], desiredState, currentState, machineID}``,
UnitState ``{name, hash, machineID, systemdLoadState, systemdActiveState, systemdSubState}``,
Machine ``{id, primaryIP, metadata}`` (plus ``apiEndpoint``, ours). Errors are
``{"error": {"code": <status>, "message": "..."}}``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pycoreos.fleet.errors import ValidationError
from pycoreos.fleet.job import JobState, Unit
from pycoreos.fleet.machine import MachineState
from pycoreos.fleet.registry.layout import UnitStateRecord
from pycoreos.fleet.unit import FleetUnitFile, UnitOption

__all__ = [
    "PageToken",
    "PatchOp",
    "error_body",
    "machine_json",
    "options_from_json",
    "paginate",
    "parse_patch",
    "state_json",
    "unit_json",
]


def error_body(code: int, message: str) -> bytes:
    """fleet's error entity."""
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def unit_json(u: Unit, current: JobState | None) -> dict[str, Any]:
    """A Unit entity."""
    out: dict[str, Any] = {"name": u.name}
    out["options"] = [
        {"section": o.section, "name": o.name, "value": o.value} for o in u.file.options
    ]
    out["desiredState"] = u.target_state.value
    if current is not None:
        out["currentState"] = current.value
    if u.target:
        out["machineID"] = u.target
    return out


def state_json(s: UnitStateRecord) -> dict[str, Any]:
    """A UnitState entity."""
    return {
        "name": s.name,
        "hash": s.hash,
        "machineID": s.machine_id,
        "systemdLoadState": s.load_state,
        "systemdActiveState": s.active_state,
        "systemdSubState": s.sub_state,
    }


def machine_json(m: MachineState) -> dict[str, Any]:
    """A Machine entity."""
    out: dict[str, Any] = {"id": m.id, "primaryIP": m.public_ip}
    if m.metadata:
        out["metadata"] = dict(m.metadata)
    if m.api_endpoint:
        out["apiEndpoint"] = m.api_endpoint
    return out


def options_from_json(raw: object) -> FleetUnitFile:
    """Unit options from a request body.

    Raises:
        ValidationError: not a list of ``{section, name, value}`` string objects.
    """
    if not isinstance(raw, list):
        raise ValidationError("unable to decode body: options must be a list")
    opts: list[UnitOption] = []
    for o in raw:
        if not isinstance(o, dict) or not all(
            isinstance(o.get(k), str) for k in ("section", "name", "value")
        ):
            raise ValidationError("unable to decode body: invalid unit option")
        opts.append(UnitOption(o["section"], o["name"], o["value"]))
    return FleetUnitFile.from_options(opts)


@dataclass(frozen=True, slots=True)
class PageToken:
    """fleet's page token: page number (from 1) and page size, base64url(JSON)."""

    page: int
    limit: int

    def encode(self) -> str:
        raw = json.dumps({"Limit": self.limit, "Page": self.page}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode()

    @classmethod
    def decode(cls, text: str) -> PageToken:
        """Raises ValidationError on a token we did not issue."""
        try:
            obj = json.loads(base64.urlsafe_b64decode(text.encode()))
            page, limit = int(obj["Page"]), int(obj["Limit"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise ValidationError("invalid page token") from None
        if page < 1 or limit < 1:
            raise ValidationError("invalid page token")
        return cls(page, limit)


def paginate(items: Sequence[Any], tok: PageToken) -> tuple[list[Any], str | None]:
    """One page of ``items`` and the next token (``None`` on the last page)."""
    start, stop = (tok.page - 1) * tok.limit, tok.page * tok.limit
    if start >= len(items):
        return [], None
    nxt = PageToken(tok.page + 1, tok.limit).encode() if stop < len(items) else None
    return list(items[start:stop]), nxt


@dataclass(frozen=True, slots=True)
class PatchOp:
    """One validated metadata operation."""

    op: str
    machine_id: str
    key: str
    value: str | None


def parse_patch(body: bytes) -> list[PatchOp]:
    """Validate a whole JSON-patch document before anything is applied.

    Raises:
        ValidationError: bad JSON, op, path or value (nothing must then be applied).
    """
    try:
        doc = json.loads(body)
    except ValueError as e:
        raise ValidationError(f"unable to decode body: {e}") from None
    if not isinstance(doc, list):
        raise ValidationError("unable to decode body: expected a JSON array")
    out: list[PatchOp] = []
    for item in doc:
        if not isinstance(item, dict):
            raise ValidationError("unable to decode body: expected objects")
        op = item.get("op")
        if op not in ("add", "remove", "replace"):
            raise ValidationError("invalid op: expect add, remove, or replace")
        path = item.get("path")
        parts = path.split("/") if isinstance(path, str) else []
        if (
            len(parts) != 4
            or parts[0] != ""
            or parts[2] != "metadata"
            or not parts[1]
            or not parts[3]
        ):
            raise ValidationError(f"invalid path {path!r}: expect /<machineID>/metadata/<key>")
        value = item.get("value")
        if op != "remove" and not isinstance(value, str):
            raise ValidationError("invalid value: add and replace require a string value")
        out.append(PatchOp(op, parts[1], parts[3], value if op != "remove" else None))
    return out
