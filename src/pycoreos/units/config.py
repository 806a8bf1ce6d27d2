"""Typed unit configuration built from a (merged) UnitFile. Pure.

``build_config(unit_file, name, ctx)`` expands specifiers, applies systemd's list-reset rule
(an empty assignment clears what came before), converts values (time spans, booleans,
signals, exit statuses) and validates. Every problem raises :class:`UnitFileError` naming
the file, line and key of the offending assignment (line 0 when a required key is absent).

We are stricter than systemd on purpose: systemd logs and ignores an unknown ``Type=`` and
keeps the default; we refuse the unit (load state ``error``) so the mistake is visible.
Unknown keys are kept in the UnitFile and ignored here.
"""

from __future__ import annotations

import enum
import re
import signal as _signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from pycoreos.units.errors import UnitFileError
from pycoreos.units.execline import (
    ExecCommand,
    WordError,
    parse_environment,
    parse_exec,
    split_words,
)
from pycoreos.units.names import SpecifierContext, UnitName, expand_specifiers, parse_name
from pycoreos.units.unitfile import UnitFile, UnitOption

__all__ = [
    "INFINITY",
    "Dependencies",
    "InstallInfo",
    "KillMode",
    "RestartPolicy",
    "ServiceConfig",
    "ServiceType",
    "UnitConfig",
    "build_config",
    "parse_signal",
    "parse_timespan",
]

INFINITY = float("inf")
_T = TypeVar("_T")


class ServiceType(enum.StrEnum):
    """``Type=``."""

    SIMPLE = "simple"
    EXEC = "exec"
    ONESHOT = "oneshot"
    FORKING = "forking"
    NOTIFY = "notify"


class RestartPolicy(enum.StrEnum):
    """``Restart=``."""

    NO = "no"
    ON_SUCCESS = "on-success"
    ON_FAILURE = "on-failure"
    ON_ABNORMAL = "on-abnormal"
    ON_ABORT = "on-abort"
    ON_WATCHDOG = "on-watchdog"
    ALWAYS = "always"


class KillMode(enum.StrEnum):
    """``KillMode=``."""

    CONTROL_GROUP = "control-group"
    MIXED = "mixed"
    PROCESS = "process"
    NONE = "none"


