"""The per-service state machine: systemd's ``service.c`` decisions, without any I/O.

The driver feeds events (:class:`StartRequested`, :class:`ProcessExited`, :class:`TimerFired`,
...) with the current monotonic time and executes the returned commands (:class:`Spawn`,
:class:`Kill`, :class:`ArmTimer`, ...). The machine never touches a process, a clock or a
file, so every path (timeouts, restarts, rate limits) is tested by stepping it.

States and transitions follow systemd 252 ``service.c``:

- start: ``start-pre`` (ExecStartPre) → ``start`` (ExecStart; ``simple``/``exec`` leave at
  once, ``oneshot`` when the main process exits, ``forking`` when the control process exits,
  ``notify`` on READY=1) → ``start-post`` (ExecStartPost) → ``running`` (main alive),
  ``exited`` (RemainAfterExit) or straight into stop (nothing left running).
- stop: ``stop`` (ExecStop) → ``stop-sigterm`` → ``stop-sigkill`` → ``stop-post``
  (ExecStopPost) → ``final-sigterm`` → ``final-sigkill`` → ``dead`` or ``failed``.
  Each signal state is left when what it waits for is gone, or by its timeout (escalation).
- ``result`` keeps the *first* failure (``timeout`` stays ``timeout`` even if the process
  then dies of SIGKILL). ``dead`` iff result is success, else ``failed``.
- restart: from ``dead``/``failed`` per Restart=, through ``auto-restart`` and RestartSec;
  every start (manual or automatic) passes the start rate limit
  (StartLimitIntervalSec/StartLimitBurst); refusal leaves the unit ``failed`` with the
  earlier failure's result, or ``start-limit-hit`` if there was none.

Invariants: at most one main and one control process; one timer; commands are returned in
the order the driver must run them.
"""

from __future__ import annotations

import enum
import signal
from dataclasses import dataclass

from pycoreos.units.config import (
    INFINITY,
    KillMode,
    RestartPolicy,
    ServiceConfig,
    ServiceType,
    UnitConfig,
)
from pycoreos.units.execline import ExecCommand

__all__ = [
    "ActiveState",
    "ArmTimer",
    "Command",
    "DisarmTimer",
    "Event",
    "ExitKind",
    "FindMainPid",
    "GroupEmpty",
    "Kill",
    "KillTarget",
    "Log",
    "MainPidFound",
    "NotifyReady",
    "ProcessExited",
    "ReloadRequested",
    "Result",
    "Role",
    "ServiceMachine",
    "Spawn",
    "SpawnFailed",
    "StartRequested",
    "StopRequested",
    "SubState",
    "TimerFired",
    "WatchGroup",
    "active_state_of",
]


class SubState(enum.StrEnum):
    """systemd's service sub-states."""

    DEAD = "dead"
    START_PRE = "start-pre"
    START = "start"
    START_POST = "start-post"
    RUNNING = "running"
    EXITED = "exited"
    RELOAD = "reload"
    STOP = "stop"
    STOP_SIGTERM = "stop-sigterm"
    STOP_SIGKILL = "stop-sigkill"
    STOP_POST = "stop-post"
    FINAL_SIGTERM = "final-sigterm"
    FINAL_SIGKILL = "final-sigkill"
    FAILED = "failed"
    AUTO_RESTART = "auto-restart"


class ActiveState(enum.StrEnum):
    """systemd's unit active states."""

    ACTIVE = "active"
    RELOADING = "reloading"
    INACTIVE = "inactive"
    FAILED = "failed"
    ACTIVATING = "activating"
    DEACTIVATING = "deactivating"


