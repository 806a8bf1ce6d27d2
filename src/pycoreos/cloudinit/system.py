"""Where actions land: the :class:`System` and :class:`UnitSink` protocols, and the real ones.

``RealSystem(root=Path(...))`` acts on a directory tree: a node's own root, or ``/`` on a
real host. Every path is resolved under ``root`` (absolute paths in the config never
escape it). Units go to a :class:`UnitSink`; the node implements one over its unit manager,
and :class:`RootUnitSink` (the default) writes unit files under the root and records
enable/daemon-reload/command calls.

Invariants:

* Every mutating method returns ``True`` only if it changed something. Writing identical
  bytes with the same mode and owner is not a change, which makes re-applying idempotent.
* Files are written atomically: a ``.cloudinit-temp*`` file in the same directory, chmod,
  chown, rename. Parent directories are created ``0755``.
* Ownership is applied only when running as root (otherwise recorded as skipped).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pycoreos._clock import Clock, RealClock
from pycoreos.cloudinit import accounts, schema
from pycoreos.cloudinit.errors import ApplyError


class UnitSink(Protocol):
    """Receives units, as systemd's D-Bus API does in the original."""

    def place_unit(self, name: str, runtime: bool, content: str) -> bool:
        """Write the unit file; ``True`` if it changed."""
        ...

    def place_drop_in(self, unit: str, runtime: bool, name: str, content: str) -> bool:
        """Write ``<unit>.d/<name>``; ``True`` if it changed."""
        ...

    def mask(self, name: str, runtime: bool) -> bool:
        """Point the unit file at ``/dev/null`` (destroying a file there)."""
        ...

    def unmask(self, name: str, runtime: bool) -> bool:
        """Remove the unit file if it is empty or ``/dev/null``."""
        ...

    def enable(self, name: str, runtime: bool) -> bool:
        """Enable the unit (``[Install]`` section), ``force=true``."""
        ...

    def daemon_reload(self) -> None:
        """Reload unit files."""
        ...

    def run_command(self, name: str, command: str) -> str:
        """Run ``start``/``stop``/... on the unit; returns the job result (``done``)."""
        ...

    def start_transient(self, name: str, argv: Sequence[str], description: str) -> str:
        """Run ``argv`` as a transient service ``name``; returns the job result."""
        ...


class System(Protocol):
    """The machine cloud-config configures."""

    @property
    def units(self) -> UnitSink:
        """Where units go."""
        ...

    def hostname(self) -> str:
        """The current hostname."""
        ...

    def set_hostname(self, name: str) -> bool:
        """Set the hostname."""
        ...

    def user_exists(self, name: str) -> bool:
        """Whether a user called ``name`` exists."""
        ...

    def create_user(self, user: schema.User) -> None:
        """Create ``user`` (useradd semantics)."""
        ...

    def set_password(self, name: str, passwd_hash: str) -> bool:
        """Set an existing user's password hash."""
        ...

    def authorize_ssh_keys(self, user: str, key_name: str, keys: Sequence[str]) -> bool:
        """Store ``keys`` as ``authorized_keys.d/<key_name>`` and regenerate the file."""
        ...

    def write_file(self, path: str, content: bytes, mode: int = 0o644, owner: str = "") -> bool:
        """Write a file atomically."""
        ...

    def read_file(self, path: str) -> bytes | None:
        """Contents of ``path``, ``None`` if it does not exist."""
        ...


def _privileged() -> bool:
    return os.geteuid() == 0


