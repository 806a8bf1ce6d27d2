"""Go ``encoding/json`` compatibility for bytes produced by msgspec, and Go's ``path.Clean``.

Invariants relied on by the byte rewrites below: in JSON text produced by msgspec every ``"``
inside a string is escaped as ``\\"`` and every backslash starts an escape sequence, so a raw
``<``/``>``/``&``/U+2028/U+2029 byte sequence can only occur inside a string value and is
safe to rewrite anywhere.

Differences handled (etcd 3.4.23 is built with Go 1.19):
- Go escapes ``<``, ``>``, ``&`` as ``\\u003c``/``\\u003e``/``\\u0026`` (HTML-safe output) and
  U+2028/U+2029 as ``\\u2028``/``\\u2029``; msgspec writes them raw.
- Go < 1.22 writes backspace and form feed as ``\\u0008``/``\\u000c``; msgspec writes ``\\b``/``\\f``.
"""

from __future__ import annotations

import re

_HTML_BYTES = (b"<", b">", b"&", b"\xe2\x80\xa8", b"\xe2\x80\xa9")
_HTML_REPL = (b"\\u003c", b"\\u003e", b"\\u0026", b"\\u2028", b"\\u2029")
# Scans escape sequences left to right: an escaped backslash is consumed as a unit, so a
# following ``b``/``f`` is a literal letter, never mistaken for an escape.
_BF_ESCAPE = re.compile(rb"\\\\|\\b|\\f")
_BF_REPL = {b"\\\\": b"\\\\", b"\\b": b"\\u0008", b"\\f": b"\\u000c"}


def _bf_sub(m: re.Match[bytes]) -> bytes:
    return _BF_REPL[m.group(0)]


# One C-level scan decides whether any rewrite is needed (the common case is none); a
# ``\\b`` false positive only costs the slow path, which is exact.
_NEEDS_REWRITE = re.compile(rb"[<>&]|\xe2\x80[\xa8\xa9]|\\[bf]")


def go_json_escape(data: bytes) -> bytes:
    """Rewrite msgspec JSON output into the exact bytes Go 1.19's ``json.Marshal`` produces."""
    if _NEEDS_REWRITE.search(data) is None:
        return data
    for raw, repl in zip(_HTML_BYTES, _HTML_REPL, strict=True):
        if raw in data:
            data = data.replace(raw, repl)
    if b"\\b" in data or b"\\f" in data:
        data = _BF_ESCAPE.sub(_bf_sub, data)
    return data


def clean_path(p: str) -> str:
    """Go's ``path.Clean``: the shortest equivalent slash path (``//a/./b/../c/`` -> ``/a/c``).

    Rooted paths stay rooted, ``..`` at the root is dropped, and the empty path becomes ``.``.
    """
    if not p:
        return "."
    # Fast path: the common already-clean absolute key.
    if p[0] == "/" and "//" not in p and "/." not in p and (len(p) == 1 or p[-1] != "/"):
        return p
    rooted = p[0] == "/"
    out: list[str] = []
    for part in p.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(part)
    joined = "/".join(out)
    if rooted:
        return "/" + joined
    return joined or "."


def split_path(p: str) -> tuple[str, str]:
    """Go's ``path.Split``: split after the last slash (``/a/b`` -> ``("/a/", "b")``)."""
    i = p.rfind("/")
    return p[: i + 1], p[i + 1 :]


def join_path(parent: str, name: str) -> str:
    """Go's ``path.Join(parent, name)`` for a clean absolute ``parent``."""
    if not name:
        return clean_path(parent)
    return clean_path(parent + "/" + name)
