import itertools

import pytest

from pycoreos.fleet.errors import ConflictError, NotFoundError
from pycoreos.fleet.job import JobState
from pycoreos.fleet.registry import AsyncEtcd, Registry, UnitStateRecord

from .helpers import machine, mid, ufile

_n = itertools.count()


@pytest.fixture
async def reg(etcd_url):
    r = Registry(AsyncEtcd([etcd_url], timeout=5), prefix=f"/fleet-test-{next(_n)}/")
    yield r
    await r.close()


async def test_empty_registry(reg):
    snap = await reg.snapshot()
    assert snap.units == {}
    assert snap.machines == {}


async def test_create_snapshot_and_duplicate(reg):
    uf = ufile("Conflicts=x*")
    await reg.create_unit("a.service", uf, JobState.LAUNCHED)
    await reg.create_unit("b.service", uf, JobState.INACTIVE)  # shares the content object
    with pytest.raises(ConflictError):
        await reg.create_unit("a.service", uf, JobState.LOADED)
    snap = await reg.snapshot(quorum=True)
    assert list(snap.units) == ["a.service", "b.service"]
    a = snap.units["a.service"]
    assert a.file.hash == uf.hash
    assert a.target_state is JobState.LAUNCHED
    assert a.reqs.conflicts == ("x*",)
    assert snap.current_state("a.service") is JobState.INACTIVE
    raw = await reg.etcd.get(reg.keys.job_object("a.service"))
    assert raw.node.value == '{"Name":"a.service","UnitHash":[' + ",".join(map(str, uf.hash)) + "]}"


async def test_schedule_is_first_writer_wins_and_unschedule_is_fenced(reg):
    await reg.create_unit("a.service", ufile(), JobState.LAUNCHED)
    await reg.schedule("a.service", mid(1))
    with pytest.raises(ConflictError):
        await reg.schedule("a.service", mid(2))
    snap = await reg.snapshot()
    u = snap.units["a.service"]
    assert u.target == mid(1)
    with pytest.raises(ConflictError):
        await reg.unschedule("a.service", mid(1), u.target_index - 1)  # stale read
    await reg.unschedule("a.service", mid(1), u.target_index)
    assert (await reg.snapshot()).units["a.service"].target == ""
    with pytest.raises(ConflictError):
        await reg.unschedule("a.service", mid(1))


async def test_destroy(reg):
    await reg.create_unit("a.service", ufile(), JobState.LAUNCHED)
    await reg.destroy_unit("a.service")
    assert (await reg.snapshot()).units == {}
    with pytest.raises(NotFoundError):
        await reg.destroy_unit("a.service")


async def test_machines_metadata_and_states(reg):
    m = machine(1, role="web")
    await reg.heartbeat(m, 30, refresh=False)
    await reg.heartbeat(m, 30, refresh=True)
    await reg.set_machine_metadata(mid(1), "disk", "ssd")
    await reg.set_machine_metadata(mid(9), "left", "yes")  # allowed for absent machines
    await reg.create_unit("a.service", ufile(), JobState.LAUNCHED)
    await reg.schedule("a.service", mid(1))
    rec = UnitStateRecord(
        name="a.service", machine_id=mid(1), load_state="loaded", active_state="active",
        sub_state="running", hash="ab", fleet_state=JobState.LAUNCHED,
    )  # fmt: skip
    await reg.save_unit_state(rec, m)
    snap = await reg.snapshot()
    assert dict(snap.machines[mid(1)].metadata) == {"role": "web", "disk": "ssd"}
    assert snap.machines[mid(1)].public_ip == "10.0.0.1"
    assert mid(9) not in snap.machines
    assert dict(snap.machine_meta[mid(9)]) == {"left": "yes"}
    assert snap.states == (rec,)
    assert snap.current_state("a.service") is JobState.LAUNCHED
    await reg.set_machine_metadata(mid(1), "disk", None)
    await reg.remove_unit_state("a.service", mid(1))
    await reg.remove_machine(mid(1))
    snap = await reg.snapshot()
    assert snap.machines == {}
    assert snap.states == ()


async def test_refresh_of_expired_presence_conflicts(reg):
    with pytest.raises(ConflictError):
        await reg.heartbeat(machine(2), 30, refresh=True)


async def test_engine_lease_fencing(reg):
    lease = await reg.acquire_lease(mid(1), 10)
    with pytest.raises(ConflictError):
        await reg.acquire_lease(mid(2), 10)
    renewed = await reg.renew_lease(lease, 10)
    assert renewed.index > lease.index
    with pytest.raises(ConflictError):
        await reg.renew_lease(lease, 10)  # a deposed holder with an old index loses
    snap = await reg.snapshot()
    assert snap.lease is not None
    assert snap.lease.machine_id == mid(1)
    await reg.release_lease(lease)  # stale: ignored, lease stays
    assert (await reg.snapshot()).lease is not None
    await reg.release_lease(renewed)
    assert (await reg.snapshot()).lease is None


async def test_engine_lease_takeover_and_adoption(reg):
    from pycoreos._clock import ManualClock
    from pycoreos.fleet.engine.driver import Engine
    from pycoreos.fleet.engine.reconciler import Policy

    clock = ManualClock()
    a = Engine(reg, mid(1), clock, lease_ttl=10, policy=Policy())
    b = Engine(reg, mid(2), clock, lease_ttl=10, policy=Policy())
    assert await a.maintain_lease(reg)
    assert a.is_leader
    assert not await b.maintain_lease(reg)  # held: b only reads the key
    assert await a.maintain_lease(reg)  # renewal
    assert a.terms == 1
    clock.advance(8)
    assert not a.is_leader  # past 80 % of the TTL without renewal: stop acting
    # a renewal whose answer was lost: the stored index moved on, the next renewal conflicts,
    # and the holder re-adopts its own lease instead of waiting for it to expire
    assert a.lease is not None
    await reg.renew_lease(a.lease, 10)
    assert not await a.maintain_lease(reg)
    assert await a.maintain_lease(reg)
    assert a.is_leader
    await a.release(reg)
    assert await b.maintain_lease(reg)  # released: the next candidate takes it at once
    assert b.is_leader
