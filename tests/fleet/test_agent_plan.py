from hypothesis import given, settings
from hypothesis import strategies as st

from pycoreos.fleet.agent.reconcile import (
    CurrentUnit,
    DesiredUnit,
    TaskKind,
    desired_state,
    plan_tasks,
)
from pycoreos.fleet.job import JobState

from .helpers import machine, mid, unit


def run(current: dict[str, CurrentUnit], tasks) -> dict[str, CurrentUnit]:
    cur = dict(current)
    for t in tasks:
        if t.kind is TaskKind.LOAD:
            cur[t.name] = CurrentUnit(t.name, JobState.LOADED, t.unit.hash)
        elif t.kind is TaskKind.UNLOAD:
            assert cur[t.name].state is not JobState.LAUNCHED, "unload before stop"
            del cur[t.name]
        elif t.kind is TaskKind.START:
            cur[t.name] = CurrentUnit(t.name, JobState.LAUNCHED, cur[t.name].hash)
        elif t.kind is TaskKind.STOP:
            cur[t.name] = CurrentUnit(t.name, JobState.LOADED, cur[t.name].hash)
    return cur


def test_reasons_and_order():
    desired = {
        "a.service": DesiredUnit("a.service", JobState.LAUNCHED, "h1"),
        "b.service": DesiredUnit("b.service", JobState.LOADED, "h2"),
    }
    current = {
        "b.service": CurrentUnit("b.service", JobState.LAUNCHED, "h2"),
        "c.service": CurrentUnit("c.service", JobState.LAUNCHED, "h3"),
    }
    tasks = plan_tasks(desired, current)
    assert [(t.kind, t.name) for t in tasks] == [
        (TaskKind.STOP, "b.service"),
        (TaskKind.STOP, "c.service"),
        (TaskKind.UNLOAD, "c.service"),
        (TaskKind.LOAD, "a.service"),
        (TaskKind.RELOAD, ""),
        (TaskKind.START, "a.service"),
    ]
    assert tasks[2].reason == "unit loaded but not scheduled here"


def test_hash_change_reloads_and_restarts():
    d = {"a.service": DesiredUnit("a.service", JobState.LAUNCHED, "new")}
    c = {"a.service": CurrentUnit("a.service", JobState.LAUNCHED, "old")}
    kinds = [t.kind for t in plan_tasks(d, c)]
    assert kinds == [TaskKind.STOP, TaskKind.UNLOAD, TaskKind.LOAD, TaskKind.RELOAD, TaskKind.START]


def test_nothing_to_do_when_equal():
    d = {"a.service": DesiredUnit("a.service", JobState.LAUNCHED, "h")}
    c = {"a.service": CurrentUnit("a.service", JobState.LAUNCHED, "h")}
    assert plan_tasks(d, c) == []


def test_desired_state_globals_and_targets():
    me = machine(1, role="web")
    units = [
        unit("mine.service", target=mid(1)),
        unit("theirs.service", target=mid(2)),
        unit("g-web.service", "Global=true\nMachineMetadata=role=web"),
        unit("g-db.service", "Global=true\nMachineMetadata=role=db"),
        unit("g-off.service", "Global=true", state=JobState.INACTIVE),
        unit("loaded.service", state=JobState.LOADED, target=mid(1)),
    ]
    d = desired_state(me, units)
    assert sorted(d) == ["g-web.service", "loaded.service", "mine.service"]
    assert d["loaded.service"].state is JobState.LOADED


def test_agent_refuses_a_conflicting_newcomer_and_keeps_the_loaded_one():
    me = machine(1)
    units = [
        unit("a.service", "Conflicts=z.service", target=mid(1)),
        unit("z.service", target=mid(1)),
    ]
    assert sorted(desired_state(me, units, loaded=["z.service"])) == ["z.service"]
    assert sorted(desired_state(me, units)) == ["a.service"]


states = st.sampled_from([JobState.LOADED, JobState.LAUNCHED])
hashes = st.sampled_from(["h1", "h2"])
names = st.sampled_from([f"u{i}.service" for i in range(6)])


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(names, st.tuples(states, hashes)),
    st.dictionaries(names, st.tuples(states, hashes)),
)
def test_plan_reaches_desired_and_is_idempotent(dd, cc):
    desired = {n: DesiredUnit(n, s, h) for n, (s, h) in dd.items()}
    current = {n: CurrentUnit(n, s, h) for n, (s, h) in cc.items()}
    after = run(current, plan_tasks(desired, current))
    assert {n: (c.state, c.hash) for n, c in after.items()} == {
        n: (d.state, d.hash) for n, d in desired.items()
    }
    assert plan_tasks(desired, after) == []
    # a unit that is desired, launched and unchanged is never stopped or restarted
    for t in plan_tasks(desired, current):
        c, d = current.get(t.name), desired.get(t.name)
        if c and d and c.hash == d.hash and c.state is d.state:
            raise AssertionError(f"touched a settled unit: {t}")
