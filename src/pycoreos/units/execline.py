"""Exec lines, Environment= and EnvironmentFile=: systemd's word grammar. Pure.

Word splitting (``extract_first_word`` with UNQUOTE|CUNESCAPE):

- words are separated by whitespace; ``"..."`` and ``'...'`` quote, and may abut other text
  (``a"b c"d`` is one word ``ab cd``);
- C escapes (``\\n \\t \\\\ \\" \\' \\s \\xNN \\NNN \\uNNNN``) work inside and outside quotes;
  an unknown escape, an unterminated quote or a trailing lone backslash is an error;
- in Exec lines a bare ``;`` word separates commands; ``\\;`` is a literal ``;``.

Exec prefixes on the first word: ``@`` (second word is argv[0]), ``-`` (failure ignored),
``:`` (no variable expansion), ``+``/``!``/``!!`` (run with full privileges: ignore
User=/Group=).

Variable expansion at spawn time (``replace_env_argv``): a word that is exactly ``$NAME`` is
replaced by the value split at whitespace (zero words if unset); elsewhere ``${NAME}`` is
substituted in place (empty if unset) and ``$$`` becomes ``$``. Bare ``$NAME`` inside a
longer word is left alone, as systemd does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "ExecCommand",
    "WordError",
    "expand_argv",
    "parse_environment",
    "parse_environment_file",
    "parse_exec",
    "split_words",
]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SIMPLE_ESC = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\", '"': '"', "'": "'", "s": " ",
}  # fmt: skip


class WordError(ValueError):
    """Bad quoting or escaping; the caller wraps it into a UnitFileError with location."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecCommand:
    """One command of an ``Exec*=`` setting, after prefix and word parsing.

    Attributes:
        path: the program to execute (argv[0] unless ``@`` was used).
        argv: the arguments including argv[0], not yet variable-expanded.
        ignore_failure: ``-`` prefix: a non-zero exit counts as success.
        no_env_expand: ``:`` prefix.
        privileged: ``+``, ``!`` or ``!!`` prefix: User=/Group= do not apply.
        raw: the source text, for status output.
    """

    path: str
    argv: tuple[str, ...]
    ignore_failure: bool = False
    no_env_expand: bool = False
    privileged: bool = False
    raw: str = ""


def _escape(s: str, i: int) -> tuple[str, int]:
    """Decode the escape starting after the backslash at ``s[i]``; returns (text, next i)."""
    if i >= len(s):
        raise WordError("trailing backslash")
    c = s[i]
    if c in _SIMPLE_ESC:
        return _SIMPLE_ESC[c], i + 1
    for lead, width, base in (("x", 2, 16), ("u", 4, 16), ("U", 8, 16)):
        if c == lead:
            digits = s[i + 1 : i + 1 + width]
            if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise WordError(f"bad \\{lead} escape")
            code = int(digits, base)
            if code == 0 or code > 0x10FFFF:
                raise WordError("escape encodes an invalid character")
            return chr(code), i + 1 + width
    if c in "01234567":
        digits = s[i : i + 3]
        if len(digits) != 3 or not all(d in "01234567" for d in digits) or int(digits, 8) == 0:
            raise WordError("bad octal escape")
        return chr(int(digits, 8)), i + 3
    raise WordError(f"unknown escape \\{c}")


def split_words(s: str, *, semicolons: bool = False) -> list[str | None]:
    """Split ``s`` into unquoted, unescaped words.

    With ``semicolons``, a bare ``;`` word is returned as ``None`` (a command separator).

    Raises:
        WordError: on an unterminated quote or a bad escape.
    """
    words: list[str | None] = []
    i, n = 0, len(s)
    while True:
        while i < n and s[i] in " \t\n\r":
            i += 1
        if i >= n:
            return words
        start = i
        buf: list[str] = []
        quote = ""
        while i < n:
            c = s[i]
            if quote:
                if c == quote:
                    quote = ""
                    i += 1
                elif c == "\\":
                    text, i = _escape(s, i + 1)
                    buf.append(text)
                else:
                    buf.append(c)
                    i += 1
            elif c in " \t\n\r":
                break
            elif c in "\"'":
                quote = c
                i += 1
            elif c == "\\":
                if semicolons and s[i + 1 : i + 2] == ";":
                    buf.append(";")
                    i += 2
                    continue
                text, i = _escape(s, i + 1)
                buf.append(text)
            else:
                buf.append(c)
                i += 1
        if quote:
            raise WordError("unterminated quote")
        if semicolons and s[start:i] == ";":
            words.append(None)
        else:
            words.append("".join(buf))


def parse_exec(value: str) -> list[ExecCommand]:
    """Parse one ``Exec*=`` value into commands (several when separated by ``;``).

    Raises:
        WordError: on bad quoting, an empty command or an unknown prefix combination.
    """
    commands: list[ExecCommand] = []
    current: list[str] = []
    for w in [*split_words(value, semicolons=True), None]:
        if w is not None:
            current.append(w)
            continue
        if current:
            commands.append(_command(current, value))
        current = []
    return commands


