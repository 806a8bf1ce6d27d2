"""The pure service state machine, stepped event by event (no processes, no clock)."""

from __future__ import annotations

import signal

from pycoreos.units.config import UnitConfig, build_config
from pycoreos.units.machine import (
    ActiveState,
    ArmTimer,
    Command,
    Event,
    ExitKind,
    FindMainPid,
    GroupEmpty,
    Kill,
    KillTarget,
    Log,
    MainPidFound,
    NotifyReady,
    ProcessExited,
    Result,
    Role,
    ServiceMachine,
    Spawn,
    StartRequested,
    StopRequested,
    SubState,
    TimerFired,
    WatchGroup,
)
from pycoreos.units.unitfile import parse_unit

TERM, KILL = int(signal.SIGTERM), int(signal.SIGKILL)


def unit(service: str, unit_sec: str = "") -> UnitConfig:
    text = f"[Unit]\nDescription=T\n{unit_sec}\n[Service]\n{service}\n"
    return build_config(parse_unit(text, file="t.service"), "t.service")


class Driver:
    """Steps a machine and answers WatchGroup with GroupEmpty, as an empty unit would."""

    def __init__(self, u: UnitConfig) -> None:
        self.m = ServiceMachine(u)
        self.now = 0.0
        self.log: list[Command] = []

    def step(self, ev: Event) -> list[Command]:
        out = self.m.step(ev, self.now)
        self.log += out
        if any(isinstance(c, WatchGroup) for c in out) and self.m.state is not SubState.RUNNING:
            out = out + self.step(GroupEmpty())
        return out

    def exit(self, role: Role, code: int = 0, kind: ExitKind = ExitKind.EXITED) -> list[Command]:
        return self.step(ProcessExited(role, kind, code))

    @property
    def states(self) -> tuple[ActiveState, SubState, Result]:
        return (self.m.active_state, self.m.state, self.m.result)

    def messages(self) -> list[str]:
        return [c.message for c in self.log if isinstance(c, Log)]


def spawned(cmds: list[Command]) -> list[tuple[Role, str, tuple[str, ...]]]:
    return [(c.role, c.phase, c.command.argv) for c in cmds if isinstance(c, Spawn)]


def test_simple_start_and_clean_stop() -> None:
    d = Driver(unit("ExecStartPre=/bin/pre\nExecStart=/bin/main\nExecStop=/bin/stop"))
    out = d.step(StartRequested())
    assert spawned(out) == [(Role.CONTROL, "ExecStartPre", ("/bin/pre",))]
    assert d.states[:2] == (ActiveState.ACTIVATING, SubState.START_PRE)
    out = d.exit(Role.CONTROL)
    assert spawned(out) == [(Role.MAIN, "ExecStart", ("/bin/main",))]
    assert d.states == (ActiveState.ACTIVE, SubState.RUNNING, Result.SUCCESS)
    out = d.step(StopRequested())
    assert spawned(out) == [(Role.CONTROL, "ExecStop", ("/bin/stop",))]
    assert d.m.state is SubState.STOP
    out = d.exit(Role.CONTROL)
    assert Kill(KillTarget.MAIN, TERM) in out
    assert Kill(KillTarget.GROUP, TERM) in out
    assert d.m.state is SubState.STOP_SIGTERM
    d.exit(Role.MAIN, TERM, ExitKind.KILLED)  # SIGTERM is a clean exit for a daemon
    assert d.states == (ActiveState.INACTIVE, SubState.DEAD, Result.SUCCESS)
    assert d.messages() == ["Starting T...", "Started T.", "Stopping T...", "Stopped T."]


def test_main_failure_makes_unit_failed_without_restart() -> None:
    d = Driver(unit("ExecStart=/bin/main"))
    d.step(StartRequested())
    d.exit(Role.MAIN, 3)
    assert d.states == (ActiveState.FAILED, SubState.FAILED, Result.EXIT_CODE)
    assert "t.service: Main process exited, code=exited, status=3" in d.messages()
    assert "t.service: Failed with result 'exit-code'." in d.messages()


def test_success_exit_status_and_ignore_prefix() -> None:
    d = Driver(unit("ExecStart=/bin/main\nSuccessExitStatus=3"))
    d.step(StartRequested())
    d.exit(Role.MAIN, 3)
    assert d.states == (ActiveState.INACTIVE, SubState.DEAD, Result.SUCCESS)
    d = Driver(unit("ExecStartPre=-/bin/false\nExecStart=/bin/main"))
    d.step(StartRequested())
    d.exit(Role.CONTROL, 1)
    assert d.m.state is SubState.RUNNING