_ACTIVE = {
    SubState.DEAD: ActiveState.INACTIVE,
    SubState.START_PRE: ActiveState.ACTIVATING,
    SubState.START: ActiveState.ACTIVATING,
    SubState.START_POST: ActiveState.ACTIVATING,
    SubState.RUNNING: ActiveState.ACTIVE,
    SubState.EXITED: ActiveState.ACTIVE,
    SubState.RELOAD: ActiveState.RELOADING,
    SubState.STOP: ActiveState.DEACTIVATING,
    SubState.STOP_SIGTERM: ActiveState.DEACTIVATING,
    SubState.STOP_SIGKILL: ActiveState.DEACTIVATING,
    SubState.STOP_POST: ActiveState.DEACTIVATING,
    SubState.FINAL_SIGTERM: ActiveState.DEACTIVATING,
    SubState.FINAL_SIGKILL: ActiveState.DEACTIVATING,
    SubState.FAILED: ActiveState.FAILED,
    SubState.AUTO_RESTART: ActiveState.ACTIVATING,
}


def active_state_of(sub: SubState) -> ActiveState:
    """systemd's ``state_translation_table`` for services."""
    return _ACTIVE[sub]


class Result(enum.StrEnum):
    """Why a service stopped (``Result`` property)."""

    SUCCESS = "success"
    RESOURCES = "resources"
    PROTOCOL = "protocol"
    TIMEOUT = "timeout"
    EXIT_CODE = "exit-code"
    SIGNAL = "signal"
    CORE_DUMP = "core-dump"
    START_LIMIT_HIT = "start-limit-hit"


class Role(enum.StrEnum):
    """Which tracked process an event or command is about."""

    MAIN = "main"
    CONTROL = "control"


class ExitKind(enum.StrEnum):
    """How a process ended (``CLD_EXITED``/``CLD_KILLED``/``CLD_DUMPED``)."""

    EXITED = "exited"
    KILLED = "killed"
    DUMPED = "dumped"


class KillTarget(enum.StrEnum):
    """What a :class:`Kill` signals."""

    MAIN = "main"
    CONTROL = "control"
    GROUP = "group"  # every process of the unit (cgroup or process groups)


# ---- events -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartRequested:
    """A start job asks the unit to start."""


@dataclass(frozen=True, slots=True)
class StopRequested:
    """A stop job asks the unit to stop (also cancels a pending restart)."""


@dataclass(frozen=True, slots=True)
class ReloadRequested:
    """A reload job; only valid when the service has ExecReload= and is active."""


@dataclass(frozen=True, slots=True)
class ProcessExited:
    """The main or control process ended. ``status`` is the exit code or signal number."""

    role: Role
    kind: ExitKind
    status: int


@dataclass(frozen=True, slots=True)
class SpawnFailed:
    """The driver could not even prepare the process (e.g. EnvironmentFile= missing)."""

    role: Role
    result: Result


@dataclass(frozen=True, slots=True)
class TimerFired:
    """The unit's timer (armed by :class:`ArmTimer`) expired."""


@dataclass(frozen=True, slots=True)
class NotifyReady:
    """``READY=1`` arrived on the notify socket."""


@dataclass(frozen=True, slots=True)
class MainPidFound:
    """Answer to :class:`FindMainPid`: whether a main process was found, and whether the
    unit still has any process at all."""

    found: bool
    group_populated: bool


@dataclass(frozen=True, slots=True)
class GroupEmpty:
    """Every process of the unit is gone (answer to :class:`WatchGroup`)."""


Event = (
    StartRequested
    | StopRequested
    | ReloadRequested
    | ProcessExited
    | SpawnFailed
    | TimerFired
    | NotifyReady
    | MainPidFound
    | GroupEmpty
)

# ---- commands -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spawn:
    """Start ``command`` as the main or control process. ``phase`` is the setting name."""

    role: Role
    command: ExecCommand
    phase: str
    notify: bool = False


@dataclass(frozen=True, slots=True)
class Kill:
    """Send ``signal`` to the target (silently skipping processes already gone)."""

    target: KillTarget
    signal: int


@dataclass(frozen=True, slots=True)
class ArmTimer:
    """(Re)arm the unit's single timer to fire at monotonic time ``deadline``."""

    deadline: float


