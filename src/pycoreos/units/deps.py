"""Transactions: which jobs a start/stop/restart pulls in, and in what order. Pure.

From ``systemd.unit(5)``:

- starting X starts everything X ``Requires=``, ``Wants=`` or ``BindsTo=`` (transitively)
  and stops every unit that ``Conflicts=`` with one of them (in either direction);
- stopping X also stops every unit that ``Requires=``, ``BindsTo=`` or is ``PartOf=`` X
  (transitively); restart propagates the same way;
- ``After=``/``Before=`` order jobs between units that are both in the transaction: for
  start jobs the later unit waits; for stop jobs the order is reversed; a stop job always
  runs before a start job of units ordered either way.

A cycle in the ordering is refused with :class:`JobError` (systemd breaks cycles by dropping
a Wants= job; we report it so the user fixes the files).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pycoreos.units.config import Dependencies
from pycoreos.units.errors import JobError

__all__ = ["Job", "JobKind", "Transaction", "plan"]


class JobKind(enum.StrEnum):
    """What a job does to its unit."""

    START = "start"
    STOP = "stop"


@dataclass(frozen=True, slots=True)
class Job:
    """One unit's job in a transaction."""

    unit: str
    kind: JobKind


@dataclass(frozen=True, slots=True, kw_only=True)
class Transaction:
    """Jobs with their ordering: ``waits[j]`` are the jobs that must finish before ``j``."""

    jobs: tuple[Job, ...]
    waits: Mapping[Job, frozenset[Job]]
    requires: Mapping[str, frozenset[str]]  # unit -> units it hard-requires (for results)


def _closure(start: Iterable[str], edges: Mapping[str, Iterable[str]]) -> list[str]:
    seen: list[str] = []
    todo = list(start)
    while todo:
        u = todo.pop(0)
        if u in seen:
            continue
        seen.append(u)
        todo.extend(sorted(edges.get(u, ())))
    return seen


def _reverse_stop_edges(graph: Mapping[str, Dependencies]) -> dict[str, set[str]]:
    rev: dict[str, set[str]] = {}
    for name in sorted(graph):
        d = graph[name]
        for dep in (*d.requires, *d.binds_to, *d.part_of):
            rev.setdefault(dep, set()).add(name)
    return rev


def _orders(graph: Mapping[str, Dependencies]) -> set[tuple[str, str]]:
    """Pairs (a, b) meaning a is ordered after b."""
    pairs: set[tuple[str, str]] = set()
    for name, d in graph.items():
        pairs.update((name, b) for b in d.after)
        pairs.update((a, name) for a in d.before)
    return pairs


def plan(
    graph: Mapping[str, Dependencies],
    kind: str,
    target: str,
    *,
    active: Iterable[str] = (),
) -> Transaction:
    """Compute the transaction for ``kind`` (``start``/``stop``/``restart``) of ``target``.

    Args:
        graph: dependencies of every loaded unit (missing units have no entry).
        kind: the job type asked for.
        target: the unit named by the user.
        active: units currently active or activating (restart re-starts the active ones).

    Raises:
        JobError: if the ordering among the jobs is cyclic, or ``kind`` is unknown.
    """
    active_set = set(active)
    starts: list[str] = []
    stops: list[str] = []
    if kind == "start":
        pull = {n: [*d.requires, *d.wants, *d.binds_to] for n, d in graph.items()}
        starts = _closure([target], pull)
        conflicts: set[str] = set()
        for n in starts:
            d = graph.get(n)
            if d is not None:
                conflicts.update(d.conflicts)
        for n, d in graph.items():
            if any(c in starts for c in d.conflicts):
                conflicts.add(n)
        stops = sorted(conflicts - set(starts))
    elif kind in ("stop", "restart"):
        stops = _closure([target], _reverse_stop_edges(graph))
        if kind == "restart":
            starts = [target] + [u for u in stops if u != target and u in active_set]
    else:
        raise JobError(f"unknown job type {kind!r}")
    jobs = [Job(u, JobKind.STOP) for u in stops] + [Job(u, JobKind.START) for u in starts]
    by_unit_start = {j.unit: j for j in jobs if j.kind is JobKind.START}
    by_unit_stop = {j.unit: j for j in jobs if j.kind is JobKind.STOP}
    waits: dict[Job, set[Job]] = {j: set() for j in jobs}
    for a, b in _orders(graph):  # a after b
        if a in by_unit_start and b in by_unit_start:
            waits[by_unit_start[a]].add(by_unit_start[b])
        if a in by_unit_stop and b in by_unit_stop:
            waits[by_unit_stop[b]].add(by_unit_stop[a])
    for u, sj in by_unit_start.items():  # stop before start, for ordered pairs and the unit itself
        for v, tj in by_unit_stop.items():
            if u == v or (u, v) in _orders(graph) or (v, u) in _orders(graph):
                waits[sj].add(tj)
    _check_acyclic(waits)
    requires = {
        n: frozenset(
            x for x in (*graph[n].requires, *graph[n].binds_to) if (n, x) in _orders(graph)
        )
        for n in starts
        if n in graph
    }
    return Transaction(
        jobs=tuple(jobs),
        waits={j: frozenset(w) for j, w in waits.items()},
        requires=requires,
    )


def _check_acyclic(waits: Mapping[Job, set[Job]]) -> None:
    state: dict[Job, int] = {}

    def visit(j: Job, path: list[Job]) -> None:
        if state.get(j) == 2:
            return
        if state.get(j) == 1:
            cycle = " -> ".join(f"{x.unit}/{x.kind}" for x in [*path[path.index(j) :], j])
            raise JobError(f"Transaction order is cyclic: {cycle}")
        state[j] = 1
        for w in sorted(waits[j], key=lambda x: (x.unit, x.kind)):
            visit(w, [*path, j])
        state[j] = 2

    for j in sorted(waits, key=lambda x: (x.unit, x.kind)):
        visit(j, [])
