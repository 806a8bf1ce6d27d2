"""Client operation histories: the value type, a recorder for our workloads, a Jepsen-log parser.

A history is a list of :class:`Operation`: which client ran it, its input, when it was called,
when it returned, and its output, or :data:`UNKNOWN` when the client never learned the outcome
(timeout, dropped connection, crash). The linearizability checker reads these.

Invariants kept by :class:`HistoryRecorder` (and checked by :func:`check_client_order`):

* a client has at most one operation in flight, so a client's operations never overlap;
* ``call <= return_time``; an operation that never returned has ``return_time == math.inf``.

An unknown outcome means "may or may not have taken effect, at any time after its call": the
checker treats its return time as +infinity whatever ``return_time`` says (a request the client
gave up on can still be committed later, e.g. a retried Raft proposal).

Strategy for the recorder: one lock around a dict of in-flight calls. It is held for a few
dictionary operations only, so it is safe to use from threads and from asyncio tasks alike.
Time comes from an injected :class:`~pycoreos._clock.Clock`, so simulations record virtual time.
"""

from __future__ import annotations

import enum
import math
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Generic, TypeVar

from pycoreos.errors import StackError

if TYPE_CHECKING:
    from pycoreos._clock import Clock
    from pycoreos.testing.models.cas_register import RegisterOp, RegisterResult

__all__ = [
    "UNKNOWN",
    "HistoryError",
    "HistoryRecorder",
    "Operation",
    "PendingCall",
    "Unknown",
    "check_client_order",
    "parse_jepsen_log",
]

I = TypeVar("I")  # noqa: E741 -- porcupine's name for an operation's input type
O = TypeVar("O")  # noqa: E741 -- and for its output type


class Unknown(enum.Enum):
    """The type of :data:`UNKNOWN`: the client never learned the outcome."""

    UNKNOWN = "unknown"

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = Unknown.UNKNOWN
"""Output of an operation whose outcome is unknown (it may or may not have happened)."""


class HistoryError(StackError):
    """The history breaks one of its own assumptions (overlapping calls, a malformed log line)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation(Generic[I, O]):
    """One client operation.

    Attributes:
        client_id: the client (Jepsen "process") that ran it.
        input: the request, in the model's input type.
        call: when the request was sent.
        output: the response in the model's output type, or :data:`UNKNOWN`.
        return_time: when the response arrived (``math.inf`` if it never did).
    """

    client_id: int
    input: I
    call: float
    output: O | Unknown
    return_time: float = math.inf

    @property
    def unknown(self) -> bool:
        """True when the outcome is unknown."""
        return self.output is UNKNOWN


def check_client_order(ops: Iterable[Operation[I, O]]) -> None:
    """Check that each client's operations are sequential.

    Raises:
        HistoryError: a call ends before it starts, or two calls of one client overlap.
    """
    last: dict[int, Operation[I, O]] = {}
    for op in sorted(ops, key=lambda o: (o.client_id, o.call)):
        if op.return_time < op.call:
            raise HistoryError(f"client {op.client_id}: operation returns before its call: {op}")
        prev = last.get(op.client_id)
        if prev is not None and prev.return_time > op.call:
            raise HistoryError(
                f"client {op.client_id}: operations overlap (one in flight at a time): "
                f"{prev} and {op}"
            )
        last[op.client_id] = op


@dataclass(slots=True)
class PendingCall(Generic[I, O]):
    """An in-flight call handed out by :meth:`HistoryRecorder.record`; set its output."""

    client_id: int
    input: I
    call: float
    output: O | Unknown = field(default=UNKNOWN)

    def set(self, output: O) -> None:
        """Record the response; without this the operation is recorded as unknown."""
        self.output = output


class HistoryRecorder(Generic[I, O]):
    """Thread- and asyncio-safe recorder of client operations.

    Usage::

        rec = HistoryRecorder[V2Request, V2Response](clock)
        with rec.record(client_id, request) as pending:
            pending.set(await client.send(request))  # an exception leaves it UNKNOWN
        ops = rec.operations()
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._done: list[Operation[I, O]] = []
        self._in_flight: dict[int, PendingCall[I, O]] = {}

    def begin(self, client_id: int, input_: I) -> PendingCall[I, O]:
        """Record a call now.

        Raises:
            HistoryError: the client already has a call in flight.
        """
        with self._lock:
            if client_id in self._in_flight:
                raise HistoryError(f"client {client_id} already has an operation in flight")
            pending = PendingCall[I, O](client_id, input_, self._clock.monotonic())
            self._in_flight[client_id] = pending
            return pending

    def end(self, pending: PendingCall[I, O]) -> None:
        """Record the return of ``pending`` now, with its output (or unknown if never set).

        An unknown operation is stored with ``return_time = inf``: its effect may land later.
        """
        with self._lock:
            if self._in_flight.get(pending.client_id) is not pending:
                raise HistoryError(f"client {pending.client_id}: ending a call not in flight")
            del self._in_flight[pending.client_id]
            now = self._clock.monotonic()
            ret = math.inf if pending.output is UNKNOWN else now
            self._done.append(
                Operation(
                    client_id=pending.client_id,
                    input=pending.input,
                    call=pending.call,
                    output=pending.output,
                    return_time=ret,
                )
            )

    @contextmanager
    def record(self, client_id: int, input_: I) -> Iterator[PendingCall[I, O]]:
        """Context manager around one call: ``begin`` on entry, ``end`` on exit (also on error)."""
        pending = self.begin(client_id, input_)
        try:
            yield pending
        finally:
            self.end(pending)

    def operations(self) -> list[Operation[I, O]]:
        """All operations so far, by call time; calls still in flight are reported as unknown."""
        with self._lock:
            ops = list(self._done)
            ops += [
                Operation(client_id=p.client_id, input=p.input, call=p.call, output=UNKNOWN)
                for p in self._in_flight.values()
            ]
        ops.sort(key=lambda o: o.call)
        return ops


