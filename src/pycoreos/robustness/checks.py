"""The universal pass criteria on a recorded run (reliability.md §8), as pure functions.

* U1 :func:`check_linearizable`: the linearizable operations (quorum reads, every write) are
  linearizable against the v2 key-space model, unknown outcomes counted as may-have-happened.
* U2 :func:`check_index_order`: the store index (``X-Etcd-Index``) a linearizable operation
  reports never goes below one reported by an operation that completed before it was called;
  :func:`check_local_reads`: one client's local reads of one member never see the index go
  back while that member stays up.
* U3 :func:`check_watches`: each watcher's events are strictly increasing in index (ordered,
  no duplicates), watchers agree on what happened at each index, every acknowledged write in a
  watcher's covered range was delivered to it (no gaps except after ``EventIndexCleared``), and
  every event matches the write that produced it (no phantom or altered events).

U4 (convergence), U5 (liveness) and U6 (no crash) need the processes: see
:mod:`pycoreos.robustness.cluster` and :mod:`pycoreos.robustness.runner`.

Every check returns a list of problems (empty = pass), each one line a human can act on.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence

from pycoreos._clock import Clock
from pycoreos.robustness.workload import IndexObservation, LocalRead, WatchEvent, WatchGap
from pycoreos.testing.history import UNKNOWN, Operation
from pycoreos.testing.linearizability import CheckResult, check
from pycoreos.testing.models.v2_keyspace import V2KeyspaceModel, V2OpKind, V2Request, V2Response

__all__ = [
    "IndexObservation",
    "check_index_order",
    "check_linearizable",
    "check_local_reads",
    "check_watches",
    "describe_failure",
]

History = Sequence[Operation[V2Request, V2Response]]
_SET_ACTIONS = frozenset({"set", "create", "update", "compareAndSwap"})
_DELETE_ACTIONS = frozenset({"delete", "compareAndDelete"})


def describe_failure(history: History, timeout: float, clock: Clock) -> list[str]:
    """The checker's explanation of a non-linearizable history, one line per row."""
    model = V2KeyspaceModel()
    report = check(model, history, timeout=timeout, clock=clock)
    f = report.failure
    if f is None:
        return [f"verdict: {report.result}"]
    lines = [f"shortest failing prefix ({len(f.prefix)} ops) of partition {f.index + 1}:"]
    for op in f.prefix:
        desc = model.describe_operation(op.input, op.output)
        lines.append(f"  c{op.client_id:<5} {op.call:12.3f} {op.return_time:12.3f}  {desc}")
    lines.append(f"states after the longest linearization: {' | '.join(f.states)}")
    stuck = f.stuck
    lines.append(f"stuck: c{stuck.client_id} {model.describe_operation(stuck.input, stuck.output)}")
    return lines


def check_linearizable(history: History, timeout: float, clock: Clock) -> tuple[str, list[str]]:
    """U1. Returns ``(verdict, problems)``; an ``unknown`` verdict (timeout) is a problem too.

    The report is built with ``explain`` on only when the history fails, to keep passing runs
    cheap.
    """
    report = check(V2KeyspaceModel(), history, timeout=timeout, clock=clock, explain=False)
    if report.result is CheckResult.LINEARIZABLE:
        return report.result.value, []
    if report.result is CheckResult.UNKNOWN:
        return report.result.value, [f"U1: the checker gave no verdict within {timeout:g}s"]
    return report.result.value, ["U1: not linearizable", *describe_failure(history, timeout, clock)]


def check_index_order(observations: Iterable[IndexObservation]) -> list[str]:
    """U2: an operation called after another returned never reports a lower store index."""
    obs = sorted(observations, key=lambda o: o.call)
    done = sorted(obs, key=lambda o: o.returned)
    problems: list[str] = []
    j = 0
    best: IndexObservation | None = None
    for o in obs:
        while j < len(done) and done[j].returned < o.call:
            if best is None or done[j].index > best.index:
                best = done[j]
            j += 1
        if best is not None and o.index < best.index:
            problems.append(
                f"U2: index went back: an operation called at {o.call:.3f} saw {o.index} after "
                f"one that returned at {best.returned:.3f} saw {best.index}"
            )
            if len(problems) >= 5:
                break
    return problems


