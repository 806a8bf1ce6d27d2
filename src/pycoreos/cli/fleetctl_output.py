"""fleetctl's table output: Go ``tabwriter`` with tab padding, and its field renderers. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["MACHINE_FIELDS", "UNIT_FIELDS", "UNIT_FILE_FIELDS", "machine_label", "tabwrite"]

_TABWIDTH = 8


def tabwrite(rows: Sequence[Sequence[str]]) -> str:
    """Align like ``tabwriter.NewWriter(out, 0, 8, 1, '\\t', 0)`` with ``\\t``-joined cells."""
    if not rows:
        return ""
    ncols = max(len(r) for r in rows)
    widths = [0] * ncols
    for r in rows:
        for i, cell in enumerate(r[:-1]):
            widths[i] = max(widths[i], len(cell) + 1)
    widths = [(w + _TABWIDTH - 1) // _TABWIDTH * _TABWIDTH for w in widths]
    out = []
    for r in rows:
        parts = []
        for i, cell in enumerate(r):
            if i == len(r) - 1:
                parts.append(cell)
            else:
                pad = widths[i] - len(cell)
                parts.append(cell + "\t" * ((pad + _TABWIDTH - 1) // _TABWIDTH))
        out.append("".join(parts))
    return "\n".join(out) + "\n"


def machine_label(mid: str, ip: str, full: bool) -> str:
    """``id.../ip`` (short) or ``id/ip`` (full), as list-units shows MACHINE."""
    ident = mid if full else f"{mid[:8]}..."
    return f"{ident}/{ip}" if ip else ident


def _meta(m: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(m.items())) or "-"


MACHINE_FIELDS: dict[str, tuple[str, Any]] = {
    "machine": ("MACHINE", lambda m, full: m["id"] if full else f"{m['id'][:8]}..."),
    "ip": ("IP", lambda m, full: m.get("primaryIP") or "-"),
    "metadata": ("METADATA", lambda m, full: _meta(m.get("metadata") or {})),
}

# list-units rows are (state, machines-by-id)
UNIT_FIELDS: dict[str, tuple[str, Any]] = {
    "unit": ("UNIT", lambda s, ms, full: s["name"]),
    "load": ("LOAD", lambda s, ms, full: s.get("systemdLoadState") or "-"),
    "active": ("ACTIVE", lambda s, ms, full: s.get("systemdActiveState") or "-"),
    "sub": ("SUB", lambda s, ms, full: s.get("systemdSubState") or "-"),
    "machine": (
        "MACHINE",
        lambda s, ms, full: machine_label(
            s["machineID"], ms.get(s["machineID"], {}).get("primaryIP", ""), full
        ),
    ),
    "hash": ("HASH", lambda s, ms, full: s.get("hash", "") if full else s.get("hash", "")[:7]),
}


def _is_global(u: Mapping[str, Any]) -> bool:
    return any(
        o["section"] == "X-Fleet"
        and o["name"] == "Global"
        and o["value"].lower() in ("true", "yes", "1", "on", "t")
        for o in u.get("options", [])
    )


def _target(u: Mapping[str, Any], ms: Mapping[str, Any], full: bool) -> str:
    if _is_global(u):
        return "global"
    mid = u.get("machineID")
    if not mid:
        return "-"
    return machine_label(mid, ms.get(mid, {}).get("primaryIP", ""), full)


def _hash(u: Mapping[str, Any]) -> str:
    from pycoreos.fleet.api.schema import options_from_json

    return options_from_json(u.get("options", [])).hash_hex


def _desc(u: Mapping[str, Any]) -> str:
    for o in u.get("options", []):
        if o["section"] == "Unit" and o["name"] == "Description":
            return str(o["value"])
    return "-"


UNIT_FILE_FIELDS: dict[str, tuple[str, Any]] = {
    "unit": ("UNIT", lambda u, ms, full: u["name"]),
    "global": ("GLOBAL", lambda u, ms, full: str(_is_global(u)).lower()),
    "dstate": ("DSTATE", lambda u, ms, full: u.get("desiredState") or "-"),
    "state": ("STATE", lambda u, ms, full: "-" if _is_global(u) else u.get("currentState") or "-"),
    "target": ("TARGET", _target),
    "tmachine": ("TMACHINE", _target),
    "hash": ("HASH", lambda u, ms, full: _hash(u) if full else _hash(u)[:7]),
    "desc": ("DESC", lambda u, ms, full: _desc(u)),
}