@dataclass
class RootUnitSink:
    """Unit files under ``root``; enable/reload/commands recorded in ``events``.

    ``events`` holds ``(verb, unit, detail)`` tuples in call order, e.g.
    ``("enable", "etcd.service", "runtime=False")`` or ``("command", "etcd.service", "start")``.
    """

    root: Path
    events: list[tuple[str, str, str]] = field(default_factory=list)

    def unit_dir(self, name: str, runtime: bool) -> Path:
        """``<root>/(etc|run)/systemd/(system|network)``."""
        group = schema.Unit(name=name).group
        return self.root / ("run" if runtime else "etc") / "systemd" / group

    def place_unit(self, name: str, runtime: bool, content: str) -> bool:
        return write_atomic(self.unit_dir(name, runtime) / name, content.encode(), 0o644)

    def place_drop_in(self, unit: str, runtime: bool, name: str, content: str) -> bool:
        path = self.unit_dir(unit, runtime) / f"{unit}.d" / name
        return write_atomic(path, content.encode(), 0o644)

    def mask(self, name: str, runtime: bool) -> bool:
        self.events.append(("mask", name, f"runtime={runtime}"))
        path = self.unit_dir(name, runtime) / name
        if path.is_symlink() and os.readlink(path) == "/dev/null":
            return False
        if path.is_symlink() or path.exists():
            path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        path.symlink_to("/dev/null")
        return True

    def unmask(self, name: str, runtime: bool) -> bool:
        path = self.unit_dir(name, runtime) / name
        # nullOrEmpty(): a link to /dev/null or an empty regular file; else refuse.
        masked = path.is_symlink() and os.readlink(path) == "/dev/null"
        if not (masked or (path.is_file() and path.stat().st_size == 0)):
            return False
        path.unlink()
        self.events.append(("unmask", name, f"runtime={runtime}"))
        return True

    def enable(self, name: str, runtime: bool) -> bool:
        self.events.append(("enable", name, f"runtime={runtime}"))
        return False

    def daemon_reload(self) -> None:
        self.events.append(("daemon-reload", "", ""))

    def run_command(self, name: str, command: str) -> str:
        self.events.append(("command", name, command))
        return "done"

    def start_transient(self, name: str, argv: Sequence[str], description: str) -> str:
        self.events.append(("transient", name, " ".join(argv)))
        return "done"


