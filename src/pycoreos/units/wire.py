"""The daemon's socket protocol: newline-delimited JSON over a unix stream socket.

Request: one line ``{"op": "<name>", ...arguments}``. Response: one line
``{"ok": true, "value": ...}`` or ``{"ok": false, "error": {"type": T, "message": M, ...}}``.
``follow`` instead streams ``{"entry": {...}}`` lines until the client closes the socket.

Errors cross the wire by type name and fields, and the client rebuilds the same exception
classes (one table each way), so callers of :class:`~pycoreos.units.client.UnitClient`
handle exactly what callers of the in-process supervisor handle.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from pycoreos.units.errors import (
    JobError,
    NoSuchUnitError,
    UnitError,
    UnitFileError,
    UnitLoadError,
    UnitMaskedError,
)
from pycoreos.units.manager import JournalEntry, UnitStatus

__all__ = ["decode_error", "encode", "encode_error", "entry_from", "status_from"]

MAX_LINE = 16 << 20


def encode(obj: dict[str, Any]) -> bytes:
    """One protocol line."""
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def _file_error_fields(e: UnitFileError) -> dict[str, Any]:
    return {"reason": e.reason, "file": e.file, "line": e.line, "key": e.key}


def encode_error(e: Exception) -> dict[str, Any]:
    """An exception as the ``error`` object of a response."""
    d: dict[str, Any] = {"type": type(e).__name__, "message": str(e)}
    if isinstance(e, NoSuchUnitError | UnitMaskedError):
        d["name"] = e.name
    elif isinstance(e, UnitLoadError):
        d["name"] = e.name
        d["cause"] = _file_error_fields(e.cause)
    elif isinstance(e, UnitFileError):
        d.update(_file_error_fields(e))
    elif not isinstance(e, UnitError | ValueError | OSError):
        d["type"] = "InternalError"
    return d


def decode_error(d: dict[str, Any]) -> Exception:
    """Rebuild the exception the daemon raised."""
    t, msg = d.get("type"), str(d.get("message", ""))
    if t == "NoSuchUnitError":
        return NoSuchUnitError(d["name"])
    if t == "UnitMaskedError":
        return UnitMaskedError(d["name"])
    if t == "UnitLoadError":
        c = d["cause"]
        return UnitLoadError(
            d["name"], UnitFileError(c["reason"], file=c["file"], line=c["line"], key=c["key"])
        )
    if t == "UnitFileError":
        return UnitFileError(d["reason"], file=d["file"], line=d["line"], key=d["key"])
    if t == "JobError":
        return JobError(msg)
    if t in ("ValueError", "FileExistsError"):
        return ValueError(msg)
    return UnitError(msg)


def status_to(st: UnitStatus) -> dict[str, Any]:
    """A status as JSON."""
    return dataclasses.asdict(st)


def status_from(d: dict[str, Any]) -> UnitStatus:
    """Inverse of :func:`status_to`."""
    d = dict(d)
    d["dropin_paths"] = tuple(d.get("dropin_paths", ()))
    d["tasks"] = tuple(d.get("tasks", ()))
    return UnitStatus(**d)


def entry_to(e: JournalEntry) -> dict[str, Any]:
    """A journal entry as JSON."""
    return dataclasses.asdict(e)


def entry_from(d: dict[str, Any]) -> JournalEntry:
    """Inverse of :func:`entry_to`."""
    return JournalEntry(**d)
