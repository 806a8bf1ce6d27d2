"""The member's discovery client against an in-memory registry over loopback HTTP."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator

import pytest

from pycoreos.discovery.client import DiscoveryClient
from pycoreos.discovery.errors import (
    BadDiscoveryEndpointError,
    BadSizeKeyError,
    DuplicateIdError,
    FullClusterError,
    SizeNotFoundError,
    TooManyRetriesError,
)
from pycoreos.testing.procs import free_ports

from .fake_registry import Registry, serve

TOKEN = "f" * 32


@pytest.fixture
def registry() -> Iterator[Registry]:
    reg = Registry(TOKEN, "3")
    srv = serve(reg)
    reg.url = f"http://127.0.0.1:{srv.server_address[1]}/{TOKEN}"  # type: ignore[attr-defined]
    yield reg
    srv.shutdown()
    srv.server_close()


def _client(reg: Registry, **kw: object) -> DiscoveryClient:
    return DiscoveryClient(reg.url, **kw)  # type: ignore[attr-defined, arg-type]


def test_three_members_agree_on_one_initial_cluster(registry: Registry) -> None:
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        futures = [
            pool.submit(_client(registry).join_cluster, mid, f"m{mid}=http://127.0.0.1:{mid}")
            for mid in (1, 2, 3)
        ]
        results = [f.result(timeout=10) for f in futures]
    assert results[0] == results[1] == results[2]
    assert sorted(results[0]) == [(f"m{i}", f"http://127.0.0.1:{i}") for i in (1, 2, 3)]
    assert set(registry.keys) >= {f"/{TOKEN}/{i:x}" for i in (1, 2, 3)}


def test_fourth_member_is_told_the_cluster_is_full_without_registering(
    registry: Registry,
) -> None:
    for mid in (0xA, 0xB, 0xC):
        registry.keys[f"/{TOKEN}/{mid:x}"] = (f"m{mid}=http://h:{mid}", mid)
    with pytest.raises(FullClusterError):
        _client(registry).join_cluster(0xD, "m13=http://h:13")
    assert f"/{TOKEN}/d" not in registry.keys
    # One of the three that lost its data dir passes the check but cannot re-register:
    # a token is single-use (etcd's "found duplicate id").
    with pytest.raises(DuplicateIdError):
        _client(registry).join_cluster(0xB, "m11=http://h:11")


def test_reused_member_id_is_a_duplicate(registry: Registry) -> None:
    registry.keys[f"/{TOKEN}/_config/size"] = ("2", 1)
    registry.keys[f"/{TOKEN}/a"] = ("m10=http://h:10", 2)
    # id 0xa is among the first two, so the check passes, but the key exists.
    with pytest.raises(DuplicateIdError, match=r"^discovery: found duplicate id"):
        _client(registry).join_cluster(0xA, "m10=http://h:10")


def test_deleted_token_is_a_clear_error() -> None:
    reg = Registry(TOKEN, None)
    srv = serve(reg)
    url = f"http://127.0.0.1:{srv.server_address[1]}/{TOKEN}"
    try:
        with pytest.raises(SizeNotFoundError) as e:
            DiscoveryClient(url).join_cluster(1, "m1=http://h:1")
        assert str(e.value).startswith("discovery: size key not found")
        assert "does not exist or was deleted" in str(e.value)
    finally:
        srv.shutdown()
        srv.server_close()


def test_bad_size_and_non_etcd_endpoint(registry: Registry) -> None:
    registry.keys[f"/{TOKEN}/_config/size"] = ("lots", 1)
    with pytest.raises(BadSizeKeyError):
        _client(registry).join_cluster(1, "m1=http://h:1")
    registry.mode = "html"
    with pytest.raises(BadDiscoveryEndpointError, match=r"^discovery: bad discovery endpoint"):
        _client(registry).join_cluster(1, "m1=http://h:1")


def test_unreachable_service_retries_with_backoff_then_gives_up() -> None:
    (port,) = free_ports(1)
    slept: list[float] = []
    client = DiscoveryClient(f"http://127.0.0.1:{port}/{TOKEN}", retries=3, sleep=slept.append)
    with pytest.raises(TooManyRetriesError) as e:
        client.join_cluster(1, "m1=http://h:1")
    assert slept == [1.0, 2.0, 4.0]
    assert str(e.value).startswith("discovery: too many retries")
    assert "Connection refused" in str(e.value)


def test_server_errors_are_retried_until_the_service_recovers(registry: Registry) -> None:
    registry.keys[f"/{TOKEN}/_config/size"] = ("1", 1)
    registry.mode = "500"
    slept: list[float] = []

    def recover(delay: float) -> None:
        slept.append(delay)
        registry.mode = "ok"

    got = _client(registry, sleep=recover).join_cluster(1, "m1=http://h:1")
    assert got == [("m1", "http://h:1")]
    assert slept == [1.0]


def test_get_cluster_reads_a_complete_token(registry: Registry) -> None:
    registry.keys[f"/{TOKEN}/_config/size"] = ("2", 1)
    registry.keys[f"/{TOKEN}/b"] = ("m2=http://h:2", 3)
    registry.keys[f"/{TOKEN}/a"] = ("m1=http://h:1", 2)
    assert _client(registry).get_cluster() == [("m1", "http://h:1"), ("m2", "http://h:2")]
