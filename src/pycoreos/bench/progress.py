"""A ``rich`` progress bar around :func:`pycoreos.bench.wrk.run`.

The bar goes to stderr, so stdout carries only the report. With ``--total`` it counts
requests (the Lua script's request() calls, which lead completions by at most one per
connection); with ``--duration`` it counts seconds and shows the requests sent so far.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from pycoreos.bench import wrk
from pycoreos.bench.config import BenchConfig
from pycoreos.bench.report import BenchResult


def run_with_progress(config: BenchConfig, *, show: bool = True, label: str = "") -> BenchResult:
    """Run ``config`` through wrk, drawing a progress bar on stderr when ``show``."""
    if not show:
        return wrk.run(config)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        limit = config.total if config.total is not None else config.duration
        task = bar.add_task(label or str(config.workload), total=limit, info="starting")
        start = time.monotonic()

        def on_progress(calls: int, expected: int | None) -> None:
            done = min(calls, expected) if expected is not None else time.monotonic() - start
            bar.update(task, completed=done, info=f"~{calls} requests")

        return wrk.run(config, on_progress=on_progress)
