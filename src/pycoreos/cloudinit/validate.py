"""The cloud-config validator: ``coreos-cloudinit --validate`` rule for rule.

Rules run in the original's order (``config/validate/rules.go``): discovery URL, write_files
encodings, structure (unknown keys, types, deprecations), value regexes, read-only paths,
``write_files`` under ``coreos``. Within a rule, entries come in document order (Go walks
maps in random order; we pick the deterministic one). Messages are the original's verbatim.

Line numbers come from YAML marks of the key (or list element) the entry is about, which is
what the original's line-search heuristic finds in every non-pathological document.

Pure: no I/O. Never raises on user content.
"""

from __future__ import annotations

import binascii
import dataclasses
import enum
import posixpath
import re
import typing
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from pycoreos.cloudinit import schema
from pycoreos.cloudinit.ynode import Kind, YNode, go_format

MUST_BE_CLOUD_CONFIG = 'must be "#cloud-config" or begin with "#!"'


class Severity(enum.StrEnum):
    """Kind of a report entry, as the original prints it."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One validator entry: ``line <N>: <kind>: <message>``.

    ``column`` is 1-based (0 when unknown); the original reports lines only, so it is kept
    out of :meth:`__str__` and offered as extra detail.
    """

    kind: Severity
    line: int
    message: str
    column: int = 0

    def __str__(self) -> str:
        return f"line {self.line}: {self.kind}: {self.message}"

    def to_json(self) -> dict[str, object]:
        """The original's JSON form plus ``column``."""
        return {
            "kind": str(self.kind),
            "line": self.line,
            "message": self.message,
            "column": self.column,
        }


# --- the reference structure (Go: NewNode(config.CloudConfig{})) -------------------------


@dataclass(frozen=True, slots=True)
class Spec:
    """Expected shape of one node: kind, element spec for lists, fields for structs."""

    kind: str  # "string" | "int" | "float64" | "bool" | "struct" | "slice"
    valid: str = ""
    deprecated: str = ""
    elem: Spec | None = None
    struct: type | None = None

    def human_type(self) -> str:
        """Go's ``HumanType``: ``[]string``, ``[]struct``, ``struct``, ``bool``..."""
        if self.kind == "slice" and self.elem is not None:
            return "[]" + self.elem.human_type()
        return self.kind

    def fields(self) -> dict[str, Spec]:
        """Children of a struct spec, by YAML key (empty for non-structs)."""
        return _struct_fields(self.struct) if self.struct is not None else {}


def _spec_for(tp: Any, valid: str = "", deprecated: str = "") -> Spec:
    if tp is str:
        return Spec("string", valid, deprecated)
    if tp is bool:
        return Spec("bool", valid, deprecated)
    if tp is int:
        return Spec("int", valid, deprecated)
    if tp is float:
        return Spec("float64", valid, deprecated)
    if typing.get_origin(tp) is tuple:
        # Go builds element reference nodes from a bare zero value, so elements carry no
        # valid/deprecated tags of their own.
        return Spec("slice", valid, deprecated, elem=_spec_for(typing.get_args(tp)[0]))
    if dataclasses.is_dataclass(tp):
        return Spec("struct", valid, deprecated, struct=tp)  # type: ignore[arg-type]
    raise TypeError(f"unsupported schema type {tp!r}")  # pragma: no cover


@cache
def _struct_fields(cls: type) -> dict[str, Spec]:
    hints = typing.get_type_hints(cls)
    return {
        schema.key_of(f): _spec_for(hints[f.name], f.metadata["valid"], f.metadata["deprecated"])
        for f in dataclasses.fields(cls)
    }


ROOT_SPEC = Spec("struct", struct=schema.CloudConfig)

_COMPATIBLE: dict[str, frozenset[Kind]] = {
    "string": frozenset({Kind.STRING, Kind.INT, Kind.FLOAT, Kind.BOOL}),
    "struct": frozenset({Kind.MAP}),
    "float64": frozenset({Kind.FLOAT, Kind.INT}),
    "bool": frozenset({Kind.BOOL}),
    "slice": frozenset({Kind.SEQ}),
    "int": frozenset({Kind.INT}),
}


