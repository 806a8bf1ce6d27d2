"""BenchConfig validation and the wrk process plan (threads, quotas, command line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycoreos.bench.config import KEY_DIR, BenchConfig, Workload
from pycoreos.bench.wrk import plan, script_path
from pycoreos.errors import ConfigError


def cfg(**kw: object) -> BenchConfig:
    base: dict[str, object] = {"workload": Workload.V2_PUT, "endpoints": ("http://h:1",)}
    base.update(kw)
    if "total" not in base and "duration" not in base:
        base["total"] = 100
    return BenchConfig(**base)  # type: ignore[arg-type]


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(ConfigError) as info:
        cfg(total=None, clients=0, key_space_size=1000, key_size=2, endpoints=("h:1",))
    problems = info.value.problems
    assert "give exactly one of --total and --duration" in problems
    assert "--clients must be >= 1" in problems
    assert any("--key-size 2 is too short" in p for p in problems)
    assert any("not an http(s) URL" in p for p in problems)


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"total": 5, "clients": 10}, "--total (5) must be at least --clients (10)"),
        ({"total": None, "duration": 0}, "whole number of seconds"),
        ({"total": 10, "duration": 1}, "exactly one of"),
        ({"conns": 3, "clients": 2}, "--conns must be between"),
        ({"endpoints": ("http://a:1", "http://b:1"), "clients": 1}, "one client per endpoint"),
        ({"timeout": 0}, "--timeout"),
        ({"val_size": -1}, "--val-size"),
    ],
)
def test_single_problems(kw: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        cfg(**kw)
    assert any(needle in p for p in info.value.problems), info.value.problems


def test_key_size_boundary() -> None:
    cfg(key_space_size=1000, key_size=3)  # 0..999 fits in 3 digits
    with pytest.raises(ConfigError):
        cfg(key_space_size=1001, key_size=3)


def test_spec_follows_workload() -> None:
    assert cfg(workload=Workload.V2_QUORUM_GET).spec.suffix == "?quorum=true"
    assert cfg(workload=Workload.V2_GET).spec.preload
    assert cfg().spec.writes
    assert cfg().spec.method == "PUT"


def lua_args(argv: tuple[str, ...]) -> dict[str, str]:
    return dict(a.split("=", 1) for a in argv if "=" in a and not a.startswith("-"))


def test_single_client_duration_plan() -> None:
    (job,) = plan(
        cfg(total=None, duration=3, clients=1, val_size=256), wrk="wrk", script=Path("s.lua")
    )
    assert job.argv[:7] == ("wrk", "-t1", "-c1", "-d3s", "--timeout=10s", "-s", "s.lua")
    assert job.argv[7] == "http://h:1"
    args = lua_args(job.argv)
    assert args["method"] == "PUT"
    assert args["prefix"] == KEY_DIR
    assert args["valsize"] == "256"
    assert args["quota"] == "0"
    assert args["conns"] == "1"
    assert job.quotas == ()


def test_total_is_split_exactly_over_threads_and_endpoints() -> None:
    jobs = plan(
        cfg(total=1001, clients=64, threads=4, endpoints=("http://a:1", "http://b:2", "http://c:3"))
    )
    assert [j.connections for j in jobs] == [22, 21, 21]
    assert sum(j.connections for j in jobs) == 64
    for j in jobs:
        assert j.connections % j.threads == 0
        assert len(j.quotas) == j.threads
        assert lua_args(j.argv)["quota"] == ",".join(map(str, j.quotas))
        assert lua_args(j.argv)["conns"] == str(j.connections // j.threads)
    assert sum(q for j in jobs for q in j.quotas) == 1001
    # seeds differ per endpoint so processes do not send the same key sequence
    assert len({lua_args(j.argv)["seed"] for j in jobs}) == 3


def test_threads_divide_connections() -> None:
    (job,) = plan(cfg(clients=10, threads=4))
    assert job.threads == 2  # largest divisor of 10 not above 4


def test_quorum_get_sends_query_suffix() -> None:
    (job,) = plan(cfg(workload=Workload.V2_QUORUM_GET))
    args = lua_args(job.argv)
    assert (args["method"], args["suffix"]) == ("GET", "?quorum=true")


def test_script_is_shipped_with_the_package() -> None:
    text = script_path("v2.lua").read_text()
    assert "function done(summary, latency, requests)" in text
    assert "wrk.thread:stop()" in text
