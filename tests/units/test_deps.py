"""Transaction planning (pure): what a job pulls in and how jobs are ordered."""

from __future__ import annotations

import pytest

from pycoreos.units.config import Dependencies
from pycoreos.units.deps import Job, JobKind, plan
from pycoreos.units.errors import JobError

S, T = JobKind.START, JobKind.STOP


def g(**units: Dependencies) -> dict[str, Dependencies]:
    return {k.replace("_", "-") + ".service": v for k, v in units.items()}


def test_start_pulls_requires_wants_binds_transitively_and_orders() -> None:
    graph = g(
        app=Dependencies(requires=("db.service",), wants=("log.service",), after=("db.service",)),
        db=Dependencies(binds_to=("disk.service",), after=("disk.service",)),
        disk=Dependencies(),
        log=Dependencies(before=("app.service",)),
    )
    tx = plan(graph, "start", "app.service")
    assert {j.unit for j in tx.jobs} == {"app.service", "db.service", "log.service", "disk.service"}
    assert tx.waits[Job("app.service", S)] == {Job("db.service", S), Job("log.service", S)}
    assert tx.waits[Job("db.service", S)] == {Job("disk.service", S)}
    assert tx.requires["app.service"] == {"db.service"}  # wants are not hard requirements


def test_requires_without_after_is_not_a_hard_ordering() -> None:
    tx = plan(g(a=Dependencies(requires=("b.service",)), b=Dependencies()), "start", "a.service")
    assert tx.waits[Job("a.service", S)] == frozenset()
    assert tx.requires["a.service"] == frozenset()


def test_conflicts_stop_first_in_both_directions() -> None:
    graph = g(
        a=Dependencies(conflicts=("b.service",)),
        b=Dependencies(),
        c=Dependencies(conflicts=("a.service",)),
    )
    tx = plan(graph, "start", "a.service")
    assert set(tx.jobs) == {Job("a.service", S), Job("b.service", T), Job("c.service", T)}


def test_stop_propagates_to_dependents_in_reverse_order() -> None:
    graph = g(
        db=Dependencies(),
        app=Dependencies(requires=("db.service",), after=("db.service",)),
        web=Dependencies(part_of=("app.service",), after=("app.service",)),
        side=Dependencies(wants=("db.service",)),
    )
    tx = plan(graph, "stop", "db.service")
    assert {j.unit for j in tx.jobs} == {"db.service", "app.service", "web.service"}
    assert tx.waits[Job("db.service", T)] == {Job("app.service", T)}
    assert tx.waits[Job("app.service", T)] == {Job("web.service", T)}


def test_restart_restarts_active_dependents_after_stopping() -> None:
    graph = g(db=Dependencies(), app=Dependencies(requires=("db.service",), after=("db.service",)))
    tx = plan(graph, "restart", "db.service", active=["db.service", "app.service"])
    assert set(tx.jobs) == {
        Job("db.service", T), Job("app.service", T), Job("db.service", S), Job("app.service", S),
    }  # fmt: skip
    assert Job("db.service", T) in tx.waits[Job("db.service", S)]
    assert Job("db.service", S) in tx.waits[Job("app.service", S)]


def test_cycle_is_refused() -> None:
    graph = g(
        a=Dependencies(wants=("b.service",), after=("b.service",)),
        b=Dependencies(wants=("a.service",), after=("a.service",)),
    )
    with pytest.raises(JobError, match="cyclic"):
        plan(graph, "start", "a.service")


def test_unknown_kind() -> None:
    with pytest.raises(JobError):
        plan({}, "frobnicate", "a.service")
