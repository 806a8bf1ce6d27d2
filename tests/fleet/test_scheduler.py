from hypothesis import given, settings
from hypothesis import strategies as st

from pycoreos.fleet.engine.scheduler import Action, Cluster, able_to_run, decide
from pycoreos.fleet.glob import match
from pycoreos.fleet.job import JobState

from .helpers import machine, mid, unit


def test_least_loaded_with_machine_id_tiebreak():
    ms = [machine(3), machine(1), machine(2)]
    c = Cluster(ms, [unit("a.service", target=mid(1)), unit("b.service", target=mid(3))])
    d = decide(c, unit("x.service"))
    assert d is not None
    assert d.machine == mid(2)
    c.schedule("x.service", d.machine)
    d2 = decide(c, unit("y.service"))
    assert d2 is not None
    assert d2.machine == mid(1)


def test_machine_id_full_and_short():
    c = Cluster([machine(1), machine(2)])
    d = decide(c, unit("a.service", f"MachineID={mid(2)}"))
    assert d is not None
    assert d.machine == mid(2)
    d = decide(c, unit("a.service", f"MachineID={mid(2)[:8]}"))
    assert d is not None
    assert d.machine == mid(2)
    assert decide(c, unit("a.service", "MachineID=ffffffff")) is None


def test_metadata_or_within_key_and_across_keys():
    c = Cluster([machine(1, region="us", disk="hdd"), machine(2, region="eu", disk="ssd")])
    u = unit("a.service", 'MachineMetadata="region=us" "region=eu"\nMachineMetadata=disk=ssd')
    d = decide(c, u)
    assert d is not None
    assert d.machine == mid(2)
    assert decide(c, unit("b.service", "MachineMetadata=region=asia")) is None


def test_machine_of_requires_peer_scheduled_there():
    c = Cluster([machine(1), machine(2)])
    side = unit("side.service", "MachineOf=main.service")
    assert decide(c, side) is None
    c.schedule("main.service", mid(2))
    d = decide(c, side)
    assert d is not None
    assert d.machine == mid(2)


def test_conflicts_both_directions():
    a = unit("a.service", "Conflicts=b.service")
    b = unit("b.service")
    c = Cluster([machine(1), machine(2)], [a.__class__.new(a.name, a.file, a.target_state, mid(1))])
    c.add_unit(b)
    d = decide(c, b)  # b has no Conflicts itself, but a's forbids it
    assert d is not None
    assert d.machine == mid(2)
    action, reason, _ = able_to_run(machine(1), b, c)
    assert action is Action.UNSCHEDULE
    assert "Unit(a.service)" in reason


def test_replaces_moves_the_replaced_unit_and_it_cannot_return():
    old = unit("old.service", target=mid(1))
    new = unit("new.service", f"Replaces=old.service\nMachineID={mid(1)}")
    c = Cluster([machine(1), machine(2)], [old, new])
    d = decide(c, new)
    assert d is not None
    assert d.machine == mid(1)
    assert d.replaced == ("old.service",)
    c.unschedule("old.service")
    c.schedule("new.service", mid(1))
    d2 = decide(c, old)
    assert d2 is not None
    assert d2.machine == mid(2)


names = st.sampled_from([f"u{i}.service" for i in range(8)])


@st.composite
def scenario(draw):
    n_machines = draw(st.integers(1, 4))
    ms = [machine(i + 1, role=draw(st.sampled_from(["web", "db"]))) for i in range(n_machines)]
    units = []
    for i in range(draw(st.integers(1, 8))):
        opts = []
        if draw(st.booleans()):
            opts.append(f"Conflicts={draw(names)}")
        if draw(st.booleans()):
            opts.append(f"MachineMetadata=role={draw(st.sampled_from(['web', 'db']))}")
        units.append(unit(f"u{i}.service", "\n".join(opts), JobState.LAUNCHED))
    return ms, units


@settings(max_examples=200, deadline=None)
@given(scenario())
def test_decisions_respect_constraints_and_load(sc):
    ms, units = sc
    c = Cluster(ms)
    for u in units:
        c.add_unit(u)
    for u in units:
        loads_before = {m.id: c.load(m.id) for m in ms}
        d = decide(c, u)
        able = [m for m in ms if able_to_run(m, u, c)[0] is not Action.UNSCHEDULE]
        if d is None:
            assert not able
            continue
        # least loaded among able machines, ties by ID
        best = min(able, key=lambda m: (loads_before[m.id], m.id))
        assert d.machine == best.id
        c.schedule(u.name, d.machine)
    by_name = {u.name: u for u in units}
    for m in ms:
        here = c.units_on(m.id)
        for a in here:
            ua = by_name[a]
            for k, vals in ua.reqs.metadata.items():
                assert m.metadata.get(k) in vals
            for b in here:
                if a != b:
                    assert not any(match(p, b) for p in ua.reqs.conflicts)
