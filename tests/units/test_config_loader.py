"""Typed configuration, validation errors with locations, and on-disk loading."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from pycoreos.units.config import (
    INFINITY,
    KillMode,
    RestartPolicy,
    ServiceType,
    build_config,
    parse_timespan,
)
from pycoreos.units.errors import NoSuchUnitError, UnitFileError, UnitLoadError, UnitMaskedError
from pycoreos.units.loader import (
    LoadState,
    UnitPaths,
    disable,
    enable,
    is_enabled,
    list_unit_names,
    load_unit,
    mask,
    unmask,
)
from pycoreos.units.unitfile import parse_unit


def cfg(text: str, name: str = "t.service"):  # type: ignore[no-untyped-def]
    return build_config(parse_unit(text, file=f"/u/{name}"), name)


def test_service_defaults_and_values() -> None:
    c = cfg(
        "[Unit]\nDescription=T %n\nRequires=a.service\nAfter=a.service b.service\n"
        "StartLimitIntervalSec=5\nStartLimitBurst=2\n"
        "[Service]\nType=oneshot\nExecStart=/bin/true\nExecStart=-/bin/false x\n"
        "RemainAfterExit=yes\nRestart=on-failure\nRestartSec=250ms\nTimeoutStopSec=1min 30s\n"
        "KillMode=mixed\nKillSignal=SIGINT\nSuccessExitStatus=3 SIGUSR1\n"
        "Environment=A=1\nEnvironment=\nEnvironment=B=2\nEnvironmentFile=-/e\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )
    assert c.description == "T t.service"
    assert c.deps.requires == ("a.service",)
    assert c.deps.after == ("a.service", "b.service")
    assert (c.start_limit_interval, c.start_limit_burst) == (5.0, 2)
    s = c.service
    assert s is not None
    assert s.type is ServiceType.ONESHOT
    assert len(s.exec_start) == 2
    assert s.exec_start[1].ignore_failure
    assert s.remain_after_exit
    assert s.restart is RestartPolicy.ON_FAILURE
    assert s.restart_sec == 0.25
    assert s.timeout_stop_sec == 90
    assert s.timeout_start_sec == INFINITY  # oneshot: no start timeout by default
    assert s.kill_mode is KillMode.MIXED
    assert s.kill_signal == signal.SIGINT
    assert s.success_exit_status == {3}
    assert s.success_signals == {signal.SIGUSR1}
    assert s.environment == (("B", "2"),)  # the empty assignment reset the list
    assert s.environment_files == (("/e", True),)
    assert c.install.wanted_by == ("multi-user.target",)


def test_exec_start_reset_by_dropin() -> None:
    base = parse_unit("[Service]\nExecStart=/bin/a\n", file="/u/t.service")
    drop = parse_unit("[Service]\nExecStart=\nExecStart=/bin/b\n", file="/u/t.service.d/o.conf")
    c = build_config(base.merged(drop), "t.service")
    assert c.service is not None
    assert c.service.exec_start[0].path == "/bin/b"


@pytest.mark.parametrize(
    ("text", "line", "key", "reason"),
    [
        ("[Service]\nType=simple\nType=bogus\nExecStart=/x\n", 3, "Type", "invalid value"),
        ("[Service]\nType=simple\n", 2, "ExecStart", "no ExecStart"),
        ("[Service]\nExecStart=/a\nExecStart=/b\n", 3, "ExecStart", "only one"),
        ("[Service]\nExecStart=/bin/echo 'x\n", 2, "ExecStart", "unterminated"),
        ("[Service]\nExecStart=/x\nRestartSec=soon\n", 3, "RestartSec", "invalid value"),
        ("[Service]\nExecStart=/x %z\n", 2, "ExecStart", "unknown specifier"),
        ("[Unit]\nAfter=not-a-unit\n[Service]\nExecStart=/x\n", 2, "After", "invalid unit"),
    ],
)
def test_config_errors_name_file_line_key(text: str, line: int, key: str, reason: str) -> None:
    with pytest.raises(UnitFileError) as ei:
        cfg(text)
    assert (ei.value.file, ei.value.line, ei.value.key) == ("/u/t.service", line, key)
    assert reason in ei.value.reason


def test_missing_exec_start_without_service_section() -> None:
    with pytest.raises(UnitFileError) as ei:
        cfg("[Unit]\nDescription=x\n")
    assert (ei.value.file, ei.value.line, ei.value.key) == ("/u/t.service", 0, "ExecStart")


@pytest.mark.parametrize(
    ("text", "secs"),
    [("5", 5.0), ("500ms", 0.5), ("1min 30s", 90.0), ("2h", 7200.0), ("infinity", INFINITY)],
)
def test_timespans(text: str, secs: float) -> None:
    assert parse_timespan(text) == secs


def _write(p: Path, text: str) -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def test_loader_templates_dropins_priority(tmp_path: Path) -> None:
    paths = UnitPaths.under(tmp_path)
    _write(paths.vendor[0] / "web@.service", "[Service]\nExecStart=/bin/echo %i\nEnvironment=X=v\n")
    _write(paths.vendor[0] / "web@.service.d/10-a.conf", "[Service]\nEnvironment=T=1\n")
    _write(paths.persistent / "web@.service.d/10-a.conf", "[Service]\nEnvironment=T=2\n")
    _write(paths.runtime / "web@8.service.d/20-b.conf", "[Unit]\nDescription=eight\n")
    lu = load_unit("web@8.service", paths)
    assert lu.state is LoadState.LOADED
    assert lu.config is not None
    s = lu.config.service
    assert s is not None
    assert s.exec_start[0].argv == ("/bin/echo", "8")
    assert s.environment == (("X", "v"), ("T", "2"))  # /etc drop-in hid the vendor one
    assert lu.config.description == "eight"
    assert lu.config.fragment_path.endswith("lib/systemd/system/web@.service")


def test_loader_states(tmp_path: Path) -> None:
    paths = UnitPaths.under(tmp_path)
    paths.create()
    assert load_unit("nope.service", paths).state is LoadState.NOT_FOUND
    with pytest.raises(NoSuchUnitError):
        load_unit("nope.service", paths).require_config()
    _write(paths.runtime / "bad.service", "[Service]\nType=weird\nExecStart=/x\n")
    bad = load_unit("bad.service", paths)
    assert bad.state is LoadState.ERROR
    assert bad.error is not None
    assert (bad.error.line, bad.error.key) == (2, "Type")
    with pytest.raises(UnitLoadError):
        bad.require_config()
    _write(paths.runtime / "m.service", "[Service]\nExecStart=/x\n")
    assert mask("m.service", paths)
    assert load_unit("m.service", paths).state is LoadState.MASKED
    with pytest.raises(UnitMaskedError):
        load_unit("m.service", paths).require_config()
    assert is_enabled("m.service", paths) == "masked"
    unmask("m.service", paths)
    assert load_unit("m.service", paths).state is LoadState.LOADED
    assert "m.service" in list_unit_names(paths)


def test_enable_disable(tmp_path: Path) -> None:
    paths = UnitPaths.under(tmp_path)
    _write(
        paths.runtime / "a.service",
        "[Service]\nExecStart=/x\n[Install]\nWantedBy=multi-user.target\n",
    )
    assert is_enabled("a.service", paths) == "disabled"
    changes = enable("a.service", paths)
    assert len(changes) == 1
    assert "multi-user.target.wants/a.service" in changes[0]
    target = load_unit("multi-user.target", paths)
    assert target.config is not None
    assert target.config.deps.wants == ("a.service",)
    assert is_enabled("a.service", paths) == "enabled"
    assert disable("a.service", paths)
    assert load_unit("multi-user.target", paths).config.deps.wants == ()  # type: ignore[union-attr]
