"""Drive ``wrk`` processes for a :class:`BenchConfig` and collect a :class:`BenchResult`.

The load comes from wrk (C, epoll, LuaJIT), not from Python: one Python client process tops
out at a few thousand requests per second, below what one etcd member serves. Python plans
the processes (:func:`plan`, pure), starts one wrk per endpoint, shows a progress bar fed by
the Lua script's ``@pcb progress`` lines, stops ``--total`` runs with SIGINT once every wrk
thread has reached its quota (see ``v2.lua``), and parses each process's report.

Planning rules:

* clients are spread over endpoints round-robin (endpoint ``i`` gets the clients ``j`` with
  ``j % len(endpoints) == i``), one wrk process per endpoint, ``-c`` = its clients;
* wrk gives each thread ``connections // threads`` connections, so a process's thread count
  is the largest divisor of its clients not above the wanted count (default 1 thread per
  process: one wrk thread sends tens of thousands of requests per second, and on a small
  machine every extra thread competes with the server under test);
* ``--total`` is split over threads in proportion to their connections, remainders going to
  the first threads, so the quotas add up to exactly ``total``.
"""

from __future__ import annotations

import contextlib
import queue
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pycoreos.bench.config import BenchConfig
from pycoreos.bench.report import BenchResult
from pycoreos.bench.wrkout import WrkRun, parse_wrk_output
from pycoreos.errors import BrokenError

WRK = shutil.which("wrk") or "/usr/bin/wrk"

#: Called with (completed-so-far estimate, expected total or None) as progress lines arrive.
ProgressFn = Callable[[int, int | None], None]


class WrkError(BrokenError):
    """wrk is missing, exited with an error, or printed no report."""


@dataclass(frozen=True, slots=True)
class WrkJob:
    """One planned wrk process.

    Attributes:
        url: the endpoint.
        connections: ``-c``.
        threads: ``-t`` (divides ``connections``).
        quotas: per-thread response quotas (empty for duration runs).
        argv: the full command line, script path included.
    """

    url: str
    connections: int
    threads: int
    quotas: tuple[int, ...]
    argv: tuple[str, ...]


def script_path(name: str) -> Path:
    """Filesystem path of a Lua script shipped in ``pycoreos.bench``."""
    return Path(str(resources.files("pycoreos.bench").joinpath(name)))


def _largest_divisor_at_most(n: int, limit: int) -> int:
    return max(d for d in range(1, max(1, min(n, limit)) + 1) if n % d == 0)


