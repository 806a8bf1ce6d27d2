"""The kernel command line bits CoreOS acts on (pure).

* ``coreos.autologin`` (all consoles) or ``coreos.autologin=TTY``: getty drop-ins that log
  ``core`` in automatically (coreos/init ``coreos-autologin-generator``): ``ttyN`` means
  ``getty@ttyN.service``, anything else ``serial-getty@TTY.service``.
* ``cloud-config-url=URL`` (also ``cloud_config_url``, and Ignition-era
  ``coreos.config.url``): last one wins; a token without a value is ignored.
* ``coreos.oem.id=ID``.
* ``sshkey="ssh-rsa ..."``: keys for ``core`` (``update-ssh-keys -a proc-cmdline``).

Tokens are split on whitespace; double quotes group (as the kernel does).
"""

from __future__ import annotations

from dataclasses import dataclass

from pycoreos.cloudinit.plan import Action, AuthorizeKeys, DaemonReload, PlaceDropIn

GETTY = "[Service]\nExecStart=\nExecStart=-/sbin/agetty --autologin core --noclear %I $TERM\n"
SERIAL_GETTY = (
    "[Service]\nExecStart=\n"
    "ExecStart=-/sbin/agetty --autologin core --keep-baud 115200,38400,9600 %I $TERM\n"
)
AUTOLOGIN_DROP_IN = "10-autologin.conf"


@dataclass(frozen=True, slots=True, kw_only=True)
class KernelCmdline:
    """What the command line asks of cloud-config.

    ``autologin`` is ``None`` when absent, ``()`` for all consoles, else the TTYs named.
    """

    autologin: tuple[str, ...] | None = None
    config_url: str = ""
    oem_id: str = ""
    ssh_keys: tuple[str, ...] = ()


def tokens(text: str) -> list[str]:
    """Split a command line on whitespace, keeping double-quoted spans together."""
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    started = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
            started = True
        elif ch.isspace() and not quoted:
            if started:
                out.append("".join(cur))
            cur, started = [], False
        else:
            cur.append(ch)
            started = True
    if started:
        out.append("".join(cur))
    return out


def parse(text: str) -> KernelCmdline:
    """Parse ``/proc/cmdline`` text."""
    autologin: list[str] | None = None
    url = oem = ""
    keys: list[str] = []
    for token in tokens(text):
        key, eq, value = token.partition("=")
        if key == "coreos.autologin":
            autologin = autologin or []
            if eq and value:
                autologin.append(value)
            else:
                autologin.append("")
        elif key.replace("_", "-") in ("cloud-config-url", "coreos.config.url"):
            if eq:
                url = value
        elif key == "coreos.oem.id" and eq:
            oem = value
        elif key == "sshkey" and value:
            keys.append(value)
    if autologin is None or "" in autologin:
        ttys: tuple[str, ...] | None = None if autologin is None else ()
    else:
        ttys = tuple(autologin)
    return KernelCmdline(autologin=ttys, config_url=url, oem_id=oem, ssh_keys=tuple(keys))


def plan_cmdline(cmd: KernelCmdline, ssh_key_name: str = "proc-cmdline") -> list[Action]:
    """Actions for autologin drop-ins (runtime) and ``sshkey=`` keys."""
    out: list[Action] = []
    if cmd.autologin is not None:
        if not cmd.autologin:
            targets = [("getty@.service", GETTY), ("serial-getty@.service", SERIAL_GETTY)]
        else:
            targets = [
                (f"getty@{t}.service", GETTY)
                if t.startswith("tty") and t[3:4].isdigit()
                else (f"serial-getty@{t}.service", SERIAL_GETTY)
                for t in cmd.autologin
            ]
        out += [
            PlaceDropIn(unit=u, runtime=True, name=AUTOLOGIN_DROP_IN, content=c) for u, c in targets
        ]
        out.append(DaemonReload())
    if cmd.ssh_keys:
        out.append(AuthorizeKeys(user="core", key_name=ssh_key_name, keys=cmd.ssh_keys))
    return out
