"""Three fleetd processes (builtin unit manager, own root each) on one etcd member; fleetctl.

Units record every start in ``starts/<unit>`` (one line per start) so the tests can count
restarts across machines.
"""

from __future__ import annotations

import collections
import time
from pathlib import Path

import pytest

from pycoreos.testing.procs import restart, start_member

from .e2e_helpers import fleetctl, start_fleetd

TTL = 3.0  # agent_ttl; grace = TTL/2, reconcile 0.3 s


def write_units(d: Path, starts: Path) -> list[str]:
    d.mkdir()
    body = f"ExecStart=/bin/sh -c 'echo %n >> {starts}/%n; echo running %n; exec sleep 1000'"

    def unit(name: str, xfleet: str = "") -> None:
        x = f"\n[X-Fleet]\n{xfleet}\n" if xfleet else ""
        (d / name).write_text(f"[Unit]\nDescription={name}\n\n[Service]\n{body}\n{x}")

    names = []
    for i in range(11):
        unit(f"plain{i:02d}.service")
        names.append(f"plain{i:02d}.service")
    unit("global.service", "Global=true")
    unit("a-conf.service", "Conflicts=b-conf.service")
    unit("b-conf.service", "Conflicts=a-conf.service")
    unit("main.service")
    unit("side.service", "MachineOf=main.service")
    unit("db.service", "MachineMetadata=role=db")
    unit("tmpl@.service", "Conflicts=tmpl@*.service")
    names += ["global.service", "a-conf.service", "b-conf.service", "main.service", "side.service"]
    names += ["db.service", "tmpl@1.service", "tmpl@2.service", "tmpl@3.service"]
    return names


def check_least_loaded(base: Path, units_dir: Path, fs) -> None:
    """Replay the engine's schedule decisions, in the order it made them, through the pure
    scheduler: every one must be the least-loaded machine able to run the unit."""
    from pycoreos.fleet.engine.scheduler import Cluster, decide
    from pycoreos.fleet.job import JobState, Unit
    from pycoreos.fleet.machine import MachineState
    from pycoreos.fleet.unit import parse_unit_file

    logs = [(base / f"fleetd{i}.log").read_text().splitlines() for i in range(3)]
    done = {
        ln.split("completed task: ", 1)[1]
        for lines_i in logs for ln in lines_i
        if "completed task: {Type: AttemptScheduleUnit" in ln
    }  # fmt: skip
    # Replay in decision order: the "decided" lines, each log in file order, merged by
    # timestamp (the stable sort keeps one engine's same-millisecond lines in order).
    # Completions are written concurrently, so their order proves nothing.
    lines = sorted(
        (ln for lines_i in logs for ln in lines_i
         if "decided: {Type: AttemptScheduleUnit" in ln
         and ln.split("decided: ", 1)[1] in done),
        key=lambda ln: ln[:23],
    )  # fmt: skip
    meta = {f.machine_id: {"role": "db" if i == 2 else "web"} for i, f in enumerate(fs)}
    c = Cluster(MachineState(id=m, metadata=md) for m, md in meta.items())
    assert len(lines) == 19
    for ln in lines:
        name = ln.split("JobName: ")[1].split(",")[0]
        chosen = ln.split("MachineID: ")[1].split(",")[0]
        fname = name if (units_dir / name).exists() else name.split("@")[0] + "@.service"
        u = Unit.new(name, parse_unit_file((units_dir / fname).read_text()), JobState.LAUNCHED)
        c.add_unit(u)
        d = decide(c, u)
        assert d is not None
        assert d.machine == chosen, (name, chosen, d.machine)
        c.schedule(name, chosen)


def running(sock: Path) -> dict[str, list[str]]:
    out = fleetctl(sock, "list-units", "--no-legend", "--full", "--fields=unit,machine,sub").stdout
    res: dict[str, list[str]] = collections.defaultdict(list)
    for line in out.splitlines():
        unit, machine, sub = line.split()
        if sub == "running":
            res[unit].append(machine.split("/")[0])
    return res


def starts(d: Path) -> dict[str, int]:
    return {p.name: len(p.read_text().splitlines()) for p in d.iterdir()}


