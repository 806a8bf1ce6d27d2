"""Latency distributions: exact counts per microsecond, and etcd-style summaries of them.

Pure code. A :class:`LatencyDist` holds ``(latency_us, count)`` pairs, ascending and with
positive counts: the full distribution, as wrk keeps it (one counter per microsecond), so
distributions from several wrk processes merge exactly and every statistic is computed from
all samples, not from pre-computed percentiles.

The statistics follow etcd's ``pkg/report`` (the ``benchmark`` tool's report) so numbers read
the same way as etcd's:

* percentile ``p`` is the sample at index ``ceil(p * (n + 1) / 100) - 1`` (clamped) of the
  sorted samples;
* the standard deviation is the population one (divides by ``n``);
* the histogram has 10 equal-width buckets between the fastest and slowest sample, labelled by
  their upper edge, plus a first bucket holding the samples equal to the fastest; a sample
  goes in the first bucket whose edge is ``>=`` it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: The percentiles etcd's benchmark prints, in order.
ETCD_PERCENTILES: tuple[float, ...] = (10, 25, 50, 75, 90, 95, 99, 99.9)

#: Buckets in the response time histogram (etcd uses 10).
HISTOGRAM_BUCKETS = 10


@dataclass(frozen=True, slots=True)
class HistogramBucket:
    """One line of the response time histogram: samples ``<= upper_us`` not in earlier lines."""

    upper_us: float
    count: int


@dataclass(frozen=True, slots=True)
class LatencyDist:
    """An exact latency distribution in whole microseconds.

    Attributes:
        counts: ``(latency_us, count)`` pairs, strictly ascending in latency, counts > 0.
    """

    counts: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        prev = -1
        for value, count in self.counts:
            if value <= prev or count <= 0:
                raise ValueError(f"bench: bad latency distribution at {value}us x{count}")
            prev = value

    @classmethod
    def from_samples(cls, samples_us: Iterable[int]) -> LatencyDist:
        """Build a distribution from individual samples (any order)."""
        tally: dict[int, int] = {}
        for s in samples_us:
            tally[s] = tally.get(s, 0) + 1
        return cls(tuple(sorted(tally.items())))

    @classmethod
    def merge(cls, dists: Sequence[LatencyDist]) -> LatencyDist:
        """Sum several distributions (e.g. one per wrk process)."""
        tally: dict[int, int] = {}
        for d in dists:
            for value, count in d.counts:
                tally[value] = tally.get(value, 0) + count
        return cls(tuple(sorted(tally.items())))

    @property
    def total(self) -> int:
        """Number of samples."""
        return sum(c for _, c in self.counts)

    @property
    def fastest_us(self) -> int:
        """Smallest sample (0 when empty)."""
        return self.counts[0][0] if self.counts else 0

    @property
    def slowest_us(self) -> int:
        """Largest sample (0 when empty)."""
        return self.counts[-1][0] if self.counts else 0

    @property
    def mean_us(self) -> float:
        """Arithmetic mean (0 when empty)."""
        n = self.total
        return sum(v * c for v, c in self.counts) / n if n else 0.0

    @property
    def stddev_us(self) -> float:
        """Population standard deviation, as etcd's report computes it (0 when empty)."""
        n = self.total
        if not n:
            return 0.0
        mean = self.mean_us
        return math.sqrt(sum(c * (v - mean) ** 2 for v, c in self.counts) / n)

    def nth(self, index: int) -> int:
        """The sample at ``index`` (0-based) of the sorted samples."""
        if not 0 <= index < self.total:
            raise IndexError(index)
        seen = 0
        for value, count in self.counts:
            seen += count
            if index < seen:
                return value
        raise AssertionError("unreachable: index checked against total")

    def percentile_us(self, p: float) -> int:
        """The ``p``-th percentile with etcd's index rule (0 when empty)."""
        n = self.total
        if not n:
            return 0
        idx = math.ceil(p * (n + 1) / 100.0) - 1
        return self.nth(min(max(idx, 0), n - 1))

    def histogram(self, buckets: int = HISTOGRAM_BUCKETS) -> list[HistogramBucket]:
        """The response time histogram: ``buckets + 1`` lines, as etcd's report draws it."""
        if not self.counts:
            return []
        lo, hi = self.fastest_us, self.slowest_us
        width = (hi - lo) / buckets
        edges = [lo + width * i for i in range(buckets)] + [float(hi)]
        counts = [0] * len(edges)
        bi = 0
        for value, count in self.counts:
            while value > edges[bi] and bi < len(edges) - 1:
                bi += 1
            counts[bi] += count
        return [HistogramBucket(e, c) for e, c in zip(edges, counts, strict=True)]
