"""Parsing v2.lua's report and undoing wrk's coordinated-omission correction exactly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycoreos.bench.wrkout import (
    WrkErrors,
    WrkOutputError,
    correction_interval,
    parse_wrk_output,
    uncorrect,
)


def wrk_stats_correct(data: dict[int, int], expected: int) -> dict[int, int]:
    """A line-by-line port of wrk 4.x ``stats_correct`` (src/stats.c) over a sparse array."""
    out = dict(data)
    top = max(data)
    for n in range(expected * 2, top + 1):
        count = out.get(n, 0)
        m = n - expected
        while count and m > expected:
            out[m] = out.get(m, 0) + count
            m -= expected
    return out


dists = st.dictionaries(
    st.integers(min_value=1, max_value=400), st.integers(min_value=1, max_value=50), min_size=1
)


@given(dists, st.integers(min_value=1, max_value=120))
def test_uncorrect_inverts_wrk_stats_correct(orig: dict[int, int], expected: int) -> None:
    corrected = wrk_stats_correct(orig, expected)
    assert uncorrect(corrected, expected) == orig


def test_correction_really_changes_data() -> None:
    # Guard against a vacuous property: the port above must add samples for slow outliers.
    corrected = wrk_stats_correct({10: 5, 100: 1}, 10)
    assert sum(corrected.values()) > 6
    assert uncorrect(corrected, 10) == {10: 5, 100: 1}


def test_uncorrect_rejects_data_that_was_not_corrected_that_way() -> None:
    with pytest.raises(WrkOutputError, match="cannot be uncorrected"):
        uncorrect({30: 1, 40: 5}, 10)


def test_correction_interval_matches_wrk_integer_arithmetic() -> None:
    assert correction_interval(2_000_000, 3658, 1) == 2_000_000 // 3658
    assert correction_interval(2_011_236, 23030, 64) == 2_011_236 // (23030 // 64)
    assert correction_interval(1_000, 10, 64) == 0  # requests // conns == 0: wrk skips it


def render(duration: int, requests: int, errors: str, corrected: dict[int, int]) -> str:
    lines = [
        "Running 2s test @ http://127.0.0.1:1",
        "  1 threads and 2 connections",
        "@pcb progress 0 200",
        "Requests/sec:   123.00",
        f"@pcb summary {duration} {requests} 999",
        f"@pcb errors {errors}",
        *(f"@pcb bucket {v} {c}" for v, c in sorted(corrected.items())),
        "@pcb thread 0 1000 5000 9",
        "@pcb end",
    ]
    return "\n".join(lines) + "\n"


def test_parse_recovers_original_samples() -> None:
    orig = {100: 3, 120: 2, 900: 1}
    duration, conns = 1200, 2
    interval = correction_interval(duration, 6, conns)  # 1200 // 3 = 400
    text = render(duration, 6, "0 0 0 0 0", wrk_stats_correct(orig, interval))
    run = parse_wrk_output(text, conns)
    assert dict(run.latency.counts) == orig
    assert run.requests == 6
    assert run.duration_us == duration
    assert run.bytes_read == 999
    assert run.errors == WrkErrors()
    assert run.threads[0].calls == 9
    assert run.span_us == 4000


def test_parse_reads_error_counters() -> None:
    text = render(1000, 5, "1 2 3 4 0", {10: 5})
    run = parse_wrk_output(text, 1000)
    assert run.errors == WrkErrors(connect=1, read=2, write=3, status=4, timeout=0)
    assert run.errors.total == 10
    assert run.errors.describe() == "connect 1, read 2, write 3, status 4"


def test_timeouts_are_missing_from_the_histogram() -> None:
    run = parse_wrk_output(render(1000, 6, "0 0 0 0 1", {10: 5}), 1000)
    assert run.latency.total == 5


def test_sample_count_mismatch_is_an_error() -> None:
    with pytest.raises(WrkOutputError, match="recovered 4 latency samples, expected 5"):
        parse_wrk_output(render(1000, 5, "0 0 0 0 0", {10: 4}), 1000)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Running 1s test\n@pcb summary 1 1 1\n@pcb errors 0 0 0 0 0\n",  # no end
        "@pcb summary 1 1\n@pcb errors 0 0 0 0 0\n@pcb end\n",  # short line
        "@pcb summary 1 x 1\n@pcb errors 0 0 0 0 0\n@pcb end\n",  # not a number
    ],
)
def test_incomplete_or_malformed_reports_raise(text: str) -> None:
    with pytest.raises(WrkOutputError):
        parse_wrk_output(text, 1)


def test_span_needs_every_thread_stopped() -> None:
    text = render(1000, 5, "0 0 0 0 0", {10: 5}).replace(
        "@pcb thread 0 1000 5000 9", "@pcb thread 0 1000 -1 9"
    )
    assert parse_wrk_output(text, 1000).span_us is None


def test_markers_of_two_wrk_threads_run_together_are_all_seen() -> None:
    """wrk's threads share stdout: a line can hold two threads' markers (a CI failure)."""
    from pycoreos.bench.wrk import _MARKER

    line = "@pcb progress 1 150@pcb stopped 2\n"
    assert _MARKER.findall(line) == [("progress", "1", "150"), ("stopped", "2", "")]
