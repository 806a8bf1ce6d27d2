"""Spawning unit processes: environment, credentials, working directory, output capture.

``prepare()`` is pure given its inputs (it reads EnvironmentFile= files and the user
database only); ``spawn()`` forks with ``subprocess.Popen``, which reports exec failures
synchronously through its CLOEXEC pipe. Every child:

- starts a new session (so terminal signals and our process group never reach it),
- joins its unit's cgroup before exec (``preexec``),
- gets /dev/null on stdin and one pipe for stdout+stderr, read by the supervisor into the
  journal line by line.

Failures before exec are mapped to systemd's exit statuses (``200/CHDIR``, ``203/EXEC``,
``217/USER``, ``219/CGROUP``) so the state machine sees what systemd would show.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pycoreos.units.config import ServiceConfig
from pycoreos.units.execline import ExecCommand, expand_argv, parse_environment_file

__all__ = ["DEFAULT_PATH", "Prepared", "SpawnError", "prepare", "spawn"]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
EXIT_CHDIR, EXIT_EXEC, EXIT_USER, EXIT_GROUP, EXIT_CGROUP = 200, 203, 217, 216, 219


class SpawnError(Exception):
    """Spawning failed before exec. ``exit_status`` is systemd's code; ``resources`` marks
    failures systemd reports as result ``resources`` (no process was forked at all)."""

    def __init__(self, message: str, *, exit_status: int = EXIT_EXEC, resources: bool = False):
        super().__init__(message)
        self.exit_status = exit_status
        self.resources = resources


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepared:
    """Everything needed to exec one command."""

    executable: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: str
    user: int | None
    group: int | None
    extra_groups: tuple[int, ...] | None


def unit_environment(
    cfg: ServiceConfig,
    *,
    invocation_id: str,
    extra: Mapping[str, str] = {},
    default: Mapping[str, str] = {},
) -> dict[str, str]:
    """The environment of the unit's processes (before per-command additions).

    Precedence, lowest first, as systemd merges them: the manager's ``PATH`` and
    ``default`` (``DefaultEnvironment=``), then what the manager sets per unit
    (``INVOCATION_ID``, ``USER``/``HOME``... for ``User=``), then ``Environment=``, then
    ``EnvironmentFile=``, then ``extra`` (``NOTIFY_SOCKET``, ``MAINPID``).

    Raises:
        SpawnError: if a non-optional EnvironmentFile= cannot be read (result resources).
    """
    env = {"PATH": DEFAULT_PATH}
    env.update(default)
    env["INVOCATION_ID"] = invocation_id
    if cfg.user:
        try:
            pw = pwd.getpwnam(cfg.user) if not cfg.user.isdigit() else pwd.getpwuid(int(cfg.user))
            env.update(HOME=pw.pw_dir, USER=pw.pw_name, LOGNAME=pw.pw_name, SHELL=pw.pw_shell)
        except KeyError:
            pass  # reported as 217/USER at spawn time
    env.update(cfg.environment)
    for path, optional in cfg.environment_files:
        try:
            env.update(parse_environment_file(Path(path).read_text(errors="surrogateescape")))
        except OSError as e:
            if not optional:
                raise SpawnError(
                    f"Failed to load environment files: {path}: {e.strerror}", resources=True
                ) from None
    env.update(extra)
    return env


def _resolve(path: str, env: Mapping[str, str]) -> str:
    if "/" in path:
        return path
    found = shutil.which(path, path=DEFAULT_PATH)
    if found is None:
        raise SpawnError(f"Failed to locate executable {path}: No such file or directory")
    return found


def prepare(cmd: ExecCommand, cfg: ServiceConfig, env: Mapping[str, str]) -> Prepared:
    """Expand and resolve ``cmd`` for execution.

    Raises:
        SpawnError: unknown User=/Group=, missing WorkingDirectory=, unresolvable program.
    """
    argv = expand_argv(cmd, env)
    executable = _resolve(cmd.path if cmd.no_env_expand else expand_argv(
        ExecCommand(path=cmd.path, argv=(cmd.path,)), env)[0], env)  # fmt: skip
    uid: int | None = None
    gid: int | None = None
    groups: tuple[int, ...] | None = None
    home = "/"
    if cfg.user and not cmd.privileged:
        try:
            pw = pwd.getpwnam(cfg.user) if not cfg.user.isdigit() else pwd.getpwuid(int(cfg.user))
        except KeyError:
            raise SpawnError(
                f"Failed to determine user credentials: {cfg.user}", exit_status=EXIT_USER
            ) from None
        uid, gid, home = pw.pw_uid, pw.pw_gid, pw.pw_dir
        groups = tuple(os.getgrouplist(pw.pw_name, pw.pw_gid))
    if cfg.group and not cmd.privileged:
        try:
            gid = grp.getgrnam(cfg.group).gr_gid if not cfg.group.isdigit() else int(cfg.group)
        except KeyError:
            raise SpawnError(
                f"Failed to determine group credentials: {cfg.group}", exit_status=EXIT_GROUP
            ) from None
    cwd = cfg.working_directory or "/"
    if cwd == "~":
        cwd = home
    if not os.path.isdir(cwd):
        if not cfg.working_directory_optional:
            raise SpawnError(
                f"Changing to the requested working directory failed: {cwd}", exit_status=EXIT_CHDIR
            )
        cwd = home if os.path.isdir(home) else "/"
    return Prepared(
        executable=executable, argv=argv, env=dict(env), cwd=cwd, user=uid, group=gid,
        extra_groups=groups,
    )  # fmt: skip


def spawn(
    p: Prepared, *, output_fd: int, preexec: Callable[[], None] | None
) -> subprocess.Popen[bytes]:
    """Fork and exec ``p``; the child writes stdout and stderr to ``output_fd``.

    Raises:
        SpawnError: when exec (or joining the cgroup) failed in the child.
    """

    # Credentials are dropped in our preexec, after joining the cgroup: Popen's own
    # user=/group= would switch before preexec runs, and "nobody" cannot join a cgroup.
    def child() -> None:
        if preexec is not None:
            preexec()
        if p.extra_groups is not None:
            os.setgroups(list(p.extra_groups))
        if p.group is not None:
            os.setgid(p.group)
        if p.user is not None:
            os.setuid(p.user)

    needs_child = preexec is not None or p.user is not None or p.group is not None
    try:
        return subprocess.Popen(
            list(p.argv) or [p.executable],
            executable=p.executable,
            env=dict(p.env),
            cwd=p.cwd,
            stdin=subprocess.DEVNULL,
            stdout=output_fd,
            stderr=output_fd,
            close_fds=True,
            start_new_session=True,
            preexec_fn=child if needs_child else None,
        )
    except subprocess.SubprocessError as e:  # raised for a failing preexec_fn
        raise SpawnError(
            f"Failed to set up the process (cgroup or credentials): {e}", exit_status=EXIT_CGROUP
        ) from None
    except OSError as e:
        raise SpawnError(f"Failed to execute {p.executable}: {e.strerror}") from None


def new_invocation_id() -> str:
    """A fresh 128-bit id (``INVOCATION_ID``), as systemd gives every activation."""
    return uuid.uuid4().hex
