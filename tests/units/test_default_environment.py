"""The supervisor's default environment (systemd's ``DefaultEnvironment=``) and the public
socket server (:class:`UnitSocketServer`, :func:`serve_connection`)."""

from __future__ import annotations

import asyncio
import itertools
import os
from pathlib import Path

import pytest

from pycoreos.units.client import UnitClient
from pycoreos.units.config import ServiceConfig
from pycoreos.units.daemon import UnitSocketServer
from pycoreos.units.errors import ManagerUnavailableError, NoSuchUnitError
from pycoreos.units.loader import UnitPaths
from pycoreos.units.manager import JobResult
from pycoreos.units.process import DEFAULT_PATH, unit_environment
from pycoreos.units.supervisor import Supervisor, SupervisorConfig

from .conformance import wait_output
from .test_supervisor import SupervisorHarness, cgroup2_available

_seq = itertools.count()


def test_precedence_default_then_manager_then_environment_then_files(tmp_path: Path) -> None:
    envfile = tmp_path / "env"
    envfile.write_text("FROM_FILE=file\nBOTH=file\n")
    cfg = ServiceConfig(
        environment=(("UNIT", "unit"), ("BOTH", "unit"), ("OVERRIDDEN", "unit")),
        environment_files=((str(envfile), False),),
    )
    env = unit_environment(
        cfg,
        invocation_id="abc",
        default={"DEFAULT": "d", "OVERRIDDEN": "d", "INVOCATION_ID": "d", "BOTH": "d"},
        extra={"NOTIFY_SOCKET": "/n"},
    )
    assert env["DEFAULT"] == "d"  # visible to every unit
    assert env["OVERRIDDEN"] == "unit"  # Environment= wins over the default
    assert env["BOTH"] == "file"  # EnvironmentFile= wins over Environment=
    assert env["INVOCATION_ID"] == "abc"  # what the manager sets per unit beats defaults
    assert env["PATH"] == DEFAULT_PATH
    assert env["NOTIFY_SOCKET"] == "/n"


def test_default_may_replace_path_and_is_absent_by_default() -> None:
    env = unit_environment(ServiceConfig(), invocation_id="i", default={"PATH": "/opt/bin"})
    assert env["PATH"] == "/opt/bin"
    assert set(unit_environment(ServiceConfig(), invocation_id="i")) == {"PATH", "INVOCATION_ID"}


def _supervisor(tmp_path: Path, default: dict[str, str]) -> Supervisor:
    return Supervisor(
        SupervisorConfig(
            paths=UnitPaths.under(tmp_path / "root"),
            state_dir=tmp_path / "state",
            tracker="cgroup2" if cgroup2_available() else "pgroup",
            cgroup_root=f"pycoreos-test-{os.getpid()}-env{next(_seq)}",
            default_environment=default,
        )
    )


async def test_every_unit_sees_the_default_environment_unless_it_overrides(
    tmp_path: Path,
) -> None:
    async with _supervisor(tmp_path, {"DOCKER_HOST": "unix:///n/docker.sock", "X": "d"}) as sup:
        h = SupervisorHarness(sup, tmp_path, sup.tracker_kind)
        await sup.write_unit(
            "plain.service",
            "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo plain $DOCKER_HOST $X'\n",
        )
        await sup.write_unit(
            "own.service",
            "[Service]\nType=oneshot\nEnvironment=X=mine\n"
            "ExecStart=/bin/sh -c 'echo own $DOCKER_HOST $X'\n",
        )
        # Exec lines expand $VAR from the same environment, defaults included.
        await sup.write_unit(
            "expand.service", "[Service]\nType=oneshot\nExecStart=/bin/echo expand ${X}\n"
        )
        for unit in ("plain.service", "own.service", "expand.service"):
            assert await sup.start(unit) is JobResult.DONE
        await wait_output(h, "plain.service", "plain unix:///n/docker.sock d")
        await wait_output(h, "own.service", "own unix:///n/docker.sock mine")
        await wait_output(h, "expand.service", "expand d")


async def test_socket_server_serves_a_manager_and_removes_its_socket(tmp_path: Path) -> None:
    sock = tmp_path / "run" / "units.sock"
    sock.parent.mkdir()
    sock.write_text("stale")  # a stale file from a previous run is replaced
    async with _supervisor(tmp_path, {"V": "1"}) as sup:
        await sup.write_unit(
            "a.service", "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n"
        )
        async with UnitSocketServer(sup, sock, tracker="test-tracker"):
            client = UnitClient(sock)
            assert (await client.ping())["tracker"] == "test-tracker"
            assert await client.start("a.service") is JobResult.DONE
            assert (await sup.status("a.service")).active_state == "active"
            with pytest.raises(NoSuchUnitError):
                await client.start("missing.service")
            # Concurrent requests are served independently.
            got = await asyncio.gather(*(client.status("a.service") for _ in range(5)))
            assert {s.active_state for s in got} == {"active"}
        assert not sock.exists()
        with pytest.raises(ManagerUnavailableError):
            await UnitClient(sock).ping()
