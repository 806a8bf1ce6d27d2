"""YAML text -> a tree of :class:`YNode` typed the way Go's ``yaml.v1`` types it.

The original validator unmarshals the document twice: "weakly" into
``map[interface{}]interface{}`` (so ``0644`` becomes the int 484 and ``off`` the bool
false) and "strongly" into the config structs (so a string field keeps the literal text
``0644``). A :class:`YNode` keeps both: ``value`` is the weak value, ``text`` the literal
scalar text a string field would receive.

Strategy: PyYAML (libyaml when available) composes the node graph and gives marks; we do
our own scalar resolution (``_resolve``) because PyYAML's YAML 1.1 resolver differs from
Go's (timestamps, sexagesimal ints, ``y``/``n`` booleans). Plain scalars are tagged
``!plain`` by the loader so resolution knows they were untagged.

Syntax errors are reported as Go's ``yaml.v1`` does: the libyaml problem text, and the
0-based ``problem_mark.line`` (else ``context_mark.line``) used directly as the line number,
falling back to line 1.

Invariants: :func:`compose` never raises on user input; names of map children are already
normalised (``-`` -> ``_``); list elements are named ``<parent>[<i>]``.
"""

from __future__ import annotations

import base64
import binascii
import enum
import math
import re
from dataclasses import dataclass
from typing import Any

import yaml

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PLAIN = "!plain"


class Kind(enum.Enum):
    """The Go ``reflect.Kind`` of a weakly-decoded value."""

    STRING = "string"
    INT = "int"
    FLOAT = "float64"
    BOOL = "bool"
    MAP = "map"
    SEQ = "slice"
    NULL = "invalid"


Scalar = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class YNode:
    """One node: a map key's value, a list element, or the document root.

    Attributes:
        name: normalised key, ``parent[i]`` for list elements, ``""`` for the root.
        line: 1-based line of the key (or element); 0 when unknown.
        column: 1-based column of the key (or element); 0 when unknown.
        kind: weak type.
        value: weak scalar value (``None`` for maps, lists and nulls).
        text: literal scalar text as a Go ``string`` field would receive it, else ``None``.
        children: map entries (document order) or list elements.
    """

    name: str
    line: int
    column: int
    kind: Kind
    value: Scalar = None
    text: str | None = None
    children: tuple[YNode, ...] = ()

    def child(self, name: str) -> YNode | None:
        """The first child called ``name`` (after normalisation), or ``None``."""
        for c in self.children:
            if c.name == name:
                return c
        return None

    def go_string(self) -> str:
        """What Go's ``reflect.Value.String()`` gives for this node in the validator rules."""
        if self.text is not None:
            return self.text
        if self.kind is Kind.NULL:
            return "<invalid Value>"
        return f"<{self.kind.value} Value>"


@dataclass(frozen=True, slots=True)
class SyntaxProblem:
    """A YAML syntax error: ``line`` as the original reports it, and the problem text."""

    line: int
    column: int
    message: str


class _Loader(_BaseLoader):  # type: ignore[misc]  # PyYAML's loaders are untyped classes
    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            return _PLAIN
        return super().resolve(kind, value, implicit)


def normalize_key(name: str) -> str:
    """Key normalisation shared by the parser and the validator: ``-`` becomes ``_``."""
    return name.replace("-", "_")


def compose(text: str) -> tuple[YNode | None, SyntaxProblem | None]:
    """Compose the first YAML document of ``text``.

    Returns:
        ``(root, None)`` on success (``root`` is ``None`` for an empty document), or
        ``(None, problem)`` for a syntax error.
    """
    loader = _Loader(text)
    try:
        node = loader.get_node() if loader.check_node() else None
    except yaml.MarkedYAMLError as exc:
        return None, _problem(exc)
    except yaml.YAMLError as exc:  # pragma: no cover - libyaml always gives marks
        return None, SyntaxProblem(1, 0, str(exc))
    finally:
        loader.dispose()
    if node is None:
        return None, None
    try:
        return _convert(node, "", node.start_mark, set()), None
    except _BinaryError:
        return None, SyntaxProblem(1, 0, "!!binary value contains invalid base64 data")


def _problem(exc: yaml.MarkedYAMLError) -> SyntaxProblem:
    line = 0
    column = 0
    if exc.problem_mark is not None and exc.problem_mark.line != 0:
        line, column = exc.problem_mark.line, exc.problem_mark.column + 1
    elif exc.context_mark is not None and exc.context_mark.line != 0:
        line, column = exc.context_mark.line, exc.context_mark.column + 1
    message = exc.problem or "unknown problem parsing YAML content"
    return SyntaxProblem(line or 1, column, message)


class _BinaryError(Exception):
    pass


def _convert(node: Any, name: str, mark: Any, active: set[int]) -> YNode:
    line, column = mark.line + 1, mark.column + 1
    if id(node) in active:
        # A recursive alias: Go would recurse forever; we stop with a null.
        return YNode(name, line, column, Kind.NULL)
    if isinstance(node, yaml.MappingNode):
        active.add(id(node))
        children = _map_children(node, active)
        active.discard(id(node))
        return YNode(name, line, column, Kind.MAP, children=children)
    if isinstance(node, yaml.SequenceNode):
        active.add(id(node))
        items = tuple(
            _convert(item, f"{name}[{i}]", item.start_mark, active)
            for i, item in enumerate(node.value)
        )
        active.discard(id(node))
        return YNode(name, line, column, Kind.SEQ, children=items)
    kind, value = _resolve(node.tag, node.value)
    text: str | None
    if kind is Kind.NULL:
        text = None
    elif node.tag == "tag:yaml.org,2002:binary":
        text = str(value)
    else:
        text = node.value
    return YNode(name, line, column, kind, value, text)


