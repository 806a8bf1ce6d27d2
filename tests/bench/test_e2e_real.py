"""End to end against the real etcd 3.4 (v2 API): short wrk runs must be valid and sane."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycoreos.bench import wrk
from pycoreos.bench.config import BenchConfig, Workload
from pycoreos.bench.report import BenchResult
from pycoreos.cli import benchmark
from pycoreos.testing.procs import Member, start_member

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def member(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Member]:
    m = start_member("real", tmp_path_factory.mktemp("bench-real"))
    yield m
    m.stop()


def check_sane(r: BenchResult) -> None:
    assert r.valid, r.problem()
    assert r.rps > 50
    d = r.latency
    assert d.total == r.requests
    pcts = [d.percentile_us(p) for p in (50, 90, 99, 99.9)]
    assert d.fastest_us <= pcts[0] <= pcts[1] <= pcts[2] <= pcts[3] <= d.slowest_us
    assert d.slowest_us < r.config.timeout * 1_000_000
    # Closed loop: each client has one request in flight, so rps * mean latency <= clients,
    # and close to it (the rest is client think time). Latencies still carrying wrk's
    # coordinated-omission correction would push this well above 1.
    occupancy = r.rps * d.mean_us / 1e6 / r.config.clients
    assert 0.5 < occupancy <= 1.05, occupancy


def test_put_one_client_for_two_seconds(member: Member) -> None:
    config = BenchConfig(
        workload=Workload.V2_PUT,
        endpoints=(member.client_url,),
        clients=1,
        duration=2,
        val_size=256,
        key_space_size=1000,
    )
    r = wrk.run(config)
    check_sane(r)
    assert 1.9 < r.elapsed_s < 3.0


def test_put_64_clients_total(member: Member) -> None:
    config = BenchConfig(
        workload=Workload.V2_PUT,
        endpoints=(member.client_url,),
        clients=64,
        total=3000,
        val_size=256,
        key_space_size=1000,
    )
    r = wrk.run(config)
    check_sane(r)
    # quota reached on the thread, plus responses finishing in the same event-loop pass
    assert 3000 <= r.requests < 3000 + 64
    # every thread stopped on its quota, so the rate uses the Lua script's own time span
    span = r.runs[0].span_us
    assert span is not None
    assert r.elapsed_s == span / 1e6


def test_total_is_exact_with_one_connection_per_thread(member: Member) -> None:
    # No other connection can complete after a thread stops, so the count is exact. This also
    # pins the skipped verification call wrk makes on its first thread before the run.
    config = BenchConfig(
        workload=Workload.V2_PUT,
        endpoints=(member.client_url, member.client_url),
        clients=4,
        threads=4,
        total=601,
        key_space_size=10,
    )
    r = wrk.run(config)
    check_sane(r)
    assert r.requests == 601
    assert [len(run.threads) for run in r.runs] == [2, 2]


@pytest.mark.parametrize("workload", [Workload.V2_GET, Workload.V2_QUORUM_GET])
def test_reads_after_preload(member: Member, workload: Workload) -> None:
    config = BenchConfig(
        workload=workload,
        endpoints=(member.client_url,),
        clients=16,
        duration=1,
        val_size=256,
        key_space_size=100,
    )
    check_sane(wrk.run(config))


def test_reads_of_missing_keys_make_an_invalid_run(member: Member) -> None:
    # key size 12: names the preload above never created, so every GET is a 404.
    config = BenchConfig(
        workload=Workload.V2_GET,
        endpoints=(member.client_url,),
        clients=2,
        total=200,
        key_size=12,
        key_space_size=10,
    )
    (run,) = wrk.run_jobs(wrk.plan(config))
    r = BenchResult(config, (run,))
    assert not r.valid
    assert r.errors.status >= 200
    assert "status" in (r.problem() or "")


def test_cli_writes_json(
    member: Member, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    rc = benchmark.main(
        ["v2-put", "--endpoints", member.client_url, "--clients", "4", "--total", "400",
         "--val-size", "256", "--json", str(out), "--no-progress"]
    )  # fmt: skip
    assert rc == benchmark.EXIT_OK
    text = capsys.readouterr().out
    assert "Summary:" in text
    assert "Latency distribution:" in text
    assert "99.9% in" in text
    doc = json.loads(out.read_text())
    assert doc["valid"] is True
    assert doc["requests"] >= 400
    assert doc["latency"]["percentiles"]["99"] <= doc["latency"]["max"]