def _split(total: int, weights: Sequence[int]) -> list[int]:
    whole = sum(weights)
    shares = [total * w // whole for w in weights]
    for i in range(total - sum(shares)):
        shares[i % len(shares)] += 1
    return shares


def plan(config: BenchConfig, *, wrk: str = WRK, script: Path | None = None) -> list[WrkJob]:
    """The wrk processes for ``config`` (pure; see the module docstring for the rules)."""
    spec = config.spec
    script = script or script_path(spec.script)
    n_ep = len(config.endpoints)
    clients = [len(range(i, config.clients, n_ep)) for i in range(n_ep)]
    wanted = _split(config.threads, clients) if config.threads else [1] * n_ep
    threads = [_largest_divisor_at_most(c, max(w, 1)) for c, w in zip(clients, wanted, strict=True)]
    quotas: list[list[int]] = [[] for _ in range(n_ep)]
    if config.total is not None:
        per_thread = [c // t for c, t in zip(clients, threads, strict=True) for _ in range(t)]
        flat = _split(config.total, per_thread)
        for i in range(n_ep):
            quotas[i], flat = flat[: threads[i]], flat[threads[i] :]
    seconds = config.duration if config.duration is not None else config.max_duration
    jobs = []
    for i, url in enumerate(config.endpoints):
        q = quotas[i]
        progress = max(1, min(200, min(q) // 100)) if q else 200
        lua_args = [
            f"method={spec.method}",
            f"prefix={spec.prefix}",
            f"suffix={spec.suffix}",
            f"keyspace={config.key_space_size}",
            f"keysize={config.key_size}",
            f"valsize={config.val_size}",
            f"seed={config.seed + 1000 * i}",
            f"sequential={int(config.sequential_keys)}",
            f"conns={clients[i] // threads[i]}",
            f"threads={threads[i]}",
            f"quota={','.join(map(str, q)) if q else 0}",
            f"progress={progress}",
        ]
        argv = (
            wrk,
            f"-t{threads[i]}",
            f"-c{clients[i]}",
            f"-d{seconds}s",
            f"--timeout={config.timeout}s",
            "-s",
            str(script),
            url.rstrip("/"),
            *lua_args,
        )
        jobs.append(WrkJob(url, clients[i], threads[i], tuple(q), argv))
    return jobs


def _pump(stream: object, sink: queue.Queue[tuple[int, str | None]], index: int) -> None:
    # One reader thread per wrk stdout: a blocking readline per process keeps the main loop
    # free to update the progress bar and to notice quotas reached on any process.
    assert hasattr(stream, "readline")
    for line in iter(stream.readline, ""):
        sink.put((index, line))
    sink.put((index, None))


def run_jobs(
    jobs: Sequence[WrkJob], *, on_progress: ProgressFn | None = None, expected: int | None = None
) -> list[WrkRun]:
    """Run ``jobs`` concurrently and return their parsed reports, in job order.

    Raises:
        WrkError: wrk could not be started, failed, or printed no complete report.
    """
    procs: list[subprocess.Popen[str]] = []
    sink: queue.Queue[tuple[int, str | None]] = queue.Queue()
    try:
        for job in jobs:
            try:
                proc = subprocess.Popen(
                    job.argv,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    stdin=subprocess.DEVNULL,
                    text=True,
                )
            except OSError as exc:
                raise WrkError(f"bench: cannot run {job.argv[0]}: {exc}") from exc
            procs.append(proc)
            threading.Thread(
                target=_pump, args=(proc.stdout, sink, len(procs) - 1), daemon=True
            ).start()
        outputs = _collect(jobs, procs, sink, on_progress, expected)
        runs = []
        for job, proc, out in zip(jobs, procs, outputs, strict=True):
            rc = proc.wait()
            err = proc.stderr.read() if proc.stderr else ""
            if rc != 0:
                raise WrkError(f"bench: wrk exited with {rc}: {err.strip() or out[-500:]}")
            try:
                runs.append(parse_wrk_output(out, job.connections))
            except Exception as exc:
                raise WrkError(f"{exc}; wrk stderr: {err.strip()!r}") from exc
        return runs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


_MARKER = re.compile(r"@pcb (progress|stopped) (\d+)(?: (\d+))?")


def _collect(
    jobs: Sequence[WrkJob],
    procs: Sequence[subprocess.Popen[str]],
    sink: queue.Queue[tuple[int, str | None]],
    on_progress: ProgressFn | None,
    expected: int | None,
) -> list[str]:
    lines: list[list[str]] = [[] for _ in procs]
    calls: dict[tuple[int, int], int] = {}
    stopped = [0] * len(procs)
    open_streams = len(procs)
    while open_streams:
        index, line = sink.get()
        if line is None:
            open_streams -= 1
            continue
        lines[index].append(line)
        # wrk's threads share stdout, so two threads' lines can run together: scan for every
        # marker in the line rather than trusting one marker per line.
        for kind, tid, n in _MARKER.findall(line):
            if kind == "progress":
                calls[(index, int(tid))] = int(n)
                if on_progress:
                    # Calls lead completions by at most one per connection; fine for a bar.
                    on_progress(sum(calls.values()), expected)
            else:
                stopped[index] += 1
                if stopped[index] == jobs[index].threads:
                    # wrk's main thread sleeps for -d regardless; SIGINT wakes it to report.
                    with contextlib.suppress(ProcessLookupError):
                        procs[index].send_signal(signal.SIGINT)
    return ["".join(x) for x in lines]


def run(config: BenchConfig, *, on_progress: ProgressFn | None = None) -> BenchResult:
    """Run ``config`` (preloading keys first for read workloads) and return the result."""
    if config.spec.preload:
        from pycoreos.bench.preload import preload

        preload(config)
    runs = run_jobs(plan(config), on_progress=on_progress, expected=config.total)
    return BenchResult(config, tuple(runs))
