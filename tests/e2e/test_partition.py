"""Peer traffic cut by a userspace proxy in front of every member's peer port."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycoreos.testing.peerproxy import ProxyNet
from pycoreos.testing.procs import Member, start_cluster

from .cluster_util import call, leader_of, self_stats, wait_converged

pytestmark = pytest.mark.e2e


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[list[Member], ProxyNet]]:
    net = ProxyNet()
    members = start_cluster("ours", tmp_path, 3, proxies=net)
    try:
        yield members, net
    finally:
        for m in members:
            m.stop()
        net.close()


def _member_id(m: Member) -> int:
    st = self_stats(m)
    assert st is not None
    return int(str(st["id"]), 16)


def _term(m: Member) -> int:
    _, headers, _ = call(m, "GET", "/v2/keys/", {"quorum": "true"})
    return int(headers["x-raft-term"])


def test_isolated_follower_rejoining_does_not_cause_an_election(
    proxied: tuple[list[Member], ProxyNet],
) -> None:
    members, net = proxied
    leader = leader_of(members)
    term = _term(leader)
    follower = next(m for m in members if m is not leader)
    net.isolate(_member_id(follower))
    time.sleep(3.5)  # several election timeouts: the follower's pre-votes all fail
    net.heal()
    status, _, _ = call(leader, "PUT", "/v2/keys/after-heal", {"value": "1"})
    assert status == 201
    time.sleep(2.0)
    assert leader_of(members) is leader
    assert _term(leader) == term, "the rejoining follower disrupted the leader (term moved)"
    wait_converged(members)


def test_isolated_leader_never_answers_quorum_reads_or_acks_writes(
    proxied: tuple[list[Member], ProxyNet],
) -> None:
    members, net = proxied
    old = leader_of(members)
    call(old, "PUT", "/v2/keys/k", {"value": "before"})
    net.isolate(_member_id(old))
    rest = [m for m in members if m is not old]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        read = pool.submit(call, old, "GET", "/v2/keys/k", {"quorum": "true"}, 15)
        write = pool.submit(call, old, "PUT", "/v2/keys/k", {"value": "lost"}, 15)
        # Meanwhile the majority elects a new leader and moves on.
        new = leader_of(rest, timeout=10)
        status, _, _ = call(new, "PUT", "/v2/keys/k", {"value": "majority"})
        assert status == 200
        read_status, _, read_body = read.result()
        write_status, _, write_body = write.result()
    assert read_status >= 500, f"isolated leader answered a quorum read: {read_body}"
    assert write_status >= 500, f"isolated leader acknowledged a write: {write_body}"
    net.heal()
    wait_converged(members, timeout=20)
    status, _, body = call(old, "GET", "/v2/keys/k", {"quorum": "true"})
    assert status == 200
    assert body["node"]["value"] == "majority"  # type: ignore[index]