def check_local_reads(
    reads: Iterable[LocalRead], restarts: Mapping[int, Sequence[float]] | None = None
) -> list[str]:
    """U2 (local reads): per client and member, the index never decreases while the member is
    up. ``restarts`` maps a client port to the times it was (re)started; reads on either side
    of a restart are not compared."""
    restarts = restarts or {}
    last: dict[tuple[int, int, int], LocalRead] = {}
    problems: list[str] = []
    for r in sorted(reads, key=lambda r: r.call):
        epoch = sum(1 for t in restarts.get(r.port, ()) if t <= r.call)
        k = (r.client, r.port, epoch)
        prev = last.get(k)
        if prev is not None and r.index < prev.index:
            problems.append(
                f"U2: local reads of port {r.port} by client {r.client} went back from index "
                f"{prev.index} to {r.index}"
            )
        last[k] = r
    return problems[:5]


def _acked_writes(history: History) -> dict[int, tuple[V2Request, V2Response]]:
    out: dict[int, tuple[V2Request, V2Response]] = {}
    for op in history:
        o = op.output
        if op.input.kind is V2OpKind.GET or o is UNKNOWN or o.error_code is not None:
            continue
        if o.modified_index is not None:
            out[o.modified_index] = (op.input, o)
    return out


def check_watches(
    events: Sequence[WatchEvent], gaps: Sequence[WatchGap], history: History
) -> list[str]:
    """U3 (see the module docstring). Watchers start at waitIndex 1."""
    problems: list[str] = []
    acked = _acked_writes(history)
    attempted = {
        (op.input.key, op.input.value) for op in history if op.input.kind is not V2OpKind.GET
    }
    by_watcher: dict[int, list[WatchEvent]] = {}
    for e in events:
        by_watcher.setdefault(e.watcher, []).append(e)
    seen_at: dict[int, WatchEvent] = {}
    for w, evs in sorted(by_watcher.items()):
        evs.sort(key=lambda e: e.received)
        for a, b in itertools.pairwise(evs):
            if b.index <= a.index:
                problems.append(
                    f"U3: watcher {w} got index {b.index} (port {b.port}) after {a.index} "
                    f"(port {a.port}): {'duplicate' if b.index == a.index else 'out of order'}"
                )
        for e in evs:
            other = seen_at.setdefault(e.index, e)
            if (other.action, other.key, other.value) != (e.action, e.key, e.value):
                problems.append(
                    f"U3: watchers disagree at index {e.index}: {other.action} {other.key}="
                    f"{other.value!r} vs {e.action} {e.key}={e.value!r}"
                )
            if e.action in _SET_ACTIONS and (e.key, e.value) not in attempted:
                problems.append(f"U3: phantom event at {e.index}: {e.action} {e.key}={e.value!r}")
            write = acked.get(e.index)
            if write is not None:
                req, _ = write
                expect_delete = req.kind in (V2OpKind.DELETE, V2OpKind.CAD)
                ok_action = (
                    (e.action in _DELETE_ACTIONS) if expect_delete else (e.action in _SET_ACTIONS)
                )
                if (
                    e.key != req.key
                    or not ok_action
                    or (not expect_delete and e.value != req.value)
                ):
                    problems.append(
                        f"U3: event at {e.index} ({e.action} {e.key}={e.value!r}) is not the "
                        f"acknowledged write {req.kind.value} {req.key}={req.value!r}"
                    )
        if not evs:
            continue
        holes = [(g.after, g.resumed_at) for g in gaps if g.watcher == w]
        got = {e.index for e in evs}
        last = max(got)
        for idx in sorted(acked):
            if idx > last:
                break
            if idx in got or any(a < idx < r for a, r in holes):
                continue
            req, _ = acked[idx]
            problems.append(
                f"U3: watcher {w} missed the acknowledged write at index {idx} "
                f"({req.kind.value} {req.key}) although it saw up to {last}"
            )
    return problems[:20]
