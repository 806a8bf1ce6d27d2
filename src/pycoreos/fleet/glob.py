"""Go ``path.Match`` glob semantics, which fleet uses for ``Conflicts=`` and ``Replaces=``. Pure.

Differs from :mod:`fnmatch`: ``*`` and ``?`` do not match ``/``; ``[^...]`` negates as well as
``[!...]``; ``\\`` escapes; a malformed pattern matches nothing (Go returns ErrBadPattern,
and fleet ignores the error, so the pattern is simply never satisfied).
"""

from __future__ import annotations

import functools
import re

__all__ = ["match"]


@functools.lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str] | None:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\":
            if i + 1 >= n:
                return None
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            j = i + 1
            neg = j < n and pattern[j] in "^!"
            if neg:
                j += 1
            items: list[str] = []
            while j < n and pattern[j] != "]":
                ch = pattern[j]
                if ch == "\\":
                    j += 1
                    if j >= n:
                        return None
                    ch = pattern[j]
                items.append(re.escape(ch) if ch not in "-" else "-")
                j += 1
            if j >= n or not items or items[0] == "-" or items[-1] == "-":
                return None
            out.append("[" + ("^" if neg else "") + "".join(items) + "]")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    try:
        return re.compile("".join(out) + r"\Z", re.DOTALL)
    except re.error:
        return None


def match(pattern: str, name: str) -> bool:
    """True if ``name`` matches the Go ``path.Match`` ``pattern``; bad patterns match nothing."""
    rx = _compile(pattern)
    return rx is not None and rx.match(name) is not None
