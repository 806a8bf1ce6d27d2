"""``pycoreos benchmark compare``: the real etcd and ours, same workloads, one table.

For each member kind in order (default: the real etcd 3.4, then ours) this starts a fresh
single-member cluster on free loopback ports (:func:`pycoreos.testing.procs.start_member`,
new data dir), runs every case of :data:`CASES` against it one after the other, and stops
it before starting the next kind, so the two never compete for the CPU. The table gives
each kind's throughput and latency and the ratio ours/real.

Rules: a run with errors is shown as ``invalid`` and gets no ratio; a member that does not
start (ours, early in the project) gets ``n/a`` for all its cases. Results are noisy on a
shared machine: compare runs taken together, not numbers from different days.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pycoreos.bench.config import BenchConfig, Workload
from pycoreos.bench.report import BenchResult, one_line, to_json
from pycoreos.errors import ConfigError, StackError

KINDS = ("real", "ours")


@dataclass(frozen=True, slots=True, kw_only=True)
class CompareCase:
    """One workload of the comparison (all use 256-byte values)."""

    name: str
    workload: Workload
    clients: int
    key_space_size: int = 1000
    val_size: int = 256


#: The workloads the project reports for one member.
CASES: tuple[CompareCase, ...] = (
    CompareCase(name="v2 put, 1 client", workload=Workload.V2_PUT, clients=1),
    CompareCase(name="v2 put, 64 clients", workload=Workload.V2_PUT, clients=64),
    CompareCase(name="v2 get, 64 clients", workload=Workload.V2_GET, clients=64),
)

#: The workloads the project reports for a multi-member cluster.
CLUSTER_CASES: tuple[CompareCase, ...] = (
    CompareCase(name="v2 put, 1 client", workload=Workload.V2_PUT, clients=1),
    CompareCase(name="v2 put, 64 clients", workload=Workload.V2_PUT, clients=64),
    CompareCase(name="v2 quorum get, 64 clients", workload=Workload.V2_QUORUM_GET, clients=64),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """One case against one kind: a result, or why there is none."""

    case: CompareCase
    kind: str
    result: BenchResult | None = None
    error: str | None = None

    @property
    def usable(self) -> BenchResult | None:
        """The result if it is valid, else ``None``."""
        return self.result if self.result is not None and self.result.valid else None


def case_config(
    case: CompareCase, endpoint: str | Sequence[str], duration: int, seed: int = 1
) -> BenchConfig:
    """The benchmark config of ``case`` against ``endpoint`` (one URL or several)."""
    endpoints = (endpoint,) if isinstance(endpoint, str) else tuple(endpoint)
    return BenchConfig(
        workload=case.workload,
        endpoints=endpoints,
        clients=case.clients,
        duration=duration,
        key_space_size=case.key_space_size,
        val_size=case.val_size,
        seed=seed,
    )


Runner = Callable[[BenchConfig, str], BenchResult]


def run_compare(
    kinds: Sequence[str],
    base_dir: Path,
    *,
    duration: int,
    runner: Runner,
    cases: Sequence[CompareCase] = CASES,
    cluster_size: int = 1,
) -> list[Outcome]:
    """Run ``cases`` against a fresh member (or cluster) of each kind, one kind at a time.

    Args:
        kinds: ``"real"`` and/or ``"ours"``, in run order.
        base_dir: parent of the members' data dirs and logs.
        duration: seconds per case.
        runner: runs one config; gets a label for the progress bar.
        cases: the workloads.
        cluster_size: members per cluster; with more than one, the clients are spread
            over every member's endpoint.
    """
    from pycoreos.testing.procs import start_cluster, start_member

    outcomes: list[Outcome] = []
    for kind in kinds:
        kind_dir = base_dir / kind
        kind_dir.mkdir(parents=True, exist_ok=True)
        try:
            if cluster_size > 1:
                members = start_cluster(kind, kind_dir, cluster_size)  # type: ignore[arg-type]
            else:
                members = [start_member(kind, kind_dir)]  # type: ignore[arg-type]
        except (OSError, RuntimeError, TimeoutError) as exc:
            outcomes += [
                Outcome(case=c, kind=kind, error=f"member did not start: {exc}") for c in cases
            ]
            continue
        try:
            urls = [m.client_url for m in members]
            leader = _leader_url(urls)
            for case in cases:
                # Fewer clients than members (the 1-client case): talk to the leader, so
                # both kinds are measured on the same path.
                targets = urls if case.clients >= len(urls) else [leader]
                config = case_config(case, targets, duration)
                try:
                    result = runner(config, f"{kind}: {case.name}")
                except StackError as exc:
                    outcomes.append(Outcome(case=case, kind=kind, error=str(exc)))
                else:
                    outcomes.append(Outcome(case=case, kind=kind, result=result))
        finally:
            for m in members:
                m.stop()
    return outcomes


def _leader_url(urls: Sequence[str]) -> str:
    """The client URL of the member that reports itself leader (the first URL if none)."""
    import json
    import urllib.request

    for url in urls:
        try:
            with urllib.request.urlopen(url + "/v2/stats/self", timeout=2) as resp:
                if json.loads(resp.read()).get("state") == "StateLeader":
                    return url
        except (OSError, ValueError):
            continue
    return urls[0]


def _cell(outcome: Outcome | None) -> tuple[str, str, str]:
    if outcome is None:
        return ("-", "-", "-")
    if outcome.result is None:
        return ("n/a", "", "")
    r = outcome.result
    if not r.valid:
        return (f"invalid ({r.problem()})", "", "")
    d = r.latency
    return (
        f"{r.rps:,.0f}",
        f"{d.percentile_us(50) / 1000:.2f}",
        f"{d.percentile_us(99) / 1000:.2f}",
    )


def ratio(ours: Outcome | None, real: Outcome | None) -> float | None:
    """ours/real throughput, when both runs are valid."""
    a = ours.usable if ours else None
    b = real.usable if real else None
    if a is None or b is None or b.rps == 0:
        return None
    return a.rps / b.rps


HEADER = (
    "workload",
    "real req/s",
    "real p50 ms",
    "real p99 ms",
    "ours req/s",
    "ours p50 ms",
    "ours p99 ms",
    "ours/real",
)


def table_rows(
    outcomes: Sequence[Outcome], cases: Sequence[CompareCase] = CASES
) -> list[tuple[str, ...]]:
    """One row per case, columns as :data:`HEADER` (pure; strings ready to print)."""
    by = {(o.case.name, o.kind): o for o in outcomes}
    rows: list[tuple[str, ...]] = []
    for case in cases:
        real, ours = by.get((case.name, "real")), by.get((case.name, "ours"))
        r = ratio(ours, real)
        rows.append((case.name, *_cell(real), *_cell(ours), f"{r:.2f}" if r is not None else "-"))
    return rows


def format_table(rows: Sequence[tuple[str, ...]]) -> str:
    """A plain Markdown table of :func:`table_rows` (what ``docs/benchmarks.md`` holds)."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def main_from_args(args: argparse.Namespace, *, show_progress: bool) -> int:
    """``pycoreos benchmark compare`` with parsed flags; returns the exit code."""
    from pycoreos.bench.progress import run_with_progress
    from pycoreos.cli.benchmark import EXIT_INVALID, EXIT_OK, EXIT_USAGE, write_json

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    try:
        bad = [k for k in kinds if k not in KINDS]
        if bad or not kinds:
            raise ConfigError(f"--kinds must name real and/or ours, got {args.kinds!r}")
        duration = args.duration or 5
    except ConfigError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    def runner(config: BenchConfig, label: str) -> BenchResult:
        return run_with_progress(config, show=show_progress, label=label)

    with tempfile.TemporaryDirectory(prefix="pycoreos-bench-") as tmp:
        base = args.work_dir or Path(tmp)
        cases = CASES if args.cluster_size <= 1 else CLUSTER_CASES
        outcomes = run_compare(
            kinds,
            base,
            duration=duration,
            runner=runner,
            cases=cases,
            cluster_size=args.cluster_size,
        )
    for o in outcomes:
        detail = one_line(o.result) if o.result is not None else o.error
        print(f"{o.kind:>4} {o.case.name:<20} {detail}", file=sys.stderr)
    sys.stdout.write(format_table(table_rows(outcomes, cases)))
    write_json(
        args.json,
        [
            {"kind": o.kind, "case": o.case.name, "error": o.error,
             "result": to_json(o.result) if o.result is not None else None}
            for o in outcomes
        ],
    )  # fmt: skip
    ok = all(o.usable is not None for o in outcomes)
    return EXIT_OK if ok else EXIT_INVALID
