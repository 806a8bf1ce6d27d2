"""``cluster up/down/kill/restart``: start and stop node processes, wait for readiness.

The driver behind :mod:`pycoreos.cli.cluster`. Each operation reads ``cluster.json``, acts
on processes by recorded PID (checked against their start time) and writes the record
back. ``up`` on a state directory whose nodes are stopped starts them again on their
recorded addresses and ports with their data (a restart rejoins, it does not re-create).

Readiness (``up``): every node process alive, every etcd member healthy and agreeing on
one leader with all members known, and fleet's API listing one machine per node.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pycoreos.cluster import netns as netns_mod
from pycoreos.cluster.health import etcd_ready, fleet_ready, probe_etcd, probe_fleet
from pycoreos.cluster.procs import (
    alive,
    free_ports,
    kill_tree,
    make_cgroup,
    spawn_node,
    wait_gone,
)
from pycoreos.cluster.render import render_node_config
from pycoreos.cluster.spec import plan_cluster
from pycoreos.cluster.state import ClusterRecord, NodeRecord, load_record, save_record
from pycoreos.errors import StackError

__all__ = [
    "ClusterError",
    "UpOptions",
    "UpTimings",
    "down",
    "kill",
    "restart",
    "up",
]

NETNS_PORTS = (2379, 2380, 49153)  # inside its own namespace a node uses the real ports
Step = Callable[[str, int, int], None]


class ClusterError(StackError):
    """A cluster operation failed (the message says what to do)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UpOptions:
    """``cluster up`` settings."""

    size: int = 3
    template: Path
    state_dir: Path
    netns: bool = False
    container_engine: str = "auto"
    timeout: float = 180.0
    python: str = sys.executable
    keep_on_failure: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class UpTimings:
    """Seconds from the start of ``up`` to each milestone."""

    started: float
    etcd_healthy: float
    fleet_ready: float


def _cluster_id(state_dir: Path) -> str:
    return hashlib.sha256(str(state_dir.absolute()).encode()).hexdigest()[:12]


def _cgroup(rec: ClusterRecord, node: NodeRecord) -> Path | None:
    return Path(node.cgroup) if node.cgroup else None


def running(rec: ClusterRecord) -> list[NodeRecord]:
    """The nodes whose process is alive."""
    return [n for n in rec.nodes if alive(n.pid, n.start_time)]


def _fresh(opts: UpOptions) -> ClusterRecord:
    template = opts.template.read_text()
    n = opts.size
    ns: netns_mod.NetnsPlan | None = None
    if opts.netns:
        ns = netns_mod.plan_netns(os.getpid(), n, netns_mod.used_networks())
        plan = plan_cluster(
            n,
            opts.state_dir,
            addresses=[ns.address(k) for k in range(1, n + 1)],
            ports=NETNS_PORTS,
            netns=[ns.node_ns(k) for k in range(1, n + 1)],
        )
    else:
        plan = plan_cluster(n, opts.state_dir, addresses=["127.0.0.1"] * n, ports=free_ports(3 * n))
    plan = type(plan)(nodes=plan.nodes, token=f"pycoreos-{_cluster_id(opts.state_dir)}")
    rec = ClusterRecord(
        state_dir=opts.state_dir,
        token=plan.token,
        template=str(opts.template.absolute()),
        container_engine=opts.container_engine,
        netns=ns.to_record() if ns else {},
        nodes=[
            NodeRecord(
                name=p.name,
                address=p.address,
                client_port=p.client_port,
                peer_port=p.peer_port,
                fleet_port=p.fleet_port,
                netns=p.netns,
            )
            for p in plan.nodes
        ],
    )
    for p in plan.nodes:
        p.dir.mkdir(parents=True, exist_ok=True)
        p.config_path.write_text(render_node_config(template, plan, p))
    return rec


def _argv(rec: ClusterRecord, node: NodeRecord, python: str) -> list[str]:
    p = node.plan(rec.state_dir)
    return [
        python, "-m", "pycoreos", "node",
        "--config", str(p.config_path.absolute()),
        "--root", str(p.root.absolute()),
        "--private-ipv4", p.address,
        "--fleet-api-port", str(p.fleet_port),
        "--container-engine", rec.container_engine,
    ]  # fmt: skip


def _start(rec: ClusterRecord, node: NodeRecord, python: str) -> None:
    cg = make_cgroup(_cluster_id(rec.state_dir), node.name)
    plan = node.plan(rec.state_dir)
    node.pid, node.start_time = spawn_node(
        _argv(rec, node, python), plan.log_path, cgroup=cg, netns=node.netns
    )
    node.cgroup = str(cg) if cg else ""
    save_record(rec)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _check_alive(rec: ClusterRecord) -> None:
    for n in rec.nodes:
        if not alive(n.pid, n.start_time):
            log = n.plan(rec.state_dir).log_path
            raise ClusterError(f"cluster: {n.name} exited during boot; {log}:\n{_tail(log)}")