def wait(pred, limit: float, what: str):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("kind", ["ours"])
def test_three_machines_placement_store_outage_and_machine_death(tmp_path, kind):
    etcd = start_member(kind, tmp_path)
    fs = []
    try:
        fs = [
            start_fleetd(
                tmp_path,
                i,
                etcd.client_url,
                "/e2e/",
                ttl=f"{TTL}s",
                meta="role=db" if i == 2 else "role=web",
            )
            for i in range(3)
        ]
        sdir = tmp_path / "starts"
        sdir.mkdir()
        names = write_units(tmp_path / "units", sdir)
        local = [str(tmp_path / "units" / n) for n in names]  # instances: local template
        t0 = time.monotonic()
        r = fleetctl(fs[0].sock, "start", *local, timeout=120)
        assert time.monotonic() - t0 < 30
        assert "Triggered global unit global.service start" in r.stdout
        assert r.stdout.count("launched on") == len(names) - 1
        ids = {f.machine_id: f for f in fs}
        db_id = fs[2].machine_id
        placed = wait(
            lambda: (lambda x: x if len(x) == 20 and len(x["global.service"]) == 3 else None)(
                running(fs[0].sock)
            ),
            30,
            "20 units running",
        )
        assert placed["db.service"] == [db_id]
        assert placed["side.service"] == placed["main.service"]
        assert placed["a-conf.service"] != placed["b-conf.service"]
        tm = {placed[f"tmpl@{i}.service"][0] for i in (1, 2, 3)}
        assert len(tm) == 3  # conflicting template instances spread over 3 machines
        check_least_loaded(tmp_path, tmp_path / "units", fs)
        files = fleetctl(fs[1].sock, "list-unit-files", "--no-legend").stdout
        assert "global.service" in files
        assert files.split("global.service")[1].splitlines()[0].endswith("global")
        journal = fleetctl(fs[1].sock, "journal", "db.service").stdout  # served by machine 2
        assert "running db.service" in journal
        before = starts(sdir)
        assert before.pop("global.service") == 3  # one start per machine
        assert set(before.values()) == {1}
        before["global.service"] = 3

        # F4: etcd unavailable for 2 x agent_ttl -> nothing stopped, restarted or moved
        etcd.stop()
        time.sleep(2 * TTL)
        etcd = restart(etcd)
        time.sleep(TTL * 1.5 + 1)
        after = running(fs[0].sock)
        assert after == placed
        assert starts(sdir) == before

        # F3: SIGKILL machine 0 with its units: its non-global units run elsewhere, once
        victim = fs[0]
        lost_all = sorted(n for n, ms in placed.items() if ms == [victim.machine_id])
        # a template instance conflicting with the instances on both survivors cannot move
        stuck = [n for n in lost_all if n.startswith("tmpl@")]
        lost = [n for n in lost_all if n not in stuck]
        assert lost
        assert len(stuck) == 1
        t_kill = time.monotonic()
        victim.kill_with_units()
        live = fs[1]

        def moved():
            cur = running(live.sock)
            return (
                cur if all(cur.get(n) and victim.machine_id not in cur[n] for n in lost) else None
            )

        cur = wait(moved, TTL + TTL / 2 + 2 * 0.3 + 15, "units of the dead machine rescheduled")
        elapsed = time.monotonic() - t_kill
        print(f"F3: {len(lost)} units moved in {elapsed:.1f}s")
        after = starts(sdir)
        for n in lost:
            assert after[n] == 2, (n, after[n])  # started once more: rescheduled exactly once
        for n in stuck:
            assert n not in cur
        files = fleetctl(live.sock, "list-unit-files", "--no-legend", "--fields=unit,target").stdout
        assert f"{stuck[0]}\t-" in files
        for n, c in after.items():
            if n not in lost:
                assert c == before[n], (n, c)  # nothing else restarted
        assert cur["side.service"] == cur["main.service"]
        assert cur["a-conf.service"] != cur["b-conf.service"]
        assert cur["db.service"] == [db_id]
        del ids
    finally:
        for f in fs:
            f.stop()
        etcd.stop()
