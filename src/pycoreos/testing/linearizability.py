"""Linearizability checker: the Wing-Gong/Lowe search with memoization, as porcupine does it.

A history is linearizable when every operation can be given a single instant between its call
and its return such that, taken in that order, the operations are legal steps of a sequential
model. This module decides that for a :class:`Model` and a list of
:class:`~pycoreos.testing.history.Operation`.

Strategy (anishathalye/porcupine ``checker.go``; Lowe, "Testing for linearizability", 2017):

* **Partition** (P-compositionality, Horn & Kroening 2015): the model splits the history into
  independent sub-histories (one per key) and each is checked alone. A history is linearizable
  iff every partition is.
* **Entry list**: each operation becomes a call entry and a return entry, sorted by time (calls
  before returns on ties, so operations that touch in time count as concurrent), in a doubly
  linked list kept in arrays. An unknown outcome's return time is +infinity: it may take effect
  at any time after its call.
* **DFS**: walk the list from the head. At a call entry, try to linearize that operation now:
  step the model; on success, *lift* the call and its return out of the list, push (entry,
  old state) and restart from the head. At a return entry, the operation it closes was not
  linearized before it had to be, so backtrack: pop, *unlift*, and try the next call.
* **Memo**: the pair (bitset of linearized operations, model state) is recorded when first
  reached; reaching it again cannot lead anywhere new, so that branch is cut. The bitset is a
  Python int, states are hashable.
* **Non-determinism**: the search state is a frozenset of model states. ``Model.step`` returns
  every state the operation may lead to (none if it is illegal), so an unknown outcome forks
  into "took effect" and "did not" (etcd's ``NonDeterministicModel``) and later known outcomes
  filter the set.

Invariant the models keep: stepping with an UNKNOWN output always includes the no-effect
outcome. This makes prefixes of linearizable histories linearizable (pending calls become
unknown), which the shortest-failing-prefix search relies on.

Pure: no asyncio, os or time. The only clock is the optional injected one for the timeout.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from pycoreos.testing.history import UNKNOWN, Operation, Unknown

if TYPE_CHECKING:
    from pycoreos._clock import Clock

__all__ = ["CheckResult", "Model", "PartitionReport", "Report", "check"]

S = TypeVar("S", bound=Hashable)
I = TypeVar("I")  # noqa: E741 -- porcupine's name for an operation's input type
O = TypeVar("O")  # noqa: E741 -- and for its output type

# How many DFS iterations between looks at the clock: cheap enough, and ~10 ms apart.
_CLOCK_EVERY = 2048


class Model(Protocol[S, I, O]):
    """A sequential specification, porcupine's ``Model`` with a non-deterministic ``step``.

    States must be hashable and compare by value: the memo relies on ``==``/``hash`` (this is
    porcupine's ``Equal``).
    """

    def init(self) -> S:
        """The state before any operation."""
        ...

    def step(self, state: S, input_: I, output: O | Unknown) -> Iterable[S]:
        """Every state reachable by running ``input_`` in ``state`` and answering ``output``.

        Empty when that answer is impossible in that state. With an UNKNOWN output the result
        must include ``state`` itself (the operation may not have happened).
        """
        ...

    def partition(self, ops: Sequence[Operation[I, O]]) -> list[list[Operation[I, O]]]:
        """Split a history into independently checkable sub-histories (e.g. per key).

        May drop operations that can neither change nor observe the state (an unknown read).
        """
        ...

    def describe_operation(self, input_: I, output: O | Unknown) -> str:
        """One line for a report, e.g. ``cas(1, 2) -> ok``."""
        ...

    def describe_state(self, state: S) -> str:
        """One line for a report."""
        ...


class CheckResult(enum.StrEnum):
    """Verdict of a check. ``UNKNOWN`` means the timeout hit before a verdict."""

    LINEARIZABLE = "linearizable"
    NOT_LINEARIZABLE = "not linearizable"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionReport(Generic[I, O]):
    """Why one partition is not linearizable.

    Attributes:
        index: which partition (in ``Model.partition`` order).
        prefix: the shortest failing prefix: the operations called within its first
            ``prefix_events`` call/return events; those still pending at that point are shown
            with an UNKNOWN output.
        prefix_events: length of that prefix, in events of this partition.
        linearized: the longest sequence of operations the search could linearize in it.
        states: descriptions of the possible model states after ``linearized``.
        stuck: the operation whose return came before it could be linearized.
    """

    index: int
    prefix: tuple[Operation[I, O], ...]
    prefix_events: int
    linearized: tuple[Operation[I, O], ...]
    states: tuple[str, ...]
    stuck: Operation[I, O]


@dataclass(frozen=True, slots=True, kw_only=True)
class Report(Generic[I, O]):
    """Outcome of :func:`check`.

    Attributes:
        result: the verdict.
        partitions: how many sub-histories were checked.
        failure: for ``NOT_LINEARIZABLE``, the first failing partition explained.
    """

    result: CheckResult
    partitions: int
    failure: PartitionReport[I, O] | None = None

    @property
    def ok(self) -> bool:
        """True only for a definite ``LINEARIZABLE``."""
        return self.result is CheckResult.LINEARIZABLE


class _TimeoutError(Exception):
    pass


@dataclass(slots=True)
class _Search(Generic[S]):
    """Result of one DFS over one partition."""

    ok: bool
    stuck_event: int  # furthest return entry (sorted position) a branch could not pass; -1 if ok
    stuck_op: int  # the operation that return entry closes
    linearized: list[int]  # op indexes linearized by the branch that got furthest
    states: frozenset[S]  # and the model states it reached


def _events(ops: Sequence[Operation[I, O]]) -> list[tuple[float, int, int]]:
    """(time, kind, op index) sorted; kind 0 = call, 1 = return (calls first on ties)."""
    ev: list[tuple[float, int, int]] = []
    for i, op in enumerate(ops):
        ev.append((op.call, 0, i))
        ev.append((math.inf if op.output is UNKNOWN else op.return_time, 1, i))
    ev.sort()
    return ev


def _dfs(
    model: Model[S, I, O],
    ops: Sequence[Operation[I, O]],
    deadline: tuple[Clock, float] | None,
) -> _Search[S]:
    events = _events(ops)
    n = len(events)
    head = n  # sentinel index
    nxt = [*range(1, n + 1), -1]
    nxt[n - 1] = -1
    prv = [head, *range(n - 1)]
    nxt[head] = 0 if n else -1
    prv.append(-1)
    op_of = [e[2] for e in events]
    match = [-1] * n  # call entry -> its return entry; -1 for return entries
    ret_at = [0] * len(ops)
    for k, (_, kind, i) in enumerate(events):
        if kind == 1:
            ret_at[i] = k
    for k, (_, kind, i) in enumerate(events):
        if kind == 0:
            match[k] = ret_at[i]

    state: frozenset[S] = frozenset((model.init(),))
    linearized = 0
    cache: set[tuple[int, frozenset[S]]] = set()
    cache_add = cache.add
    # step results per operation, keyed by state set: the model runs once per (op, states)
    step_memo: list[dict[frozenset[S], frozenset[S]]] = [{} for _ in ops]
    calls: list[tuple[int, frozenset[S]]] = []
    best: _Search[S] = _Search(False, -1, -1, [], state)
    step = model.step
    entry = nxt[head]
    ticks = 0
    while nxt[head] != -1:
        ticks += 1
        if deadline is not None and ticks % _CLOCK_EVERY == 0:
            clock, until = deadline
            if clock.monotonic() > until:
                raise _TimeoutError
        ret = match[entry]
        if ret >= 0:
            i = op_of[entry]
            memo = step_memo[i]
            new_state = memo.get(state)
            if new_state is None:
                op = ops[i]
                new_state = frozenset(s2 for s in state for s2 in step(s, op.input, op.output))
                memo[state] = new_state
            if new_state:
                new_lin = linearized | (1 << i)
                key = (new_lin, new_state)
                if key not in cache:
                    cache_add(key)
                    calls.append((entry, state))
                    state, linearized = new_state, new_lin
                    # lift: unlink the call and its return
                    nxt[prv[entry]] = nxt[entry]
                    prv[nxt[entry]] = prv[entry]
                    nxt[prv[ret]] = nxt[ret]
                    if nxt[ret] != -1:
                        prv[nxt[ret]] = prv[ret]
                    entry = nxt[head]
                    continue
            entry = nxt[entry]
        else:
            if entry > best.stuck_event:
                best = _Search(False, entry, op_of[entry], [op_of[c] for c, _ in calls], state)
            if not calls:
                return best
            entry, state = calls.pop()
            linearized &= ~(1 << op_of[entry])
            ret = match[entry]
            # unlift, in reverse order of lift
            nxt[prv[ret]] = ret
            if nxt[ret] != -1:
                prv[nxt[ret]] = ret
            nxt[prv[entry]] = entry
            prv[nxt[entry]] = entry
            entry = nxt[entry]
    return _Search(True, -1, -1, [op_of[c] for c, _ in calls], state)


def _prefix(ops: Sequence[Operation[I, O]], n_events: int) -> list[Operation[I, O]]:
    """The sub-history made of the first ``n_events`` events; pending calls become unknown."""
    events = _events(ops)[:n_events]
    returned = {i for _, kind, i in events if kind == 1}
    out: list[Operation[I, O]] = []
    for _, kind, i in events:
        if kind == 0:
            op = ops[i]
            if i not in returned and op.output is not UNKNOWN:
                op = Operation(client_id=op.client_id, input=op.input, call=op.call, output=UNKNOWN)
            out.append(op)
    return out


def _explain(
    model: Model[S, I, O],
    index: int,
    ops: Sequence[Operation[I, O]],
    search: _Search[S],
    deadline: tuple[Clock, float] | None,
) -> PartitionReport[I, O]:
    # Every prefix shorter than the furthest stuck point is linearizable (some branch got past
    # it), and failure is monotone in the prefix length, so binary search upward from there.
    # ``best`` always holds the search of the shortest failing prefix seen, ``best_ops`` its ops.
    lo, hi = search.stuck_event + 1, 2 * len(ops)
    best_ops, best = list(ops), search
    try:
        while lo < hi:
            mid = (lo + hi) // 2
            sub = _prefix(ops, mid)
            res = _dfs(model, sub, deadline)
            if res.ok:
                lo = mid + 1
            else:
                hi, best_ops, best = mid, sub, res
    except _TimeoutError:
        pass  # the verdict stands; report the shortest failing prefix found so far
    states = tuple(sorted(model.describe_state(s) for s in best.states))
    return PartitionReport(
        index=index,
        prefix=tuple(best_ops),
        prefix_events=hi,
        linearized=tuple(best_ops[i] for i in best.linearized),
        states=states,
        stuck=best_ops[best.stuck_op],
    )


def check(
    model: Model[S, I, O],
    history: Sequence[Operation[I, O]],
    *,
    timeout: float | None = None,
    clock: Clock | None = None,
    explain: bool = True,
) -> Report[I, O]:
    """Decide whether ``history`` is linearizable with respect to ``model``.

    Args:
        model: the sequential specification.
        history: the operations, in any order.
        timeout: give up after this many seconds of ``clock`` (both or neither).
        clock: the clock the timeout is measured on.
        explain: for a failure, also find the shortest failing prefix (more searches).

    Returns:
        The verdict; ``UNKNOWN`` when the timeout hit first. Partitions are checked in order and
        the first failing one is explained.
    """
    if (timeout is None) != (clock is None):
        raise ValueError("timeout and clock go together")
    deadline = None if clock is None or timeout is None else (clock, clock.monotonic() + timeout)
    parts = model.partition(history)
    try:
        for index, part in enumerate(parts):
            search = _dfs(model, part, deadline)
            if not search.ok:
                failure = _explain(model, index, part, search, deadline) if explain else None
                return Report(
                    result=CheckResult.NOT_LINEARIZABLE, partitions=len(parts), failure=failure
                )
    except _TimeoutError:
        return Report(result=CheckResult.UNKNOWN, partitions=len(parts))
    return Report(result=CheckResult.LINEARIZABLE, partitions=len(parts))
