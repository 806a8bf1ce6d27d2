"""``pycoreos check-history``: check a Jepsen-format history for linearizability.

Usage::

    pycoreos check-history --model cas-register [--timeout SECONDS] FILE

Prints ``linearizable`` (exit 0), or ``not linearizable`` followed by the shortest failing
prefix found (exit 1). Exit 3 when the timeout hits before a verdict (``unknown``), exit 2 for
bad arguments or an unreadable/malformed file.

Times in the report are the log's line numbers; ``inf`` marks an operation whose outcome is
unknown (it may take effect at any time after its call).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from typing import TextIO

from pycoreos._clock import RealClock
from pycoreos.testing.history import HistoryError, Operation, parse_jepsen_log
from pycoreos.testing.linearizability import CheckResult, PartitionReport, check
from pycoreos.testing.models.cas_register import CasRegisterModel, RegisterOp, RegisterResult

EXIT_LINEARIZABLE = 0
EXIT_NOT_LINEARIZABLE = 1
EXIT_USAGE = 2
EXIT_UNKNOWN = 3

MODELS = ("cas-register",)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pycoreos check-history",
        description="Check a Jepsen-format client history for linearizability.",
    )
    p.add_argument("--model", required=True, choices=MODELS, help="sequential model to check")
    p.add_argument("--timeout", type=float, default=60.0, help="give up after SECONDS (default 60)")
    p.add_argument("file", metavar="FILE", help="history in the Jepsen log format")
    return p


def _time(t: float) -> str:
    return "inf" if math.isinf(t) else f"{t:g}"


def _render_failure(
    failure: PartitionReport[RegisterOp, RegisterResult],
    model: CasRegisterModel,
    partitions: int,
    out: TextIO,
) -> None:
    def line(op: Operation[RegisterOp, RegisterResult]) -> str:
        desc = model.describe_operation(op.input, op.output)
        return f"  {op.client_id:>6}  {_time(op.call):>6}  {_time(op.return_time):>6}  {desc}"

    print(
        f"shortest failing prefix: {len(failure.prefix)} operations "
        f"({failure.prefix_events} call/return events) of partition "
        f"{failure.index + 1}/{partitions}",
        file=out,
    )
    print(f"  {'client':>6}  {'call':>6}  {'return':>6}  operation", file=out)
    for op in failure.prefix:
        print(line(op), file=out)
    print(
        f"longest linearization found: {len(failure.linearized)} operations, "
        f"ending in state {' | '.join(failure.states)}",
        file=out,
    )
    print("cannot be linearized before it returns:", file=out)
    print(line(failure.stuck), file=out)


def main(argv: Sequence[str]) -> int:
    """Run the subcommand; returns the exit code."""
    args = _parser().parse_args(list(argv))
    try:
        with open(args.file, encoding="utf-8") as f:
            text = f.read()
        history = parse_jepsen_log(text)
    except (OSError, UnicodeDecodeError, HistoryError) as e:
        print(f"check-history: {args.file}: {e}", file=sys.stderr)
        return EXIT_USAGE
    model = CasRegisterModel()
    report = check(model, history, timeout=args.timeout, clock=RealClock())
    print(report.result.value)
    if report.result is CheckResult.LINEARIZABLE:
        return EXIT_LINEARIZABLE
    if report.result is CheckResult.UNKNOWN:
        print(f"timed out after {args.timeout:g} s without a verdict", file=sys.stderr)
        return EXIT_UNKNOWN
    if report.failure is not None:
        _render_failure(report.failure, model, report.partitions, sys.stdout)
    return EXIT_NOT_LINEARIZABLE
