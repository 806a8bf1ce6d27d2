"""A minimal Prometheus registry: counters, gauges and histograms rendered in text format 0.0.4.

Metric names follow etcd's (``etcd_server_*``, ``etcd_disk_*``, ``etcd_debugging_store_*``) so
existing dashboards and alerts work. Updates are plain attribute arithmetic on the event-loop
thread (no locks); the WAL thread only reports fsync durations through ``observe``, whose
list append is atomic under the GIL.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence

_DISK_BUCKETS = (
    0.001,
    0.002,
    0.004,
    0.008,
    0.016,
    0.032,
    0.064,
    0.128,
    0.256,
    0.512,
    1.024,
    2.048,
    4.096,
    8.192,
)


class Counter:
    def __init__(self, name: str, help_: str, kind: str = "counter") -> None:
        self.name, self.help, self.kind = name, help_, kind
        self.values: dict[tuple[tuple[str, str], ...], float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        self.values[key] = self.values.get(key, 0.0) + amount

    def set(self, value: float, **labels: str) -> None:
        self.values[tuple(sorted(labels.items()))] = value

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        for key, value in sorted(self.values.items()):
            out.append(f"{self.name}{_labels(key)} {_num(value)}")
        return out


class Gauge(Counter):
    def __init__(self, name: str, help_: str, fn: Callable[[], float] | None = None) -> None:
        super().__init__(name, help_, "gauge")
        self._fn = fn

    def render(self) -> list[str]:
        if self._fn is not None:
            self.values[()] = self._fn()
        return super().render()


class Histogram:
    def __init__(self, name: str, help_: str, buckets: Sequence[float] = _DISK_BUCKETS) -> None:
        self.name, self.help = name, help_
        self.bounds = tuple(buckets)
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.n += 1

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        acc = 0
        for bound, count in zip(self.bounds, self.counts, strict=False):
            acc += count
            out.append(f'{self.name}_bucket{{le="{_num(bound)}"}} {acc}')
        out.append(f'{self.name}_bucket{{le="+Inf"}} {self.n}')
        out.append(f"{self.name}_sum {_num(self.total)}")
        out.append(f"{self.name}_count {self.n}")
        return out


def _labels(key: tuple[tuple[str, str], ...]) -> str:
    if not key:
        return ""
    return "{" + ",".join(f'{k}="{v}"' for k, v in key) + "}"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


class Registry:
    """All metrics of one member."""

    def __init__(self) -> None:
        self.metrics: list[Counter | Histogram] = []

    def counter(self, name: str, help_: str) -> Counter:
        m = Counter(name, help_)
        self.metrics.append(m)
        return m

    def gauge(self, name: str, help_: str, fn: Callable[[], float] | None = None) -> Gauge:
        m = Gauge(name, help_, fn)
        self.metrics.append(m)
        return m

    def histogram(self, name: str, help_: str) -> Histogram:
        m = Histogram(name, help_)
        self.metrics.append(m)
        return m

    def render(self) -> bytes:
        lines: list[str] = []
        for m in self.metrics:
            lines.extend(m.render())
        return ("\n".join(lines) + "\n").encode()
