import random

from hypothesis import given, settings
from hypothesis import strategies as st

from pycoreos.fleet.engine.reconciler import (
    DecisionKind,
    EngineDecision,
    MachineTracker,
    Policy,
    reconcile,
)
from pycoreos.fleet.glob import match
from pycoreos.fleet.job import JobState, Unit

from .helpers import machine, mid, unit


def apply(units: list[Unit], decisions: list[EngineDecision]) -> list[Unit]:
    by = {u.name: u for u in units}
    for d in decisions:
        u = by[d.unit]
        tgt = d.machine if d.kind is DecisionKind.SCHEDULE else ""
        if d.kind is DecisionKind.UNSCHEDULE:
            assert u.target == d.machine
            assert d.target_index == u.target_index
        by[d.unit] = Unit.new(u.name, u.file, u.target_state, tgt, u.target_index + 1)
    return list(by.values())


def converge(units, ms, **kw):
    for _ in range(5):
        ds = reconcile(units, ms, **kw)
        if not ds:
            return units
        units = apply(units, ds)
    raise AssertionError("no fixed point")


def test_schedules_unscheduled_and_unschedules_inactive():
    ms = {m.id: m for m in (machine(1), machine(2))}
    units = [
        unit("a.service"),
        unit("b.service", state=JobState.INACTIVE, target=mid(1), index=7),
        unit("c.service", state=JobState.INACTIVE),
    ]
    ds = reconcile(units, ms)
    assert [(d.kind, d.unit, d.reason) for d in ds] == [
        (DecisionKind.UNSCHEDULE, "b.service", "target state inactive"),
        (DecisionKind.SCHEDULE, "a.service", "target state launched and unit not scheduled"),
    ]
    assert ds[0].target_index == 7


def test_machine_gone_only_after_grace():
    ms = {m.id: m for m in (machine(1), machine(2), machine(3))}
    units = [unit("a.service", target=mid(3))]
    live = {k: v for k, v in ms.items() if k != mid(3)}
    pol = Policy(grace=10)
    assert reconcile(units, live, absent_for={mid(3): 9.9}, policy=pol) == []
    ds = reconcile(units, live, absent_for={mid(3): 10}, policy=pol)
    assert [(d.kind, d.unit, d.machine) for d in ds] == [
        (DecisionKind.UNSCHEDULE, "a.service", mid(3)),
        (DecisionKind.SCHEDULE, "a.service", mid(1)),
    ]
    assert ds[0].reason == f"target Machine({mid(3)}) went away"


def test_mass_absence_is_an_outage():
    units = [unit(f"u{i}.service", target=mid(i % 3 + 1)) for i in range(9)]
    live = {mid(1): machine(1)}
    absent = {mid(2): 100.0, mid(3): 100.0}
    assert reconcile(units, live, absent_for=absent, known=[mid(1), mid(2), mid(3)]) == []
    assert reconcile(units, {}, absent_for={**absent, mid(1): 100.0}) == []


def test_rate_limit():
    units = [unit(f"u{i}.service", target=mid(3)) for i in range(10)]
    live = {mid(1): machine(1), mid(2): machine(2)}
    ds = reconcile(units, live, absent_for={mid(3): 60}, policy=Policy(grace=1, max_moves=4))
    assert sum(d.kind is DecisionKind.UNSCHEDULE for d in ds) == 4
    assert sum(d.kind is DecisionKind.SCHEDULE for d in ds) == 4


def test_conflicting_pair_on_one_machine_loses_only_one():
    units = [
        unit("a.service", "Conflicts=b.service", target=mid(1)),
        unit("b.service", target=mid(1)),
    ]
    ms = {mid(1): machine(1), mid(2): machine(2)}
    ds = reconcile(units, ms)
    assert [(d.kind, d.unit) for d in ds] == [
        (DecisionKind.UNSCHEDULE, "b.service"),
        (DecisionKind.SCHEDULE, "b.service"),
    ]
    assert ds[1].machine == mid(2)


def test_metadata_change_moves_unit():
    units = [unit("a.service", "MachineMetadata=role=web", target=mid(1))]
    ms = {mid(1): machine(1, role="db"), mid(2): machine(2, role="web")}
    ds = reconcile(units, ms)
    assert ds[0].reason == f"target Machine({mid(1)}) unable to run unit"
    assert ds[1].machine == mid(2)


