"""systemd unit-file syntax: parse to ordered options, serialize back. Pure.

Grammar (as systemd's ``conf-parser.c`` reads it):

- Leading and trailing whitespace of every line is ignored; empty lines are skipped.
- Lines starting with ``#`` or ``;`` are comments, also inside a continuation.
- A line ending in an odd number of backslashes continues on the next line; the final
  backslash is replaced by a space. A continuation still open at end of file ends there.
- ``[Section]`` starts a section; the name is everything between the brackets.
- ``Key=Value`` assigns within the current section; key and value are stripped. There are no
  inline comments: ``A=b # c`` has the value ``b # c``. Quoting is not interpreted here: it
  belongs to each key's own grammar (see :mod:`pycoreos.units.execline`).

Invariants:

- Options keep file order and repetition (fleet hashes and compares them in order).
- ``parse(serialize(u)) == u`` for every ``UnitFile`` whose values are representable (no
  newline, no leading/trailing whitespace, no odd trailing backslash run); ``serialize``
  raises ``ValueError`` for the others rather than writing a file that reads back differently.
- Every problem in the text raises :class:`UnitFileError` with the file name and line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from pycoreos.units.errors import UnitFileError

__all__ = ["UnitFile", "UnitOption", "parse_unit", "serialize_unit"]

_KEY_RE = re.compile(r"[A-Za-z0-9_\-.@]+\Z")
_SECTION_RE = re.compile(r"[^\[\]\x00-\x1f]+\Z")
MAX_LINE = 1 << 20  # systemd's LONG_LINE_MAX


@dataclass(frozen=True, slots=True)
class UnitOption:
    """One ``Key=Value`` assignment. ``file``/``line`` locate it and do not take part in ==."""

    section: str
    name: str
    value: str
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class UnitFile:
    """An ordered sequence of options; sections appear in the order of their first option.

    ``sections`` also lists sections that had a header but no options, so that an empty
    ``[Install]`` survives a round trip; it does not take part in == (only options do).
    """

    options: tuple[UnitOption, ...] = ()
    sections: tuple[str, ...] = field(default=(), compare=False)
    file: str = field(default="", compare=False)

    def get(self, section: str, name: str) -> list[str]:
        """Every value of ``name`` in ``section``, in order (repeated keys accumulate)."""
        return [o.value for o in self.options if o.section == section and o.name == name]

    def last(self, section: str, name: str) -> UnitOption | None:
        """The last assignment of ``name`` in ``section`` (the one that wins for scalars)."""
        for o in reversed(self.options):
            if o.section == section and o.name == name:
                return o
        return None

    def section_options(self, section: str) -> Iterator[UnitOption]:
        """The options of one section, in order."""
        return (o for o in self.options if o.section == section)

    def merged(self, *dropins: UnitFile) -> UnitFile:
        """This file with drop-ins applied in order: their options are appended."""
        opts = list(self.options)
        secs = list(self.sections)
        for d in dropins:
            opts.extend(d.options)
            secs.extend(s for s in d.sections if s not in secs)
        return UnitFile(tuple(opts), tuple(secs), file=self.file)


def _logical_lines(text: str, file: str) -> Iterator[tuple[int, str]]:
    """Yield (first line number, joined line) after comments and continuations."""
    pending: list[str] = []
    start = 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        if len(raw) > MAX_LINE:
            raise UnitFileError("line too long", file=file, line=lineno)
        if "\x00" in raw:
            raise UnitFileError("NUL byte in line", file=file, line=lineno)
        line = raw.strip()
        if pending and line[:1] in ("#", ";"):
            continue  # systemd skips comment lines inside a continuation
        if not pending:
            if not line or line[0] in "#;":
                continue
            start = lineno
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2 == 1:
            pending.append(line[:-1] + " ")
            continue
        pending.append(line)
        yield start, "".join(pending).strip()
        pending = []
    if pending:
        yield start, "".join(pending).strip()


def parse_unit(text: str, *, file: str = "<unit>") -> UnitFile:
    """Parse unit-file text into a :class:`UnitFile`.

    Args:
        text: the file's contents.
        file: the name used in errors and recorded on each option.

    Raises:
        UnitFileError: on syntax errors (bad section header, assignment outside a section,
            missing ``=``, invalid key).
    """
    options: list[UnitOption] = []
    sections: list[str] = []
    section: str | None = None
    for lineno, line in _logical_lines(text, file):
        if line.startswith("["):
            if not line.endswith("]") or len(line) < 3:
                raise UnitFileError(f"invalid section header {line!r}", file=file, line=lineno)
            name = line[1:-1]
            if not _SECTION_RE.match(name):
                raise UnitFileError(f"invalid section name {name!r}", file=file, line=lineno)
            section = name
            if name not in sections:
                sections.append(name)
            continue
        key, eq, value = line.partition("=")
        key = key.strip()
        if not eq:
            raise UnitFileError(
                f"missing '=' in {line[:60]!r}", file=file, line=lineno, key=key[:60]
            )
        if not _KEY_RE.match(key):
            raise UnitFileError(f"invalid key {key[:60]!r}", file=file, line=lineno)
        if section is None:
            raise UnitFileError("assignment outside of section", file=file, line=lineno, key=key)
        options.append(UnitOption(section, key, value.strip(), file=file, line=lineno))
    return UnitFile(tuple(options), tuple(sections), file=file)


def _check_value(o: UnitOption) -> None:
    v = o.value
    if "\n" in v or "\r" in v or v != v.strip() or "\x00" in v:
        raise ValueError(f"value of {o.section}.{o.name} is not representable: {v!r}")
    if (len(v) - len(v.rstrip("\\"))) % 2 == 1:
        raise ValueError(f"value of {o.section}.{o.name} ends in an odd backslash run")
    if not _KEY_RE.match(o.name) or not _SECTION_RE.match(o.section):
        raise ValueError(f"invalid section or key: [{o.section}] {o.name}")


def serialize_unit(unit: UnitFile | Iterable[UnitOption]) -> str:
    """Render options as unit-file text, grouping them under section headers in order.

    Consecutive options of one section share a header; a section that reappears later gets
    a new header (order is preserved exactly, which systemd accepts).

    Raises:
        ValueError: if a value cannot be written so that it reads back identically.
    """
    if isinstance(unit, UnitFile):
        options: tuple[UnitOption, ...] = unit.options
        sections = unit.sections
    else:
        options = tuple(unit)
        sections = ()
    out: list[str] = []
    current: str | None = None
    seen: set[str] = set()
    for o in options:
        _check_value(o)
        if o.section != current:
            if out:
                out.append("")
            out.append(f"[{o.section}]")
            current = o.section
            seen.add(o.section)
        out.append(f"{o.name}={o.value}")
    for s in sections:
        if s not in seen:  # header-only sections
            if out:
                out.append("")
            out.append(f"[{s}]")
            seen.add(s)
    return "\n".join(out) + "\n" if out else ""