def test_oneshot_remain_after_exit_runs_commands_in_sequence() -> None:
    d = Driver(unit("Type=oneshot\nExecStart=/bin/a\nExecStart=/bin/b\nRemainAfterExit=yes"))
    out = d.step(StartRequested())
    assert spawned(out) == [(Role.MAIN, "ExecStart", ("/bin/a",))]
    assert d.states[:2] == (ActiveState.ACTIVATING, SubState.START)
    assert spawned(d.exit(Role.MAIN)) == [(Role.MAIN, "ExecStart", ("/bin/b",))]
    d.exit(Role.MAIN)
    assert d.states == (ActiveState.ACTIVE, SubState.EXITED, Result.SUCCESS)
    d.step(StopRequested())
    assert d.states == (ActiveState.INACTIVE, SubState.DEAD, Result.SUCCESS)


def test_oneshot_without_remain_goes_inactive() -> None:
    d = Driver(unit("Type=oneshot\nExecStart=/bin/a"))
    d.step(StartRequested())
    d.exit(Role.MAIN)
    assert d.states == (ActiveState.INACTIVE, SubState.DEAD, Result.SUCCESS)
    assert d.messages() == ["Starting T...", "Finished T."]


def test_restart_on_failure_until_start_limit() -> None:
    d = Driver(
        unit(
            "ExecStart=/bin/main\nRestart=on-failure\nRestartSec=1",
            "StartLimitIntervalSec=60\nStartLimitBurst=3",
        )
    )
    d.step(StartRequested())
    for n in (1, 2):
        out = d.exit(Role.MAIN, 1)
        assert d.states[:2] == (ActiveState.ACTIVATING, SubState.AUTO_RESTART)
        assert ArmTimer(d.now + 1) in out
        assert d.m.n_restarts == n
        d.now += 1
        assert spawned(d.step(TimerFired())) == [(Role.MAIN, "ExecStart", ("/bin/main",))]
    d.exit(Role.MAIN, 1)
    d.now += 1
    out = d.step(TimerFired())  # the 4th start within 60 s
    assert spawned(out) == []
    # the first failure's result stays, as in systemd 252
    assert d.states == (ActiveState.FAILED, SubState.FAILED, Result.EXIT_CODE)
    assert "t.service: Start request repeated too quickly." in d.messages()
    assert spawned(d.step(StartRequested())) == []  # manual starts are refused too
    assert d.m.state is SubState.FAILED
    d.now += 60
    d.step(StartRequested())
    assert d.m.state is SubState.RUNNING


def test_start_limit_hit_result_after_success() -> None:
    d = Driver(unit("ExecStart=/bin/main\nRestart=always\nRestartSec=1", "StartLimitBurst=2"))
    d.step(StartRequested())
    d.exit(Role.MAIN, 0)
    d.now += 1
    d.step(TimerFired())
    d.exit(Role.MAIN, 0)
    d.now += 1
    d.step(TimerFired())
    assert d.states == (ActiveState.FAILED, SubState.FAILED, Result.START_LIMIT_HIT)
    assert "t.service: Failed with result 'start-limit-hit'." in d.messages()


def test_stop_cancels_pending_restart() -> None:
    d = Driver(unit("ExecStart=/bin/main\nRestart=always"))
    d.step(StartRequested())
    d.exit(Role.MAIN, 0)
    assert d.m.state is SubState.AUTO_RESTART
    d.step(StopRequested())
    assert d.states == (ActiveState.INACTIVE, SubState.DEAD, Result.SUCCESS)


def test_explicit_stop_does_not_restart_always() -> None:
    d = Driver(unit("ExecStart=/bin/main\nRestart=always"))
    d.step(StartRequested())
    d.step(StopRequested())
    d.exit(Role.MAIN, TERM, ExitKind.KILLED)
    assert d.m.state is SubState.DEAD


