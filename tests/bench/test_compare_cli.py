"""The compare table (pure part) and the CLI's flag handling, without starting anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycoreos.bench.compare import (
    CASES,
    HEADER,
    Outcome,
    format_table,
    ratio,
    run_compare,
    table_rows,
)
from pycoreos.bench.config import BenchConfig, Workload
from pycoreos.bench.latency import LatencyDist
from pycoreos.bench.report import BenchResult
from pycoreos.bench.wrkout import WrkErrors, WrkRun
from pycoreos.cli import benchmark

CFG = BenchConfig(workload=Workload.V2_PUT, endpoints=("http://x:1",), duration=1)

NO_ERRORS = WrkErrors()


def result(requests: int, errors: WrkErrors = NO_ERRORS) -> BenchResult:
    dist = LatencyDist.from_samples([1000] * requests)
    return BenchResult(CFG, (WrkRun(1_000_000, requests, 0, errors, dist, ()),))


def test_ratio_only_for_two_valid_runs() -> None:
    case = CASES[0]
    real = Outcome(case=case, kind="real", result=result(200))
    ours = Outcome(case=case, kind="ours", result=result(50))
    assert ratio(ours, real) == 0.25
    bad = Outcome(case=case, kind="ours", result=result(50, WrkErrors(status=1)))
    assert ratio(bad, real) is None
    assert ratio(Outcome(case=case, kind="ours", error="no"), real) is None
    assert ratio(ours, None) is None


def test_table_rows_and_markdown() -> None:
    outcomes = [
        Outcome(case=CASES[0], kind="real", result=result(2000)),
        Outcome(case=CASES[0], kind="ours", result=result(1000)),
        Outcome(case=CASES[1], kind="real", result=result(10, WrkErrors(timeout=2))),
        Outcome(case=CASES[1], kind="ours", error="member did not start"),
    ]
    rows = table_rows(outcomes)
    assert rows[0] == ("v2 put, 1 client", "2,000", "1.00", "1.00", "1,000", "1.00", "1.00", "0.50")
    assert rows[1][1] == "invalid (2 errors (timeout 2))"
    assert rows[1][4] == "n/a"
    assert rows[1][-1] == "-"
    assert rows[2] == ("v2 get, 64 clients", "-", "-", "-", "-", "-", "-", "-")
    md = format_table(rows).splitlines()
    assert md[0] == "| " + " | ".join(HEADER) + " |"
    assert len(md) == 2 + len(CASES)


def test_member_that_does_not_start_gives_na_for_every_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pycoreos.testing.procs as procs

    def boom(kind: str, base: Path, **kw: object) -> None:
        raise RuntimeError("member exited with 1 before becoming ready")

    monkeypatch.setattr(procs, "start_member", boom)
    calls: list[str] = []

    def runner(config: BenchConfig, label: str) -> BenchResult:
        calls.append(label)
        raise AssertionError("must not run without a member")

    outcomes = run_compare(["ours"], tmp_path, duration=1, runner=runner)
    assert calls == []
    assert [o.error for o in outcomes] == [
        "member did not start: member exited with 1 before becoming ready"
    ] * 3


def parse(*argv: str) -> BenchConfig:
    args = benchmark.build_parser().parse_args(list(argv))
    return benchmark.config_from_args(args, Workload(args.mode))


def test_flags_map_to_config() -> None:
    c = parse(
        "v2-get", "--endpoints", "http://a:1, http://b:2", "--clients", "8", "--conns", "2",
        "--duration", "3", "--key-size", "6", "--val-size", "256", "--key-space-size", "5000",
        "--sequential-keys", "--threads", "2", "--seed", "7",
    )  # fmt: skip
    assert c.workload is Workload.V2_GET
    assert c.endpoints == ("http://a:1", "http://b:2")
    assert (c.clients, c.conns, c.duration, c.total) == (8, 2, 3, None)
    assert (c.key_size, c.val_size, c.key_space_size) == (6, 256, 5000)
    assert c.sequential_keys
    assert c.threads == 2
    assert c.seed == 7


def test_default_limit_is_etcd_total() -> None:
    assert parse("v2-put").total == 10000


def test_bad_flags_exit_2_without_running(capsys: pytest.CaptureFixture[str]) -> None:
    assert benchmark.main(["v2-put", "--clients", "0", "--no-progress"]) == benchmark.EXIT_USAGE
    assert "Error: " in capsys.readouterr().err
    assert benchmark.main(["compare", "--kinds", "fake"]) == benchmark.EXIT_USAGE


def test_total_and_duration_are_exclusive() -> None:
    with pytest.raises(SystemExit):
        benchmark.build_parser().parse_args(["v2-put", "--total", "5", "--duration", "1"])


def test_cli_table_knows_the_subcommand() -> None:
    from pycoreos.cli.main import SUBCOMMANDS

    assert SUBCOMMANDS["benchmark"][0] == "pycoreos.cli.benchmark"


def test_print_wrk_shows_runnable_commands(capsys: pytest.CaptureFixture[str]) -> None:
    rc = benchmark.main(
        ["v2-quorum-get", "--endpoints", "http://127.0.0.1:9", "--clients", "4", "--print-wrk"]
    )
    assert rc == benchmark.EXIT_OK
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(("wrk ", "/usr/bin/wrk "))
    assert " -c4 " in line
    assert "http://127.0.0.1:9 method=GET" in line
    assert "'suffix=?quorum=true'" in line