def _map_children(node: Any, active: set[int]) -> tuple[YNode, ...]:
    pairs: list[tuple[str, YNode]] = []
    merged: list[tuple[str, YNode]] = []
    for key_node, value_node in node.value:
        if key_node.tag in (_PLAIN, "tag:yaml.org,2002:merge") and key_node.value == "<<":
            merged.extend(_merge_sources(value_node, active))
            continue
        key = normalize_key(_key_text(key_node))
        child = _convert(value_node, key, key_node.start_mark, active)
        # Go's map keeps the last value of a repeated key (at the first key's place is
        # irrelevant: the validator reports by key line, so keep the last occurrence).
        pairs = [(k, c) for k, c in pairs if k != key]
        pairs.append((key, child))
    present = {k for k, _ in pairs}
    for key, child in merged:
        if key not in present:
            present.add(key)
            pairs.append((key, child))
    return tuple(c for _, c in pairs)


def _merge_sources(node: Any, active: set[int]) -> list[tuple[str, YNode]]:
    sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
    out: list[tuple[str, YNode]] = []
    for src in sources:
        if isinstance(src, yaml.MappingNode):
            out.extend((c.name, c) for c in _map_children(src, active))
    return out


def _key_text(key_node: Any) -> str:
    if isinstance(key_node, yaml.ScalarNode):
        kind, value = _resolve(key_node.tag, key_node.value)
        # fmt.Sprintf("%s", k) of a non-string key renders it Go-style.
        return key_node.value if kind is Kind.STRING else go_format(value)
    return "<complex key>"


_INT_RE = re.compile(r"^[-+]?(0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO]?[0-7]+|[1-9][0-9]*|0)$")
_FLOAT_RE = re.compile(r"^[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?)$")
_BOOLS = {
    **dict.fromkeys(["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE"], True),
    **dict.fromkeys(["on", "On", "ON"], True),
    **dict.fromkeys(["n", "N", "no", "No", "NO", "false", "False", "FALSE"], False),
    **dict.fromkeys(["off", "Off", "OFF"], False),
}
_SPECIAL_FLOATS = {
    **dict.fromkeys([".nan", ".NaN", ".NAN"], math.nan),
    **dict.fromkeys([".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"], math.inf),
    **dict.fromkeys(["-.inf", "-.Inf", "-.INF"], -math.inf),
}


def _resolve(tag: str, value: str) -> tuple[Kind, Scalar]:
    if tag == _PLAIN:
        return _resolve_plain(value)
    if tag == "tag:yaml.org,2002:binary":
        try:
            data = base64.b64decode(value.replace("\n", "").replace("\r", ""), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _BinaryError from exc
        return Kind.STRING, data.decode("utf-8", errors="surrogateescape")
    if tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool"):
        kind, resolved = _resolve_plain(value)
        if kind is not Kind.STRING:
            return kind, resolved
    if tag == "tag:yaml.org,2002:null":
        return Kind.NULL, None
    return Kind.STRING, value


def _resolve_plain(value: str) -> tuple[Kind, Scalar]:
    """Go ``yaml.v1`` ``resolve()`` for an untagged plain scalar."""
    if value in ("", "~", "null", "Null", "NULL"):
        return Kind.NULL, None
    if value in _BOOLS:
        return Kind.BOOL, _BOOLS[value]
    if value in _SPECIAL_FLOATS:
        return Kind.FLOAT, _SPECIAL_FLOATS[value]
    plain = value.replace("_", "")
    if _INT_RE.match(plain):
        number = _parse_go_int(plain)
        if number is not None and -(2**63) <= number < 2**64:
            return Kind.INT, number
    if _FLOAT_RE.match(plain):
        return Kind.FLOAT, float(plain)
    return Kind.STRING, value


def _parse_go_int(text: str) -> int | None:
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    try:
        if body[:2] in ("0x", "0X"):
            return sign * int(body[2:], 16)
        if body[:2] in ("0b", "0B"):
            return sign * int(body[2:], 2)
        if body[:2] in ("0o", "0O"):
            return sign * int(body[2:], 8)
        if len(body) > 1 and body.startswith("0"):
            return sign * int(body, 8)
        return sign * int(body, 10)
    except ValueError:
        return None


def go_format(value: Scalar) -> str:
    """Format a scalar as Go's ``fmt`` ``%v`` does (``true``, ``484``, ``1e+06``)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    return value


def _go_float(f: float) -> str:
    # strconv.FormatFloat(f, 'g', -1, 64) as fmt's %v uses it: shortest round-trip digits,
    # exponent form when the decimal exponent is < -4 or >= 6 (eprec 6 for shortest).
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if math.copysign(1, f) < 0 else "0"
    # repr() gives the shortest round-trip digits; normalise them to d.ddd x 10^exp.
    text = repr(abs(f))
    m, _, e = text.partition("e")
    int_part, _, frac = m.partition(".")
    all_digits = (int_part + frac).lstrip("0")
    lead_zeros = len(int_part + frac) - len((int_part + frac).lstrip("0"))
    exp = (int(e) if e else 0) + len(int_part) - 1 - lead_zeros
    digits = all_digits.rstrip("0") or "0"
    sign = "-" if f < 0 else ""
    if exp < -4 or exp >= 6:
        rest = digits[1:]
        body = digits[0] + ("." + rest if rest else "")
        return f"{sign}{body}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp >= 0:
        whole = digits[: exp + 1].ljust(exp + 1, "0")
        frac_part = digits[exp + 1 :]
        return sign + whole + ("." + frac_part if frac_part else "")
    return sign + "0." + "0" * (-exp - 1) + digits