@dataclass(frozen=True, slots=True)
class DisarmTimer:
    """Cancel the unit's timer."""


@dataclass(frozen=True, slots=True)
class FindMainPid:
    """Work out the main process of a forking service (PIDFile= or the only survivor);
    answer with :class:`MainPidFound`."""


@dataclass(frozen=True, slots=True)
class WatchGroup:
    """Report :class:`GroupEmpty` once the unit has no processes (maybe immediately)."""


@dataclass(frozen=True, slots=True)
class Log:
    """A manager message for the unit's journal (``Started X.``)."""

    message: str


Command = Spawn | Kill | ArmTimer | DisarmTimer | FindMainPid | WatchGroup | Log

_STOPPING = frozenset(
    {
        SubState.STOP,
        SubState.STOP_SIGTERM,
        SubState.STOP_SIGKILL,
        SubState.STOP_POST,
        SubState.FINAL_SIGTERM,
        SubState.FINAL_SIGKILL,
    }
)
_STARTING = frozenset({SubState.START_PRE, SubState.START, SubState.START_POST})
_SIGNAL_NAMES = {int(s): s.name for s in signal.Signals}


def _describe_exit(kind: ExitKind, status: int) -> str:
    if kind is ExitKind.EXITED:
        name = {0: "SUCCESS", 1: "FAILURE", 203: "EXEC", 200: "CHDIR", 217: "USER"}.get(status)
        return f"code=exited, status={status}/{name}" if name else f"code=exited, status={status}"
    sig = _SIGNAL_NAMES.get(status, str(status))
    return f"code={kind.value}, status={status}/{sig.removeprefix('SIG')}"