def test_sidekick_follows_peer_over_passes():
    ms = {m.id: m for m in (machine(1), machine(2))}
    units = [unit("a-side.service", "MachineOf=z-main.service"), unit("z-main.service")]
    final = converge(units, ms)
    t = {u.name: u.target for u in final}
    assert t["a-side.service"] == t["z-main.service"] != ""


def test_tracker_counts_only_healthy_time():
    tr = MachineTracker()
    tr.observe(0.0, [mid(1), mid(2)], [])
    tr.observe(5.0, [mid(1)], [])
    assert tr.absent_for(12.0) == {mid(2): 7.0}
    tr.store_failed(13.0)
    tr.observe(20.0, [mid(1)], [mid(3)])
    assert tr.absent_for(21.0) == {mid(2): 1.0, mid(3): 1.0}
    tr.observe(22.0, [mid(1), mid(2)], [])
    assert set(tr.absent_for(23.0)) == {mid(3)}
    assert tr.known == {mid(1), mid(2), mid(3)}


@st.composite
def cluster(draw):
    n = draw(st.integers(2, 5))
    ms = [machine(i + 1, role=draw(st.sampled_from(["a", "b"]))) for i in range(n)]
    names = [f"u{i}.service" for i in range(draw(st.integers(1, 12)))]
    units = []
    for name in names:
        opts = []
        if draw(st.integers(0, 3)) == 0:
            opts.append(f"Conflicts={draw(st.sampled_from(names))}")
        if draw(st.integers(0, 3)) == 0:
            opts.append(f"MachineMetadata=role={draw(st.sampled_from(['a', 'b']))}")
        tgt = draw(st.sampled_from(["", *(m.id for m in ms)]))
        state = draw(st.sampled_from(list(JobState)))
        units.append(unit(name, "\n".join(opts), state, tgt, draw(st.integers(0, 99))))
    dead = draw(st.sets(st.sampled_from([m.id for m in ms]), max_size=n - 1))
    return ms, units, dead


@settings(max_examples=150, deadline=None)
@given(cluster())
def test_fixed_point_satisfies_constraints(sc):
    ms, units, dead = sc
    live = {m.id: m for m in ms if m.id not in dead}
    absent = dict.fromkeys(dead, 1000.0)
    final = converge(units, live, absent_for=absent, policy=Policy(grace=10, max_moves=100))
    outage = len(dead) > len(ms) / 2
    by_machine: dict[str, list[Unit]] = {}
    for u in final:
        if u.target_state is JobState.INACTIVE:
            assert not u.target
        if u.target:
            by_machine.setdefault(u.target, []).append(u)
    for m_id, here in by_machine.items():
        if m_id in dead:
            assert outage  # units stay on dead machines only during an outage
            continue
        for a in here:
            for k, vals in a.reqs.metadata.items():
                assert live[m_id].metadata.get(k) in vals
            for b in here:
                assert a is b or not any(match(p, b.name) for p in a.reqs.conflicts)


@settings(max_examples=100, deadline=None)
@given(cluster())
def test_live_units_never_move_when_nothing_changed(sc):
    ms, units, _ = sc
    live = {m.id: m for m in ms}
    settled = converge(units, live)
    # a second engine (new leader, fresh tracker) sees the same state: nothing to do
    assert reconcile(settled, live) == []


def test_seeded_random_walk_no_double_schedule():
    rng = random.Random(7)
    ms = {m.id: m for m in (machine(i) for i in range(1, 4))}
    units = [unit(f"u{i}.service") for i in range(20)]
    for _ in range(30):
        units = apply(units, reconcile(units, ms))
        i = rng.randrange(len(units))
        u = units[i]
        st_ = rng.choice(list(JobState))
        units[i] = Unit.new(u.name, u.file, st_, u.target, u.target_index)
    units = converge(units, ms)
    loads = {}
    for u in units:
        if u.target:
            loads[u.target] = loads.get(u.target, 0) + 1
    if loads:
        assert max(loads.values()) - min(loads.get(m, 0) for m in ms) <= max(1, len(units))
