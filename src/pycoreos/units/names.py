"""Unit names: validation, templates and instances, escaping, specifiers. Pure.

Follows systemd's ``unit-name.c`` and ``systemd.unit(5)``:

- ``foo.service`` is a plain unit; ``foo@.service`` a template; ``foo@bar.service`` an
  instance of it. A name is at most 255 characters of ``[A-Za-z0-9:_.\\-@]`` plus a suffix.
- ``escape("/a b")`` gives ``-a\\x20b`` as ``systemd-escape`` does; ``unescape`` inverts it.
- Specifiers: ``%n %N %p %P %i %I %j %J %f %H %m %b %%``. An unknown specifier is an error
  (systemd logs and ignores the setting; we refuse the file so the user sees it).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

__all__ = [
    "UNIT_SUFFIXES",
    "SpecifierContext",
    "UnitName",
    "escape",
    "expand_specifiers",
    "parse_name",
    "unescape",
]

UNIT_SUFFIXES = (
    "service", "socket", "target", "device", "mount", "automount", "swap", "timer", "path",
    "slice", "scope",
)  # fmt: skip
_NAME_RE = re.compile(r"([A-Za-z0-9:_.\\\-]+)(?:@([A-Za-z0-9:_.\\\-@]*))?\.([a-z]+)\Z")
_ESCAPE_OK = set(string.ascii_letters + string.digits + ":_.")


@dataclass(frozen=True, slots=True)
class UnitName:
    """A parsed unit name: ``prefix[@instance].suffix``.

    ``instance`` is ``None`` for plain units and ``""`` for templates.
    """

    prefix: str
    instance: str | None
    suffix: str

    @property
    def name(self) -> str:
        """The full name (``foo@1.service``)."""
        inst = "" if self.instance is None else f"@{self.instance}"
        return f"{self.prefix}{inst}.{self.suffix}"

    @property
    def is_template(self) -> bool:
        """True for ``foo@.service``."""
        return self.instance == ""

    @property
    def is_instance(self) -> bool:
        """True for ``foo@bar.service``."""
        return bool(self.instance)

    @property
    def template(self) -> str | None:
        """The template an instance comes from (``foo@.service``), else ``None``."""
        return f"{self.prefix}@.{self.suffix}" if self.instance else None


def parse_name(name: str) -> UnitName:
    """Parse and validate a unit name.

    Raises:
        ValueError: if ``name`` is not a valid unit name.
    """
    if len(name) > 255:
        raise ValueError(f"unit name too long: {name[:40]}...")
    m = _NAME_RE.match(name)
    if m is None or m.group(3) not in UNIT_SUFFIXES:
        raise ValueError(f"invalid unit name {name!r}")
    return UnitName(m.group(1), m.group(2), m.group(3))


def escape(s: str) -> str:
    """Escape a string for use in a unit name, as ``systemd-escape`` (without ``--path``)."""
    out = []
    for i, ch in enumerate(s):
        if ch == "/":
            out.append("-")
        elif ch in _ESCAPE_OK and not (i == 0 and ch == "."):
            out.append(ch)
        else:
            out.extend(f"\\x{b:02x}" for b in ch.encode())
    return "".join(out)


def unescape(s: str) -> str:
    """Invert :func:`escape`: ``-`` becomes ``/`` and ``\\xNN`` the byte NN (UTF-8 decoded)."""
    buf = bytearray()
    i = 0
    while i < len(s):
        ch = s[i]
        if ch == "-":
            buf += b"/"
        elif ch == "\\" and s[i + 1 : i + 2] == "x" and len(s) >= i + 4:
            try:
                buf.append(int(s[i + 2 : i + 4], 16))
                i += 4
                continue
            except ValueError:
                buf += b"\\"
        else:
            buf += ch.encode()
        i += 1
    return buf.decode(errors="replace")


@dataclass(frozen=True, slots=True, kw_only=True)
class SpecifierContext:
    """Host facts the specifiers need, injected so expansion stays pure."""

    hostname: str = "localhost"
    machine_id: str = "0" * 32
    boot_id: str = "0" * 32


def expand_specifiers(value: str, unit: UnitName, ctx: SpecifierContext) -> str:
    """Replace ``%x`` specifiers in ``value`` for ``unit``.

    Raises:
        ValueError: on an unknown specifier or a lone trailing ``%``.
    """
    if "%" not in value:
        return value
    inst = unit.instance or ""
    prefix_unesc = unescape(unit.prefix)
    table = {
        "n": unit.name,
        "N": unit.name.rsplit(".", 1)[0],
        "p": unit.prefix,
        "P": prefix_unesc,
        "i": inst,
        "I": unescape(inst),
        "j": unit.prefix.rsplit("-", 1)[-1],
        "J": prefix_unesc.rsplit("/", 1)[-1],
        "f": "/" + (unescape(inst) if inst else prefix_unesc).lstrip("/"),
        "H": ctx.hostname,
        "m": ctx.machine_id,
        "b": ctx.boot_id,
        "%": "%",
    }
    out: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        spec = value[i + 1 : i + 2]
        if spec not in table:
            raise ValueError(f"unknown specifier %{spec}" if spec else "lone '%' at end")
        out.append(table[spec])
        i += 2
    return "".join(out)
