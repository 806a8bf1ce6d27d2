"""Command-line parsing the way etcdctl v2 does it (Go ``flag`` + ``urfave/cli`` v1), pure.

etcdctl's users depend on its quirks, so they are reproduced on purpose:
* ``-x`` and ``--x`` are the same flag; ``-x=v`` and ``-x v`` both give a value; a value is
  taken from the next argument even if it starts with ``-``; bool flags never eat the next
  argument; the first non-flag argument (or ``--``, which is consumed) ends the flags.
* Command arguments are reordered first (urfave ``reorderArgs``): the command's flags (and
  the argument after a flag without ``=``, unless it is a flag too) move in front of the
  positional arguments; everything after ``--`` stays positional.
* Errors carry Go's exact texts (``flag provided but not defined: -bogus``,
  ``invalid value "abc" for flag -ttl: parse error``).
* Help text is rendered like urfave's templates (two-space gutters, ``(default: ...)``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

FlagKind = Literal["bool", "string", "int", "duration"]
FlagValue = bool | str | int | float


class UsageError(Exception):
    """A command line that Go's flag package would reject; ``str()`` is Go's text."""


@dataclass(frozen=True, slots=True)
class FlagSpec:
    """One flag: ``names`` as urfave spells them (``("recursive", "r")``), first is canonical.

    ``placeholder`` replaces ``value`` in help (urfave takes it from back-quotes in usage).
    """

    names: tuple[str, ...]
    kind: FlagKind
    usage: str
    default: FlagValue = False
    placeholder: str = ""

    @property
    def name(self) -> str:
        return self.names[0]

    def help_line(self) -> tuple[str, str]:
        """(left column, right column) of this flag in a help listing."""
        ph = "" if self.kind == "bool" else f" {self.placeholder or 'value'}"
        left = ", ".join(("-" if len(n) == 1 else "--") + n + ph for n in self.names)
        usage = self.usage
        if self.kind == "string" and self.default:
            usage += f' (default: "{self.default}")'
        elif self.kind == "int":
            usage += f" (default: {self.default})"
        elif self.kind == "duration":
            usage += f" (default: {format_duration(float(self.default))})"
        return left, usage


def render_columns(rows: Sequence[tuple[str, str]], indent: str = "   ") -> list[str]:
    """Align two columns like Go's tabwriter (padding 2), each line prefixed by ``indent``."""
    width = max((len(a) for a, _ in rows), default=0)
    return [f"{indent}{a:<{width}}  {b}" for a, b in rows]


_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,
    "\u03bcs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Go ``time.ParseDuration`` in seconds (``"1m30s"``, ``"500ms"``); ValueError if bad."""
    s = text
    sign = 1.0
    if s[:1] in ("+", "-"):
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(text)
    total = 0.0
    pos = 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if m is None:
            raise ValueError(text)
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    return sign * total


def format_duration(seconds: float) -> str:
    """Go ``Duration.String`` for the whole-second and sub-second values used in help."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    m, s = divmod(seconds, 60)
    h, m = divmod(int(m), 60)
    out = f"{s:g}s"
    if m or h:
        out = f"{m}m" + out
    if h:
        out = f"{h}h" + out
    return out


_BOOL = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True}
_BOOL |= {"0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def _parse_int(text: str) -> int:
    # strconv.ParseInt(s, 0, 64): base prefixes, and a leading 0 means octal.
    if text != text.strip():
        raise ValueError(text)
    sign = -1 if text.startswith("-") else 1
    body = text[1:] if text[:1] in ("+", "-") else text
    if len(body) > 1 and body[0] == "0" and body[1] in "01234567_":
        return sign * int(body[1:], 8)
    return sign * int(body, 0)


def _convert(spec: FlagSpec, text: str) -> FlagValue:
    if spec.kind == "string":
        return text
    if spec.kind == "int":
        return _parse_int(text)
    return parse_duration(text)


def parse_flags(
    specs: Sequence[FlagSpec], args: Sequence[str]
) -> tuple[dict[str, FlagValue], list[str]]:
    """Go ``FlagSet.Parse``: return ({canonical name: value}, remaining args).

    Raises:
        UsageError: unknown flag, missing value or a value that does not parse.
    """
    by_name = {n: s for s in specs for n in s.names}
    values: dict[str, FlagValue] = {s.name: s.default for s in specs}
    rest = list(args)
    while rest:
        s = rest[0]
        if len(s) < 2 or s[0] != "-":
            break
        minuses = 2 if s[1] == "-" else 1
        if minuses == 2 and len(s) == 2:
            rest.pop(0)
            break
        name = s[minuses:]
        if not name or name[0] in "-=":
            raise UsageError(f"bad flag syntax: {s}")
        rest.pop(0)
        name, has_value, value = name.partition("=")
        spec = by_name.get(name)
        if spec is None:
            raise UsageError(f"flag provided but not defined: -{name}")
        if spec.kind == "bool":
            if has_value:
                if value not in _BOOL:
                    raise UsageError(f'invalid boolean value "{value}" for -{name}: parse error')
                values[spec.name] = _BOOL[value]
            else:
                values[spec.name] = True
            continue
        if not has_value:
            if not rest:
                raise UsageError(f"flag needs an argument: -{name}")
            value = rest.pop(0)
        try:
            values[spec.name] = _convert(spec, value)
        except ValueError:
            raise UsageError(f'invalid value "{value}" for flag -{name}: parse error') from None
    return values, rest


def _is_flag(names: frozenset[str], arg: str) -> bool:
    # urfave argIsFlag: only the command's own flags count; "-" and "--" never do.
    if arg in ("-", "--") or not arg.startswith("-"):
        return False
    return arg.lstrip("-").split("=", 1)[0] in names


def reorder_args(specs: Sequence[FlagSpec], args: Sequence[str]) -> list[str]:
    """urfave/cli v1.22 ``reorderArgs``: move the command's flags before other arguments.

    A flag without ``=`` takes the next argument along when that is not itself a flag. At
    the first ``--`` (not taken as a value) the rest stays in order and ``--`` moves in front
    of the positional arguments, where Go's flag parser consumes it.
    """
    names = frozenset(n for s in specs for n in s.names)
    flags: list[str] = []
    rest: list[str] = []
    may_be_value = False
    for i, arg in enumerate(args):
        if may_be_value and not _is_flag(names, arg):
            may_be_value = False
            flags.append(arg)
        elif arg == "--":
            rest = ["--", *rest, *args[i + 1 :]]
            break
        elif _is_flag(names, arg):
            flags.append(arg)
            may_be_value = "=" not in arg
        else:
            rest.append(arg)
    return flags + rest
