"""The unit-manager conformance suite: one set of cases, run against every implementation.

Each case is an ``async def case_x(h: Harness) -> None`` using only the ``UnitManager``
interface plus a few harness helpers (writing unit files and data files the units can see,
and finding processes by a marker in their environment). ``test_supervisor.py`` runs the
cases against the built-in supervisor with each process tracker; a systemd-in-nspawn
harness can run the very same list (see docs/design/units.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import pytest

from pycoreos.units.errors import UnitLoadError
from pycoreos.units.manager import JobResult, UnitManager, UnitStatus


class Harness(Protocol):
    """What a case needs besides the manager."""

    manager: UnitManager
    marker: str  # unique per test; put MARK=<marker> in a unit's environment to find its procs
    can_track_setsid: bool  # False for the process-group fallback
    strict_unit_files: bool  # True where unknown Type=/missing ExecStart= are load errors

    def write_unit(self, name: str, text: str) -> None: ...

    def write_file(self, name: str, text: str) -> str: ...  # returns the path units see

    def read_file(self, name: str) -> str: ...

    def marked_pids(self) -> list[int]: ...


async def wait_for(
    pred: Callable[[], Awaitable[bool]], limit: float = 10.0, what: str = "condition"
) -> None:
    """Poll ``pred`` until true (integration tests with real processes only)."""
    deadline = time.monotonic() + limit
    while not await pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def states(h: Harness, name: str) -> tuple[str, str]:
    st = await h.manager.status(name)
    return st.active_state, st.sub_state


async def output(h: Harness, name: str) -> list[str]:
    """The unit's own output lines (manager messages left out)."""
    return [e.message for e in await h.manager.journal(name) if e.pid != 0]


async def wait_state(
    h: Harness, name: str, want: tuple[str, str], limit: float = 10.0
) -> UnitStatus:
    async def ok() -> bool:
        return await states(h, name) == want

    await wait_for(ok, limit, f"{name} to reach {want}")
    return await h.manager.status(name)


async def wait_output_any(h: Harness, name: str, line: str) -> None:
    """Wait for ``line`` among all journal entries, manager messages included."""

    async def ok() -> bool:
        return line in [e.message for e in await h.manager.journal(name)]

    await wait_for(ok, what=f"{line!r} in the journal of {name}")


async def wait_output(h: Harness, name: str, line: str, limit: float = 10.0) -> None:
    async def ok() -> bool:
        return line in await output(h, name)

    await wait_for(ok, limit, f"{line!r} in the journal of {name}")


# ---- cases ----------------------------------------------------------------------------


async def case_simple(h: Harness) -> None:
    h.write_unit(
        "simple.service",
        f"[Unit]\nDescription=Simple\n[Service]\nEnvironment=MARK={h.marker}\n"
        "ExecStart=/bin/sh -c 'echo hello from simple; exec sleep 1000'\n",
    )
    await h.manager.daemon_reload()
    assert await states(h, "simple.service") == ("inactive", "dead")
    assert await h.manager.start("simple.service") is JobResult.DONE
    st = await h.manager.status("simple.service")
    assert (st.load_state, st.active_state, st.sub_state) == ("loaded", "active", "running")
    assert st.main_pid > 0
    await wait_output(h, "simple.service", "hello from simple")
    assert await h.manager.stop("simple.service") is JobResult.DONE
    st = await h.manager.status("simple.service")
    assert (st.active_state, st.sub_state, st.result) == ("inactive", "dead", "success")
    assert h.marked_pids() == []


async def case_oneshot_remain(h: Harness) -> None:
    h.write_unit(
        "once.service",
        "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/echo first\n"
        "ExecStart=/bin/echo second\n",
    )
    await h.manager.daemon_reload()
    assert await h.manager.start("once.service") is JobResult.DONE
    assert await states(h, "once.service") == ("active", "exited")
    assert await output(h, "once.service") == ["first", "second"]
    assert await h.manager.stop("once.service") is JobResult.DONE
    assert await states(h, "once.service") == ("inactive", "dead")


