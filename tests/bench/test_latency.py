"""LatencyDist: etcd's percentile rule, population stddev, and the etcd histogram layout."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycoreos.bench.latency import ETCD_PERCENTILES, HistogramBucket, LatencyDist

samples = st.lists(st.integers(min_value=0, max_value=5000), min_size=1, max_size=300)


def etcd_percentile(sorted_lats: list[int], p: float) -> int:
    # etcd pkg/report percentiles(): idx = ceil(p*(n+1)/100) - 1, clamped.
    n = len(sorted_lats)
    idx = min(max(math.ceil(p * (n + 1) / 100.0) - 1, 0), n - 1)
    return sorted_lats[idx]


@given(samples)
def test_percentiles_match_etcd_rule_on_expanded_samples(xs: list[int]) -> None:
    d = LatencyDist.from_samples(xs)
    s = sorted(xs)
    for p in (*ETCD_PERCENTILES, 0, 100):
        assert d.percentile_us(p) == etcd_percentile(s, p)
    assert d.total == len(xs)
    assert d.fastest_us == s[0]
    assert d.slowest_us == s[-1]


@given(samples)
def test_mean_and_population_stddev(xs: list[int]) -> None:
    d = LatencyDist.from_samples(xs)
    mean = sum(xs) / len(xs)
    assert d.mean_us == pytest.approx(mean)
    assert d.stddev_us == pytest.approx(math.sqrt(sum((x - mean) ** 2 for x in xs) / len(xs)))


@given(samples)
def test_histogram_counts_every_sample_once_in_first_bucket_at_or_above(xs: list[int]) -> None:
    buckets = LatencyDist.from_samples(xs).histogram()
    assert len(buckets) == 11
    assert sum(b.count for b in buckets) == len(xs)
    edges = [b.upper_us for b in buckets]
    assert edges[0] == min(xs)
    assert edges[-1] == max(xs)
    expected = [0] * len(edges)
    for x in xs:  # brute force: etcd's loop puts x in the first bucket with edge >= x
        expected[next(i for i, e in enumerate(edges) if x <= e)] += 1
    assert [b.count for b in buckets] == expected


def test_histogram_golden() -> None:
    d = LatencyDist.from_samples([100, 100, 150, 190, 200])
    assert d.histogram() == [
        HistogramBucket(100.0, 2),
        HistogramBucket(110.0, 0),
        HistogramBucket(120.0, 0),
        HistogramBucket(130.0, 0),
        HistogramBucket(140.0, 0),
        HistogramBucket(150.0, 1),
        HistogramBucket(160.0, 0),
        HistogramBucket(170.0, 0),
        HistogramBucket(180.0, 0),
        HistogramBucket(190.0, 1),
        HistogramBucket(200.0, 1),
    ]


def test_single_value_histogram_puts_everything_in_first_bucket() -> None:
    buckets = LatencyDist.from_samples([7, 7, 7]).histogram()
    assert buckets[0] == HistogramBucket(7.0, 3)
    assert all(b.count == 0 for b in buckets[1:])


def test_empty_distribution_is_all_zero() -> None:
    d = LatencyDist()
    assert (d.total, d.fastest_us, d.slowest_us, d.mean_us, d.stddev_us) == (0, 0, 0, 0.0, 0.0)
    assert d.percentile_us(99) == 0
    assert d.histogram() == []


def test_merge_sums_counts() -> None:
    a = LatencyDist(((1, 2), (5, 1)))
    b = LatencyDist(((5, 3), (9, 1)))
    assert LatencyDist.merge([a, b]) == LatencyDist(((1, 2), (5, 4), (9, 1)))


@pytest.mark.parametrize("counts", [((5, 1), (5, 1)), ((5, 1), (3, 1)), ((5, 0),)])
def test_rejects_unsorted_or_empty_slots(counts: tuple[tuple[int, int], ...]) -> None:
    with pytest.raises(ValueError, match="bad latency distribution"):
        LatencyDist(counts)


def test_nth_out_of_range() -> None:
    with pytest.raises(IndexError):
        LatencyDist(((1, 1),)).nth(1)
