"""Benchmark results and how they are shown: etcd-style text and a JSON document.

Pure code. :class:`BenchResult` combines the wrk processes of one run (one per endpoint);
:func:`format_report` renders it like etcd's ``benchmark`` (``pkg/report``: Summary,
Response time histogram, Latency distribution), and :func:`to_json` gives scripts the same
numbers. A run with any wrk error (connect/read/write/timeout, or an HTTP status >= 400) is
*invalid*: the report says so first, and callers must not present its numbers as a result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pycoreos.bench.config import BenchConfig
from pycoreos.bench.latency import ETCD_PERCENTILES, LatencyDist
from pycoreos.bench.wrkout import WrkErrors, WrkRun

BAR_CHAR = "∎"
BAR_WIDTH = 40

#: Percentiles in the JSON document and the one-line summary (plus ``max``).
KEY_PERCENTILES: tuple[float, ...] = (50, 90, 99, 99.9)


@dataclass(frozen=True, slots=True)
class BenchResult:
    """One benchmark run, all endpoints combined.

    Attributes:
        config: what was run.
        runs: one parsed wrk process per endpoint, in endpoint order.
    """

    config: BenchConfig
    runs: tuple[WrkRun, ...]

    @property
    def requests(self) -> int:
        """Completed responses (any status)."""
        return sum(r.requests for r in self.runs)

    @property
    def errors(self) -> WrkErrors:
        """wrk's error counters, summed over processes."""
        return WrkErrors(
            connect=sum(r.errors.connect for r in self.runs),
            read=sum(r.errors.read for r in self.runs),
            write=sum(r.errors.write for r in self.runs),
            status=sum(r.errors.status for r in self.runs),
            timeout=sum(r.errors.timeout for r in self.runs),
        )

    @property
    def latency(self) -> LatencyDist:
        """All latency samples of the run."""
        return LatencyDist.merge([r.latency for r in self.runs])

    @property
    def elapsed_s(self) -> float:
        """Wall time of the run.

        With ``--total``: first request to the last thread reaching its quota, from the Lua
        script's monotonic stamps (wrk's own runtime also contains the stop signal's round
        trip). With ``--duration``: wrk's runtime, the longest over processes.
        """
        if self.config.total is not None:
            threads = [t for r in self.runs for t in r.threads]
            if threads and all(t.first_us >= 0 and t.stop_us >= 0 for t in threads):
                span = max(t.stop_us for t in threads) - min(t.first_us for t in threads)
                if span > 0:
                    return span / 1e6
        return max((r.duration_us for r in self.runs), default=0) / 1e6

    @property
    def rps(self) -> float:
        """Completed requests per second."""
        elapsed = self.elapsed_s
        return self.requests / elapsed if elapsed > 0 else 0.0

    @property
    def valid(self) -> bool:
        """True when the run had responses and no errors of any kind."""
        return self.requests > 0 and self.errors.total == 0

    def problem(self) -> str | None:
        """Why the run is invalid, or ``None``."""
        if self.requests == 0:
            return "no request completed"
        if self.errors.total:
            return f"{self.errors.total} errors ({self.errors.describe()})"
        return None


def _secs(us: float) -> str:
    return f"{us / 1e6:4.4f} secs"


def format_histogram(dist: LatencyDist) -> list[str]:
    """The "Response time histogram" lines (no header), bars scaled to the fullest bucket."""
    buckets = dist.histogram()
    top = max((b.count for b in buckets), default=0)
    lines = []
    for b in buckets:
        bar = BAR_CHAR * (b.count * BAR_WIDTH // top if top else 0)
        lines.append(f"  {b.upper_us / 1e6:4.4f} [{b.count}]\t|{bar}")
    return lines


def format_report(result: BenchResult) -> str:
    """The etcd-style text report (ends with a newline)."""
    cfg = result.config
    dist = result.latency
    out = [
        f"{cfg.workload} against {', '.join(cfg.endpoints)}: {cfg.clients} clients, "
        f"{cfg.key_space_size} keys of {cfg.key_size} B, {cfg.val_size} B values",
    ]
    problem = result.problem()
    if problem:
        out.append(f"INVALID RUN: {problem}. These numbers are not a result.")
    out += [
        "",
        "Summary:",
        f"  Total:\t{_secs(result.elapsed_s * 1e6)}.",
        f"  Slowest:\t{_secs(dist.slowest_us)}.",
        f"  Fastest:\t{_secs(dist.fastest_us)}.",
        f"  Average:\t{_secs(dist.mean_us)}.",
        f"  Stddev:\t{_secs(dist.stddev_us)}.",
        f"  Requests/sec:\t{result.rps:4.4f}",
        f"  Requests:\t{result.requests}",
        f"  Errors:\t{result.errors.describe()}",
    ]
    if dist.total:
        out += ["", "Response time histogram:", *format_histogram(dist)]
        out += ["", "Latency distribution:"]
        out += [f"  {p:g}% in {_secs(dist.percentile_us(p))}." for p in ETCD_PERCENTILES]
    return "\n".join(out) + "\n"


def one_line(result: BenchResult) -> str:
    """``12345 req/s  p50 1.2ms p90 ... max 9.9ms``: a compact summary."""
    d = result.latency
    pcts = " ".join(f"p{p:g} {d.percentile_us(p) / 1000:.2f}ms" for p in KEY_PERCENTILES)
    return f"{result.rps:.0f} req/s  {pcts} max {d.slowest_us / 1000:.2f}ms"


def to_json(result: BenchResult) -> dict[str, object]:
    """The numbers of ``result`` for scripts (times in seconds, like the text report)."""
    cfg = result.config
    d = result.latency
    return {
        "workload": str(cfg.workload),
        "endpoints": list(cfg.endpoints),
        "clients": cfg.clients,
        "total": cfg.total,
        "duration": cfg.duration,
        "key_size": cfg.key_size,
        "val_size": cfg.val_size,
        "key_space_size": cfg.key_space_size,
        "sequential_keys": cfg.sequential_keys,
        "seed": cfg.seed,
        "valid": result.valid,
        "problem": result.problem(),
        "requests": result.requests,
        "errors": {
            "connect": result.errors.connect,
            "read": result.errors.read,
            "write": result.errors.write,
            "status": result.errors.status,
            "timeout": result.errors.timeout,
        },
        "elapsed": result.elapsed_s,
        "rps": result.rps,
        "latency": {
            "fastest": d.fastest_us / 1e6,
            "slowest": d.slowest_us / 1e6,
            "max": d.slowest_us / 1e6,
            "average": d.mean_us / 1e6,
            "stddev": d.stddev_us / 1e6,
            "percentiles": {
                f"{p:g}": d.percentile_us(p) / 1e6
                for p in sorted({*ETCD_PERCENTILES, *KEY_PERCENTILES})
            },
            "histogram": [[b.upper_us / 1e6, b.count] for b in d.histogram()],
        },
    }


def results_json(results: Sequence[BenchResult]) -> list[dict[str, object]]:
    """:func:`to_json` of several results."""
    return [to_json(r) for r in results]