async def case_oneshot_failure(h: Harness) -> None:
    h.write_unit("bad1.service", "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'exit 3'\n")
    await h.manager.daemon_reload()
    assert await h.manager.start("bad1.service") is JobResult.FAILED
    st = await h.manager.status("bad1.service")
    assert (st.active_state, st.sub_state, st.result) == ("failed", "failed", "exit-code")
    assert (st.exec_main_code, st.exec_main_status) == ("exited", 3)


async def case_forking(h: Harness) -> None:
    pidfile = h.write_file("fork.pid", "")
    h.write_unit(
        "fork.service",
        f"[Service]\nType=forking\nPIDFile={pidfile}\nEnvironment=MARK={h.marker}\n"
        f"ExecStart=/bin/sh -c 'sleep 1000 & echo $! > {pidfile}; echo parent done'\n",
    )
    await h.manager.daemon_reload()
    assert await h.manager.start("fork.service") is JobResult.DONE
    st = await h.manager.status("fork.service")
    assert (st.active_state, st.sub_state) == ("active", "running")
    assert st.main_pid == int(h.read_file("fork.pid"))
    await wait_output(h, "fork.service", "parent done")
    assert await h.manager.stop("fork.service") is JobResult.DONE
    assert await states(h, "fork.service") == ("inactive", "dead")
    assert h.marked_pids() == []


async def case_notify(h: Harness) -> None:
    gate = h.write_file("gate", "")
    h.write_unit(
        "ready.service",
        "[Service]\nType=notify\nNotifyAccess=all\n"
        f"ExecStart=/bin/sh -c 'while [ ! -s {gate} ]; do sleep 0.02; done; "
        "systemd-notify --ready; exec sleep 1000'\n",
    )
    await h.manager.daemon_reload()
    job = asyncio.ensure_future(h.manager.start("ready.service"))
    await wait_state(h, "ready.service", ("activating", "start"))
    assert not job.done()
    h.write_file("gate", "go")
    assert await job is JobResult.DONE
    assert await states(h, "ready.service") == ("active", "running")
    await h.manager.stop("ready.service")


async def case_restart_rate_limit(h: Harness) -> None:
    h.write_unit(
        "crashy.service",
        "[Unit]\nStartLimitIntervalSec=60\nStartLimitBurst=3\n"
        "[Service]\nExecStart=/bin/sh -c 'echo crash; exit 1'\nRestart=on-failure\n"
        "RestartSec=50ms\n",
    )
    await h.manager.daemon_reload()
    await h.manager.start("crashy.service")
    await wait_output_any(
        h, "crashy.service", "crashy.service: Start request repeated too quickly."
    )
    st = await h.manager.status("crashy.service")
    # the first failure's result stays (systemd 252): exit-code, not start-limit-hit
    assert (st.active_state, st.sub_state, st.result) == ("failed", "failed", "exit-code")
    assert await output(h, "crashy.service") == ["crash"] * 3
    # a manual start is refused too while the limit holds
    assert await h.manager.start("crashy.service") is JobResult.FAILED
    assert await output(h, "crashy.service") == ["crash"] * 3
    await h.manager.reset_failed("crashy.service")
    assert await states(h, "crashy.service") == ("inactive", "dead")


async def case_restart_recovers(h: Harness) -> None:
    flag = h.write_file("flag", "")
    h.write_unit(
        "flappy.service",
        "[Service]\nRestart=on-failure\nRestartSec=50ms\n"
        f"ExecStart=/bin/sh -c 'if [ -s {flag} ]; then echo steady; exec sleep 1000; fi; "
        f"echo x > {flag}; echo first try; exit 2'\n",
    )
    await h.manager.daemon_reload()
    await h.manager.start("flappy.service")
    await wait_output(h, "flappy.service", "steady")
    st = await wait_state(h, "flappy.service", ("active", "running"))
    assert st.n_restarts == 1
    await h.manager.stop("flappy.service")


