"""The supervisor daemon over its socket: the conformance suite through ``UnitClient``, the
``pycoreos units`` command, orphan reaping, and clean shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from pycoreos.cli.units import main as units_main
from pycoreos.units.client import UnitClient
from pycoreos.units.daemon import default_socket
from pycoreos.units.errors import ManagerUnavailableError, NoSuchUnitError

from .conformance import CASES
from .test_supervisor import marked


class Daemon:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = default_socket(root)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pycoreos", "units", "daemon", "--root", str(root)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while not self.socket.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                out = self.proc.stdout.read().decode() if self.proc.stdout else ""
                raise RuntimeError(f"daemon did not start: {out}")
            time.sleep(0.02)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.stdout:
                self.proc.stdout.close()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = Daemon(tmp_path_factory.mktemp("node"))
    try:
        yield d
    finally:
        if d.proc.poll() is None:
            assert d.stop() == 0


class ClientHarness:
    def __init__(self, d: Daemon, files: Path) -> None:
        self.manager = UnitClient(d.socket)
        self.daemon = d
        self.files = files
        self.marker = uuid.uuid4().hex
        self.can_track_setsid = True
        self.strict_unit_files = True

    def write_unit(self, name: str, text: str) -> None:
        p = self.daemon.root / "run/systemd/system" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    def write_file(self, name: str, text: str) -> str:
        (self.files / name).write_text(text)
        return str(self.files / name)

    def read_file(self, name: str) -> str:
        return (self.files / name).read_text()

    def marked_pids(self) -> list[int]:
        return marked(self.marker)


@pytest.fixture
async def client_harness(daemon: Daemon, tmp_path: Path) -> AsyncIterator[ClientHarness]:
    h = ClientHarness(daemon, tmp_path)
    yield h
    for st in await h.manager.list_units():
        await h.manager.stop(st.name)
    assert h.marked_pids() == []


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", sorted(CASES))
async def test_conformance_over_socket(client_harness: ClientHarness, case: str) -> None:
    await CASES[case](client_harness)


async def test_errors_cross_the_wire(daemon: Daemon) -> None:
    c = UnitClient(daemon.socket)
    with pytest.raises(NoSuchUnitError) as ei:
        await c.start("missing.service")
    assert ei.value.name == "missing.service"
    with pytest.raises(ManagerUnavailableError):
        await UnitClient(daemon.root / "nowhere.sock").status("x.service")
    assert (await c.ping())["pid"] == daemon.proc.pid


async def test_orphans_are_reaped(daemon: Daemon, tmp_path: Path) -> None:
    """A double-forking daemon without PIDFile: the supervisor (a subreaper) adopts and
    reaps it, so stopping leaves no zombie behind."""
    marker = uuid.uuid4().hex
    (daemon.root / "run/systemd/system/orphan.service").write_text(
        f"[Service]\nType=forking\nEnvironment=MARK={marker}\n"
        "ExecStart=/bin/sh -c '(sh -c \"sleep 1000\" &) ; exit 0'\n"
    )
    c = UnitClient(daemon.socket)
    await c.daemon_reload()
    await c.start("orphan.service")
    st = await c.status("orphan.service")
    assert st.active_state == "active"
    assert _ppid(st.main_pid) == daemon.proc.pid  # adopted by the subreaper
    await c.stop("orphan.service")
    await asyncio.sleep(0.1)
    assert marked(marker) == []
    assert _zombie_children(daemon.proc.pid) == []


def _ppid(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rfind(")") + 2 :].split()[1])


def _zombie_children(ppid: int) -> list[int]:
    out = []
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                stat = Path(f"/proc/{e}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()
            if fields[0] == "Z" and int(fields[1]) == ppid:
                out.append(int(e))
    return out


def _cli(capsys: pytest.CaptureFixture[str], d: Daemon, *args: str) -> tuple[int, str, str]:
    rc = units_main(["--root", str(d.root), *args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_cli(daemon: Daemon, capsys: pytest.CaptureFixture[str]) -> None:
    udir = daemon.root / "etc/systemd/system"
    udir.mkdir(parents=True, exist_ok=True)
    (udir / "cli-web.service").write_text(
        "[Unit]\nDescription=CLI web\n[Service]\nExecStart=/bin/sh -c 'echo line one; "
        "echo line two; exec sleep 1000'\n[Install]\nWantedBy=multi-user.target\n"
    )
    (udir / "cli-bad.service").write_text("[Service]\nType=oneshot\nExecStart=/bin/false\n")
    assert _cli(capsys, daemon, "daemon-reload")[0] == 0
    rc, out, _ = _cli(capsys, daemon, "enable", "cli-web.service")
    assert rc == 0
    assert "multi-user.target.wants/cli-web.service" in out
    assert _cli(capsys, daemon, "start", "cli-web.service")[0] == 0

    def lines_logged() -> bool:
        return "line two" in _cli(capsys, daemon, "journal", "-u", "cli-web.service")[1]

    deadline = time.monotonic() + 10
    while not lines_logged():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    rc, out, _ = _cli(capsys, daemon, "status", "cli-web.service")
    assert rc == 0
    assert out.startswith("\u25cf cli-web.service - CLI web\n")
    assert "Loaded: loaded (" in out
    assert "cli-web.service; enabled)" in out
    assert "Active: active (running) since " in out
    assert "sh[" in out
    assert out.rstrip().endswith("]: line two")
    rc, out, _ = _cli(capsys, daemon, "journal", "cli-web.service", "-n", "1")
    assert rc == 0
    assert out.count("\n") == 1
    assert out.rstrip().endswith(": line two")
    rc, out, _ = _cli(capsys, daemon, "list")
    assert "cli-web.service" in out
    assert out.splitlines()[0].split() == ["UNIT", "LOAD", "ACTIVE", "SUB", "DESCRIPTION"]
    rc, _, err = _cli(capsys, daemon, "start", "cli-bad.service")
    assert rc == 1
    assert (
        "Job for cli-bad.service failed because the control process exited with error code." in err
    )
    rc, out, _ = _cli(capsys, daemon, "status", "cli-bad.service")
    assert rc == 3
    assert "Active: failed (failed) (Result: exit-code)" in out
    rc, _, err = _cli(capsys, daemon, "start", "cli-none.service")
    assert rc == 5
    assert "Unit cli-none.service not found." in err
    assert _cli(capsys, daemon, "status", "cli-none.service")[0] == 4
    assert _cli(capsys, daemon, "stop", "cli-web.service")[0] == 0
    rc, out, _ = _cli(capsys, daemon, "is-active", "cli-web.service")
    assert (rc, out) == (3, "inactive\n")
    assert _cli(capsys, daemon, "disable", "cli-web.service")[0] == 0


def test_cli_without_daemon(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = units_main(["--root", str(tmp_path), "list"])
    assert rc == 1
    assert "cannot reach the unit manager" in capsys.readouterr().err


def test_daemon_boots_enabled_units_and_stops_all_on_sigterm(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    udir = tmp_path / "etc/systemd/system"
    (udir / "multi-user.target.wants").mkdir(parents=True)
    (udir / "boot.service").write_text(
        f"[Service]\nEnvironment=MARK={marker}\nExecStart=/bin/sleep 1000\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )
    (udir / "multi-user.target.wants/boot.service").symlink_to(udir / "boot.service")
    d = Daemon(tmp_path)
    try:
        ok = False
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not ok:
            ok = len(marked(marker)) == 1
            time.sleep(0.02)
        assert ok
    finally:
        assert d.stop() == 0
    assert marked(marker) == []
    assert not d.socket.exists()


async def test_follow_over_socket(daemon: Daemon, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.write_text("")
    c = UnitClient(daemon.socket)
    await c.write_unit(
        "follow.service",
        f"[Service]\nExecStart=/bin/sh -c 'echo first; while [ ! -s {gate} ]; do sleep 0.02; "
        "done; echo second; exec sleep 1000'\n",
    )
    await c.daemon_reload()
    await c.start("follow.service")
    got: list[str] = []

    async def read() -> None:
        async for e in c.follow("follow.service", lines=10):
            if e.pid:
                got.append(e.message)
                if e.message == "first":
                    gate.write_text("go")
            if got[-1:] == ["second"]:
                return

    await asyncio.wait_for(read(), 20)
    assert got == ["first", "second"]
    await c.stop("follow.service")
