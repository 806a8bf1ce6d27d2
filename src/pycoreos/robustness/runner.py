"""Run one scenario on one seed against a fresh cluster, and check everything (U1-U6).

Procedure (etcd's tests/robustness, reliability.md §3.1 and §8):

1. start a fresh cluster (size, flags and member environment from the scenario and seed);
2. run the workload; after a warm-up, check it reached a minimal rate (U7: otherwise the run
   is *invalid*, not passed);
3. run the scenario's fault script; it ends with the network healed;
4. restart any member that is down, then every member must be healthy within ET + 5 s (U4);
5. keep the workload running 1 s, stop it; then a low-load liveness phase in which every
   request (a write and a quorum read of every key on every member) must succeed (U5);
6. every member must reach the same index and store hash (U4, 7 tries 1 s apart);
7. no unexpected exit, no traceback in the logs (U6);
8. the history must be linearizable (U1), indexes never go back (U2), watches ordered,
   unique and complete (U3).

A failing run keeps its directory: ``history.jsonl`` (every operation), ``events.jsonl`` (watch
events), ``verdict.txt`` (problems and the fault timeline) and the members' logs. A passing
run's directory is deleted unless ``keep`` is set.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from pycoreos._clock import RealClock
from pycoreos.robustness import checks
from pycoreos.robustness.cluster import ClusterError, TortureCluster, member_env
from pycoreos.robustness.scenarios import ET, SCENARIOS, Ctx, Scenario
from pycoreos.robustness.workload import PREFIX, Workload
from pycoreos.testing.history import UNKNOWN
from pycoreos.testing.models.v2_keyspace import V2OpKind, V2Request

__all__ = ["RunResult", "run_scenario"]

MIN_WARMUP_OPS = 5
CHECK_TIMEOUT = 120.0


@dataclass
class RunResult:
    """The outcome of one run (one row of the verdict table)."""

    scenario: str
    seed: int
    operations: int = 0
    unknown: int = 0
    faults: int = 0
    verdict: str = "error"
    linearizable: str = "-"
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    timeline: list[str] = field(default_factory=list)
    artefacts: str | None = None
    # What the peer proxies did (refused, refused_sender, dropped, delayed).
    proxy: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"


def _liveness(wl: Workload, cluster: TortureCluster, keys: int) -> list[str]:
    """U5: with no fault and no other load, every request succeeds."""
    problems: list[str] = []
    cid = 1_000_000
    wl.config = replace(wl.config, timeout=5.0)
    for n in cluster.live():
        reqs = [V2Request(kind=V2OpKind.SET, key=f"{PREFIX}/k0", value=f"live-{n.name}")]
        reqs += [V2Request(kind=V2OpKind.GET, key=f"{PREFIX}/k{k}") for k in range(keys)]
        for req in reqs:
            out = wl.run_one(cid, n.client_port, req)
            if out is UNKNOWN:
                problems.append(
                    f"U5: {req.kind.value} {req.key} on {n.name} failed after the fault"
                )
                cid += 1
            elif out.error_code not in (None, 100):
                problems.append(f"U5: {req.kind.value} {req.key} on {n.name}: {out}")
    return problems[:5]


def run_scenario(
    scenario: Scenario | str,
    seed: int,
    *,
    duration: float = 12.0,
    base_dir: Path,
    keep: bool = False,
    unsafe: bool = False,
    tls: bool = False,
) -> RunResult:
    """Run ``scenario`` once with ``seed`` in a fresh cluster under ``base_dir``.

    ``unsafe`` starts every member with ``PYCOREOS_UNSAFE_LOCAL_QUORUM_READS=1`` (a deliberately
    broken member: the suite must catch it). ``tls`` runs the cluster all over TLS (client and
    peer certificates required; see :class:`~pycoreos.robustness.cluster.TortureCluster`).
    """
    sc = SCENARIOS[scenario] if isinstance(scenario, str) else scenario
    run_dir = base_dir / f"{sc.name}-seed{seed}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    result = RunResult(sc.name, seed)
    t_start = time.monotonic()
    rng = random.Random(seed)
    size = sc.size(seed)
    cluster = TortureCluster(run_dir, size, seed=seed, extra_args=list(sc.extra_args), tls=tls)
    names = [f"m{i}" for i in range(1, size + 1)]
    env = sc.env(seed, names) if sc.env is not None else {}
    if unsafe:
        env = {n: {**env.get(n, {}), **member_env(unsafe=True)} for n in names}
    wl = Workload(cluster.ports, seed, sc.workload, cluster.client_ssl)
    ctx: Ctx | None = None
    try:
        cluster.start(env)
        wl.start()
        time.sleep(1.5)
        warm = len(wl.history())
        ctx = Ctx(cluster, wl, rng, seed, duration)
        if warm < MIN_WARMUP_OPS:
            result.verdict = "invalid"
            result.problems.append(f"U7: only {warm} operations in the 1.5 s warm-up")
        else:
            sc.inject(ctx)
            cluster.net.heal()
            for n in cluster.live():
                cluster.resume(n)
            cluster.poll_exits()
            for n in cluster.live():
                if not n.running and not cluster.restart(n):
                    result.problems.append(f"U4: {n.name} does not restart after the faults")
            unhealthy = cluster.wait_healthy(ET + 5.0)
            if unhealthy:
                result.problems.append(f"U4: not healthy within ET + 5 s: {unhealthy}")
            time.sleep(1.0)
        wl.stop()
        if result.verdict != "invalid":
            result.problems += _liveness(wl, cluster, wl.config.keys)
            result.problems += cluster.converge()
        cluster.poll_exits()
        for n in cluster.nodes:
            result.problems += [f"U6: {n.name} {what} unexpectedly" for what in n.unexpected]
        result.problems += cluster.crash_lines()
    except ClusterError as exc:
        result.problems.append(f"harness: {exc}")
    finally:
        wl.stop()
        result.proxy = dict(cluster.net.counters)
        cluster.close()
    if ctx is not None:
        result.problems += ctx.problems
        result.faults = ctx.fault_count
        result.timeline = ctx.faults
    history = wl.history()
    result.operations = len(history)
    result.unknown = sum(1 for op in history if op.output is UNKNOWN)
    verdict, problems = checks.check_linearizable(history, CHECK_TIMEOUT, RealClock())
    result.linearizable = verdict
    result.problems = problems + result.problems
    result.problems += checks.check_index_order(wl.indexes)
    restarts = {n.client_port: n.starts[1:] for n in cluster.nodes}
    result.problems += checks.check_local_reads(wl.local_reads, restarts)
    result.problems += checks.check_watches(wl.events, wl.gaps, history)
    if result.verdict != "invalid":
        result.verdict = "pass" if not result.problems else "FAIL"
    result.seconds = time.monotonic() - t_start
    if result.passed and not keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    else:
        _save(run_dir, result, wl)
        result.artefacts = str(run_dir)
    return result


def _save(run_dir: Path, result: RunResult, wl: Workload) -> None:
    with open(run_dir / "history.jsonl", "w") as f:
        for op in wl.history():
            out = None if op.output is UNKNOWN else asdict(op.output)
            row = {
                "client": op.client_id,
                "input": {k: (v.value if k == "kind" else v) for k, v in asdict(op.input).items()},
                "call": op.call,
                "output": out,
                "return": None if op.return_time == float("inf") else op.return_time,
            }
            f.write(json.dumps(row) + "\n")
    with open(run_dir / "events.jsonl", "w") as f:
        for e in wl.events:
            f.write(json.dumps(asdict(e)) + "\n")
    lines = [
        f"{result.scenario} seed {result.seed}: {result.verdict}",
        f"operations {result.operations} (unknown {result.unknown}), faults {result.faults}",
        "problems:",
        *(f"  {p}" for p in result.problems),
        "timeline:",
        *(f"  {t}" for t in result.timeline),
    ]
    (run_dir / "verdict.txt").write_text("\n".join(lines) + "\n")
