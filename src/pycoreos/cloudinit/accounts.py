"""``/etc/passwd``, ``/etc/group`` and ``/etc/shadow`` edited as text (useradd semantics).

A node's root has no ``useradd --root`` we can rely on, so user creation is done here, the
way shadow-utils does it with CoreOS's defaults: normal UIDs from 1000 up (one past the
highest in use), system UIDs from 999 down, a same-named user group (GID = UID when free)
unless ``no_user_group`` (then group 100), shell ``/bin/bash``, home ``/home/<name>``,
password ``*`` (locked) when none is given.

Pure: functions take and return file texts; :mod:`pycoreos.cloudinit.system` does the I/O.
Invariant: output keeps every existing line unchanged and in place; new lines are appended.
"""

from __future__ import annotations

from dataclasses import dataclass

from pycoreos.cloudinit import schema

UID_MIN, UID_MAX = 1000, 60000
SYS_UID_MIN, SYS_UID_MAX = 101, 999
USERS_GID = 100
DEFAULT_SHELL = "/bin/bash"


class AccountError(ValueError):
    """A useradd-style failure; the message mimics the tool's."""


@dataclass(frozen=True, slots=True)
class PasswdEntry:
    """One ``/etc/passwd`` line."""

    name: str
    uid: int
    gid: int
    gecos: str
    home: str
    shell: str


@dataclass(frozen=True, slots=True)
class GroupEntry:
    """One ``/etc/group`` line."""

    name: str
    gid: int
    members: tuple[str, ...]


def parse_passwd(text: str) -> list[PasswdEntry]:
    """Entries of a passwd file (malformed lines skipped)."""
    out = []
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 7 and parts[2].isdigit() and parts[3].isdigit():
            out.append(
                PasswdEntry(parts[0], int(parts[2]), int(parts[3]), parts[4], parts[5], parts[6])
            )
    return out


def parse_group(text: str) -> list[GroupEntry]:
    """Entries of a group file (malformed lines skipped)."""
    out = []
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 4 and parts[2].isdigit():
            members = tuple(m for m in parts[3].split(",") if m)
            out.append(GroupEntry(parts[0], int(parts[2]), members))
    return out


def find_user(passwd: str, name: str) -> PasswdEntry | None:
    """The passwd entry of ``name`` (or of the numeric uid ``name``)."""
    for e in parse_passwd(passwd):
        if e.name == name or (name.isdigit() and e.uid == int(name)):
            return e
    return None


def find_group(group: str, name: str) -> GroupEntry | None:
    """The group entry of ``name`` (or of the numeric gid ``name``)."""
    for e in parse_group(group):
        if e.name == name or (name.isdigit() and e.gid == int(name)):
            return e
    return None


def _append(text: str, line: str) -> str:
    if text and not text.endswith("\n"):
        text += "\n"
    return text + line + "\n"


def _next_id(used: set[int], system: bool, preferred: int | None = None) -> int:
    if preferred is not None and preferred not in used:
        return preferred
    if system:
        for i in range(SYS_UID_MAX, SYS_UID_MIN - 1, -1):
            if i not in used:
                return i
        raise AccountError("useradd: can't get unique system UID (no more available UIDs)")
    in_range = [i for i in used if UID_MIN <= i <= UID_MAX]
    candidate = max(in_range) + 1 if in_range else UID_MIN
    if candidate > UID_MAX:
        raise AccountError("useradd: can't get unique UID (no more available UIDs)")
    return candidate


@dataclass(frozen=True, slots=True)
class Accounts:
    """The three account files of a root, as text (``gshadow`` optional)."""

    passwd: str
    group: str
    shadow: str
    gshadow: str | None = None


def add_user(
    acc: Accounts, user: schema.User, days_since_epoch: int
) -> tuple[Accounts, PasswdEntry]:
    """``useradd`` for a config user.

    Returns:
        The new file texts and the created entry.

    Raises:
        AccountError: the user exists, or a named group does not exist.
    """
    if find_user(acc.passwd, user.name) is not None:
        raise AccountError(f"useradd: user '{user.name}' already exists")
    groups = parse_group(acc.group)
    for g in user.groups:
        if find_group(acc.group, g) is None:
            raise AccountError(f"useradd: group '{g}' does not exist")
    uid = _next_id({e.uid for e in parse_passwd(acc.passwd)}, user.system)
    group_text, gshadow_text = acc.group, acc.gshadow
    if user.primary_group:
        primary = find_group(acc.group, user.primary_group)
        if primary is None:
            raise AccountError(f"useradd: group '{user.primary_group}' does not exist")
        gid = primary.gid
    elif user.no_user_group:
        gid = USERS_GID
    else:
        if any(g.name == user.name for g in groups):
            raise AccountError(
                f"useradd: group {user.name} exists - if you want to add this user to that "
                "group, use -g."
            )
        gid = _next_id({g.gid for g in groups}, user.system, preferred=uid)
        group_text = _append(group_text, f"{user.name}:x:{gid}:")
        if gshadow_text is not None:
            gshadow_text = _append(gshadow_text, f"{user.name}:!::")
    home = user.homedir or f"/home/{user.name}"
    entry = PasswdEntry(user.name, uid, gid, user.gecos, home, user.shell or DEFAULT_SHELL)
    passwd = _append(acc.passwd, f"{entry.name}:x:{uid}:{gid}:{entry.gecos}:{home}:{entry.shell}")
    shadow = _append(
        acc.shadow, f"{user.name}:{user.passwd or '*'}:{days_since_epoch}:0:99999:7:::"
    )
    for g in user.groups:
        group_text = _add_member(group_text, g, user.name)
        if gshadow_text is not None:
            gshadow_text = _add_member(gshadow_text, g, user.name, members_field=3)
    return Accounts(passwd, group_text, shadow, gshadow_text), entry


def _add_member(text: str, group: str, user: str, members_field: int = 3) -> str:
    out = []
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) > members_field and (parts[0] == group or parts[2:3] == [group]):
            members = [m for m in parts[members_field].split(",") if m]
            if user not in members:
                members.append(user)
            parts[members_field] = ",".join(members)
            line = ":".join(parts)
        out.append(line)
    return "\n".join(out) + ("\n" if out else "")


def set_password(shadow: str, name: str, passwd_hash: str) -> str:
    """``chpasswd -e``: replace the hash field of ``name``'s shadow line.

    Raises:
        AccountError: no shadow line for ``name``.
    """
    out, found = [], False
    for line in shadow.splitlines():
        parts = line.split(":")
        if parts[0] == name and len(parts) >= 2:
            parts[1] = passwd_hash
            line, found = ":".join(parts), True
        out.append(line)
    if not found:
        raise AccountError(f"chpasswd: line 1: user '{name}' does not exist")
    return "\n".join(out) + "\n"


# CoreOS's baselayout (trimmed): the accounts cloud-configs commonly refer to.
BASE_PASSWD = "root:x:0:0:root:/root:/bin/bash\ncore:x:500:500:CoreOS Admin:/home/core:/bin/bash\n"
BASE_GROUP = (
    "root:x:0:root\n"
    "wheel:x:10:root,core\n"
    "users:x:100:\n"
    "sudo:x:150:\n"
    "docker:x:233:core\n"
    "systemd-journal:x:190:core\n"
    "portage:x:250:core\n"
    "core:x:500:\n"
)
BASE_SHADOW = "root:*:::::::\ncore:*:15887:0:99999:7:::\n"