async def case_stop_timeout_sigkill(h: Harness) -> None:
    h.write_unit(
        "stubborn.service",
        f"[Service]\nEnvironment=MARK={h.marker}\nTimeoutStopSec=300ms\n"
        "ExecStart=/bin/sh -c \"trap 'echo got TERM' TERM; echo armed; "
        'while :; do sleep 0.05; done"\n',
    )
    await h.manager.daemon_reload()
    await h.manager.start("stubborn.service")
    await wait_output(h, "stubborn.service", "armed")
    t0 = time.monotonic()
    assert await h.manager.stop("stubborn.service") is JobResult.DONE
    assert time.monotonic() - t0 >= 0.3
    st = await h.manager.status("stubborn.service")
    assert (st.active_state, st.sub_state, st.result) == ("failed", "failed", "timeout")
    await wait_output(h, "stubborn.service", "got TERM")
    assert h.marked_pids() == []


async def case_grandchildren_killed(h: Harness) -> None:
    escape = "setsid sleep 1000 & " if h.can_track_setsid else ""
    h.write_unit(
        "family.service",
        f"[Service]\nEnvironment=MARK={h.marker}\nExecStart=/bin/sh -c "
        f"'sleep 1000 & (sleep 1000 &) ; {escape}echo spawned; exec sleep 1000'\n",
    )
    await h.manager.daemon_reload()
    await h.manager.start("family.service")
    await wait_output(h, "family.service", "spawned")

    async def all_up() -> bool:
        return len(h.marked_pids()) >= (4 if escape else 3)

    await wait_for(all_up, what="the unit's processes")
    await h.manager.stop("family.service")
    assert await states(h, "family.service") == ("inactive", "dead")
    assert h.marked_pids() == []


async def case_requires_after(h: Harness) -> None:
    log = h.write_file("order.log", "")
    h.write_unit(
        "db.service",
        f"[Service]\nType=oneshot\nRemainAfterExit=yes\n"
        f"ExecStart=/bin/sh -c 'sleep 0.1; echo db >> {log}'\n",
    )
    h.write_unit(
        "app.service",
        "[Unit]\nRequires=db.service\nAfter=db.service\n"
        f"[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -c 'echo app >> {log}'\n",
    )
    await h.manager.daemon_reload()
    assert await h.manager.start("app.service") is JobResult.DONE
    assert h.read_file("order.log").split() == ["db", "app"]
    assert await states(h, "db.service") == ("active", "exited")
    # stopping the required unit stops the unit that requires it
    await h.manager.stop("db.service")
    assert await states(h, "app.service") == ("inactive", "dead")
    # a failing requirement fails the dependent with "dependency" and never runs it
    h.write_unit("db.service", "[Service]\nType=oneshot\nExecStart=/bin/false\n")
    await h.manager.daemon_reload()
    assert await h.manager.start("app.service") is JobResult.DEPENDENCY
    assert h.read_file("order.log").split() == ["db", "app"]
    assert await states(h, "app.service") == ("inactive", "dead")


async def case_template_instance(h: Harness) -> None:
    h.write_unit(
        "greet@.service",
        "[Unit]\nDescription=Greeter %i\n[Service]\nType=oneshot\nRemainAfterExit=yes\n"
        "ExecStart=/bin/echo instance=%i unescaped=%I name=%n prefix=%p\n",
    )
    await h.manager.daemon_reload()
    assert await h.manager.start("greet@a-b.service") is JobResult.DONE
    assert await output(h, "greet@a-b.service") == [
        "instance=a-b unescaped=a/b name=greet@a-b.service prefix=greet"
    ]
    st = await h.manager.status("greet@a-b.service")
    assert st.description == "Greeter a-b"
    await h.manager.stop("greet@a-b.service")


