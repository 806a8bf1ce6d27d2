"""User-data -> typed :class:`~pycoreos.cloudinit.schema.CloudConfig` plus validator issues.

Pipeline (as ``coreos-cloudinit`` does it):

1. :func:`decompress_if_gzip` - user-data starting with the gzip magic is gunzipped.
2. :func:`validate` on the raw text - the ``--validate`` entries.
3. :func:`substitute` - ``$private_ipv4``-style variables, ``\\$var`` escapes.
4. :func:`classify` - empty / ``#!`` script / ``#cloud-config`` / Ignition JSON / unknown.
5. :func:`build` - the strongly-typed config: ``-`` and ``_`` equivalent in keys, unknown
   keys ignored, values of the wrong type left at their zero value.

Pure: no I/O; nothing here raises on user content (problems are ``ValidationIssue``s).
"""

from __future__ import annotations

import dataclasses
import enum
import gzip
import json
import re
import typing
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pycoreos.cloudinit import schema
from pycoreos.cloudinit.validate import (
    MUST_BE_CLOUD_CONFIG,
    Severity,
    ValidationIssue,
    run_rules,
)
from pycoreos.cloudinit.ynode import Kind, YNode, compose

SUBSTITUTION_KEYS = ("$public_ipv4", "$private_ipv4", "$public_ipv6", "$private_ipv6")


class UserDataKind(enum.StrEnum):
    """What the first line (or the JSON) says the user-data is."""

    EMPTY = "empty"
    SCRIPT = "script"
    CLOUD_CONFIG = "cloud-config"
    IGNITION = "ignition"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class UserData:
    """Parsed user-data.

    Attributes:
        kind: the detected format.
        config: the cloud-config (empty unless ``kind`` is ``CLOUD_CONFIG``).
        script: the script (only for ``SCRIPT``).
        issues: validator entries for the raw user-data (any entry fails ``--validate``).
    """

    kind: UserDataKind
    config: schema.CloudConfig = dataclasses.field(default_factory=schema.CloudConfig)
    script: schema.Script | None = None
    issues: tuple[ValidationIssue, ...] = ()

    @property
    def has_errors(self) -> bool:
        """True if any issue is an error (a node refuses to boot on these)."""
        return any(i.kind is Severity.ERROR for i in self.issues)


def to_text(data: bytes | str) -> str:
    """User-data bytes as text (invalid UTF-8 replaced, as a YAML parser would refuse it)."""
    return data if isinstance(data, str) else data.decode("utf-8", errors="replace")


def decompress_if_gzip(data: bytes) -> bytes:
    """Gunzip ``data`` if it starts with the gzip magic ``1f 8b``; else return it unchanged."""
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error):
        return data


def is_cloud_config(text: str) -> bool:
    """First line is exactly ``#cloud-config`` (trailing whitespace allowed)."""
    return text.split("\n", 1)[0].rstrip() == "#cloud-config"


def is_script(text: str) -> bool:
    """User-data starting with ``#!``."""
    return text.startswith("#!")


def is_ignition(text: str) -> bool:
    """JSON with an ``ignitionVersion`` int or an ``ignition.version`` string."""
    try:
        doc = json.loads(text)
    except ValueError:
        return False
    if not isinstance(doc, dict):
        return False
    version = doc.get("ignitionVersion")
    ign = doc.get("ignition")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        return False  # Go's json.Unmarshal would fail on the type, so: not Ignition.
    inner = ign.get("version") if isinstance(ign, dict) else None
    if ign is not None and not isinstance(ign, dict):
        return False
    if inner is not None and not isinstance(inner, str):
        return False
    return version is not None or inner is not None


def classify(text: str) -> UserDataKind:
    """Detect the user-data format in the original's order."""
    if text == "":
        return UserDataKind.EMPTY
    if is_script(text):
        return UserDataKind.SCRIPT
    if is_cloud_config(text):
        return UserDataKind.CLOUD_CONFIG
    if is_ignition(text):
        return UserDataKind.IGNITION
    return UserDataKind.UNKNOWN


