"""pycoreos.bench: the ``pycoreos benchmark`` load generator (wrk + Lua) and its reports.

Layout: ``config`` (flags as a frozen config, workload table), ``latency`` (exact
distributions, etcd-style statistics), ``wrkout`` (parse the Lua report, undo wrk's latency
correction), ``report`` (results, text and JSON), ``wrk`` (plan and run wrk processes),
``preload``, ``progress`` (rich bar), ``compare`` (real etcd vs ours), ``v2.lua``.
"""

from pycoreos.bench.config import WORKLOADS, BenchConfig, Workload, WorkloadSpec
from pycoreos.bench.latency import HistogramBucket, LatencyDist
from pycoreos.bench.report import BenchResult, format_report, to_json
from pycoreos.bench.wrk import WrkError, plan, run
from pycoreos.bench.wrkout import WrkErrors, WrkOutputError, WrkRun, parse_wrk_output

__all__ = [
    "WORKLOADS",
    "BenchConfig",
    "BenchResult",
    "HistogramBucket",
    "LatencyDist",
    "Workload",
    "WorkloadSpec",
    "WrkError",
    "WrkErrors",
    "WrkOutputError",
    "WrkRun",
    "format_report",
    "parse_wrk_output",
    "plan",
    "run",
    "to_json",
]
