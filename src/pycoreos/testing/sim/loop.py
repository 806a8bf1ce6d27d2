"""A deterministic asyncio event loop on virtual time, and the clock that reads it.

:class:`SimLoop` is an :class:`asyncio.BaseEventLoop` whose "selector" never waits: when no
callback is ready it jumps virtual time straight to the earliest timer (trio's ``MockClock``
autojump). ``call_later``, ``asyncio.sleep``, ``wait_for`` and ``asyncio.timeout`` therefore run
on virtual time, and a 30-second scenario costs only the CPU its callbacks use.

Invariants:

* Virtual time only moves forward, and only when nothing is ready; it lands *exactly* on the
  earliest timer's deadline.
* Timers due at the same instant run in the order they were scheduled (FIFO), not in the
  heap's arbitrary order, so a run depends on nothing but the order of calls.
* There is no I/O, no thread and no wall clock here: the same sequence of calls gives the same
  sequence of callbacks, every time, in every process.

Owners (how the simulation kills a member without its cooperation): every callback and task
runs in a :mod:`contextvars` context, and asyncio copies the current context into every handle,
task and future callback it creates. :data:`OWNER` tags a context with the incarnation that owns
it (e.g. ``"n2#3"``); everything a member schedules inherits the tag. :meth:`SimLoop.kill`
marks an owner dead: its pending callbacks are skipped from then on and its tasks are closed,
as if the process had vanished. The harness's own context has the empty owner and never dies.

Deadlock: if nothing is ready and no timer is pending, :class:`SimDeadlockError` is raised
instead of blocking forever.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
from asyncio import events
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVarTuple, Unpack

from pycoreos.errors import StackError

if TYPE_CHECKING:
    from contextvars import Context

__all__ = ["OWNER", "SimClock", "SimCrashError", "SimDeadlockError", "SimLoop"]

_Ts = TypeVarTuple("_Ts")

OWNER: contextvars.ContextVar[str] = contextvars.ContextVar("pycoreos_sim_owner", default="")
"""The incarnation that owns the running code ("" = the harness)."""


class SimDeadlockError(StackError):
    """Nothing is ready and no timer is pending: the awaited thing can never happen."""


class SimCrashError(BaseException):
    """Raised inside a member to abort the code it was running when the simulation crashed it.

    A ``BaseException`` so that the member's own ``except Exception`` fail-stop handlers do not
    turn a simulated power cut into an orderly shutdown.
    """


def _owner_dead(handle: events.Handle) -> bool:
    # Handle's private attributes (asyncio's own, stable since 3.7) are not in typeshed.
    h: Any = handle
    dead: set[str] = h._loop._dead
    return bool(dead) and h._context.get(OWNER, "") in dead


class _Handle(events.Handle):
    __slots__ = ()

    def _run(self) -> None:
        if not _owner_dead(self):
            super()._run()


class _TimerHandle(events.TimerHandle):
    # ``_seq`` breaks ties between timers due at the same instant: FIFO, never heap order.
    __slots__ = ("_seq",)

    def __init__(
        self,
        when: float,
        seq: int,
        callback: Callable[..., object],
        args: tuple[Any, ...],
        loop: SimLoop,
        context: Context | None,
    ) -> None:
        super().__init__(when, callback, args, loop, context)
        self._seq = seq

    def __lt__(self, other: object) -> bool:
        if isinstance(other, _TimerHandle):
            return (self.when(), self._seq) < (other.when(), other._seq)
        return NotImplemented

    def __le__(self, other: object) -> bool:
        if isinstance(other, _TimerHandle):
            return (self.when(), self._seq) <= (other.when(), other._seq)
        return NotImplemented

    def _run(self) -> None:
        if not _owner_dead(self):
            super()._run()


class _AutojumpSelector:
    """Stands in for the selector: never blocks; moves virtual time to the next timer."""

    def __init__(self, loop: SimLoop) -> None:
        self._loop = loop

    def select(self, timeout: float | None) -> list[object]:
        loop = self._loop
        if timeout is None:
            raise SimDeadlockError("sim: nothing is ready and no timer is pending (deadlock)")
        scheduled: list[events.TimerHandle] = loop._scheduled
        if timeout > 0 and scheduled:
            # Land exactly on the deadline (adding `timeout` could round below it).
            loop._now = max(loop._now, scheduled[0].when())
        return []

    def close(self) -> None:
        pass


class SimLoop(asyncio.BaseEventLoop):
    """An event loop on virtual time; see the module docstring.

    Args:
        start: the virtual time (seconds) the loop starts at.

    Attributes:
        errors: contexts passed to the exception handler (unhandled errors in callbacks, task
            exceptions never retrieved), for the harness to report.
    """

    def __init__(self, *, start: float = 0.0) -> None:
        super().__init__()
        self._now = float(start)
        self._selector = _AutojumpSelector(self)
        self._seq = itertools.count()
        self._dead: set[str] = set()
        # BaseEventLoop's timer heap, typed here because typeshed leaves it out.
        self._scheduled: list[events.TimerHandle]
        self._owned_tasks: dict[str, list[asyncio.Task[Any]]] = {}
        self.errors: list[dict[str, Any]] = []
        self.set_exception_handler(self._record_error)

    def time(self) -> float:
        """The virtual time, in seconds."""
        return self._now

    # -- scheduling (every handle is owner-aware) ----------------------------------------

    def _call_soon(
        self, callback: Callable[..., object], args: tuple[Any, ...], context: Context | None
    ) -> events.Handle:
        handle = _Handle(callback, args, self, context)
        self._ready.append(handle)  # type: ignore[attr-defined]
        return handle

    def call_at(
        self,
        when: float,
        callback: Callable[[Unpack[_Ts]], object],
        *args: *_Ts,
        context: Context | None = None,
    ) -> events.TimerHandle:
        """Schedule ``callback`` at virtual time ``when`` (FIFO among equal deadlines)."""
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed()  # type: ignore[attr-defined]
        timer = _TimerHandle(when, next(self._seq), callback, args, self, context)
        heapq.heappush(self._scheduled, timer)
        t: Any = timer
        t._scheduled = True
        return timer

    def create_task(  # type: ignore[override]
        self,
        coro: Coroutine[Any, Any, Any],
        *,
        name: str | None = None,
        context: Context | None = None,
    ) -> asyncio.Task[Any]:
        """As asyncio's, and remember which owner the task belongs to (for :meth:`kill`)."""
        task = super().create_task(coro, name=name, context=context)
        owner = context.get(OWNER, "") if context is not None else OWNER.get()
        if owner:
            tasks = self._owned_tasks.setdefault(owner, [])
            if len(tasks) > 64:
                tasks[:] = [t for t in tasks if not t.done()]
            tasks.append(task)
        return task

    # -- killing an owner ----------------------------------------------------------------

    def kill(self, owner: str) -> None:
        """Make ``owner`` vanish: skip its pending callbacks and close its tasks, silently.

        Safe to call from inside the owner's own code; the caller must then unwind it (raise
        :class:`SimCrashError`), since the running task cannot be closed from within.
        """
        if not owner:
            raise ValueError("sim: the harness owner cannot be killed")
        self._dead.add(owner)
        current = asyncio.current_task(self) if self.is_running() else None
        for task in self._owned_tasks.pop(owner, []):
            if task.done():
                continue
            # A vanished process leaves no "Task was destroyed but it is pending!" behind.
            task._log_destroy_pending = False  # type: ignore[attr-defined]
            if task is current:
                task.add_done_callback(_silence, context=_HARNESS_CONTEXT)
                continue
            coro = task.get_coro()
            if isinstance(coro, Coroutine):
                # Closing runs the task's `finally` blocks; run them as the dead owner so
                # whatever they schedule is skipped too.
                ctx = contextvars.copy_context()
                ctx.run(OWNER.set, owner)
                ctx.run(coro.close)

    def is_dead(self, owner: str) -> bool:
        """Whether ``owner`` was killed."""
        return owner in self._dead

    # -- BaseEventLoop plumbing ------------------------------------------------------------

    def _process_events(self, event_list: list[object]) -> None:
        pass  # no I/O

    def _write_to_self(self) -> None:
        pass  # single-threaded: call_soon_threadsafe needs no wake-up

    def _record_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, SimCrashError):
            return  # the expected unwinding of a crashed member
        self.errors.append(context)


def _silence(task: asyncio.Task[Any]) -> None:
    # Retrieve the SimCrashError so it is not logged as "never retrieved".
    if not task.cancelled():
        task.exception()


_HARNESS_CONTEXT = contextvars.Context()


class SimClock:
    """The :class:`~pycoreos._clock.Clock` of a :class:`SimLoop`: virtual monotonic and wall time.

    Args:
        loop: the loop whose virtual time this clock reads.
        wall_epoch: the Unix time that virtual time 0 corresponds to.
    """

    def __init__(self, loop: SimLoop, wall_epoch: float = 1_700_000_000.0) -> None:
        self._loop = loop
        self._epoch = wall_epoch

    def monotonic(self) -> float:
        """Virtual seconds since the loop started (plus its ``start``)."""
        return self._loop.time()

    def wall(self) -> float:
        """Virtual Unix time."""
        return self._epoch + self._loop.time()