def validate(data: bytes | str) -> list[ValidationIssue]:
    """The ``--validate`` report for raw user-data (scripts, Ignition, empty: no entries)."""
    text = to_text(data)
    kind = classify(text)
    if kind in (UserDataKind.EMPTY, UserDataKind.SCRIPT, UserDataKind.IGNITION):
        return []
    if kind is UserDataKind.UNKNOWN:
        return [ValidationIssue(Severity.ERROR, 1, MUST_BE_CLOUD_CONFIG, 1)]
    root, problem = compose(text)
    if problem is not None:
        return [ValidationIssue(Severity.ERROR, problem.line, problem.message, problem.column)]
    if root is None or root.kind is not Kind.MAP:
        # Go unmarshals a non-map document into a nil map silently: nothing to check.
        return []
    return run_rules(root)


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace ``$private_ipv4``-style variables; ``\\$private_ipv4`` yields the literal.

    Only the keys in ``values`` are touched (the original always passes all four, empty when
    unknown); other ``$words`` are left alone.
    """
    for key in sorted(values, key=len, reverse=True):
        escaped = re.escape(key)
        value = values[key]
        # Callables, not replacement strings: values may contain backslashes.
        text = re.sub(r"(?<!\\)" + escaped, _const(value), text)
        text = re.sub(r"\\" + escaped, _const(key), text)
    return text


def _const(s: str) -> typing.Callable[[re.Match[str]], str]:
    return lambda _m: s


def build(root: YNode | None) -> schema.CloudConfig:
    """The typed config of a composed document (Go's ``NewCloudConfig``)."""
    if root is None or root.kind is not Kind.MAP:
        return schema.CloudConfig()
    return typing.cast(schema.CloudConfig, _build_struct(schema.CloudConfig, root))


def _build_struct(cls: type, node: YNode) -> object:
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        # The last child wins when both "a-b" and "a_b" are given, as in Go.
        child = None
        for c in node.children:
            if c.name == schema.key_of(f):
                child = c
        if child is None:
            continue
        value = _build_value(hints[f.name], child)
        if value is not None:
            kwargs[f.name] = value
    return cls(**kwargs)


def _build_value(tp: Any, node: YNode) -> object | None:
    if tp is str:
        return node.text if node.kind not in (Kind.MAP, Kind.SEQ) else None
    if tp is bool:
        return node.value if node.kind is Kind.BOOL else None
    if tp is int:
        return node.value if node.kind is Kind.INT else None
    if tp is float:
        return (
            float(typing.cast(float, node.value)) if node.kind in (Kind.INT, Kind.FLOAT) else None
        )
    if typing.get_origin(tp) is tuple:
        if node.kind is not Kind.SEQ:
            return None
        elem = typing.get_args(tp)[0]
        items = [_build_value(elem, c) for c in node.children]
        # Go appends the element's zero value when an element does not fit.
        return tuple(i if i is not None else _zero(elem) for i in items)
    if dataclasses.is_dataclass(tp):
        return _build_struct(typing.cast(type, tp), node) if node.kind is Kind.MAP else None
    return None  # pragma: no cover - schema types are closed


def _zero(tp: Any) -> object:
    if dataclasses.is_dataclass(tp):
        return typing.cast(type, tp)()
    return {str: "", bool: False, int: 0, float: 0.0}.get(tp, "")


def parse(text: bytes | str) -> tuple[schema.CloudConfig, list[ValidationIssue]]:
    """Parse a cloud-config document: the typed config and every validator entry.

    Never raises on user content. For input that is not ``#cloud-config`` the config is
    empty and the issues say why (scripts and Ignition produce no issues).
    """
    ud = parse_user_data(text)
    return ud.config, list(ud.issues)


def parse_user_data(
    data: bytes | str, *, substitutions: Mapping[str, str] | None = None
) -> UserData:
    """Parse raw user-data as ``coreos-cloudinit`` does.

    Args:
        data: raw user-data; gzip-compressed bytes are gunzipped first.
        substitutions: ``{"$private_ipv4": "10.0.0.1", ...}`` applied after validation and
            before parsing (the validator always sees the raw text, as in the original).

    Returns:
        The detected kind, the typed config or script, and the validator issues.
    """
    raw = to_text(decompress_if_gzip(data) if isinstance(data, bytes) else data)
    issues = tuple(validate(raw))
    text = substitute(raw, substitutions) if substitutions else raw
    kind = classify(text)
    if kind is UserDataKind.SCRIPT:
        return UserData(kind=kind, script=schema.Script(content=text), issues=issues)
    if kind is UserDataKind.CLOUD_CONFIG:
        root, problem = compose(text)
        config = build(root) if problem is None else schema.CloudConfig()
        return UserData(kind=kind, config=config, issues=issues)
    return UserData(kind=kind, issues=issues)