def is_compatible(kind: Kind, spec: Spec) -> bool:
    """Go's ``isCompatible``: can a YAML value of ``kind`` fill a field of ``spec``."""
    return kind in _COMPATIBLE[spec.kind]


def spec_value_text(node: YNode, spec: Spec) -> str | None:
    """The value a typed field ends up with, as ``%v`` text; ``None`` for zero/non-scalars.

    String fields take the literal scalar text (``0644`` stays ``0644``), other fields the
    weakly-typed value (the original's coerceNodes()).
    """
    if node.kind in (Kind.MAP, Kind.SEQ, Kind.NULL):
        return None
    if spec.kind == "string" and node.text is not None:
        return node.text or None
    if node.value in ("", 0, False):
        return None
    return go_format(node.value)


# --- the rules -----------------------------------------------------------------------------

Report = list[ValidationIssue]


def _issue(report: Report, kind: Severity, node: YNode, message: str) -> None:
    report.append(ValidationIssue(kind, node.line, message, node.column))


def _child(node: YNode | None, name: str) -> YNode | None:
    return node.child(name) if node is not None else None


def check_discovery_url(cfg: YNode, report: Report) -> None:
    """``coreos.etcd.discovery`` must parse as a request URI."""
    c = _child(_child(cfg, "coreos"), "etcd")
    c = _child(c, "discovery")
    if c is not None and not is_request_uri(c.go_string()):
        _issue(report, Severity.WARNING, c, "discovery URL is not valid")


def check_encoding(cfg: YNode, report: Report) -> None:
    """Every ``write_files[]`` content must decode with its ``encoding``."""
    files = cfg.child("write_files")
    for f in files.children if files is not None else ():
        e = f.child("encoding")
        if e is None:
            continue
        c = f.child("content")
        content = c.go_string() if c is not None else ""
        try:
            decode_content(content, e.go_string())
        except ValueError:
            where = c if c is not None else f
            _issue(
                report,
                Severity.ERROR,
                where,
                f'content cannot be decoded as "{_go_quote_inner(e.go_string())}"',
            )


def check_structure(cfg: YNode, report: Report) -> None:
    """Unknown keys, incompatible types and deprecated keys."""
    _check_node_structure(cfg, ROOT_SPEC, report)


def _check_node_structure(n: YNode, g: Spec, report: Report) -> None:
    if not is_compatible(n.kind, g):
        _issue(
            report, Severity.WARNING, n, f'incorrect type for "{n.name}" (want {g.human_type()})'
        )
        return
    if g.kind == "struct":
        fields = g.fields()
        for cn in n.children:
            cg = fields.get(cn.name)
            if cg is None:
                _issue(report, Severity.WARNING, cn, f'unrecognized key "{cn.name}"')
                continue
            if cg.deprecated:
                _issue(
                    report, Severity.WARNING, cn, f'deprecated key "{cn.name}" ({cg.deprecated})'
                )
            _check_node_structure(cn, cg, report)
    elif g.kind == "slice" and g.elem is not None:
        for cn in n.children:
            _check_node_structure(cn, g.elem, report)


def check_validity(cfg: YNode, report: Report) -> None:
    """Values of fields with a ``valid`` regex must match it (empty values are valid)."""
    _check_node_validity(cfg, ROOT_SPEC, report)


def _check_node_validity(n: YNode, g: Spec, report: Report) -> None:
    if g.valid:
        text = spec_value_text(n, g)
        if text is not None and not re.search(g.valid, text):
            _issue(report, Severity.ERROR, n, f"invalid value {text}")
    if g.kind == "struct":
        fields = g.fields()
        for cn in n.children:
            cg = fields.get(cn.name)
            if cg is not None:
                _check_node_validity(cn, cg, report)
    elif g.kind == "slice" and g.elem is not None:
        for cn in n.children:
            _check_node_validity(cn, g.elem, report)