class ServiceMachine:
    """The decisions for one service unit. Drive it with :meth:`step`.

    Attributes (read-only for callers):
        state: the current sub-state.
        result: the current result (``success`` until something failed).
        n_restarts: automatic restarts so far (reset by an explicit start).
        main_alive / control_alive: whether the machine is waiting on those processes.
    """

    def __init__(self, unit: UnitConfig) -> None:
        if unit.service is None:
            raise ValueError(f"{unit.name} is not a service")
        self.unit = unit
        self.cfg: ServiceConfig = unit.service
        self.state = SubState.DEAD
        self.result = Result.SUCCESS
        self.n_restarts = 0
        self.main_alive = False
        self.control_alive = False
        self.reload_result = Result.SUCCESS
        self.exit_status: tuple[ExitKind, int] | None = None
        self._main_unknown_alive = False  # forking service whose main pid we could not find
        self._group_pending = False
        self._forbid_restart = False
        self._pending_start = False
        self._control: tuple[str, tuple[ExecCommand, ...], int] | None = None
        self._main_index = 0
        self._rl_begin: float | None = None
        self._rl_count = 0
        self._out: list[Command] = []
        self._now = 0.0

    # ---- public ---------------------------------------------------------------------------

    @property
    def active_state(self) -> ActiveState:
        """The active state systemd would report."""
        return active_state_of(self.state)

    def replace_config(self, unit: UnitConfig) -> None:
        """Adopt a reloaded configuration (daemon-reload); takes effect at the next start."""
        if unit.service is None:
            raise ValueError(f"{unit.name} is not a service")
        self.unit = unit
        self.cfg = unit.service

    def reset_failed(self) -> None:
        """``systemctl reset-failed``: forget the failure and the start rate limit."""
        if self.state is SubState.FAILED:
            self.state = SubState.DEAD
        self.result = Result.SUCCESS
        self._rl_begin = None
        self._rl_count = 0

    def step(self, event: Event, now: float) -> list[Command]:
        """Apply one event at monotonic time ``now``; returns the commands to execute."""
        self._now = now
        self._out = []
        match event:
            case StartRequested():
                self._on_start()
            case StopRequested():
                self._on_stop()
            case ReloadRequested():
                self._on_reload()
            case ProcessExited():
                self._on_exit(event)
            case SpawnFailed():
                self._on_exit_result(event.role, event.result, None)
            case TimerFired():
                self._on_timer()
            case NotifyReady():
                if self.state is SubState.START and self.cfg.type is ServiceType.NOTIFY:
                    self._enter_start_post()
            case MainPidFound():
                self._on_main_pid(event)
            case GroupEmpty():
                self._on_group_empty()
            case _:  # pragma: no cover
                raise TypeError(f"unknown event {event!r}")
        return self._out

    # ---- helpers --------------------------------------------------------------------------

    @property
    def _desc(self) -> str:
        return self.unit.description or self.unit.name

    def _emit(self, cmd: Command) -> None:
        self._out.append(cmd)

    def _log(self, msg: str) -> None:
        self._emit(Log(msg))

    def _fail(self, f: Result) -> None:
        if f is not Result.SUCCESS and self.result is Result.SUCCESS:
            self.result = f

    def _arm(self, seconds: float) -> None:
        if seconds == INFINITY or seconds <= 0:
            self._emit(DisarmTimer())
        else:
            self._emit(ArmTimer(self._now + seconds))

    def _run_control(self, phase: str, cmds: tuple[ExecCommand, ...], index: int = 0) -> None:
        self._control = (phase, cmds, index)
        self.control_alive = True
        self._emit(Spawn(Role.CONTROL, cmds[index], phase))

    def _ratelimit_ok(self) -> bool:
        interval, burst = self.unit.start_limit_interval, self.unit.start_limit_burst
        if interval <= 0 or burst <= 0:
            return True
        if self._rl_begin is None or self._now >= self._rl_begin + interval:
            self._rl_begin, self._rl_count = self._now, 0
        if self._rl_count < burst:
            self._rl_count += 1
            return True
        return False

    # ---- start ----------------------------------------------------------------------------

    def _on_start(self) -> None:
        if self.state in _STOPPING:
            self._pending_start = True
            return
        if self.state not in (SubState.DEAD, SubState.FAILED, SubState.AUTO_RESTART):
            return  # already starting or active
        self._forbid_restart = False
        if self.state is not SubState.AUTO_RESTART:
            self.n_restarts = 0
        self._begin_start()

    def _begin_start(self) -> None:
        if not self._ratelimit_ok():
            # As systemd 252: the first failure wins, so a restart loop that hits the
            # limit keeps its original result (exit-code, ...); start-limit-hit shows only
            # when the previous run had succeeded.
            self._log(f"{self.unit.name}: Start request repeated too quickly.")
            self._fail(Result.START_LIMIT_HIT)
            self.state = SubState.FAILED
            self._emit(DisarmTimer())
            self._log(f"{self.unit.name}: Failed with result '{self.result}'.")
            self._log(f"Failed to start {self._desc}.")
            return
        self.result = Result.SUCCESS
        self.reload_result = Result.SUCCESS
        self.exit_status = None
        self._main_unknown_alive = False
        self._log(f"Starting {self._desc}...")
        self._enter_start_pre()

    def _enter_start_pre(self) -> None:
        if self.cfg.exec_start_pre:
            self._arm(self.cfg.timeout_start_sec)
            self.state = SubState.START_PRE
            self._run_control("ExecStartPre", self.cfg.exec_start_pre)
        else:
            self._enter_start()

    def _enter_start(self) -> None:
        cfg = self.cfg
        if not cfg.exec_start:
            if cfg.type is not ServiceType.ONESHOT:  # pragma: no cover (config refuses)
                self._enter_signal(SubState.STOP_SIGTERM, Result.RESOURCES)
                return
            self._enter_start_post()
            return
        self._arm(cfg.timeout_start_sec)
        self.state = SubState.START
        if cfg.type is ServiceType.FORKING:
            self._run_control("ExecStart", cfg.exec_start)
            return
        self._main_index = 0
        self.main_alive = True
        notify = cfg.type is ServiceType.NOTIFY
        self._emit(Spawn(Role.MAIN, cfg.exec_start[0], "ExecStart", notify=notify))
        if cfg.type in (ServiceType.SIMPLE, ServiceType.EXEC):
            self._enter_start_post()

    def _enter_start_post(self) -> None:
        if self.cfg.exec_start_post:
            self._arm(self.cfg.timeout_start_sec)
            self.state = SubState.START_POST
            self._run_control("ExecStartPost", self.cfg.exec_start_post)
        else:
            self._enter_running(Result.SUCCESS)

    def _enter_running(self, f: Result) -> None:
        self._fail(f)
        self.control_alive = False
        self._control = None
        if self.result is not Result.SUCCESS:
            self._enter_signal(SubState.STOP_SIGTERM, f)
        elif self.main_alive or self._main_unknown_alive:
            self._emit(DisarmTimer())
            was = self.state
            self.state = SubState.RUNNING
            if was in _STARTING:
                self._log(f"Started {self._desc}.")
            if self._main_unknown_alive:
                self._emit(WatchGroup())
        elif self.cfg.remain_after_exit:
            self._emit(DisarmTimer())
            was = self.state
            self.state = SubState.EXITED
            if was in _STARTING:
                self._log(
                    f"Finished {self._desc}."
                    if self.cfg.type is ServiceType.ONESHOT
                    else f"Started {self._desc}."
                )
        else:
            if self.state in _STARTING and self.cfg.type is ServiceType.ONESHOT:
                self._log(f"Finished {self._desc}.")
            self._enter_stop(Result.SUCCESS)

    # ---- stop -----------------------------------------------------------------------------

    def _on_stop(self) -> None:
        self._forbid_restart = True
        self._pending_start = False
        if self.state in _STOPPING:
            return
        if self.state is SubState.AUTO_RESTART:
            self._emit(DisarmTimer())
            self.state = SubState.DEAD if self.result is Result.SUCCESS else SubState.FAILED
            return
        if self.state in (SubState.DEAD, SubState.FAILED):
            return
        self._log(f"Stopping {self._desc}...")
        if self.state in (*_STARTING, SubState.RELOAD):
            self._enter_signal(SubState.STOP_SIGTERM, Result.SUCCESS)
        else:
            self._enter_stop(Result.SUCCESS)

    def _enter_stop(self, f: Result) -> None:
        self._fail(f)
        if self.cfg.exec_stop:
            self._arm(self.cfg.timeout_stop_sec)
            self.state = SubState.STOP
            self._run_control("ExecStop", self.cfg.exec_stop)
        else:
            self._enter_signal(SubState.STOP_SIGTERM, Result.SUCCESS)

    def _kill_targets(self, sig: int, kill: bool) -> bool:
        """Emit the kills for the KillMode; returns whether the group must be awaited."""
        mode = self.cfg.kill_mode
        if mode is KillMode.NONE:
            return False
        if self.main_alive:
            self._emit(Kill(KillTarget.MAIN, sig))
        if self.control_alive:
            self._emit(Kill(KillTarget.CONTROL, sig))
        if mode is KillMode.CONTROL_GROUP or (mode is KillMode.MIXED and kill):
            self._emit(Kill(KillTarget.GROUP, sig))
            return True
        return False

    def _enter_signal(self, state: SubState, f: Result) -> None:
        self._fail(f)
        kill = state in (SubState.STOP_SIGKILL, SubState.FINAL_SIGKILL)
        sig = int(signal.SIGKILL) if kill else self.cfg.kill_signal
        group = self._kill_targets(sig, kill)
        if group:
            self._group_pending = True
            self._emit(WatchGroup())
        if self.main_alive or self.control_alive or group:
            self._arm(self.cfg.timeout_stop_sec)
            self.state = state
            if kill and state is SubState.STOP_SIGKILL:
                self._log(f"{self.unit.name}: State 'stop-sigterm' timed out. Killing.")
            return
        self._after_signal(state)

    def _after_signal(self, state: SubState) -> None:
        """Nothing (more) to wait for in a signal state: move on, as systemd does."""
        send_kill = self.cfg.send_sigkill
        if state is SubState.STOP_SIGTERM and send_kill and self._group_pending:
            self._enter_signal(SubState.STOP_SIGKILL, Result.SUCCESS)
        elif state in (SubState.STOP_SIGTERM, SubState.STOP_SIGKILL):
            self._enter_stop_post(Result.SUCCESS)
        elif state is SubState.FINAL_SIGTERM and send_kill and self._group_pending:
            self._enter_signal(SubState.FINAL_SIGKILL, Result.SUCCESS)
        else:
            self._enter_dead(Result.SUCCESS, allow_restart=True)

    def _signal_state_done(self) -> bool:
        if self.main_alive or self.control_alive:
            return False
        if self.state in (SubState.FINAL_SIGTERM, SubState.FINAL_SIGKILL):
            return not self._group_pending
        return True

    def _check_signal_progress(self) -> None:
        if self.state not in _STOPPING or self.state in (SubState.STOP, SubState.STOP_POST):
            return
        if not self._signal_state_done():
            return
        if self.state in (SubState.STOP_SIGTERM, SubState.STOP_SIGKILL):
            self._enter_stop_post(Result.SUCCESS)
        else:
            self._enter_dead(Result.SUCCESS, allow_restart=True)

    def _enter_stop_post(self, f: Result) -> None:
        self._fail(f)
        if self.cfg.exec_stop_post:
            self._arm(self.cfg.timeout_stop_sec)
            self.state = SubState.STOP_POST
            self._run_control("ExecStopPost", self.cfg.exec_stop_post)
        else:
            self._enter_signal(SubState.FINAL_SIGTERM, Result.SUCCESS)

    def _enter_dead(self, f: Result, *, allow_restart: bool) -> None:
        self._fail(f)
        self._emit(DisarmTimer())
        self._control = None
        self.main_alive = self.control_alive = self._main_unknown_alive = False
        self._group_pending = False
        failed = self.result is not Result.SUCCESS
        self.state = SubState.FAILED if failed else SubState.DEAD
        if failed:
            self._log(f"{self.unit.name}: Failed with result '{self.result}'.")
        elif self._forbid_restart:
            self._log(f"Stopped {self._desc}.")
        if self._pending_start:
            self._pending_start = False
            self._forbid_restart = False
            self.n_restarts = 0
            self._begin_start()
            return
        if allow_restart and not self._forbid_restart and self._should_restart():
            self.n_restarts += 1
            self.state = SubState.AUTO_RESTART
            self._arm(max(self.cfg.restart_sec, 1e-6))

    def _should_restart(self) -> bool:
        r, policy = self.result, self.cfg.restart
        if r is Result.START_LIMIT_HIT:
            return False
        if self.exit_status is not None:
            kind, status = self.exit_status
            if kind is ExitKind.EXITED and status in self.cfg.restart_prevent_exit_status:
                return False
        match policy:
            case RestartPolicy.NO:
                return False
            case RestartPolicy.ALWAYS:
                return True
            case RestartPolicy.ON_SUCCESS:
                return r is Result.SUCCESS
            case RestartPolicy.ON_FAILURE:
                return r is not Result.SUCCESS
            case RestartPolicy.ON_ABNORMAL:
                return r not in (Result.SUCCESS, Result.EXIT_CODE)
            case RestartPolicy.ON_ABORT:
                return r in (Result.SIGNAL, Result.CORE_DUMP)
            case RestartPolicy.ON_WATCHDOG:
                return False
        return False  # pragma: no cover

    # ---- reload ---------------------------------------------------------------------------

    def _on_reload(self) -> None:
        if self.state not in (SubState.RUNNING, SubState.EXITED) or not self.cfg.exec_reload:
            return
        self._log(f"Reloading {self._desc}...")
        self._arm(self.cfg.timeout_start_sec)
        self.state = SubState.RELOAD
        self._run_control("ExecReload", self.cfg.exec_reload)

    # ---- process exits --------------------------------------------------------------------

    def _classify(self, ev: ProcessExited, command: ExecCommand | None) -> Result:
        daemon = ev.role is Role.MAIN and self.cfg.type is not ServiceType.ONESHOT
        if command is not None and command.ignore_failure:
            return Result.SUCCESS
        if ev.kind is ExitKind.EXITED:
            if ev.status == 0:
                return Result.SUCCESS
            if ev.role is Role.MAIN and ev.status in self.cfg.success_exit_status:
                return Result.SUCCESS
            return Result.EXIT_CODE
        clean_sigs = {signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE}
        if daemon and ev.status in clean_sigs:
            return Result.SUCCESS
        if ev.role is Role.MAIN and ev.status in self.cfg.success_signals:
            return Result.SUCCESS
        return Result.CORE_DUMP if ev.kind is ExitKind.DUMPED else Result.SIGNAL

    def _on_exit(self, ev: ProcessExited) -> None:
        if ev.role is Role.MAIN:
            if not self.main_alive:
                return
            cmds = self.cfg.exec_start
            command = cmds[self._main_index] if self._main_index < len(cmds) else None
            self.exit_status = (ev.kind, ev.status)
            f = self._classify(ev, command)
            if f is not Result.SUCCESS:  # systemd logs clean exits at debug level only
                how = _describe_exit(ev.kind, ev.status)
                self._log(f"{self.unit.name}: Main process exited, {how}")
            self._on_exit_result(Role.MAIN, f, ev)
        else:
            if not self.control_alive or self._control is None:
                return
            phase, cmds, idx = self._control
            f = self._classify(ev, cmds[idx])
            if f is not Result.SUCCESS:
                how = _describe_exit(ev.kind, ev.status)
                self._log(f"{self.unit.name}: Control process exited, {how}")
            if f is Result.SUCCESS and idx + 1 < len(cmds):
                self._run_control(phase, cmds, idx + 1)
                return
            self._on_exit_result(Role.CONTROL, f, ev)

    def _on_exit_result(self, role: Role, f: Result, ev: ProcessExited | None) -> None:
        if role is Role.MAIN:
            self._main_exit(f)
        else:
            self._control_exit(f)

    def _main_exit(self, f: Result) -> None:
        cfg, st = self.cfg, self.state
        if (
            cfg.type is ServiceType.ONESHOT
            and f is Result.SUCCESS
            and self._main_index + 1 < len(cfg.exec_start)
            and st is SubState.START
        ):
            self._main_index += 1
            self._emit(Spawn(Role.MAIN, cfg.exec_start[self._main_index], "ExecStart"))
            return
        self.main_alive = False
        if st in (SubState.START_POST, SubState.RELOAD, SubState.STOP):
            self._fail(f)  # wait for the control process to finish the operation
        elif st is SubState.START and cfg.type is ServiceType.ONESHOT:
            if f is Result.SUCCESS:
                self._enter_start_post()
            else:
                self._enter_signal(SubState.STOP_SIGTERM, f)
        elif st is SubState.START and cfg.type is ServiceType.NOTIFY:
            self._enter_signal(
                SubState.STOP_SIGTERM, f if f is not Result.SUCCESS else Result.PROTOCOL
            )
        elif st in (SubState.START, SubState.RUNNING):
            self._enter_running(f)
        elif st in (SubState.STOP_SIGTERM, SubState.STOP_SIGKILL):
            self._fail(f)
            self._check_signal_progress()
        elif st is SubState.STOP_POST:
            self._fail(f)
        elif st in (SubState.FINAL_SIGTERM, SubState.FINAL_SIGKILL):
            self._fail(f)
            self._check_signal_progress()

    def _control_exit(self, f: Result) -> None:
        st = self.state
        self.control_alive = False
        self._control = None
        if st is SubState.START_PRE:
            if f is Result.SUCCESS:
                self._enter_start()
            else:
                self._enter_signal(SubState.STOP_SIGTERM, f)
        elif st is SubState.START:  # forking: the ExecStart parent exited
            if f is not Result.SUCCESS:
                self._enter_signal(SubState.STOP_SIGTERM, f)
            else:
                self._emit(FindMainPid())
        elif st is SubState.START_POST:
            if f is not Result.SUCCESS:
                self._enter_stop(f)
            else:
                self._enter_running(Result.SUCCESS)
        elif st is SubState.RELOAD:
            self.reload_result = f
            self.state = SubState.RUNNING if self.main_alive else SubState.EXITED
            self._enter_running(Result.SUCCESS)
        elif st is SubState.STOP:
            self._enter_signal(SubState.STOP_SIGTERM, f)
        elif st in (SubState.STOP_SIGTERM, SubState.STOP_SIGKILL):
            self._fail(f)
            self._check_signal_progress()
        elif st is SubState.STOP_POST:
            self._enter_signal(SubState.FINAL_SIGTERM, f)
        elif st in (SubState.FINAL_SIGTERM, SubState.FINAL_SIGKILL):
            self._fail(f)
            self._check_signal_progress()

    def _on_main_pid(self, ev: MainPidFound) -> None:
        if self.state is not SubState.START or self.cfg.type is not ServiceType.FORKING:
            return
        self.main_alive = ev.found
        self._main_unknown_alive = not ev.found and ev.group_populated
        self._enter_start_post()

    def _on_group_empty(self) -> None:
        self._group_pending = False
        if self._main_unknown_alive:
            self._main_unknown_alive = False
            if self.state is SubState.RUNNING:
                self._enter_running(Result.SUCCESS)
                return
        self._check_signal_progress()

    # ---- timeouts -------------------------------------------------------------------------

    def _on_timer(self) -> None:
        st = self.state
        name = self.unit.name
        if st in (SubState.START_PRE, SubState.START):
            self._log(f"{name}: {st.value} operation timed out. Terminating.")
            self._enter_signal(SubState.STOP_SIGTERM, Result.TIMEOUT)
        elif st is SubState.START_POST:
            self._log(f"{name}: start-post operation timed out. Stopping.")
            self._enter_stop(Result.TIMEOUT)
        elif st is SubState.RELOAD:
            self._emit(Kill(KillTarget.CONTROL, self.cfg.kill_signal))
            self.reload_result = Result.TIMEOUT
            self.control_alive = False
            self._enter_running(Result.SUCCESS)
        elif st is SubState.STOP:
            self._log(f"{name}: Stopping timed out. Terminating.")
            self._enter_signal(SubState.STOP_SIGTERM, Result.TIMEOUT)
        elif st is SubState.STOP_SIGTERM:
            if self.cfg.send_sigkill:
                self._enter_signal(SubState.STOP_SIGKILL, Result.TIMEOUT)
            else:
                self._enter_stop_post(Result.TIMEOUT)
        elif st is SubState.STOP_SIGKILL:
            self._log(f"{name}: Processes still around after SIGKILL. Ignoring.")
            self.main_alive = self.control_alive = False
            self._enter_stop_post(Result.TIMEOUT)
        elif st is SubState.STOP_POST:
            self._enter_signal(SubState.FINAL_SIGTERM, Result.TIMEOUT)
        elif st is SubState.FINAL_SIGTERM:
            if self.cfg.send_sigkill:
                self._enter_signal(SubState.FINAL_SIGKILL, Result.TIMEOUT)
            else:
                self._enter_dead(Result.TIMEOUT, allow_restart=False)
        elif st is SubState.FINAL_SIGKILL:
            self._log(f"{name}: Processes still around after final SIGKILL. Entering failed mode.")
            self._enter_dead(Result.TIMEOUT, allow_restart=True)
        elif st is SubState.AUTO_RESTART:
            self._log(f"{name}: Scheduled restart job, restart counter is at {self.n_restarts}.")
            self._begin_start()
