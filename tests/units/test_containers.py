"""Units that run containers (the CoreOS pattern), on a private dockerd. Slow."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycoreos.cli.units import main as units_main
from pycoreos.units.client import UnitClient

from .dockerd import IMAGE, Dockerd, missing_requirements
from .test_daemon_cli import Daemon

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(missing_requirements() is not None, reason=str(missing_requirements())),
]


@pytest.fixture(scope="module")
def engine() -> Iterator[Dockerd]:
    d = Dockerd()
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(tmp_path)
    try:
        yield d
    finally:
        assert d.stop() == 0


def container_unit(engine: Dockerd, name: str) -> str:
    docker = (
        "/usr/local/bin/docker" if Path("/usr/local/bin/docker").exists() else "/usr/bin/docker"
    )
    return (
        f"[Unit]\nDescription=busybox container {name}\n"
        f"[Service]\nEnvironment=DOCKER_HOST={engine.host}\n"
        "TimeoutStartSec=60\n"
        f"ExecStartPre=-{docker} rm -f {name}\n"
        f"ExecStart={docker} run --rm --init --network none --name {name} {IMAGE} "
        "sh -c 'echo container $$(hostname) up; i=0; while true; do echo tick $$i; i=$$((i+1)); sleep 0.2; done'\n"
        f"ExecStop={docker} stop -t 2 {name}\n"
        # docker run exits 143 (or 137) when its container is stopped
        "SuccessExitStatus=137 143\n"
    )


def _wait(pred: object, what: str, limit: float = 30.0) -> None:
    assert callable(pred)
    deadline = time.monotonic() + limit
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _cli(capsys: pytest.CaptureFixture[str], node: Daemon, *args: str) -> tuple[int, str]:
    rc = units_main(["--root", str(node.root), *args])
    return rc, capsys.readouterr().out


def test_container_unit_logs_stops_and_restarts(
    engine: Dockerd, node: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "pycoreos-web"
    udir = node.root / "etc/systemd/system"
    udir.mkdir(parents=True, exist_ok=True)
    (udir / "web.service").write_text(container_unit(engine, name))
    assert _cli(capsys, node, "daemon-reload")[0] == 0
    assert _cli(capsys, node, "start", "web.service")[0] == 0

    def logged(text: str) -> bool:
        return text in _cli(capsys, node, "journal", "-u", "web.service")[1]

    _wait(lambda: logged(" up") and logged("tick 2"), "the container's output in the journal")
    out = _cli(capsys, node, "journal", "web.service")[1]
    assert "docker[" in out  # lines come through `docker run`, attributed to its PID
    assert len(engine.containers(name)) == 1
    rc, out = _cli(capsys, node, "status", "web.service")
    assert rc == 0
    assert "Active: active (running)" in out

    # restart: a new container (ExecStartPre removes any leftover first)
    first = engine.containers(name)
    assert _cli(capsys, node, "restart", "web.service")[0] == 0
    _wait(lambda: engine.containers(name) not in ([], first), "a new container")

    assert _cli(capsys, node, "stop", "web.service")[0] == 0
    rc, out = _cli(capsys, node, "status", "web.service")
    assert rc == 3
    assert "Active: inactive (dead)" in out  # 143 counts as success
    _wait(lambda: engine.containers(name) == [], "the container to be removed")


async def test_leftover_container_is_replaced(engine: Dockerd, node: Daemon) -> None:
    """ExecStartPre=-docker rm -f NAME clears a container left by a crash."""
    name = "pycoreos-leftover"
    engine.docker(
        "run", "-d", "--init", "--network", "none", "--name", name, IMAGE, "sleep", "1000"
    )
    old = engine.containers(name)
    c = UnitClient(node.socket)
    await c.write_unit("left.service", container_unit(engine, name))
    await c.daemon_reload()
    await c.start("left.service")
    deadline = time.monotonic() + 30
    while engine.containers(name) in ([], old):
        assert time.monotonic() < deadline
        time.sleep(0.05)  # noqa: ASYNC251 (a short poll on a real engine)
    await c.stop("left.service")
    _wait(lambda: engine.containers(name) == [], "the container to be removed")
