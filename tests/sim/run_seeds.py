#!/usr/bin/env python
"""Run many simulation seeds and report the totals: ``run_seeds.py --start S --count N``.

Re-executes itself with ``PYTHONHASHSEED=0`` (a seed must replay identically in any process).
Each failing seed prints its report (violations, trace tail, the replay command); the exit
status is 1 if any seed failed. ``--jobs`` spreads seeds over worker processes; the seeds and
their results do not depend on it.

Examples::

    .venv/bin/python tests/sim/run_seeds.py --start 0 --count 20000 --jobs 2
    .venv/bin/python tests/sim/run_seeds.py --start 1234 --count 1 -v   # replay one seed
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor


def _run(seed: int) -> tuple[int, bool, str, str, dict[str, float]]:
    from pycoreos.testing.sim.scenario import run_simulation

    r = run_simulation(seed)
    counters = {
        "ops": r.ops,
        "unknown": r.ops_unknown,
        "failed_ops": r.ops_failed,
        "faults": r.faults,
        "crashes": r.crashes,
        "applies": r.applied,
        "events": r.trace_events,
        "virtual": r.virtual_time,
        "members5": 1.0 if r.config.members == 5 else 0.0,
        "snapshots": 1.0 if r.config.options.snapshot_count < 1000 else 0.0,
        "lin_unknown": 1.0 if r.linearizability == "unknown" else 0.0,
    }
    return seed, r.ok, r.summary(), "" if r.ok else r.report(), counters


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--start", type=int, default=0, help="first seed")
    p.add_argument("--count", type=int, default=500, help="how many seeds")
    p.add_argument("--jobs", type=int, default=1, help="worker processes")
    p.add_argument("-v", "--verbose", action="store_true", help="print every seed's summary")
    p.add_argument("--progress", type=int, default=1000, help="print totals every N seeds")
    args = p.parse_args(argv)
    logging.disable(logging.CRITICAL)  # members log crashes and repairs; the report is ours
    seeds = range(args.start, args.start + args.count)
    totals: dict[str, float] = {}
    failures: list[int] = []
    t0 = time.perf_counter()
    done = 0

    def consume(res: tuple[int, bool, str, str, dict[str, float]]) -> None:
        nonlocal done
        seed, ok, summary, report, counters = res
        done += 1
        for k, v in counters.items():
            totals[k] = totals.get(k, 0.0) + v
        if args.verbose and ok:
            print(summary, flush=True)
        if not ok:
            failures.append(seed)
            print(report, flush=True)
        if args.progress and done % args.progress == 0:
            print(
                f"... {done} seeds, {len(failures)} failed, {time.perf_counter() - t0:.0f}s",
                flush=True,
            )

    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            for res in pool.map(_run, seeds, chunksize=16):
                consume(res)
    else:
        for seed in seeds:
            consume(_run(seed))
    elapsed = time.perf_counter() - t0
    print(
        f"seeds {args.start}..{args.start + args.count - 1}: {args.count} run, "
        f"{len(failures)} failed {failures[:50]}\n"
        f"  ops checked {int(totals.get('ops', 0))} (unknown {int(totals.get('unknown', 0))}, "
        f"definite errors {int(totals.get('failed_ops', 0))}), "
        f"linearizability inconclusive (timeout) {int(totals.get('lin_unknown', 0))}\n"
        f"  faults {int(totals.get('faults', 0))} (crashes {int(totals.get('crashes', 0))}), "
        f"applied entries {int(totals.get('applies', 0))}, "
        f"trace events {int(totals.get('events', 0))}\n"
        f"  5-member runs {int(totals.get('members5', 0))}, "
        f"small snapshot-count runs {int(totals.get('snapshots', 0))}, "
        f"virtual time {totals.get('virtual', 0.0):.0f}s, real time {elapsed:.0f}s "
        f"with {args.jobs} job(s)",
        flush=True,
    )
    return 1 if failures else 0


if __name__ == "__main__":
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, *sys.argv])
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "..", "src"))
    sys.exit(main())
