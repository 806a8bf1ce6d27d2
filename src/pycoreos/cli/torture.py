"""``pycoreos torture``: run robustness scenarios on fresh clusters and print a verdict table.

Usage::

    pycoreos torture --scenario NAME|all [--seeds N] [--first-seed S] [--duration SECONDS]
                     [--out DIR] [--keep] [--failfast] [--unsafe-local-quorum-reads]

Each (scenario, seed) runs on a fresh cluster of ``pycoreos etcd`` processes; a failing run
keeps its history, watch events, verdict and the members' logs under ``--out``. Exit 0 when
every run passed, 1 when one failed or was invalid, 2 for bad arguments.
``--unsafe-local-quorum-reads`` starts deliberately broken members (the suite must fail).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from pycoreos.robustness.runner import RunResult, run_scenario
from pycoreos.robustness.scenarios import SCENARIOS


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pycoreos torture", description="Fault-injection runs on real clusters."
    )
    p.add_argument("--scenario", required=True, help=f"one of {', '.join(SCENARIOS)}, or all")
    p.add_argument("--seeds", type=int, default=1, help="seeds per scenario (default 1)")
    p.add_argument("--first-seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--duration", type=float, default=12.0, help="fault phase seconds (12)")
    p.add_argument("--out", type=Path, default=None, help="where runs are kept")
    p.add_argument("--keep", action="store_true", help="keep passing runs' directories too")
    p.add_argument("--failfast", action="store_true", help="stop at the first failure")
    p.add_argument(
        "--tls",
        action="store_true",
        help="run the clusters all over TLS (client and peer certificates required)",
    )
    p.add_argument("--unsafe-local-quorum-reads", action="store_true", help=argparse.SUPPRESS)
    return p


def _row(r: RunResult) -> str:
    return (
        f"{r.scenario:<5} {r.seed:>5} {r.operations:>6} {r.unknown:>7} {r.faults:>6} "
        f"{r.seconds:>6.1f}  {r.verdict}"
    )


def main(argv: Sequence[str]) -> int:
    """Run the subcommand; returns the exit code."""
    try:
        args = _parser().parse_args(list(argv))
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    names = list(SCENARIOS) if args.scenario == "all" else args.scenario.split(",")
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown or args.seeds < 1:
        print(f"pycoreos torture: unknown scenario {unknown}", file=sys.stderr)
        return 2
    out: Path = args.out or Path(tempfile.mkdtemp(prefix="pycoreos-torture-"))
    print(f"runs under {out}")
    print(f"{'scen':<5} {'seed':>5} {'ops':>6} {'unknown':>7} {'faults':>6} {'secs':>6}  verdict")
    results: list[RunResult] = []
    t0 = time.monotonic()
    for name in names:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            r = run_scenario(
                name,
                seed,
                duration=args.duration,
                base_dir=out,
                keep=args.keep,
                unsafe=args.unsafe_local_quorum_reads,
                tls=args.tls,
            )
            results.append(r)
            print(_row(r), flush=True)
            if not r.passed:
                for p in r.problems[:12]:
                    print(f"      {p}")
                print(f"      kept in {r.artefacts}", flush=True)
                if args.failfast:
                    break
        if args.failfast and results and not results[-1].passed:
            break
    passed = sum(r.passed for r in results)
    print(
        f"total: {len(results)} runs, {passed} passed, "
        f"{sum(r.operations for r in results)} operations checked "
        f"({sum(r.unknown for r in results)} unknown), "
        f"{sum(r.faults for r in results)} faults injected, {time.monotonic() - t0:.0f} s"
    )
    return 0 if passed == len(results) else 1
