"""F1 and F2 of reliability.md §8 on real fleetd processes (builtin supervisor).

Every unit appends its PID to ``pids/<unit>`` when it starts (``exec sleep`` keeps that PID),
so a start is a line and a stop is a dead PID: the tests count starts and check liveness.

- F1: one fleetd cut from etcd (a proxy that resets its connections, as fleet's
  ``TestSingleNodeConnectivityLoss`` uses iptables REJECT) for 3 x agent_ttl. Its units keep
  running untouched while it is cut; the engine moves its non-global units once; after the
  heal it stops only the units that moved away; no unit elsewhere is stopped or restarted.
- F2: a 3-member etcd cluster loses its leader (SIGKILL), then the engine leader is paused
  past its lease: zero unit restarts anywhere, a new engine takes over, work goes on.
"""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from pycoreos.testing.procs import restart, start_cluster, start_member

from .e2e_helpers import CutProxy, Fleetd, fleetctl, metric, start_fleetd
from .test_e2e_cluster import running, wait

pytestmark = pytest.mark.slow


def write_units(d: Path, pids: Path, names: list[str], xfleet: dict[str, str]) -> list[str]:
    d.mkdir(exist_ok=True)
    body = f"ExecStart=/bin/sh -c 'echo $$$$ >> {pids}/%n; exec sleep 1000'"
    for n in names:
        x = f"\n[X-Fleet]\n{xfleet[n]}\n" if n in xfleet else ""
        (d / n).write_text(f"[Unit]\nDescription={n}\n\n[Service]\n{body}\n{x}")
    return [str(d / n) for n in names]


def starts(pids: Path) -> dict[str, list[int]]:
    return {p.name: [int(x) for x in p.read_text().split()] for p in pids.iterdir()}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ")[1][0] != "Z"


def units_of(f: Fleetd) -> set[int]:
    return set(f.children())


def test_f1_agent_cut_from_etcd(tmp_path):
    ttl = 3.0
    etcd = start_member("ours", tmp_path)
    proxy = CutProxy(etcd.client_port)
    fs: list[Fleetd] = []
    try:
        fs = [
            start_fleetd(
                tmp_path, i, proxy.url if i == 2 else etcd.client_url, "/f1/", ttl=f"{ttl}s"
            )
            for i in range(3)
        ]
        pids = tmp_path / "pids"
        pids.mkdir()
        names = [f"p{i}.service" for i in range(6)]
        names += ["global.service", "a.service", "b.service", "side.service"]
        x = {
            "global.service": "Global=true",
            "a.service": "Conflicts=b.service",
            "b.service": "Conflicts=a.service",
            "side.service": "MachineOf=p0.service",
        }
        fleetctl(fs[0].sock, "start", *write_units(tmp_path / "u", pids, names, x), timeout=120)
        placed = wait(
            lambda: (lambda r: r if len(r) == 10 and len(r["global.service"]) == 3 else None)(
                running(fs[0].sock)
            ),
            30,
            "10 units running",
        )
        cut_id = fs[2].machine_id
        moved = sorted(n for n, ms in placed.items() if ms == [cut_id])
        assert moved, placed  # least loaded: the cut machine runs its share
        before = starts(pids)
        procs = [units_of(f) for f in fs]
        assert len(procs[2]) == len(moved) + 1  # its units and its copy of the global unit

        proxy.cut()
        t_cut = time.monotonic()
        while time.monotonic() - t_cut < 3 * ttl:
            # fail-static: nothing on the cut machine stops or starts while it is cut
            assert units_of(fs[2]) == procs[2]
            time.sleep(0.5)
        during = running(fs[0].sock)
        for n in moved:  # rescheduled by the engine while the machine was away
            assert during.get(n), n
            assert cut_id not in during[n], (n, during[n])
        assert all(alive(p) for p in procs[2])

        proxy.heal()

        last: list[object] = []

        def converged():
            r = running(fs[0].sock)
            last[:] = [r, units_of(fs[2]), procs[2]]
            ok = len(r) == 10 and len(r["global.service"]) == 3
            ok = ok and all(len(ms) == 1 and cut_id not in ms for n, ms in r.items() if n in moved)
            return r if ok and len(units_of(fs[2])) == 1 else None

        try:
            after = wait(converged, 30, "the healed machine to converge")
        except AssertionError:
            raise AssertionError(f"not converged: {last}") from None
        now = starts(pids)
        for n in names:
            extra = 1 if n in moved else 0
            assert len(now[n]) == len(before[n]) + extra, (n, now[n], before[n])
        # nothing on the machines that stayed connected was stopped or restarted
        for i in (0, 1):
            assert procs[i] <= units_of(fs[i])
        # the cut machine kept its global unit (same process) and stopped the moved ones
        assert units_of(fs[2]) <= procs[2]
        assert after["side.service"] == after["p0.service"]
        assert after["a.service"] != after["b.service"]
    finally:
        for f in fs:
            f.stop()
        proxy.close()
        etcd.stop()


