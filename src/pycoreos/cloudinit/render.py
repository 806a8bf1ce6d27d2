"""Generated file contents: service drop-ins, update.conf, oem-release, hosts, environment.

Each function reproduces one ``system/*.go`` renderer of coreos-cloudinit byte for byte
(field order from :mod:`~pycoreos.cloudinit.schema`, Go ``%v``/``%q`` formatting).

Pure: text in, text out.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from pycoreos.cloudinit import schema
from pycoreos.cloudinit.ynode import go_format

DROP_IN_NAME = "20-cloudinit.conf"


def env_vars(section: object) -> list[str]:
    """``KEY=value`` for every non-zero field of a service section, in field order."""
    out: list[str] = []
    for f in dataclasses.fields(section):  # type: ignore[arg-type]
        value = getattr(section, f.name)
        if not schema.is_zero(value):
            out.append(f"{f.metadata['env']}={go_format(value)}")
    return out


def service_drop_in(section: object) -> str:
    """The ``[Service]`` drop-in with one ``Environment="KEY=value"`` line per set field."""
    lines = env_vars(section)
    if not lines:
        return ""
    return "[Service]\n" + "".join(f'Environment="{v}"\n' for v in lines)


def flannel_options(flannel: schema.Flannel) -> str:
    """``/run/flannel/options.env``: ``FLANNELD_*=value`` lines joined by newlines."""
    return "\n".join(env_vars(flannel))


def go_quote(s: str) -> str:
    """Go ``strconv.Quote`` for the common cases (printable text, common escapes)."""
    out = ['"']
    for ch in s:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def oem_release(oem: schema.OEM) -> str | None:
    """``/etc/oem-release`` contents, or ``None`` when ``id`` is empty."""
    if oem.id == "":
        return None
    return (
        f"ID={oem.id}\n"
        f"VERSION_ID={oem.version_id}\n"
        f"NAME={go_quote(oem.name)}\n"
        f"HOME_URL={go_quote(oem.home_url)}\n"
        f"BUG_REPORT_URL={go_quote(oem.bug_report_url)}\n"
    )


def etc_hosts(manage: str, hostname: str) -> str:
    """``/etc/hosts`` for ``manage_etc_hosts: localhost``.

    Raises:
        ValueError: any other value (the original's ``Invalid option to manage_etc_hosts``).
    """
    if manage != "localhost":
        raise ValueError("Invalid option to manage_etc_hosts")
    return f"127.0.0.1 {hostname}\n"


def update_conf(update: schema.Update, existing: str) -> str:
    """``/etc/coreos/update.conf`` regenerated from ``existing`` (the current file).

    Lines starting with a managed key are replaced (first match only), keys not present are
    appended in sorted order, other lines are kept.
    """
    subs: dict[str, str] = {}
    for f in dataclasses.fields(update):
        value = getattr(update, f.name)
        if value:
            subs[f.metadata["env"]] = f"{f.metadata['env']}={value}"
    out: list[str] = []
    # bufio.Scanner splits on \n and drops one trailing \r.
    lines = existing.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for raw in lines:
        line = raw[:-1] if raw.endswith("\r") else raw
        for env in list(subs):
            if line.startswith(env):
                line = subs.pop(env)
                break
        out.append(line + "\n")
    out.extend(subs[k] + "\n" for k in sorted(subs))
    return "".join(out)


_LINE_RE = re.compile(r"(?m)^((?:([a-zA-Z0-9_]+)=)?.*?)\r?\n")
_VALID_KEY = re.compile(r"^[a-zA-Z0-9_]+$")


def merge_env_file(old: str, pending: Mapping[str, str]) -> str:
    """``mergeEnvContents``: replace ``KEY=`` lines, append new keys sorted, keep the rest.

    Raises:
        ValueError: a key that is not ``[a-zA-Z0-9_]+``.
    """
    for key in pending:
        if not _VALID_KEY.match(key):
            raise ValueError(f'Invalid name "{key}" for /etc/environment')
    left = dict(pending)
    out: list[str] = []
    for m in _LINE_RE.finditer(old):
        key = m.group(2) or ""
        if key in left:
            out.append(f"{key}={left.pop(key)}\n")
        else:
            out.append(m.group(1) + "\n")
    out.extend(f"{k}={left[k]}\n" for k in sorted(left))
    return "".join(out)