def check_write_files(cfg: YNode, report: Report) -> None:
    """``write_files[].path`` under ``/usr`` is on CoreOS's read-only filesystem."""
    files = cfg.child("write_files")
    for f in files.children if files is not None else ():
        c = f.child("path")
        if c is not None and go_path_dir(c.go_string()).startswith("/usr"):
            _issue(report, Severity.ERROR, c, "file cannot be written to a read-only filesystem")


def check_write_files_under_coreos(cfg: YNode, report: Report) -> None:
    """``write_files`` nested under ``coreos:`` is a common indentation mistake."""
    c = _child(cfg.child("coreos"), "write_files")
    if c is not None:
        _issue(report, Severity.INFO, c, "write_files doesn't belong under coreos")


RULES: tuple[Callable[[YNode, Report], None], ...] = (
    check_discovery_url,
    check_encoding,
    check_structure,
    check_validity,
    check_write_files,
    check_write_files_under_coreos,
)


def run_rules(root: YNode) -> list[ValidationIssue]:
    """Run every rule over a composed document and return the entries."""
    report: Report = []
    for rule in RULES:
        rule(root, report)
    return report


# --- helpers shared with the planner --------------------------------------------------------


def decode_base64(content: str) -> bytes:
    """Go ``base64.StdEncoding.DecodeString``: ignores CR/LF, strict alphabet and padding."""
    try:
        return binascii.a2b_base64(_strict_b64(content.replace("\r", "").replace("\n", "")))
    except binascii.Error as exc:
        raise ValueError(f"Unable to decode base64: {exc}") from exc


def _strict_b64(text: str) -> bytes:
    if len(text) % 4 or not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", text):
        raise binascii.Error("illegal base64 data")
    return text.encode("ascii")


def decode_gzip(data: bytes) -> bytes:
    """Gunzip; like Go's ``gzip.NewReader`` + ``ReadFrom`` only a bad header is an error."""
    if len(data) < 10 or data[:3] != b"\x1f\x8b\x08":
        raise ValueError("Unable to decode gzip: gzip: invalid header")
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        return d.decompress(data)
    except zlib.error:
        return b""


def decode_content(content: str, encoding: str) -> bytes:
    """``config.DecodeContent``: the bytes a ``write_files`` entry writes.

    Raises:
        ValueError: undecodable content or an unsupported encoding.
    """
    raw = content.encode("utf-8", errors="surrogateescape")
    if encoding == "":
        return raw
    if encoding in ("b64", "base64"):
        return decode_base64(content)
    if encoding in ("gz", "gzip"):
        return decode_gzip(raw)
    if encoding in ("gz+base64", "gzip+base64", "gz+b64", "gzip+b64"):
        return decode_gzip(decode_base64(content))
    raise ValueError(f'Unsupported encoding "{encoding}"')


def go_path_dir(p: str) -> str:
    """Go ``path.Dir``: everything but the last element, cleaned."""
    head = p[: p.rfind("/") + 1]
    return go_path_clean(head)


def go_path_clean(p: str) -> str:
    """Go ``path.Clean`` (``""`` -> ``"."``, ``..`` resolved lexically)."""
    if p == "":
        return "."
    cleaned = posixpath.normpath(p)
    # normpath keeps a leading "//"; Go collapses it.
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


def is_request_uri(raw: str) -> bool:
    """Approximates Go ``url.ParseRequestURI`` success (absolute URI or absolute path)."""
    if raw == "" or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw):
        return False
    if raw.startswith("/"):
        return True
    m = _SCHEME_RE.match(raw)
    if m is None:
        return False
    rest = raw[m.end() :]
    if not rest.startswith("//"):
        return True
    authority = rest[2:].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    host = authority.rsplit("@", 1)[-1]
    if host.startswith("["):
        return "]" in host
    _, colon, port = host.partition(":")
    return not colon or port.isdigit() or port == ""


def _go_quote_inner(s: str) -> str:
    # %q of a plain string: escape backslash and double quote (enough for encodings).
    return s.replace("\\", "\\\\").replace('"', '\\"')