def etcd_leader(members) -> int:
    import json

    for i, m in enumerate(members):
        try:
            with urllib.request.urlopen(f"{m.client_url}/v2/stats/self", timeout=2) as r:
                if json.loads(r.read())["state"] == "StateLeader":
                    return i
        except OSError:
            continue
    raise AssertionError("no etcd leader")


def test_f2_etcd_leader_and_engine_leader_changes(tmp_path):
    (tmp_path / "etcd").mkdir()
    members = start_cluster("ours", tmp_path / "etcd", 3)
    urls = [m.client_url for m in members]
    fs: list[Fleetd] = []
    ttl = 10.0  # lease TTL = 5 x 0.3 s = 1.5 s; a pause of 4 s is past it, well inside ttl
    try:
        for i in range(3):  # each fleetd starts on a different member
            servers = ",".join(urls[i:] + urls[:i])
            fs.append(start_fleetd(tmp_path, i, servers, "/f2/", ttl=f"{ttl}s"))
        pids = tmp_path / "pids"
        pids.mkdir()
        names = [f"s{i:02d}.service" for i in range(20)] + ["global.service"]
        files = write_units(tmp_path / "u", pids, names, {"global.service": "Global=true"})
        fleetctl(fs[0].sock, "start", *files, timeout=120)
        wait(
            lambda: (lambda r: len(r) == 21 and len(r["global.service"]) == 3)(running(fs[0].sock)),
            30,
            "21 units running",
        )
        before = starts(pids)
        procs = [units_of(f) for f in fs]

        # etcd leader killed: an election, clients fail over; no unit moves or restarts
        lead = etcd_leader(members)
        members[lead].kill()
        extra = write_units(tmp_path / "u", pids, ["late1.service"], {})
        live = next(f for i, f in enumerate(fs) if i != lead)
        fleetctl(live.sock, "start", *extra, "--block-attempts=60", timeout=60)
        members[lead] = restart(members[lead])

        # engine leader paused past its lease: another engine takes over, no churn
        leader = next(f for f in fs if metric(f.port, "fleet_engine_leader") == 1)
        leader.proc.send_signal(signal.SIGSTOP)
        t_pause = time.monotonic()
        try:
            other = next(f for f in fs if f is not leader)
            wait(
                lambda: any(
                    metric(f.port, "fleet_engine_leader") == 1 for f in fs if f is not leader
                ),
                10,
                "a new engine leader",
            )
            # the new engine schedules (--no-block: the unit may land on the paused machine,
            # whose agent starts it after the resume)
            extra2 = write_units(tmp_path / "u", pids, ["late2.service"], {})
            fleetctl(other.sock, "start", "--no-block", *extra2, timeout=60)
            time.sleep(max(0.0, 4 - (time.monotonic() - t_pause)))
        finally:
            leader.proc.send_signal(signal.SIGCONT)
        paused = time.monotonic() - t_pause
        assert paused < ttl - 2, paused  # a pause, not a machine death (presence kept)
        wait(lambda: len(running(other.sock).get("late2.service", [])) == 1, 30, "late2 running")
        wait(lambda: metric(leader.port, "fleet_engine_leader") == 0, 10, "old leader deposed")
        time.sleep(2)  # a few passes of every agent and the engine after the resume

        now = starts(pids)
        for n in names:
            assert now[n] == before[n], n  # zero restarts
        assert len(now["late1.service"]) == len(now["late2.service"]) == 1
        for f, p in zip(fs, procs, strict=True):
            assert p <= units_of(f)  # every original unit process still running
        r = running(fs[1].sock)
        assert len(r) == 23
        logs = (tmp_path / f"fleetd{fs.index(leader)}.log").read_text()
        assert "lost leadership" in logs  # its stale renewal lost the prevIndex condition
    finally:
        for f in fs:
            if f.proc.poll() is None:
                f.proc.send_signal(signal.SIGCONT)
            f.stop()
        for m in members:
            m.stop()


