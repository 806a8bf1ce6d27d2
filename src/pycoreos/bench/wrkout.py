"""Parse what ``v2.lua``'s ``done()`` prints, and undo wrk's latency correction.

Pure code: text in, :class:`WrkRun` out. Lines not starting with ``@pcb`` (wrk's own report)
are ignored, so the parser takes wrk's whole stdout.

wrk's coordinated-omission correction (``stats_correct`` in wrk 4.x ``src/stats.c``): after the
run, with ``e = runtime_us // (requests // connections)``, every recorded latency ``n >= 2e``
adds synthetic samples at ``n - e, n - 2e, ...`` while they stay ``> e``. It scans ``n``
upwards and only ever adds to slots below ``n``, so each slot it reads still holds its original
count. Hence for every slot ``m > e`` the corrected count is ``sum_k orig[m + k*e]`` (``k >= 0``),
and ``orig[m] = corrected[m] - corrected[m + e]``; slots ``<= e`` are untouched. We report the
original samples, as etcd's benchmark does (its clients measure each request and nothing else).
The check that makes this safe: the recovered samples must number exactly
``requests - timeouts`` (wrk records one latency per response and drops the ones beyond its
timeout); otherwise :class:`WrkOutputError` is raised.
"""

from __future__ import annotations

from dataclasses import dataclass

from pycoreos.bench.latency import LatencyDist
from pycoreos.errors import StackError

PREFIX = "@pcb "


class WrkOutputError(StackError):
    """wrk's output is missing the ``@pcb`` report or contradicts itself."""


@dataclass(frozen=True, slots=True)
class WrkErrors:
    """wrk's error counters. ``status`` counts responses with an HTTP status >= 400."""

    connect: int = 0
    read: int = 0
    write: int = 0
    status: int = 0
    timeout: int = 0

    @property
    def total(self) -> int:
        """Sum of all counters."""
        return self.connect + self.read + self.write + self.status + self.timeout

    def describe(self) -> str:
        """``"status 3, timeout 1"``: the nonzero counters, or ``"none"``."""
        parts = [
            f"{name} {n}"
            for name, n in (
                ("connect", self.connect),
                ("read", self.read),
                ("write", self.write),
                ("status", self.status),
                ("timeout", self.timeout),
            )
            if n
        ]
        return ", ".join(parts) or "none"


@dataclass(frozen=True, slots=True)
class ThreadTiming:
    """One wrk thread's monotonic stamps (microseconds; -1 when not taken)."""

    tid: int
    first_us: int
    stop_us: int
    calls: int


@dataclass(frozen=True, slots=True)
class WrkRun:
    """One wrk process's results, with the latency correction undone.

    Attributes:
        duration_us: wrk's own runtime (thread start to join).
        requests: completed responses (any status).
        bytes_read: response bytes read.
        errors: wrk's error counters.
        latency: the original (uncorrected) latency samples.
        threads: per-thread stamps (used for ``--total`` runs).
    """

    duration_us: int
    requests: int
    bytes_read: int
    errors: WrkErrors
    latency: LatencyDist
    threads: tuple[ThreadTiming, ...]

    @property
    def span_us(self) -> int | None:
        """First request to last thread stop, if every thread stopped on its quota."""
        if not self.threads or any(t.stop_us < 0 or t.first_us < 0 for t in self.threads):
            return None
        return max(t.stop_us for t in self.threads) - min(t.first_us for t in self.threads)


def correction_interval(duration_us: int, requests: int, connections: int) -> int:
    """wrk's ``expected`` interval for ``stats_correct`` (0 means wrk skipped the correction)."""
    per_conn = requests // connections
    return duration_us // per_conn if per_conn > 0 else 0


def uncorrect(corrected: dict[int, int], interval: int) -> dict[int, int]:
    """Invert ``stats_correct`` (see the module docstring); drops slots that become empty.

    Raises:
        WrkOutputError: a slot would become negative (the input was not wrk-corrected data
            for this interval).
    """
    if interval <= 0:
        return {v: c for v, c in corrected.items() if c}
    orig: dict[int, int] = {}
    for value, count in corrected.items():
        n = count - corrected.get(value + interval, 0) if value > interval else count
        if n < 0:
            raise WrkOutputError(f"bench: latency slot {value}us cannot be uncorrected ({n})")
        if n:
            orig[value] = n
    return orig


def _ints(fields: list[str], n: int, line: str) -> list[int]:
    if len(fields) != n:
        raise WrkOutputError(f"bench: malformed wrk report line {line!r}")
    try:
        return [int(f) for f in fields]
    except ValueError:
        raise WrkOutputError(f"bench: malformed wrk report line {line!r}") from None


def parse_wrk_output(text: str, connections: int) -> WrkRun:
    """Parse wrk's stdout (from ``v2.lua``) for a run with ``connections`` connections.

    Args:
        text: everything wrk wrote to stdout.
        connections: the ``-c`` value wrk ran with (needed to undo its correction).

    Raises:
        WrkOutputError: no complete ``@pcb`` report, or the recovered sample count differs
            from ``requests - timeouts``.
    """
    summary: list[int] | None = None
    errors: WrkErrors | None = None
    buckets: dict[int, int] = {}
    threads: list[ThreadTiming] = []
    ended = False
    for raw in text.splitlines():
        if not raw.startswith(PREFIX):
            continue
        kind, *fields = raw[len(PREFIX) :].split()
        if kind == "summary":
            summary = _ints(fields, 3, raw)
        elif kind == "errors":
            errors = WrkErrors(*_ints(fields, 5, raw))
        elif kind == "bucket":
            value, count = _ints(fields, 2, raw)
            buckets[value] = buckets.get(value, 0) + count
        elif kind == "thread":
            threads.append(ThreadTiming(*_ints(fields, 4, raw)))
        elif kind == "end":
            ended = True
        # "progress" and "stopped" lines are for the live progress bar only.
    if summary is None or errors is None or not ended:
        raise WrkOutputError("bench: wrk output has no complete @pcb report (did wrk fail?)")
    duration_us, requests, bytes_read = summary
    interval = correction_interval(duration_us, requests, connections)
    latency = LatencyDist(tuple(sorted(uncorrect(buckets, interval).items())))
    if latency.total != requests - errors.timeout:
        raise WrkOutputError(
            f"bench: recovered {latency.total} latency samples, expected "
            f"{requests - errors.timeout} (requests {requests} - timeouts {errors.timeout})"
        )
    return WrkRun(duration_us, requests, bytes_read, errors, latency, tuple(threads))
