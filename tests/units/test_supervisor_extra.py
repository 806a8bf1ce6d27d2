"""Supervisor behaviour beyond the conformance cases: credentials, working directory, exec
failures, BindsTo/Conflicts/Wants, ordering cycles, journal following, and the 100-cycle
leak check."""

from __future__ import annotations

import asyncio
import itertools
import os
import pwd
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pycoreos.units.errors import JobError
from pycoreos.units.loader import UnitPaths
from pycoreos.units.manager import JobResult
from pycoreos.units.supervisor import Supervisor, SupervisorConfig

from .conformance import output, states, wait_output, wait_state
from .test_supervisor import SupervisorHarness, cgroup2_available, marked

_seq = itertools.count()


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[SupervisorHarness]:
    tracker = "cgroup2" if cgroup2_available() else "pgroup"
    cfg = SupervisorConfig(
        paths=UnitPaths.under(tmp_path / "root"),
        state_dir=tmp_path / "state",
        tracker=tracker,
        cgroup_root=f"pycoreos-test-{os.getpid()}-x{next(_seq)}",
    )
    async with Supervisor(cfg) as sup:
        harness = SupervisorHarness(sup, tmp_path, tracker)
        yield harness
    assert harness.marked_pids() == []


async def test_exec_failure_is_203(h: SupervisorHarness) -> None:
    h.write_unit("noexec.service", "[Service]\nType=exec\nExecStart=/nonexistent/bin\n")
    await h.manager.daemon_reload()
    assert await h.manager.start("noexec.service") is JobResult.FAILED
    st = await h.manager.status("noexec.service")
    assert (st.active_state, st.result, st.exec_main_status) == ("failed", "exit-code", 203)
    msgs = [e.message for e in await h.manager.journal("noexec.service")]
    assert "noexec.service: Main process exited, code=exited, status=203/EXEC" in msgs


async def test_user_group_and_privileged_prefix(h: SupervisorHarness) -> None:
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody'")
    h.write_unit(
        "cred.service",
        "[Service]\nType=oneshot\nUser=nobody\nExecStart=/usr/bin/id -u\n"
        "ExecStart=+/usr/bin/id -u\nExecStart=/bin/sh -c 'echo $USER $HOME'\n",
    )
    await h.manager.daemon_reload()
    assert await h.manager.start("cred.service") is JobResult.DONE
    assert await output(h, "cred.service") == [
        str(nobody.pw_uid),
        str(os.getuid()),
        f"nobody {nobody.pw_dir}",
    ]


async def test_working_directory(h: SupervisorHarness, tmp_path: Path) -> None:
    h.write_unit(
        "wd.service", f"[Service]\nType=oneshot\nWorkingDirectory={tmp_path}\nExecStart=/bin/pwd\n"
    )
    h.write_unit(
        "wdbad.service", "[Service]\nType=oneshot\nWorkingDirectory=/no/such\nExecStart=/bin/pwd\n"
    )
    h.write_unit(
        "wdopt.service", "[Service]\nType=oneshot\nWorkingDirectory=-/no/such\nExecStart=/bin/pwd\n"
    )
    await h.manager.daemon_reload()
    assert await h.manager.start("wd.service") is JobResult.DONE
    assert await output(h, "wd.service") == [str(tmp_path)]
    assert await h.manager.start("wdbad.service") is JobResult.FAILED
    assert (await h.manager.status("wdbad.service")).exec_main_status == 200
    assert await h.manager.start("wdopt.service") is JobResult.DONE


async def test_missing_environment_file_is_resources(h: SupervisorHarness) -> None:
    h.write_unit(
        "envmiss.service", "[Service]\nEnvironmentFile=/no/such/env\nExecStart=/bin/true\n"
    )
    await h.manager.daemon_reload()
    await h.manager.start("envmiss.service")
    st = await wait_state(h, "envmiss.service", ("failed", "failed"))
    assert st.result == "resources"


async def test_binds_to_stops_with_the_bound_unit(h: SupervisorHarness) -> None:
    flag = h.write_file("die", "")
    h.write_unit(
        "base.service",
        f"[Service]\nExecStart=/bin/sh -c 'while [ ! -s {flag} ]; do sleep 0.02; done; exit 1'\n",
    )
    h.write_unit(
        "bound.service",
        f"[Unit]\nBindsTo=base.service\nAfter=base.service\n[Service]\nEnvironment=MARK={h.marker}\n"
        "ExecStart=/bin/sleep 1000\n",
    )
    await h.manager.daemon_reload()
    assert await h.manager.start("bound.service") is JobResult.DONE
    assert await states(h, "base.service") == ("active", "running")
    h.write_file("die", "1")
    await wait_state(h, "base.service", ("failed", "failed"))
    await wait_state(h, "bound.service", ("inactive", "dead"))
    assert h.marked_pids() == []


