"""SimLoop: virtual time, autojump, FIFO timers, owners that can be killed; SimClock."""

from __future__ import annotations

import asyncio
import contextvars
import time

import pytest

from pycoreos.testing.sim.loop import OWNER, SimClock, SimCrashError, SimDeadlockError, SimLoop


@pytest.fixture
def loop():
    lp = SimLoop()
    yield lp
    lp.close()


def owned(owner: str) -> contextvars.Context:
    ctx = contextvars.copy_context()
    ctx.run(OWNER.set, owner)
    return ctx


def test_sleep_jumps_virtual_time_without_real_waiting(loop):
    async def main():
        await asyncio.sleep(3600)
        return loop.time()

    t0 = time.perf_counter()
    assert loop.run_until_complete(main()) == 3600.0
    assert time.perf_counter() - t0 < 1.0


def test_wait_for_times_out_on_virtual_time(loop):
    async def main():
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.sleep(10), 2.5)
        return loop.time()

    assert loop.run_until_complete(main()) == 2.5


def test_timers_run_in_deadline_order_and_fifo_on_ties(loop):
    seen: list[str] = []
    for i in range(20):  # many equal deadlines: heap order alone would shuffle them
        loop.call_at(1.0, seen.append, f"a{i}")
    loop.call_later(0.5, seen.append, "early")
    loop.call_at(2.0, seen.append, "late")
    loop.run_until_complete(asyncio.sleep(3))
    assert seen == ["early", *(f"a{i}" for i in range(20)), "late"]


def test_time_lands_exactly_on_deadlines(loop):
    stamps: list[float] = []
    for when in (0.1, 0.2, 0.30000000000000004, 7.7):
        loop.call_at(when, lambda: stamps.append(loop.time()))
    loop.run_until_complete(asyncio.sleep(8))
    assert stamps == [0.1, 0.2, 0.30000000000000004, 7.7]


def test_deadlock_is_an_error_not_a_hang(loop):
    async def main():
        await loop.create_future()  # nobody will ever resolve it

    with pytest.raises(SimDeadlockError):
        loop.run_until_complete(main())


def test_killed_owner_callbacks_never_run(loop):
    ran: list[str] = []
    ctx = owned("m#1")
    ctx.run(loop.call_later, 1.0, ran.append, "timer")
    ctx.run(loop.call_soon, ran.append, "soon")
    loop.call_later(1.0, ran.append, "harness")
    loop.kill("m#1")
    loop.run_until_complete(asyncio.sleep(2))
    assert ran == ["harness"]
    assert loop.is_dead("m#1")


def test_killed_owner_tasks_are_closed_and_children_inherit_the_owner(loop):
    progress: list[str] = []

    async def child():
        await asyncio.sleep(5)
        progress.append("child done")

    async def member():
        asyncio.get_running_loop().create_task(child())
        while True:
            await asyncio.sleep(1)
            progress.append(f"tick {loop.time()}")

    loop.create_task(member(), context=owned("m#1"))
    loop.run_until_complete(asyncio.sleep(2.5))
    loop.kill("m#1")
    loop.run_until_complete(asyncio.sleep(10))
    assert progress == ["tick 1.0", "tick 2.0"]
    assert loop.errors == []  # no "Task was destroyed but it is pending"


def test_kill_from_inside_the_owner_unwinds_with_simcrash(loop):
    async def member():
        await asyncio.sleep(1)
        loop.kill("m#1")
        raise SimCrashError("power cut")

    task = loop.create_task(member(), context=owned("m#1"))
    loop.run_until_complete(asyncio.sleep(2))
    assert task.done()
    assert loop.errors == []


def test_the_harness_cannot_be_killed(loop):
    with pytest.raises(ValueError, match="harness"):
        loop.kill("")


def test_unhandled_callback_errors_are_recorded(loop):
    def boom():
        raise RuntimeError("boom")

    loop.call_soon(boom)
    loop.run_until_complete(asyncio.sleep(0.1))
    assert [type(e.get("exception")) for e in loop.errors] == [RuntimeError]


def test_simclock_reads_virtual_time(loop):
    clock = SimClock(loop, wall_epoch=1000.0)
    loop.run_until_complete(asyncio.sleep(12.5))
    assert clock.monotonic() == 12.5
    assert clock.wall() == 1012.5
