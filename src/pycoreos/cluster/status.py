"""``cluster status``: one table of nodes, etcd members and leader, fleet machines and units.

:func:`collect` probes (processes, node status files, etcd, fleet); :func:`summarize` is the
pure part that turns those answers into rows, so the table is tested without a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

from pycoreos.cluster.health import EtcdView, FleetView, probe_etcd, probe_fleet
from pycoreos.cluster.procs import alive
from pycoreos.cluster.state import ClusterRecord

__all__ = ["ClusterStatus", "NodeRow", "collect", "summarize"]


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeRow:
    """One node's line."""

    name: str
    pid: int
    process: str  # running | stopped
    phase: str  # the node's own phase (booting/running/stopping/stopped) or "-"
    address: str
    etcd: str  # leader | follower | candidate | down
    machine: str  # fleet machine ID (short) or "-"
    units: tuple[str, ...]  # "hello.service active/running"


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterStatus:
    """The whole table plus cluster-wide facts."""

    rows: tuple[NodeRow, ...]
    leader: str  # member name, "" if none
    members: tuple[str, ...]
    fleet_machines: int
    unplaced: tuple[str, ...]  # fleet units with no machine (or an unknown one)
    endpoints: str
    fleet_endpoint: str


_ROLE = {"StateLeader": "leader", "StateFollower": "follower", "StateCandidate": "candidate"}


def summarize(
    rec: ClusterRecord,
    running: dict[str, bool],
    phases: dict[str, str],
    machine_ids: dict[str, str],
    etcd: dict[str, EtcdView],
    fleet: FleetView,
) -> ClusterStatus:
    """Build the table. Pure: every input is an answer already collected."""
    plan = rec.plan
    leader = ""
    members: tuple[str, ...] = ()
    for view in etcd.values():
        members = members or view.members
        for other in etcd.values():
            if view.leader and other.id == view.leader:
                leader = other.name
    by_machine: dict[str, list[str]] = {}
    for unit, mid, state in fleet.units:
        by_machine.setdefault(mid, []).append(f"{unit} {state}")
    placed = set(machine_ids.values())
    rows = []
    for n in plan.nodes:
        ev = etcd.get(n.name)
        role = _ROLE.get(ev.state, "down") if ev and ev.healthy else "down"
        mid = machine_ids.get(n.name, "")
        in_fleet = mid in fleet.machines
        rows.append(
            NodeRow(
                name=n.name,
                pid=rec.node(n.name).pid,
                process="running" if running.get(n.name) else "stopped",
                phase=phases.get(n.name, "-"),
                address=n.address,
                etcd=role,
                machine=mid[:8] if in_fleet else "-",
                units=tuple(sorted(by_machine.get(mid, []))) if in_fleet else (),
            )
        )
    unplaced = tuple(sorted(u for mid, us in by_machine.items() if mid not in placed for u in us))
    up = [n for n in plan.nodes if running.get(n.name)]
    return ClusterStatus(
        rows=tuple(rows),
        leader=leader,
        members=members,
        fleet_machines=len(fleet.machines),
        unplaced=unplaced,
        endpoints=plan.client_urls,
        fleet_endpoint=(up[0] if up else plan.nodes[0]).fleet_url,
    )


def collect(rec: ClusterRecord) -> ClusterStatus:
    """Probe the cluster in ``rec`` and summarize."""
    from pycoreos.node.runner import read_status

    running: dict[str, bool] = {}
    phases: dict[str, str] = {}
    mids: dict[str, str] = {}
    etcd: dict[str, EtcdView] = {}
    fleet = FleetView(answered=False, machines={})
    for n in rec.nodes:
        p = n.plan(rec.state_dir)
        running[n.name] = alive(n.pid, n.start_time)
        st = read_status(p.root)
        phases[n.name] = st.phase if st and running[n.name] else "-"
        try:
            mids[n.name] = (p.root / "etc/machine-id").read_text().strip()
        except OSError:
            mids[n.name] = ""
        if running[n.name]:
            etcd[n.name] = probe_etcd(p.client_url, 0.5)
            if not fleet.answered:
                fleet = probe_fleet(p.fleet_url, 1.0)
    return summarize(rec, running, phases, mids, etcd, fleet)
