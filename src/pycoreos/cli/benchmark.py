"""``pycoreos benchmark``: load an etcd (ours or the real one) through wrk and report.

Modes: ``v2-put``, ``v2-get``, ``v2-quorum-get`` (one run, etcd-style report) and ``compare``
(the real etcd beside ours, see :mod:`pycoreos.bench.compare`). Flags follow etcd's
``tools/benchmark`` where they mean the same thing.

Exit codes: 0 a valid run; 1 the run had errors (its numbers are printed, marked invalid);
2 bad flags; 3 wrk, the preload or a member failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pycoreos.bench.config import BenchConfig, Workload
from pycoreos.errors import BrokenError, ConfigError

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_BROKEN = 0, 1, 2, 3


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = argparse.ArgumentParser(
        prog="pycoreos benchmark",
        description="Measure an etcd's v2 throughput and latency with wrk (real etcd or ours).",
    )
    p.add_argument("mode", choices=[*(str(w) for w in Workload), "compare"])
    p.add_argument("--endpoints", default="http://127.0.0.1:2379", help="comma-separated URLs")
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--total", type=int, default=None, help="stop after N responses")
    stop.add_argument("--duration", type=int, default=None, help="run for S whole seconds")
    p.add_argument("--clients", type=int, default=1, help="concurrent clients (connections)")
    p.add_argument(
        "--conns",
        type=int,
        default=None,
        help="accepted for etcd compatibility; HTTP/1.1 gives every client its own connection",
    )
    p.add_argument("--key-size", type=int, default=8, help="key length (zero-padded decimal)")
    p.add_argument("--val-size", type=int, default=8, help="value size in bytes")
    p.add_argument("--key-space-size", type=int, default=1, help="number of distinct keys")
    p.add_argument("--sequential-keys", action="store_true", help="walk keys in order")
    p.add_argument("--threads", type=int, default=0, help="wrk threads in total (0: 1 each)")
    p.add_argument("--seed", type=int, default=1, help="seed for key choice and values")
    p.add_argument("--timeout", type=int, default=10, help="per-request timeout in seconds")
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="write numbers here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--print-wrk",
        action="store_true",
        help="print the wrk command lines instead of running (no preload)",
    )
    p.add_argument("--kinds", default="real,ours", help="compare: members to run, in order")
    p.add_argument("--work-dir", type=Path, default=None, help="compare: keep data/logs here")
    p.add_argument(
        "--cluster-size",
        type=int,
        default=1,
        help="compare: members per cluster (1: put/get cases; >1: put and quorum-get cases "
        "with the clients spread over every member)",
    )
    return p


def config_from_args(args: argparse.Namespace, workload: Workload) -> BenchConfig:
    """Turn parsed flags into a validated config (``--total 10000`` if neither limit given).

    Raises:
        ConfigError: every problem with the flags.
    """
    total, duration = args.total, args.duration
    if total is None and duration is None:
        total = 10000  # etcd's benchmark default
    return BenchConfig(
        workload=workload,
        endpoints=tuple(u.strip() for u in args.endpoints.split(",") if u.strip()),
        clients=args.clients,
        conns=args.conns if args.conns is not None else 1,
        total=total,
        duration=duration,
        key_size=args.key_size,
        val_size=args.val_size,
        key_space_size=args.key_space_size,
        sequential_keys=args.sequential_keys,
        threads=args.threads,
        seed=args.seed,
        timeout=args.timeout,
    )


def write_json(path: Path | None, doc: object) -> None:
    """Write ``doc`` as indented JSON to ``path`` (no-op for ``None``)."""
    if path is not None:
        path.write_text(json.dumps(doc, indent=2) + "\n")


def main(argv: list[str]) -> int:
    """Entry point of ``pycoreos benchmark``; returns the exit code."""
    args = build_parser().parse_args(argv)
    show = not args.no_progress and sys.stderr.isatty()
    if args.mode == "compare":
        from pycoreos.bench import compare

        return compare.main_from_args(args, show_progress=show)
    try:
        config = config_from_args(args, Workload(args.mode))
    except ConfigError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    if args.print_wrk:
        import shlex

        from pycoreos.bench.wrk import plan

        for job in plan(config):
            print(shlex.join(job.argv))
        return EXIT_OK

    from pycoreos.bench.progress import run_with_progress
    from pycoreos.bench.report import format_report, to_json

    try:
        result = run_with_progress(config, show=show)
    except BrokenError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_BROKEN
    sys.stdout.write(format_report(result))
    write_json(args.json, to_json(result))
    return EXIT_OK if result.valid else EXIT_INVALID
