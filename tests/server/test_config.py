"""Flags and ETCD_* variables map onto ServerConfig as etcd's do."""

from __future__ import annotations

import pytest

from pycoreos.errors import ConfigError
from pycoreos.server.config import load_config, parse_bool

CLUSTER = [
    "--initial-cluster",
    "a=http://127.0.0.1:2380",
    "--initial-advertise-peer-urls",
    "http://127.0.0.1:2380",
]


def test_defaults_listen_on_both_client_ports_like_etcd2() -> None:
    cfg = load_config([], {})
    assert cfg.listen_client_urls == ("http://localhost:2379", "http://localhost:4001")
    assert cfg.listen_peer_urls == ("http://localhost:2380", "http://localhost:7001")
    assert cfg.name == "default"
    assert cfg.data_dir == "default.etcd"
    assert cfg.election_ticks == 10


@pytest.mark.parametrize("form", [["--name", "a"], ["--name=a"], ["-name", "a"], ["-name=a"]])
def test_go_flag_syntaxes(form: list[str]) -> None:
    assert load_config([*form, *CLUSTER], {}).name == "a"


def test_environment_variables_and_flag_precedence() -> None:
    env = {"ETCD_NAME": "a", "ETCD_SNAPSHOT_COUNT": "7", "ETCD_HEARTBEAT_INTERVAL": "50"}
    cfg = load_config([*CLUSTER, "--snapshot-count", "9"], env)
    assert cfg.name == "a"
    assert cfg.snapshot_count == 9  # the flag wins
    assert cfg.heartbeat_interval_ms == 50


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(
            [
                "--bogus",
                "--snapshot-count",
                "x",
                "--initial-cluster-state",
                "weird",
                "--listen-client-urls",
                "ftp://nowhere",
            ],
            {},
        )
    text = str(info.value)
    for fragment in ("-bogus", "snapshot-count", "initial-cluster-state", "ftp://nowhere"):
        assert fragment in text


def test_election_timeout_must_be_five_heartbeats() -> None:
    with pytest.raises(ConfigError, match="at least as 5 times"):
        load_config(
            [*CLUSTER, "--name", "a", "--heartbeat-interval", "100", "--election-timeout", "300"],
            {},
        )


def test_name_must_be_in_initial_cluster() -> None:
    with pytest.raises(ConfigError, match="couldn't find local name"):
        load_config(["--name", "zz", *CLUSTER], {})


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", True),
        ("t", True),
        ("TRUE", True),
        ("False", False),
        ("0", False),
        ("yes", None),
        ("", None),
    ],
)
def test_parse_bool_is_gos(text: str, value: bool | None) -> None:
    assert parse_bool(text) is value
