"""``pycoreos cluster up|status|down|kill|restart``: a local N-node CoreOS cluster.

``up [-n N] [--config FILE] [--netns] [--state-dir DIR]`` starts N ``pycoreos node``
processes from one cloud-config template (default ``examples/cloud-config.yaml``), shows
progress until etcd is healthy and fleet sees every machine, then prints the
``export ETCDCTL_ENDPOINTS=...``/``FLEETCTL_ENDPOINT=...`` lines (on stdout; everything else
goes to stderr, so ``eval "$(pycoreos cluster up)"`` works). ``status`` prints one table;
``down [--purge]`` stops every process it started; ``kill NODE`` SIGKILLs a node with all
its processes; ``restart NODE`` stops it in order and boots it again with its data.

Exit codes: 0 ok, 1 failure, 2 usage, 3 (status) the cluster is not running.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pycoreos.cluster import (
    ClusterError,
    ClusterStatus,
    TemplateError,
    UpOptions,
    collect,
    down,
    kill,
    load_record,
    restart,
    up,
)
from pycoreos.errors import ConfigError

DEFAULT_STATE = Path(".state/cluster")
_EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "cloud-config.yaml"

_PHASES = {
    "nodes": "node processes started",
    "etcd": "etcd members healthy",
    "fleet": "fleet machines seen",
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pycoreos cluster", description=__doc__.splitlines()[0])
    p.add_argument("--state-dir", type=Path, default=DEFAULT_STATE, help="(.state/cluster)")
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", help="start the cluster and wait until it is ready")
    u.add_argument("-n", "--size", type=int, default=3, help="number of nodes (3)")
    u.add_argument("--config", type=Path, default=None, help="cloud-config template")
    u.add_argument("--netns", action="store_true", help="each node in its own netns (root)")
    u.add_argument("--container-engine", default="auto", choices=["auto", "dockerd", "none"])
    u.add_argument("--timeout", type=float, default=180.0, help="readiness limit, seconds")
    u.add_argument("--keep-on-failure", action="store_true", help="do not tear down on error")
    sub.add_parser("status", help="nodes, etcd members and leader, fleet machines and units")
    d = sub.add_parser("down", help="stop every node")
    d.add_argument("--purge", action="store_true", help="also delete the state directory")
    k = sub.add_parser("kill", help="SIGKILL one node and all its processes")
    k.add_argument("node")
    r = sub.add_parser("restart", help="stop one node in order and boot it again")
    r.add_argument("node")
    for sp in (u, sub.choices["status"], d, k, r):
        sp.add_argument("--state-dir", type=Path, default=argparse.SUPPRESS)
    return p


def _exports(endpoints: str, fleet: str, others: Sequence[str] = ()) -> str:
    # fleetctl's API driver talks to one endpoint (the original warns and uses the first of
    # a list), so the other nodes' APIs are listed in a shell comment: eval ignores it, and
    # whoever reads it knows where to go when that node dies.
    lines = [f"export ETCDCTL_ENDPOINTS={endpoints}", f"export FLEETCTL_ENDPOINT={fleet}"]
    rest = [u for u in others if u != fleet]
    if rest:
        lines.append(f"# fleet API on the other nodes: {' '.join(rest)}")
    return "\n".join(lines)


def _up(args: argparse.Namespace, err: Console) -> int:
    template = args.config or _EXAMPLE
    if not template.exists():
        print(f"Error: cluster: no template {template} (give --config FILE)", file=sys.stderr)
        return 2
    opts = UpOptions(
        size=args.size,
        template=template,
        state_dir=args.state_dir,
        netns=args.netns,
        container_engine=args.container_engine,
        timeout=args.timeout,
        keep_on_failure=args.keep_on_failure,
    )
    progress = Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )
    tasks = {k: progress.add_task(v, total=args.size) for k, v in _PHASES.items()}

    def step(phase: str, done: int, total: int) -> None:
        progress.update(tasks[phase], completed=done, total=total)

    try:
        with progress:
            rec, t = up(opts, step)
    except KeyboardInterrupt:
        err.print("cluster: interrupted; stopped what had started")
        return 130
    except (ClusterError, ConfigError, OSError) as exc:
        err.print(f"[red]Error:[/red] {exc}", markup=True, highlight=False)
        return 1
    plan = rec.plan
    err.print(
        f"cluster: {len(rec.nodes)} nodes up in {args.state_dir}: processes "
        f"{t.started:.1f}s, etcd healthy {t.etcd_healthy:.1f}s, fleet ready "
        f"{t.fleet_ready:.1f}s",
        highlight=False,
    )
    fleets = [n.fleet_url for n in plan.nodes]
    print(_exports(plan.client_urls, fleets[0], fleets), flush=True)
    return 0


def render_table(st: ClusterStatus) -> Table:
    """The ``status`` table."""
    table = Table(title=f"etcd leader: {st.leader or '-'}   fleet machines: {st.fleet_machines}")
    for col in ("NODE", "PID", "PROCESS", "PHASE", "ADDRESS", "ETCD", "MACHINE", "UNITS"):
        table.add_column(col)
    for r in st.rows:
        table.add_row(
            r.name,
            str(r.pid or "-"),
            r.process,
            r.phase,
            r.address,
            r.etcd,
            r.machine,
            "\n".join(r.units) or "-",
        )
    return table


def _status(args: argparse.Namespace, out: Console) -> int:
    rec = load_record(args.state_dir)
    if rec is None:
        print(f"cluster: no cluster in {args.state_dir}", file=sys.stderr)
        return 3
    st = collect(rec)
    out.print(render_table(st))
    if st.unplaced:
        out.print("units on unknown machines: " + ", ".join(st.unplaced), highlight=False)
    out.print(_exports(st.endpoints, st.fleet_endpoint), highlight=False, soft_wrap=True)
    return 0 if any(r.process == "running" for r in st.rows) else 3


def main(argv: list[str]) -> int:
    """Run ``pycoreos cluster``; returns the exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    err = Console(stderr=True)
    try:
        match args.cmd:
            case "up":
                return _up(args, err)
            case "status":
                out = Console()
                # Piped output gets a wide table instead of rich's 80-column default.
                return _status(args, out if out.is_terminal else Console(width=160))
            case "down":
                forced = down(args.state_dir, purge=args.purge)
                if forced:
                    err.print(f"cluster: killed after the timeout: {', '.join(forced)}")
                err.print(f"cluster: down{' (purged)' if args.purge else ''}")
                return 0
            case "kill":
                kill(args.state_dir, args.node)
                err.print(f"cluster: killed {args.node}")
                return 0
            case "restart":
                restart(args.state_dir, args.node)
                err.print(f"cluster: {args.node} restarted")
                return 0
    except (ClusterError, TemplateError, ConfigError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    return 2