def test_stop_timeout_escalates_to_sigkill() -> None:
    d = Driver(unit("ExecStart=/bin/main\nTimeoutStopSec=2"))
    d.step(StartRequested())
    out = d.step(StopRequested())
    assert ArmTimer(2.0) in out
    d.now = 2.0
    out = d.step(TimerFired())
    assert Kill(KillTarget.MAIN, KILL) in out
    assert Kill(KillTarget.GROUP, KILL) in out
    assert d.m.state is SubState.STOP_SIGKILL
    d.exit(Role.MAIN, KILL, ExitKind.KILLED)
    assert d.states == (ActiveState.FAILED, SubState.FAILED, Result.TIMEOUT)


def test_kill_modes() -> None:
    d = Driver(unit("ExecStart=/bin/main\nKillMode=process\nKillSignal=SIGINT"))
    d.step(StartRequested())
    out = d.step(StopRequested())
    assert [c for c in out if isinstance(c, Kill)] == [Kill(KillTarget.MAIN, int(signal.SIGINT))]
    d = Driver(unit("ExecStart=/bin/main\nKillMode=mixed"))
    d.step(StartRequested())
    out = d.step(StopRequested())
    assert [c for c in out if isinstance(c, Kill)] == [Kill(KillTarget.MAIN, TERM)]
    out = d.exit(Role.MAIN, TERM, ExitKind.KILLED)  # final-sigterm in mixed mode: no group
    assert d.m.state is SubState.DEAD


def test_start_timeout() -> None:
    d = Driver(unit("Type=notify\nExecStart=/bin/main\nTimeoutStartSec=5"))
    out = d.step(StartRequested())
    assert ArmTimer(5.0) in out
    d.now = 5.0
    d.step(TimerFired())
    d.exit(Role.MAIN, TERM, ExitKind.KILLED)
    assert d.states == (ActiveState.FAILED, SubState.FAILED, Result.TIMEOUT)


def test_notify_waits_for_ready() -> None:
    d = Driver(unit("Type=notify\nExecStart=/bin/main"))
    out = d.step(StartRequested())
    assert [c.notify for c in out if isinstance(c, Spawn)] == [True]
    assert d.m.state is SubState.START
    d.step(NotifyReady())
    assert d.states[:2] == (ActiveState.ACTIVE, SubState.RUNNING)


def test_notify_exit_before_ready_is_protocol_failure() -> None:
    d = Driver(unit("Type=notify\nExecStart=/bin/main"))
    d.step(StartRequested())
    d.exit(Role.MAIN, 0)
    assert d.states == (ActiveState.FAILED, SubState.FAILED, Result.PROTOCOL)


def test_forking_finds_main_pid() -> None:
    d = Driver(unit("Type=forking\nExecStart=/bin/daemonize"))
    out = d.step(StartRequested())
    assert spawned(out) == [(Role.CONTROL, "ExecStart", ("/bin/daemonize",))]
    assert FindMainPid() in d.exit(Role.CONTROL)
    d.step(MainPidFound(found=True, group_populated=True))
    assert d.m.state is SubState.RUNNING
    d.exit(Role.MAIN, 0)
    assert d.m.state is SubState.DEAD


def test_forking_without_main_pid_tracks_the_group() -> None:
    d = Driver(unit("Type=forking\nExecStart=/bin/daemonize"))
    d.step(StartRequested())
    d.exit(Role.CONTROL)
    out = d.step(MainPidFound(found=False, group_populated=True))
    assert WatchGroup() in out
    assert d.m.state is SubState.RUNNING
    d.step(GroupEmpty())
    assert d.m.state is SubState.DEAD


def test_start_while_stopping_is_queued() -> None:
    d = Driver(unit("ExecStart=/bin/main"))
    d.step(StartRequested())
    d.step(StopRequested())
    assert d.m.state is SubState.STOP_SIGTERM
    d.step(StartRequested())
    out = d.exit(Role.MAIN, TERM, ExitKind.KILLED)
    assert spawned(out) == [(Role.MAIN, "ExecStart", ("/bin/main",))]
    assert d.m.state is SubState.RUNNING


def test_start_pre_failure_runs_stop_post() -> None:
    d = Driver(unit("ExecStartPre=/bin/false\nExecStart=/bin/main\nExecStopPost=/bin/cleanup"))
    d.step(StartRequested())
    out = d.exit(Role.CONTROL, 1)
    assert spawned(out) == [(Role.CONTROL, "ExecStopPost", ("/bin/cleanup",))]
    d.exit(Role.CONTROL, 0)
    assert d.states == (ActiveState.FAILED, SubState.FAILED, Result.EXIT_CODE)