def write_atomic(path: Path, content: bytes, mode: int, uid: int = -1, gid: int = -1) -> bool:
    """Write ``path`` via a temp file + rename unless bytes, mode and owner already match."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        st = None
    if (
        st is not None
        and stat.S_ISREG(st.st_mode)
        and stat.S_IMODE(st.st_mode) == mode
        and (uid == -1 or st.st_uid == uid)
        and (gid == -1 or st.st_gid == gid)
        and path.read_bytes() == content
    ):
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    fd, tmp = tempfile.mkstemp(prefix=".cloudinit-temp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        os.chmod(tmp, mode)  # after writing: the umask must not narrow it
        if uid != -1 or gid != -1:
            os.chown(tmp, uid, gid)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return True


class RealSystem:
    """A :class:`System` over the directory tree at ``root``.

    Args:
        root: the target root (``Path("/")`` on a real host).
        units: the unit sink; default :class:`RootUnitSink` under ``root``.
        host: also use host tools (``hostnamectl``) - default: ``root`` is ``/``.
        clock: for the shadow "last changed" day of new users.
    """

    def __init__(
        self,
        root: Path,
        *,
        units: UnitSink | None = None,
        host: bool | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.root = Path(root)
        self._units: UnitSink = units if units is not None else RootUnitSink(self.root)
        self.host = (self.root.resolve() == Path("/")) if host is None else host
        self._clock = clock or RealClock()
        self.notes: list[str] = []

    @property
    def units(self) -> UnitSink:
        """The unit sink."""
        return self._units

    def path(self, p: str) -> Path:
        """``p`` (absolute in the target) resolved under the root."""
        return self.root / p.lstrip("/")

    def read_file(self, path: str) -> bytes | None:
        try:
            return self.path(path).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def _text(self, path: str) -> str:
        data = self.read_file(path)
        return data.decode() if data is not None else ""

    def hostname(self) -> str:
        if self.host:
            return socket.gethostname()
        return self._text("/etc/hostname").strip()

    def set_hostname(self, name: str) -> bool:
        changed = write_atomic(self.path("/etc/hostname"), f"{name}\n".encode(), 0o644)
        if self.host and shutil.which("hostnamectl") and socket.gethostname() != name:
            subprocess.run(["hostnamectl", "set-hostname", name], check=True)
            changed = True
        return changed

    def user_exists(self, name: str) -> bool:
        return accounts.find_user(self._text("/etc/passwd"), name) is not None

    def _accounts(self) -> accounts.Accounts:
        gshadow = self.read_file("/etc/gshadow")
        return accounts.Accounts(
            self._text("/etc/passwd"),
            self._text("/etc/group"),
            self._text("/etc/shadow"),
            gshadow.decode() if gshadow is not None else None,
        )

    def create_user(self, user: schema.User) -> None:
        days = int(self._clock.wall() // 86400)
        try:
            new, entry = accounts.add_user(self._accounts(), user, days)
        except accounts.AccountError as exc:
            raise ApplyError(str(exc)) from exc
        write_atomic(self.path("/etc/group"), new.group.encode(), 0o644)
        if new.gshadow is not None:
            write_atomic(self.path("/etc/gshadow"), new.gshadow.encode(), 0o640)
        write_atomic(self.path("/etc/shadow"), new.shadow.encode(), 0o640)
        write_atomic(self.path("/etc/passwd"), new.passwd.encode(), 0o644)
        if not user.no_create_home:
            home = self.path(entry.home)
            if not home.exists():
                home.mkdir(parents=True, mode=0o755)
                self._chown(home, entry.uid, entry.gid)

    def set_password(self, name: str, passwd_hash: str) -> bool:
        try:
            new = accounts.set_password(self._text("/etc/shadow"), name, passwd_hash)
        except accounts.AccountError as exc:
            raise ApplyError(str(exc)) from exc
        return write_atomic(self.path("/etc/shadow"), new.encode(), 0o640)

    def _chown(self, path: Path, uid: int, gid: int) -> None:
        if _privileged():
            os.chown(path, uid, gid, follow_symlinks=False)
        else:
            self.notes.append(f"not root: ownership {uid}:{gid} of {path} not applied")

    def authorize_ssh_keys(self, user: str, key_name: str, keys: Sequence[str]) -> bool:
        entry = accounts.find_user(self._text("/etc/passwd"), user)
        if entry is None:
            raise ApplyError(f"update-ssh-keys: user '{user}' does not exist")
        ssh = self.path(entry.home) / ".ssh"
        keys_dir = ssh / "authorized_keys.d"
        owner = (entry.uid, entry.gid) if _privileged() else (-1, -1)
        for d in (ssh, keys_dir):
            if not d.exists():
                d.mkdir(parents=True, mode=0o700)
                self._chown(d, entry.uid, entry.gid)
        changed = write_atomic(
            keys_dir / key_name, ("\n".join(keys) + "\n").encode(), 0o600, *owner
        )
        merged = "# auto-generated by update-ssh-keys\n" + "".join(
            p.read_text()
            for p in sorted(keys_dir.iterdir())
            if p.is_file() and not p.name.startswith(".")
        )
        changed |= write_atomic(ssh / "authorized_keys", merged.encode(), 0o600, *owner)
        return changed

    def resolve_owner(self, owner: str) -> tuple[int, int]:
        """``user[:group]`` -> ``(uid, gid)`` from the root's account files (-1: unchanged).

        Raises:
            ApplyError: an unknown user or group (``chown: invalid user``).
        """
        if not owner:
            return -1, -1
        name, _, group = owner.partition(":") if ":" in owner else owner.partition(".")
        uid = gid = -1
        if name:
            e = accounts.find_user(self._text("/etc/passwd"), name)
            if e is None:
                raise ApplyError(f"chown: invalid user: '{owner}'")
            uid = e.uid
        if group:
            g = accounts.find_group(self._text("/etc/group"), group)
            if g is None:
                raise ApplyError(f"chown: invalid group: '{owner}'")
            gid = g.gid
        return uid, gid

    def write_file(self, path: str, content: bytes, mode: int = 0o644, owner: str = "") -> bool:
        uid, gid = self.resolve_owner(owner)
        if (uid, gid) != (-1, -1) and not _privileged():
            self.notes.append(f"not root: owner {owner} of {path} not applied")
            uid = gid = -1
        target = self.path(path)
        if target.is_dir():
            raise ApplyError(f"cannot write {path}: is a directory")
        return write_atomic(target, content, mode, uid, gid)


def seed_root(root: Path) -> bool:
    """Give a fresh node root CoreOS's base accounts (``root``, ``core``, groups ``sudo``,
    ``docker``...) and ``/home/core``, so configs that refer to them apply. Existing files
    are left alone. Returns ``True`` if anything was created."""
    created = False
    for rel, text, mode in (
        ("etc/passwd", accounts.BASE_PASSWD, 0o644),
        ("etc/group", accounts.BASE_GROUP, 0o644),
        ("etc/shadow", accounts.BASE_SHADOW, 0o640),
    ):
        p = root / rel
        if not p.exists():
            write_atomic(p, text.encode(), mode)
            created = True
    home = root / "home" / "core"
    if not home.exists():
        home.mkdir(parents=True, mode=0o755)
        if _privileged():
            os.chown(home, 500, 500)
        created = True
    return created