def _command(words: list[str], raw: str) -> ExecCommand:
    first = words[0]
    flags = {"@": False, "-": False, ":": False, "+": False, "!": False}
    i = 0
    while i < len(first) and first[i] in flags:
        if first[i] == "!" and first[i : i + 2] == "!!":
            i += 1  # "!!" behaves as "!" when ambient capabilities exist
        if flags[first[i]]:
            raise WordError(f"repeated prefix {first[i]!r}")
        flags[first[i]] = True
        i += 1
    path = first[i:]
    if not path:
        raise WordError("empty executable path")
    if flags["+"] and flags["!"]:
        raise WordError("prefixes '+' and '!' are exclusive")
    rest = words[1:]
    if flags["@"]:
        if not rest:
            raise WordError("'@' prefix needs an argv[0] word")
        argv = tuple(rest)
    else:
        argv = (path, *rest)
    return ExecCommand(
        path=path,
        argv=argv,
        ignore_failure=flags["-"],
        no_env_expand=flags[":"],
        privileged=flags["+"] or flags["!"],
        raw=raw,
    )


def _substitute(word: str, env: Mapping[str, str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(word):
        c = word[i]
        if c == "$" and word[i + 1 : i + 2] == "$":
            out.append("$")
            i += 2
        elif c == "$" and word[i + 1 : i + 2] == "{":
            end = word.find("}", i + 2)
            name = word[i + 2 : end] if end >= 0 else ""
            if end < 0 or not _ENV_NAME.match(name):
                out.append(c)  # not a reference: keep literally
                i += 1
                continue
            out.append(env.get(name, ""))
            i = end + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def expand_argv(cmd: ExecCommand, env: Mapping[str, str]) -> tuple[str, ...]:
    """Expand ``$VAR``/``${VAR}`` in ``cmd.argv`` against ``env`` (unless ``:`` was given)."""
    if cmd.no_env_expand:
        return cmd.argv
    out: list[str] = []
    for idx, word in enumerate(cmd.argv):
        if idx > 0 and word.startswith("$") and _ENV_NAME.match(word[1:]):
            value = env.get(word[1:])
            if value is not None:
                try:
                    out.extend(w for w in split_words(value) if w is not None)
                except WordError:
                    out.extend(value.split())
            continue
        out.append(_substitute(word, env))
    return tuple(out)


def parse_environment(value: str) -> list[tuple[str, str]]:
    """Parse an ``Environment=`` value into (name, value) pairs, in order.

    Raises:
        WordError: on bad quoting or an assignment with an invalid variable name.
    """
    pairs: list[tuple[str, str]] = []
    for w in split_words(value):
        assert w is not None
        name, eq, val = w.partition("=")
        if not eq or not _ENV_NAME.match(name):
            raise WordError(f"invalid environment assignment {w!r}")
        pairs.append((name, val))
    return pairs


def parse_environment_file(text: str) -> list[tuple[str, str]]:
    """Parse an ``EnvironmentFile=`` file: ``KEY=VALUE`` lines, shell-like quoting.

    Comments (``#``/``;`` at line start) and blank lines are skipped. Unquoted values lose
    trailing whitespace and honour ``\\`` escapes (``\\`` + newline continues the line);
    ``"..."`` allows ``\\"``, ``\\\\``, ``\\$`` and ``\\``` escapes; ``'...'`` is literal.
    Lines without ``=`` or with an invalid name are skipped, as systemd does.
    """
    pairs: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        eol = text.find("\n", i)
        line_end = n if eol < 0 else eol
        stripped = text[i:line_end].lstrip()
        if not stripped or stripped[0] in "#;" or "=" not in stripped:
            i = line_end + 1
            continue
        key_start = i + (line_end - i - len(stripped))
        eq = text.index("=", key_start)
        key = text[key_start:eq].strip()
        value, i = _env_value(text, eq + 1)
        if _ENV_NAME.match(key):
            pairs.append((key, value))
    return pairs


def _env_value(text: str, i: int) -> tuple[str, int]:
    """Read one value starting at ``i``; returns (value, index after its line)."""
    n = len(text)
    while i < n and text[i] in " \t":
        i += 1
    buf: list[str] = []
    pending_ws: list[str] = []
    while i < n and text[i] != "\n":
        c = text[i]
        if c in "\"'":
            end_quote = c
            i += 1
            buf.extend(pending_ws)
            pending_ws = []
            while i < n and text[i] != end_quote:
                if end_quote == '"' and text[i] == "\\" and i + 1 < n:
                    nxt = text[i + 1]
                    if nxt in '"\\`$':
                        buf.append(nxt)
                        i += 2
                        continue
                    if nxt == "\n":
                        i += 2
                        continue
                buf.append(text[i])
                i += 1
            i += 1
        elif c == "\\" and i + 1 < n:
            if text[i + 1] != "\n":
                buf.extend(pending_ws)
                pending_ws = []
                buf.append(text[i + 1])
            i += 2
        elif c in " \t":
            pending_ws.append(c)
            i += 1
        else:
            buf.extend(pending_ws)
            pending_ws = []
            buf.append(c)
            i += 1
    return "".join(buf), i + 1