def wait_ready(
    rec: ClusterRecord, timeout: float, on_step: Step | None = None, t0: float | None = None
) -> tuple[float, float]:
    """Wait until etcd is healthy and fleet sees every node; returns both times (seconds
    since ``t0``).

    Raises:
        ClusterError: a node died, or ``timeout`` passed.
    """
    t0 = time.monotonic() if t0 is None else t0
    deadline = time.monotonic() + timeout
    size, step = len(rec.nodes), on_step or (lambda *_: None)
    t_etcd = 0.0
    while time.monotonic() < deadline:
        _check_alive(rec)
        views = [probe_etcd(n.plan(rec.state_dir).client_url, 0.5) for n in rec.nodes]
        step("etcd", sum(v.healthy for v in views), size)
        if etcd_ready(views, size):
            t_etcd = t_etcd or time.monotonic() - t0
            fv = probe_fleet(rec.nodes[0].plan(rec.state_dir).fleet_url, 1.0)
            step("fleet", len(fv.machines), size)
            if fleet_ready(fv, size):
                return t_etcd, time.monotonic() - t0
        time.sleep(0.2)
    raise ClusterError(f"cluster: not ready after {timeout:.0f}s (see the nodes' node.log)")


def up(opts: UpOptions, on_step: Step | None = None) -> tuple[ClusterRecord, UpTimings]:
    """Start the cluster in ``opts.state_dir`` (fresh, or again with its data) and wait.

    Raises:
        ClusterError: it is already running, the state directory holds another shape of
            cluster (nothing is touched), a node died, or readiness timed out (then what
            this call started is stopped again, unless ``keep_on_failure``).
    """
    t0 = time.monotonic()
    rec = load_record(opts.state_dir)
    if rec is not None:
        if running(rec):
            raise ClusterError(
                f"cluster: already running in {opts.state_dir} (pycoreos cluster down first)"
            )
        if len(rec.nodes) != opts.size or bool(rec.netns) != opts.netns:
            raise ClusterError(
                f"cluster: {opts.state_dir} holds a {len(rec.nodes)}-node cluster"
                f"{' in namespaces' if rec.netns else ''}; use the same options, or "
                "pycoreos cluster down --purge first"
            )
    else:
        rec = _fresh(opts)
        save_record(rec)
    try:
        if rec.netns:
            ns = netns_mod.NetnsPlan.from_record(rec.netns)
            netns_mod.teardown(ns)  # leftovers of a crashed run
            netns_mod.setup(ns)
        step = on_step or (lambda *_: None)
        for i, node in enumerate(rec.nodes):
            _start(rec, node, opts.python)
            step("nodes", i + 1, len(rec.nodes))
        started = time.monotonic() - t0
        t_etcd, t_fleet = wait_ready(rec, opts.timeout, on_step, t0)
    except BaseException:  # also Ctrl-C: never leave half a cluster behind
        if not opts.keep_on_failure:
            down(opts.state_dir)
        raise
    return rec, UpTimings(started=started, etcd_healthy=t_etcd, fleet_ready=t_fleet)


def _stop(rec: ClusterRecord, nodes: list[NodeRecord], timeout: float) -> list[str]:
    for n in nodes:
        if alive(n.pid, n.start_time):
            os.kill(n.pid, signal.SIGTERM)
    forced = []
    deadline = time.monotonic() + timeout
    for n in nodes:
        if not wait_gone(n.pid, n.start_time, max(0.0, deadline - time.monotonic())):
            forced.append(n.name)
        # Whatever is left in the node's cgroup (or tree) goes too: down leaves nothing.
        kill_tree(n.pid, n.start_time, _cgroup(rec, n))
        n.pid, n.start_time, n.cgroup = 0, 0, ""
    save_record(rec)
    return forced


def down(state_dir: Path, *, purge: bool = False, timeout: float = 60.0) -> list[str]:
    """Stop every node (SIGTERM, then SIGKILL of its whole tree after ``timeout``), remove
    the namespaces, and with ``purge`` the state directory. Returns the nodes that had to be
    killed. Without a record there is nothing to stop (``purge`` still removes the dir)."""
    rec = load_record(state_dir)
    forced: list[str] = []
    if rec is not None:
        forced = _stop(rec, rec.nodes, timeout)
        if rec.netns:
            netns_mod.teardown(netns_mod.NetnsPlan.from_record(rec.netns))
    if purge and state_dir.exists():
        shutil.rmtree(state_dir)
    return forced


def _record(state_dir: Path) -> ClusterRecord:
    rec = load_record(state_dir)
    if rec is None:
        raise ClusterError(f"cluster: no cluster in {state_dir} (pycoreos cluster up)")
    return rec


def _node(rec: ClusterRecord, name: str) -> NodeRecord:
    try:
        return rec.node(name)
    except KeyError:
        names = ", ".join(n.name for n in rec.nodes)
        raise ClusterError(f"cluster: no node {name!r} (nodes: {names})") from None


def kill(state_dir: Path, name: str) -> None:
    """SIGKILL node ``name`` and every process it runs (a machine losing power)."""
    rec = _record(state_dir)
    n = _node(rec, name)
    kill_tree(n.pid, n.start_time, _cgroup(rec, n))
    n.pid, n.start_time, n.cgroup = 0, 0, ""
    save_record(rec)


def restart(
    state_dir: Path, name: str, *, timeout: float = 60.0, python: str = sys.executable
) -> None:
    """Stop node ``name`` in order if it runs, start it again with its data, and wait until
    its etcd member is healthy.

    Raises:
        ClusterError: no such node, or it did not come back within ``timeout``.
    """
    rec = _record(state_dir)
    n = _node(rec, name)
    _stop(rec, [n], timeout)
    _start(rec, n, python)
    url = n.plan(state_dir).client_url
    deadline = time.monotonic() + timeout
    while not probe_etcd(url, 0.5).healthy:
        if not alive(n.pid, n.start_time) or time.monotonic() > deadline:
            log = n.plan(state_dir).log_path
            raise ClusterError(f"cluster: {name} did not come back; {log}:\n{_tail(log)}")
        time.sleep(0.2)
