"""Form and path parsing exactly as Go's ``net/url`` / ``net/http`` do it for etcd.

etcd reads request parameters with ``r.ParseForm()``: the URL-encoded body of POST/PUT/PATCH
(only when ``Content-Type`` is ``application/x-www-form-urlencoded``) comes first, then the
query string; only the first value of a key is used. A malformed pair (bad ``%`` escape, a
``;`` separator) makes ParseForm fail with Go's message, which etcd turns into error 210. Pure.
"""

from __future__ import annotations

_HEX = "0123456789abcdefABCDEF"

# Go's ParseForm reads at most 10 MiB of a form body ("http: POST too large" beyond). etcd's
# v2 API has no other limit: the real etcd 3.4 stores a 2 MiB value.
MAX_FORM_BYTES = 10 << 20


class FormError(ValueError):
    """A malformed query or body; ``str()`` is Go's error text."""


def unescape(text: str, *, query: bool) -> str:
    """Go's ``url.QueryUnescape`` (``query=True``: '+' is a space) or ``PathUnescape``.

    Raises:
        FormError: ``invalid URL escape "%zz"`` for a bad escape, as Go.
    """
    if "%" not in text and not (query and "+" in text):
        return text
    out = bytearray()
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "%":
            if i + 2 >= n or text[i + 1] not in _HEX or text[i + 2] not in _HEX:
                bad = text[i : i + 3]
                raise FormError(f'invalid URL escape "{bad}"')
            out.append(int(text[i + 1 : i + 3], 16))
            i += 3
        elif c == "+" and query:
            out.append(0x20)
            i += 1
        else:
            out += c.encode("utf-8", "surrogateescape")
            i += 1
    return out.decode("utf-8", "replace")


def parse_query(text: str, into: dict[str, list[str]]) -> FormError | None:
    """Go's ``url.ParseQuery`` into ``into``; returns the first error (parsing goes on)."""
    first: FormError | None = None
    for part in text.split("&"):
        if not part:
            continue
        if ";" in part:
            first = first or FormError("invalid semicolon separator in query")
            continue
        key, _, value = part.partition("=")
        try:
            k = unescape(key, query=True)
            v = unescape(value, query=True)
        except FormError as e:
            first = first or e
            continue
        into.setdefault(k, []).append(v)
    return first


def parse_form(
    method: str, content_type: str, body: bytes, query: str
) -> tuple[dict[str, list[str]], FormError | None]:
    """``r.ParseForm()``: body values (when form-encoded) first, then query values."""
    form: dict[str, list[str]] = {}
    err: FormError | None = None
    if method in ("POST", "PUT", "PATCH"):
        ct = content_type.split(";", 1)[0].strip().lower()
        if ct == "application/x-www-form-urlencoded":
            if len(body) > MAX_FORM_BYTES:
                return form, FormError("http: POST too large")
            err = parse_query(body.decode("latin-1"), form)
    qerr = parse_query(query, form)
    return form, err or qerr


def clean_path(p: str) -> str:
    """Go's ``path.Clean``."""
    if not p:
        return "."
    rooted = p.startswith("/")
    parts: list[str] = []
    for seg in p.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(seg)
    out = "/".join(parts)
    if rooted:
        return "/" + out
    return out or "."


def mux_clean_path(p: str) -> str:
    """``http.ServeMux``'s cleanPath: ``path.Clean`` keeping a trailing slash."""
    if not p:
        return "/"
    if not p.startswith("/"):
        p = "/" + p
    np = clean_path(p)
    if p.endswith("/") and np != "/":
        np += "/"
    return np