async def test_conflicts_and_missing_wants(h: SupervisorHarness) -> None:
    h.write_unit("a.service", "[Service]\nExecStart=/bin/sleep 1000\n")
    h.write_unit(
        "b.service",
        "[Unit]\nConflicts=a.service\nWants=ghost.service\n[Service]\nExecStart=/bin/sleep 1000\n",
    )
    await h.manager.daemon_reload()
    await h.manager.start("a.service")
    assert await h.manager.start("b.service") is JobResult.DONE
    assert await states(h, "a.service") == ("inactive", "dead")
    assert await states(h, "b.service") == ("active", "running")
    assert await h.manager.start("a.service") is JobResult.DONE  # the conflict works both ways
    assert await states(h, "b.service") == ("inactive", "dead")
    await h.manager.stop("a.service")


async def test_part_of_propagates_stop_and_restart(h: SupervisorHarness) -> None:
    h.write_unit("main.service", "[Service]\nExecStart=/bin/sleep 1000\n")
    h.write_unit(
        "part.service", "[Unit]\nPartOf=main.service\n[Service]\nExecStart=/bin/sleep 1000\n"
    )
    await h.manager.daemon_reload()
    await h.manager.start("main.service")
    await h.manager.start("part.service")
    pid = (await h.manager.status("part.service")).main_pid
    assert await h.manager.restart("main.service") is JobResult.DONE
    st = await h.manager.status("part.service")
    assert st.active_state == "active"
    assert st.main_pid != pid
    await h.manager.stop("main.service")
    assert await states(h, "part.service") == ("inactive", "dead")


async def test_ordering_cycle_is_refused(h: SupervisorHarness) -> None:
    h.write_unit(
        "c1.service", "[Unit]\nWants=c2.service\nAfter=c2.service\n[Service]\nExecStart=/bin/true\n"
    )
    h.write_unit(
        "c2.service", "[Unit]\nWants=c1.service\nAfter=c1.service\n[Service]\nExecStart=/bin/true\n"
    )
    await h.manager.daemon_reload()
    with pytest.raises(JobError, match="cyclic"):
        await h.manager.start("c1.service")


async def test_stop_and_post_commands_see_mainpid(h: SupervisorHarness) -> None:
    h.write_unit(
        "hooks.service",
        "[Service]\nExecStart=/bin/sleep 1000\nExecStartPost=/bin/sh -c 'echo post $MAINPID'\n"
        "ExecStop=/bin/sh -c 'echo stop $MAINPID'\nExecStopPost=/bin/echo stopped\n",
    )
    await h.manager.daemon_reload()
    await h.manager.start("hooks.service")
    pid = (await h.manager.status("hooks.service")).main_pid
    await h.manager.stop("hooks.service")
    assert await output(h, "hooks.service") == [f"post {pid}", f"stop {pid}", "stopped"]


async def test_follow_streams_new_lines(h: SupervisorHarness) -> None:
    gate = h.write_file("gate", "")
    h.write_unit(
        "talk.service",
        f"[Service]\nExecStart=/bin/sh -c 'echo one; while [ ! -s {gate} ]; do sleep 0.02; done; "
        "echo two; exec sleep 1000'\n",
    )
    await h.manager.daemon_reload()
    await h.manager.start("talk.service")
    await wait_output(h, "talk.service", "one")
    got: list[str] = []

    async def reader() -> None:
        async for e in h.sup.follow("talk.service", lines=1):
            if e.pid:
                got.append(e.message)
            if len(got) == 2:
                return

    task = asyncio.ensure_future(reader())
    await asyncio.sleep(0.05)
    h.write_file("gate", "x")
    await asyncio.wait_for(task, 10)
    assert got == ["one", "two"]
    await h.manager.stop("talk.service")


@pytest.mark.timeout(120)
async def test_hundred_start_stop_cycles_leak_nothing(h: SupervisorHarness) -> None:
    h.write_unit(
        "cycle.service",
        # without this, the 6th start in 10 s would hit the start rate limit (as in systemd)
        f"[Unit]\nStartLimitIntervalSec=0\n[Service]\nEnvironment=MARK={h.marker}\n"
        "ExecStart=/bin/sh -c 'sleep 1000 & (sleep 1000 &); exec sleep 1000'\n",
    )
    await h.manager.daemon_reload()
    t0 = time.monotonic()
    for _ in range(100):
        assert await h.manager.start("cycle.service") is JobResult.DONE
        assert await h.manager.stop("cycle.service") is JobResult.DONE
        assert await states(h, "cycle.service") == ("inactive", "dead")
    assert h.marked_pids() == []
    assert time.monotonic() - t0 < 60
    assert marked(uuid.uuid4().hex) == []  # the helper itself finds nothing for a fresh marker