async def case_dropin_override(h: Harness) -> None:
    h.write_unit(
        "conf.service",
        "[Service]\nType=oneshot\nEnvironment=WHO=base\nExecStart=/bin/echo base $WHO\n",
    )
    h.write_unit(
        "conf.service.d/10-override.conf",
        "[Service]\nEnvironment=WHO=dropin\nExecStart=\nExecStart=/bin/echo override $WHO\n",
    )
    await h.manager.daemon_reload()
    assert await h.manager.start("conf.service") is JobResult.DONE
    assert await output(h, "conf.service") == ["override dropin"]
    st = await h.manager.status("conf.service")
    assert any(p.endswith("conf.service.d/10-override.conf") for p in st.dropin_paths)


async def case_environment_file(h: Harness) -> None:
    env = h.write_file("app.env", "# settings\nGREETING='hello there'\nTARGET=world\n")
    h.write_unit(
        "envf.service",
        f"[Service]\nType=oneshot\nEnvironmentFile={env}\nEnvironmentFile=-/nonexistent/env\n"
        "ExecStart=/bin/sh -c 'echo \"$GREETING, $TARGET\"'\nExecStart=/bin/echo $GREETING\n",
    )
    await h.manager.daemon_reload()
    assert await h.manager.start("envf.service") is JobResult.DONE
    assert await output(h, "envf.service") == ["hello there, world", "hello there"]


async def case_bad_unit_files(h: Harness) -> None:
    if not h.strict_unit_files:
        pytest.skip("systemd only warns about an unknown Type= (pycoreos refuses the unit)")
    h.write_unit("syntax.service", "[Service\nExecStart=/bin/true\n")
    h.write_unit("type.service", "[Service]\nType=sometimes\nExecStart=/bin/true\n")
    h.write_unit("noexec.service", "[Service]\nType=simple\n")
    await h.manager.daemon_reload()
    for name, line, key in (
        ("syntax.service", 1, ""),
        ("type.service", 2, "Type"),
        ("noexec.service", 2, "ExecStart"),
    ):
        st = await h.manager.status(name)
        assert st.load_state == "error"
        with pytest.raises(UnitLoadError) as ei:
            await h.manager.start(name)
        assert ei.value.cause.file.endswith(name)
        assert (ei.value.cause.line, ei.value.cause.key) == (line, key)


async def case_enable_and_mask(h: Harness) -> None:
    h.write_unit(
        "boot.service",
        "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/echo booted\n"
        "[Install]\nWantedBy=multi-user.target\n",
    )
    await h.manager.daemon_reload()
    assert await h.manager.enable("boot.service")
    assert (await h.manager.status("boot.service")).unit_file_state == "enabled"
    assert await h.manager.start("multi-user.target") is JobResult.DONE
    assert await states(h, "boot.service") == ("active", "exited")
    await h.manager.stop("boot.service")
    await h.manager.disable("boot.service")
    assert (await h.manager.status("boot.service")).unit_file_state == "disabled"
    await h.manager.mask("boot.service")
    assert (await h.manager.status("boot.service")).load_state == "masked"
    await h.manager.unmask("boot.service")
    assert (await h.manager.status("boot.service")).load_state == "loaded"


async def case_reload_and_restart(h: Harness) -> None:
    h.write_unit(
        "rl.service",
        '[Service]\nExecStart=/bin/sh -c \'trap "echo reloaded" HUP; echo up; '
        "while :; do sleep 0.05; done'\nExecReload=/bin/sh -c 'kill -HUP $MAINPID'\n",
    )
    await h.manager.daemon_reload()
    await h.manager.start("rl.service")
    await wait_output(h, "rl.service", "up")
    pid = (await h.manager.status("rl.service")).main_pid
    assert await h.manager.reload("rl.service") is JobResult.DONE
    await wait_output(h, "rl.service", "reloaded")
    assert await h.manager.restart("rl.service") is JobResult.DONE
    st = await h.manager.status("rl.service")
    assert st.active_state == "active"
    assert st.main_pid not in (0, pid)
    await h.manager.stop("rl.service")


CASES: dict[str, Callable[[Harness], Awaitable[None]]] = {
    name.removeprefix("case_"): fn
    for name, fn in list(globals().items())
    if name.startswith("case_")
}
