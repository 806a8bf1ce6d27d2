"""The etcd-style text report, the invalid-run marking and the JSON document."""

from __future__ import annotations

from pycoreos.bench.config import BenchConfig, Workload
from pycoreos.bench.latency import LatencyDist
from pycoreos.bench.report import BenchResult, format_histogram, format_report, one_line, to_json
from pycoreos.bench.wrkout import ThreadTiming, WrkErrors, WrkRun

CONFIG = BenchConfig(
    workload=Workload.V2_PUT,
    endpoints=("http://127.0.0.1:1",),
    clients=2,
    total=10,
    val_size=256,
    key_space_size=100,
)

NO_ERRORS = WrkErrors()


def make(
    errors: WrkErrors = NO_ERRORS, samples: tuple[int, ...] = (1000,) * 8 + (2000, 11000)
) -> BenchResult:
    run = WrkRun(
        duration_us=2_000_000,
        requests=len(samples),
        bytes_read=1,
        errors=errors,
        latency=LatencyDist.from_samples(samples),
        threads=(ThreadTiming(0, 10, 500_010, 12),),
    )
    return BenchResult(CONFIG, (run,))


GOLDEN = """\
v2-put against http://127.0.0.1:1: 2 clients, 100 keys of 8 B, 256 B values

Summary:
  Total:\t0.5000 secs.
  Slowest:\t0.0110 secs.
  Fastest:\t0.0010 secs.
  Average:\t0.0021 secs.
  Stddev:\t0.0030 secs.
  Requests/sec:\t20.0000
  Requests:\t10
  Errors:\tnone

Response time histogram:
  0.0010 [8]\t|∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎
  0.0020 [1]\t|∎∎∎∎∎
  0.0030 [0]\t|
  0.0040 [0]\t|
  0.0050 [0]\t|
  0.0060 [0]\t|
  0.0070 [0]\t|
  0.0080 [0]\t|
  0.0090 [0]\t|
  0.0100 [0]\t|
  0.0110 [1]\t|∎∎∎∎∎

Latency distribution:
  10% in 0.0010 secs.
  25% in 0.0010 secs.
  50% in 0.0010 secs.
  75% in 0.0020 secs.
  90% in 0.0110 secs.
  95% in 0.0110 secs.
  99% in 0.0110 secs.
  99.9% in 0.0110 secs.
"""


def test_report_golden() -> None:
    assert format_report(make()) == GOLDEN


def test_total_runs_use_lua_stamps_not_wrk_runtime() -> None:
    r = make()
    assert r.elapsed_s == 0.5  # wrk said 2 s, which includes the SIGINT round trip
    assert r.rps == 20.0


def test_duration_runs_use_wrk_runtime() -> None:
    from dataclasses import replace

    r = make()
    r = BenchResult(replace(CONFIG, total=None, duration=2), r.runs)
    assert r.elapsed_s == 2.0


def test_runs_with_errors_are_marked_invalid() -> None:
    r = make(errors=WrkErrors(status=3))
    assert not r.valid
    assert r.problem() == "3 errors (status 3)"
    text = format_report(r)
    assert (
        text.splitlines()[1] == "INVALID RUN: 3 errors (status 3). These numbers are not a result."
    )
    doc = to_json(r)
    assert doc["valid"] is False
    assert doc["errors"] == {"connect": 0, "read": 0, "write": 0, "status": 3, "timeout": 0}


def test_empty_run_is_invalid() -> None:
    r = make(samples=())
    assert not r.valid
    assert r.problem() == "no request completed"
    assert "Response time histogram" not in format_report(r)


def test_json_numbers() -> None:
    doc = to_json(make())
    assert doc["valid"] is True
    assert doc["requests"] == 10
    assert doc["rps"] == 20.0
    lat = doc["latency"]
    assert isinstance(lat, dict)
    assert lat["max"] == 0.011
    assert lat["percentiles"]["50"] == 0.001
    assert lat["percentiles"]["99.9"] == 0.011
    assert len(lat["histogram"]) == 11


def test_histogram_bars_scale_to_fullest_bucket() -> None:
    lines = format_histogram(LatencyDist.from_samples([1, 1, 1, 1, 2]))
    assert lines[0].endswith("|" + "∎" * 40)
    assert lines[-1].endswith("|" + "∎" * 10)


def test_one_line() -> None:
    assert (
        one_line(make()) == "20 req/s  p50 1.00ms p90 11.00ms p99 11.00ms p99.9 11.00ms max 11.00ms"
    )