def test_f2_engine_leader_killed_and_restarted_adopts_its_units(tmp_path):
    """Production layout (units in ``pycoreos units daemon``, fleetd on its socket): SIGKILL
    the engine leader's fleetd and start it again. Its units never stop; it adopts them from
    its record, and the cluster keeps every unit where it was (zero restarts)."""
    import subprocess
    import sys

    from pycoreos.units.daemon import default_socket

    etcd = start_member("ours", tmp_path)
    daemons: list[subprocess.Popen[bytes]] = []
    fs: list[Fleetd] = []

    def fleetd(i: int) -> Fleetd:
        sock = default_socket(tmp_path / f"m{i}")
        return start_fleetd(
            tmp_path, i, etcd.client_url, "/f2k/", ttl="6s",
            extra={"FLEET_UNIT_MANAGER": f"socket:{sock}"},
        )  # fmt: skip

    try:
        for i in range(3):
            root = tmp_path / f"m{i}"
            root.mkdir()
            log = open(tmp_path / f"units{i}.log", "ab")  # noqa: SIM115  # the child's copy
            argv = [sys.executable, "-m", "pycoreos", "units", "daemon", "--root", str(root)]
            with log:
                daemons.append(
                    subprocess.Popen(
                        argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                    )
                )
            wait(default_socket(root).exists, 20, "units daemon socket")
        fs = [fleetd(i) for i in range(3)]
        pids = tmp_path / "pids"
        pids.mkdir()
        names = [f"k{i:02d}.service" for i in range(9)] + ["global.service"]
        files = write_units(tmp_path / "u", pids, names, {"global.service": "Global=true"})
        fleetctl(fs[0].sock, "start", *files, timeout=120)
        placed = wait(
            lambda: (lambda r: r if len(r) == 10 and len(r["global.service"]) == 3 else None)(
                running(fs[0].sock)
            ),
            30,
            "10 units running",
        )
        before = starts(pids)
        i = next(i for i, f in enumerate(fs) if metric(f.port, "fleet_engine_leader") == 1)
        fs[i].proc.send_signal(signal.SIGKILL)
        fs[i].proc.wait(10)
        fs[i] = fleetd(i)  # same root: same machine ID, its record of loaded units
        wait(
            lambda: sum(metric(f.port, "fleet_engine_leader") for f in fs) == 1,
            20,
            "one engine leader",
        )
        time.sleep(3)  # several agent and engine passes everywhere
        assert running(fs[(i + 1) % 3].sock) == placed
        assert starts(pids) == before  # nothing stopped, nothing started again
        assert all(alive(p) for ps in before.values() for p in ps)
    finally:
        for f in fs:
            f.stop()
        for d in daemons:
            d.send_signal(signal.SIGTERM)
            try:
                d.wait(30)
            except subprocess.TimeoutExpired:
                d.kill()
                d.wait()
        etcd.stop()