# --- Jepsen log format (see shared/histories/README.md) ------------------------------------

# "INFO  jepsen.util - <process> <type> <f> <value...>", tabs or spaces.
_LINE = re.compile(r"^\S+\s+jepsen\.util\s+-\s+(\S+)\s+:(\w+)\s+:([\w-]+)\s*(.*?)\s*$")
_CAS_ARGS = re.compile(r"^\[\s*(-?\d+)\s+(-?\d+)\s*\]$")


def _parse_value(text: str, lineno: int) -> int | None:
    if text == "nil":
        return None
    try:
        return int(text)
    except ValueError:
        raise HistoryError(f"line {lineno}: expected a number or nil, got {text!r}") from None


def _parse_invoke(f: str, value: str, lineno: int) -> RegisterOp:
    # Imported here: the models import this module for Operation and UNKNOWN.
    from pycoreos.testing.models.cas_register import RegisterOp, RegisterOpKind

    if f == "read":
        return RegisterOp(kind=RegisterOpKind.READ)
    if f == "write":
        v = _parse_value(value, lineno)
        if v is None:
            raise HistoryError(f"line {lineno}: write of nil")
        return RegisterOp(kind=RegisterOpKind.WRITE, value=v)
    if f == "cas":
        m = _CAS_ARGS.match(value)
        if m is None:
            raise HistoryError(f"line {lineno}: bad cas arguments {value!r}")
        return RegisterOp(kind=RegisterOpKind.CAS, value=int(m[1]), new=int(m[2]))
    raise HistoryError(f"line {lineno}: unknown operation :{f}")


def _completion(kind: str, op: RegisterOp, value: str, lineno: int) -> RegisterResult | Unknown:
    from pycoreos.testing.models.cas_register import RegisterOpKind, RegisterResult

    if kind == "info" or (kind == "fail" and op.kind is RegisterOpKind.READ):
        # :info = outcome unknown; a failed read (":timed-out") observed nothing.
        return UNKNOWN
    if op.kind is RegisterOpKind.READ:
        return RegisterResult(value=_parse_value(value, lineno))
    return RegisterResult(ok=kind == "ok")


def parse_jepsen_log(text: str) -> list[Operation[RegisterOp, RegisterResult]]:
    """Parse a Jepsen cas-register log into operations.

    Times are line numbers (1-based), so "call before return" is the log's own order. Lines that
    are not ``jepsen.util`` client events (and nemesis events) are ignored. An ``:info``
    completion, a failed read and an invocation that never completes all give :data:`UNKNOWN`
    outputs with ``return_time = inf``.

    Raises:
        HistoryError: a malformed client line, a completion with no invocation, or a second
            invocation while one is in flight.
    """
    ops: list[Operation[RegisterOp, RegisterResult]] = []
    open_calls: dict[int, tuple[RegisterOp, int]] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = _LINE.match(line)
        if m is None or not m[1].lstrip("-").isdigit():
            continue
        process, kind, f, value = int(m[1]), m[2], m[3], m[4]
        if kind == "invoke":
            if process in open_calls:
                raise HistoryError(f"line {lineno}: process {process} already has a call open")
            open_calls[process] = (_parse_invoke(f, value, lineno), lineno)
            continue
        if kind not in ("ok", "fail", "info"):
            raise HistoryError(f"line {lineno}: unknown event type :{kind}")
        if process not in open_calls:
            raise HistoryError(f"line {lineno}: completion without invocation")
        op, called = open_calls.pop(process)
        if f != op.kind.value:
            raise HistoryError(f"line {lineno}: completes :{f} but :{op.kind.value} was invoked")
        out = _completion(kind, op, value, lineno)
        ret = math.inf if out is UNKNOWN else float(lineno)
        ops.append(
            Operation(client_id=process, input=op, call=float(called), output=out, return_time=ret)
        )
    for process, (op, called) in open_calls.items():
        ops.append(Operation(client_id=process, input=op, call=float(called), output=UNKNOWN))
    ops.sort(key=lambda o: o.call)
    return ops