@dataclass(frozen=True, slots=True, kw_only=True)
class Dependencies:
    """The dependency settings of ``[Unit]`` (plus ``.wants/`` links added by the loader)."""

    requires: tuple[str, ...] = ()
    wants: tuple[str, ...] = ()
    binds_to: tuple[str, ...] = ()
    part_of: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    before: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class InstallInfo:
    """``[Install]``: what ``enable`` links."""

    wanted_by: tuple[str, ...] = ()
    required_by: tuple[str, ...] = ()
    also: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceConfig:
    """``[Service]`` with systemd's defaults."""

    type: ServiceType = ServiceType.SIMPLE
    exec_start_pre: tuple[ExecCommand, ...] = ()
    exec_start: tuple[ExecCommand, ...] = ()
    exec_start_post: tuple[ExecCommand, ...] = ()
    exec_reload: tuple[ExecCommand, ...] = ()
    exec_stop: tuple[ExecCommand, ...] = ()
    exec_stop_post: tuple[ExecCommand, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()
    environment_files: tuple[tuple[str, bool], ...] = ()  # (path, optional)
    working_directory: str | None = None
    working_directory_optional: bool = False
    user: str | None = None
    group: str | None = None
    remain_after_exit: bool = False
    restart: RestartPolicy = RestartPolicy.NO
    restart_sec: float = 0.1
    timeout_start_sec: float = 90.0
    timeout_stop_sec: float = 90.0
    kill_mode: KillMode = KillMode.CONTROL_GROUP
    kill_signal: int = int(_signal.SIGTERM)
    send_sigkill: bool = True
    success_exit_status: frozenset[int] = frozenset()
    success_signals: frozenset[int] = frozenset()
    restart_prevent_exit_status: frozenset[int] = frozenset()
    pid_file: str | None = None
    notify_access: str = "main"


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitConfig:
    """A loaded unit: identity, ``[Unit]``, ``[Install]`` and, for services, ``[Service]``."""

    name: str
    description: str = ""
    deps: Dependencies = field(default_factory=Dependencies)
    install: InstallInfo = field(default_factory=InstallInfo)
    service: ServiceConfig | None = None
    start_limit_interval: float = 10.0
    start_limit_burst: int = 5
    fragment_path: str = ""
    dropin_paths: tuple[str, ...] = ()


_TIME_UNITS = {
    "us": 1e-6, "usec": 1e-6, "ms": 1e-3, "msec": 1e-3, "s": 1.0, "sec": 1.0, "second": 1.0,
    "seconds": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0, "minutes": 60.0, "h": 3600.0,
    "hr": 3600.0, "hour": 3600.0, "hours": 3600.0, "d": 86400.0, "day": 86400.0,
    "days": 86400.0, "w": 604800.0, "week": 604800.0, "weeks": 604800.0,
}  # fmt: skip
_SPAN_RE = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([a-z]*)")
_BOOLS = {"1": True, "yes": True, "y": True, "true": True, "t": True, "on": True,
          "0": False, "no": False, "n": False, "false": False, "f": False, "off": False}  # fmt: skip


def parse_timespan(text: str, default_unit: float = 1.0) -> float:
    """Parse a systemd time span (``"1min 30s"``, ``"500ms"``, ``"5"``, ``"infinity"``).

    Raises:
        ValueError: if the text is not a time span.
    """
    t = text.strip()
    if t == "infinity":
        return INFINITY
    if not t:
        raise ValueError("empty time span")
    total, pos = 0.0, 0
    while pos < len(t):
        m = _SPAN_RE.match(t, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"invalid time span {text!r}")
        num, unit = m.groups()
        if unit and unit not in _TIME_UNITS:
            raise ValueError(f"unknown time unit {unit!r}")
        total += float(num) * (_TIME_UNITS[unit] if unit else default_unit)
        pos = m.end()
        while pos < len(t) and t[pos] == " ":
            pos += 1
    return total


def parse_signal(text: str) -> int:
    """``SIGTERM``, ``TERM`` or ``15`` to a signal number.

    Raises:
        ValueError: for an unknown signal.
    """
    t = text.strip()
    if t.isdigit():
        num = int(t)
        if 0 < num < _signal.NSIG:
            return num
        raise ValueError(f"invalid signal {text!r}")
    name = t if t.startswith("SIG") else f"SIG{t}"
    try:
        return int(_signal.Signals[name])
    except KeyError:
        raise ValueError(f"unknown signal {text!r}") from None


class _Builder:
    """Reads typed values out of one merged unit file; all errors carry a location."""

    def __init__(self, uf: UnitFile, uname: UnitName, ctx: SpecifierContext) -> None:
        self.uf = uf
        self.uname = uname
        self.ctx = ctx

    def error(self, reason: str, opt: UnitOption | None, key: str = "") -> UnitFileError:
        if opt is None:
            return UnitFileError(reason, file=self.uf.file or self.uname.name, key=key)
        return UnitFileError(reason, file=opt.file or self.uf.file, line=opt.line, key=opt.name)

    def expand(self, opt: UnitOption) -> str:
        try:
            return expand_specifiers(opt.value, self.uname, self.ctx)
        except ValueError as e:
            raise self.error(str(e), opt) from None

    def scalar(self, section: str, key: str) -> tuple[str, UnitOption] | None:
        opt = self.uf.last(section, key)
        return None if opt is None else (self.expand(opt), opt)

    def convert(self, section: str, key: str, fn: Callable[[str], _T], default: _T) -> _T:
        got = self.scalar(section, key)
        if got is None or got[0] == "":
            return default
        try:
            return fn(got[0])
        except (ValueError, KeyError) as e:
            raise self.error(f"invalid value {got[0]!r}: {e}", got[1]) from None

    def boolean(self, section: str, key: str, default: bool) -> bool:
        return self.convert(section, key, lambda v: _BOOLS[v.lower()], default)

    def list_opts(self, section: str, key: str) -> list[tuple[str, UnitOption]]:
        """Values of a list setting, honouring the empty-assignment reset."""
        out: list[tuple[str, UnitOption]] = []
        for opt in self.uf.section_options(section):
            if opt.name != key:
                continue
            v = self.expand(opt)
            if v == "":
                out.clear()
            else:
                out.append((v, opt))
        return out

    def names(self, section: str, key: str) -> tuple[str, ...]:
        result: list[str] = []
        for v, opt in self.list_opts(section, key):
            for w in v.split():
                try:
                    parse_name(w)
                except ValueError as e:
                    raise self.error(str(e), opt) from None
                if w not in result:
                    result.append(w)
        return tuple(result)

    def execs(self, key: str) -> tuple[ExecCommand, ...]:
        cmds: list[ExecCommand] = []
        for v, opt in self.list_opts("Service", key):
            try:
                cmds.extend(parse_exec(v))
            except WordError as e:
                raise self.error(str(e), opt) from None
        return tuple(cmds)


def _exit_statuses(b: _Builder, key: str) -> tuple[frozenset[int], frozenset[int]]:
    codes: set[int] = set()
    sigs: set[int] = set()
    for v, opt in b.list_opts("Service", key):
        for w in v.split():
            if w.isdigit() and 0 <= int(w) <= 255:
                codes.add(int(w))
                continue
            try:
                sigs.add(parse_signal(w))
            except ValueError:
                raise b.error(f"invalid exit status {w!r}", opt) from None
    return frozenset(codes), frozenset(sigs)


def _service(b: _Builder) -> ServiceConfig:
    stype = b.convert("Service", "Type", ServiceType, ServiceType.SIMPLE)
    exec_start = b.execs("ExecStart")
    if not exec_start and not b.execs("ExecStop"):
        first = next(b.uf.section_options("Service"), None)
        raise UnitFileError(
            "service has no ExecStart= setting",
            file=(first.file if first else "") or b.uf.file or b.uname.name,
            line=first.line if first else 0,
            key="ExecStart",
        )
    if stype != ServiceType.ONESHOT and len(exec_start) > 1:
        opt = b.list_opts("Service", "ExecStart")[-1][1]
        raise b.error(f"Type={stype} allows only one ExecStart=", opt)
    env: list[tuple[str, str]] = []
    for v, opt in b.list_opts("Service", "Environment"):
        try:
            env.extend(parse_environment(v))
        except WordError as e:
            raise b.error(str(e), opt) from None
    env_files = tuple(
        (v[1:], True) if v.startswith("-") else (v, False)
        for v, _ in b.list_opts("Service", "EnvironmentFile")
    )
    wd = b.scalar("Service", "WorkingDirectory")
    wd_value = wd[0] if wd and wd[0] else None
    wd_optional = bool(wd_value and wd_value.startswith("-"))
    if wd_value and wd_optional:
        wd_value = wd_value[1:]
    ok_codes, ok_sigs = _exit_statuses(b, "SuccessExitStatus")
    prevent, _ = _exit_statuses(b, "RestartPreventExitStatus")
    # Type=oneshot has no start timeout unless one is configured (systemd.service(5)).
    timeout = b.convert("Service", "TimeoutSec", parse_timespan, 90.0)
    start_default = INFINITY if stype == ServiceType.ONESHOT else timeout
    if b.uf.last("Service", "TimeoutSec") is not None:
        start_default = timeout
    kill_signal = b.convert("Service", "KillSignal", parse_signal, int(_signal.SIGTERM))
    return ServiceConfig(
        type=stype,
        exec_start_pre=b.execs("ExecStartPre"),
        exec_start=exec_start,
        exec_start_post=b.execs("ExecStartPost"),
        exec_reload=b.execs("ExecReload"),
        exec_stop=b.execs("ExecStop"),
        exec_stop_post=b.execs("ExecStopPost"),
        environment=tuple(env),
        environment_files=env_files,
        working_directory=wd_value,
        working_directory_optional=wd_optional,
        user=b.convert("Service", "User", str, None),
        group=b.convert("Service", "Group", str, None),
        remain_after_exit=b.boolean("Service", "RemainAfterExit", False),
        restart=b.convert("Service", "Restart", RestartPolicy, RestartPolicy.NO),
        restart_sec=b.convert("Service", "RestartSec", parse_timespan, 0.1),
        timeout_start_sec=b.convert("Service", "TimeoutStartSec", parse_timespan, start_default),
        timeout_stop_sec=b.convert("Service", "TimeoutStopSec", parse_timespan, timeout),
        kill_mode=b.convert("Service", "KillMode", KillMode, KillMode.CONTROL_GROUP),
        kill_signal=kill_signal,
        send_sigkill=b.boolean("Service", "SendSIGKILL", True),
        success_exit_status=ok_codes,
        success_signals=ok_sigs,
        restart_prevent_exit_status=prevent,
        pid_file=b.convert("Service", "PIDFile", str, None),
        notify_access=b.convert("Service", "NotifyAccess", str, "main"),
    )


def build_config(
    uf: UnitFile,
    name: str,
    ctx: SpecifierContext | None = None,
    *,
    extra_wants: tuple[str, ...] = (),
    extra_requires: tuple[str, ...] = (),
    fragment_path: str = "",
    dropin_paths: tuple[str, ...] = (),
) -> UnitConfig:
    """Build the typed configuration of unit ``name`` from its merged unit file.

    Args:
        uf: base file with drop-ins already merged (``UnitFile.merged``).
        name: the unit's full name (an instance name for template instances).
        ctx: host facts for ``%H %m %b``.
        extra_wants: units linked into ``NAME.wants/`` directories.
        extra_requires: units linked into ``NAME.requires/`` directories.
        fragment_path: the main file's path, for status output.
        dropin_paths: the drop-ins applied, for status output.

    Raises:
        UnitFileError: naming the file, line and key of the first invalid setting.
    """
    try:
        uname = parse_name(name)
    except ValueError as e:
        raise UnitFileError(str(e), file=uf.file or name) from None
    b = _Builder(uf, uname, ctx or SpecifierContext())
    deps = Dependencies(
        requires=b.names("Unit", "Requires") + extra_requires,
        wants=b.names("Unit", "Wants") + extra_wants,
        binds_to=b.names("Unit", "BindsTo"),
        part_of=b.names("Unit", "PartOf"),
        conflicts=b.names("Unit", "Conflicts"),
        after=b.names("Unit", "After"),
        before=b.names("Unit", "Before"),
    )
    install = InstallInfo(
        wanted_by=b.names("Install", "WantedBy"),
        required_by=b.names("Install", "RequiredBy"),
        also=b.names("Install", "Also"),
    )
    service: ServiceConfig | None = None
    if uname.suffix == "service":
        service = _service(b)
    elif uname.suffix != "target":
        raise UnitFileError(
            f"unit type .{uname.suffix} is not supported by this manager", file=uf.file or name
        )
    interval = b.convert("Unit", "StartLimitIntervalSec", parse_timespan, None)
    if interval is None:
        interval = b.convert("Service", "StartLimitInterval", parse_timespan, 10.0)
    burst = b.convert("Unit", "StartLimitBurst", int, None)
    if burst is None:
        burst = b.convert("Service", "StartLimitBurst", int, 5)
    desc = b.scalar("Unit", "Description")
    return UnitConfig(
        name=name,
        description=desc[0] if desc else "",
        deps=deps,
        install=install,
        service=service,
        start_limit_interval=interval,
        start_limit_burst=burst,
        fragment_path=fragment_path,
        dropin_paths=dropin_paths,
    )


def split_list(value: str) -> list[str]:
    """Split a whitespace list with systemd quoting (helper for callers)."""
    return [w for w in split_words(value) if w is not None]
