"""Machines: presence records, metadata, IDs. Pure (the machine-id *file* is read by fleetd).

A machine's presence is ``machines/<id>/object`` with TTL ``agent_ttl``; its JSON is fleet's
``MachineState`` (``ID``, ``PublicIP``, ``Metadata``, ``Version``). We add ``APIEndpoint``
(where this machine's fleetd answers for its own units: journal, status, run), which fleet
ignores as an unknown field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from pycoreos.fleet.errors import ValidationError

__all__ = [
    "MachineState",
    "is_machine_id",
    "match_machine_id",
    "parse_metadata",
    "short_id",
]

_ID_RE = re.compile(r"[0-9a-f]{32}\Z")


def is_machine_id(s: str) -> bool:
    """32 lower-case hex digits, as ``/etc/machine-id`` holds."""
    return _ID_RE.match(s) is not None


def short_id(machine_id: str) -> str:
    """The first 8 characters, as fleetctl shows machines."""
    return machine_id[:8]


def match_machine_id(required: str, machine_id: str) -> bool:
    """``MachineID=`` matches the full ID or its 8-character short form."""
    return required == machine_id or (len(required) == 8 and machine_id.startswith(required))


def parse_metadata(text: str) -> dict[str, str]:
    """fleetd's ``metadata`` option: ``k=v,k=v``; quotes and blanks trimmed; last key wins.

    Raises:
        ValidationError: for an item without ``=`` or with an empty key.
    """
    out: dict[str, str] = {}
    for raw in text.split(","):
        item = raw.strip().strip('"').strip()
        if not item:
            continue
        key, eq, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key:
            raise ValidationError(f"invalid metadata item {raw.strip()!r}")
        out[key] = value
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class MachineState:
    """A live machine as published in its presence key."""

    id: str
    public_ip: str = ""
    metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    version: str = ""
    api_endpoint: str = ""

    def to_json(self) -> str:
        """fleet's JSON field names (plus ``APIEndpoint``)."""
        return json.dumps(
            {
                "ID": self.id,
                "PublicIP": self.public_ip,
                "Metadata": dict(self.metadata),
                "Capabilities": None,
                "Version": self.version,
                "APIEndpoint": self.api_endpoint,
            },
            sort_keys=False,
        )

    @classmethod
    def from_json(cls, text: str) -> MachineState:
        """Parse a presence value.

        Raises:
            ValueError: if it is not a JSON object with an ``ID``.
        """
        obj = json.loads(text)
        if not isinstance(obj, dict) or not isinstance(obj.get("ID"), str):
            raise ValueError("machine state without ID")
        meta = obj.get("Metadata") or {}
        return cls(
            id=obj["ID"],
            public_ip=str(obj.get("PublicIP") or ""),
            metadata=MappingProxyType({str(k): str(v) for k, v in dict(meta).items()}),
            version=str(obj.get("Version") or ""),
            api_endpoint=str(obj.get("APIEndpoint") or ""),
        )

    def with_metadata(self, extra: Mapping[str, str]) -> MachineState:
        """This machine with API-set metadata laid over its own (API keys win)."""
        if not extra:
            return self
        merged = {**self.metadata, **extra}
        return MachineState(
            id=self.id,
            public_ip=self.public_ip,
            metadata=MappingProxyType(merged),
            version=self.version,
            api_endpoint=self.api_endpoint,
        )
