"""A tiny runner for "datadriven" golden files (cockroachdb/datadriven's format).

File format::

    # comment lines and blank lines between cases are ignored
    command arg1 key=value key=(v1, v2)
    optional input lines
    ----
    expected output, up to the next blank line

When the expected output itself contains blank lines, use a doubled separator::

    command
    ----
    ----
    output with

    blank lines
    ----
    ----

Set ``PYCOREOS_REWRITE=1`` to rewrite the files with the actual output instead of comparing
(then review the diff like code). An environment variable rather than a pytest option
keeps it working whichever conftest is loaded.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REWRITE_ENV = "PYCOREOS_REWRITE"


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument: ``key`` alone, or ``key=value`` / ``key=(v1, v2)``."""

    key: str
    vals: tuple[str, ...] = ()


@dataclass(slots=True)
class TestData:
    """One case of a file."""

    pos: str
    cmd: str
    args: list[Arg] = field(default_factory=list)
    input: str = ""
    expected: str = ""

    def arg(self, key: str) -> Arg | None:
        """The argument named ``key``, if present."""
        return next((a for a in self.args if a.key == key), None)

    def scan_int(self, key: str, default: int | None = None) -> int:
        """The single int value of ``key``."""
        a = self.arg(key)
        if a is None or not a.vals:
            if default is None:
                raise ValueError(f"{self.pos}: missing argument {key}")
            return default
        return int(a.vals[0])

    def scan_ints(self, key: str) -> list[int]:
        """All int values of ``key`` (empty if absent)."""
        a = self.arg(key)
        return [int(v) for v in a.vals] if a is not None else []

    def scan_bool(self, key: str, default: bool = False) -> bool:
        """The bool value of ``key`` (``true``/``false``)."""
        a = self.arg(key)
        if a is None or not a.vals:
            return default
        return a.vals[0] == "true"

    def positional(self) -> list[str]:
        """Arguments without a value, in order."""
        return [a.key for a in self.args if not a.vals]


def _parse_args(words: list[str]) -> list[Arg]:
    args: list[Arg] = []
    for w in words:
        if "=" not in w:
            args.append(Arg(w))
            continue
        key, val = w.split("=", 1)
        if val.startswith("(") and val.endswith(")"):
            vals = tuple(v.strip() for v in val[1:-1].split(",") if v.strip())
        else:
            vals = (val,)
        args.append(Arg(key, vals))
    return args


def _split_directive(line: str) -> list[str]:
    # Join "key=(a, b)" groups split by whitespace before shlex sees them.
    out: list[str] = []
    for w in shlex.split(line):
        if out and out[-1].count("(") > out[-1].count(")"):
            out[-1] += " " + w
        else:
            out.append(w)
    return out


def parse(text: str, name: str = "<string>") -> list[TestData]:
    """Parse a datadriven file into cases."""
    lines = text.split("\n")
    cases: list[TestData] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.startswith("#"):
            i += 1
            continue
        pos = f"{name}:{i + 1}"
        words = _split_directive(line)
        td = TestData(pos=pos, cmd=words[0], args=_parse_args(words[1:]))
        i += 1
        inp: list[str] = []
        while i < len(lines) and lines[i] != "----":
            inp.append(lines[i])
            i += 1
        if i >= len(lines):
            raise ValueError(f"{pos}: missing ---- separator")
        td.input = "\n".join(inp)
        i += 1
        out: list[str] = []
        if i < len(lines) and lines[i] == "----":
            i += 1
            while i + 1 < len(lines) and not (lines[i] == "----" and lines[i + 1] == "----"):
                out.append(lines[i])
                i += 1
            i += 2
        else:
            while i < len(lines) and lines[i].strip():
                out.append(lines[i])
                i += 1
        td.expected = "\n".join(out) + ("\n" if out else "")
        cases.append(td)
    return cases


def _render(td: TestData, line: str, actual: str) -> str:
    head = line + ("\n" + td.input if td.input else "") + "\n----\n"
    if "\n\n" in actual.rstrip("\n") or (not actual.endswith("\n") and actual):
        return head + "----\n" + actual.rstrip("\n") + "\n----\n----\n"
    return head + actual


def run_file(path: Path, handler: Callable[[TestData], str]) -> None:
    """Run every case of ``path`` through ``handler`` and compare (or rewrite).

    Raises:
        AssertionError: an output differs (with the position and both texts).
    """
    text = path.read_text()
    cases = parse(text, path.name)
    rewrite = os.environ.get(REWRITE_ENV) == "1"
    directive_lines = text.split("\n")
    rendered: list[str] = []
    # Keep comments preceding each case when rewriting.
    cursor = 0
    for td in cases:
        actual = handler(td).rstrip("\n")
        actual = (actual or "ok") + "\n"
        lineno = int(td.pos.rsplit(":", 1)[1]) - 1
        preamble = [ln for ln in directive_lines[cursor:lineno] if ln.startswith("#")]
        rendered.append(
            "\n".join(preamble)
            + ("\n" if preamble else "")
            + _render(td, directive_lines[lineno], actual)
        )
        cursor = lineno + 1
        if not rewrite and actual != td.expected:
            raise AssertionError(
                f"{td.pos}: output differs for {directive_lines[lineno]!r}\n"
                f"--- expected\n{td.expected}--- actual\n{actual}"
                f"(set {REWRITE_ENV}=1 to rewrite)"
            )
    if rewrite:
        path.write_text("\n".join(rendered))
