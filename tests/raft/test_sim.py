"""Seeded randomized runs of RawNode clusters (style.md §6.5.2): safety invariants under
message loss and partitions, and determinism (one seed = one run)."""

from __future__ import annotations

import hashlib
import random

import pytest

from pycoreos.raft import MessageType, ProposalDroppedError, StateType
from pycoreos.testing.raft_env import RaftNetwork


def run(seed: int, *, steps: int = 600, pre_vote: bool = True) -> RaftNetwork:
    rng = random.Random(seed)
    net = RaftNetwork([1, 2, 3, 4, 5], seed=seed, pre_vote=pre_vote, check_quorum=True)
    leaders: dict[int, int] = {}
    net.campaign(rng.randint(1, 5))
    for a in range(1, 6):
        for b in range(1, 6):
            if a != b:
                net.drop(a, b, 0.1)
    proposed = 0
    for step in range(steps):
        action = rng.random()
        if action < 0.03:
            net.cuts.clear()
            net.isolate(rng.randint(1, 5))
        elif action < 0.05:
            net.cuts.clear()
        elif action < 0.07:
            # Snapshot + compact a random node at its applied index (exercises MsgSnap).
            nid = rng.randint(1, 5)
            applied = net.nodes[nid].status().applied
            if applied > net.storages[nid].first_index():
                net.compact(nid, applied)
        elif action < 0.08:
            # Crash and restart from storage (volatile state and in-flight messages lost).
            net.restart(rng.randint(1, 5))
        elif action < 0.40:
            nid = rng.randint(1, 5)
            try:
                net.nodes[nid].propose(f"s{seed}-{step}".encode())
                proposed += 1
            except ProposalDroppedError:
                pass
        for nid in sorted(net.nodes):
            net.nodes[nid].tick()
        for nid in sorted(net.nodes):
            while net.process_ready(nid):
                pass
        net.deliver_all()
        for nid, node in net.nodes.items():
            if node.raft_state == StateType.Leader:
                # Election safety (§5.2): at most one leader per term.
                assert leaders.setdefault(node.term, nid) == nid, (seed, node.term)
    net.recover()
    net.tick_all(60)
    assert proposed > 0
    return net


@pytest.mark.parametrize(
    ("seed", "pre_vote"), [(s, True) for s in range(6)] + [(100, False), (101, False)]
)
def test_safety_under_loss_and_partitions(seed: int, pre_vote: bool):
    net = run(seed, pre_vote=pre_vote)
    assert net.leader() != 0
    assert len(net.applied[1]) > 5
    # State machine safety (§5.4.3): every node applied the same sequence.
    applied = [net.applied[n] for n in sorted(net.nodes)]
    assert all(a == applied[0] for a in applied), f"seed={seed}"
    # No entry is applied twice (proposals are never retried by the core).
    assert len(set(applied[0])) == len(applied[0])
    # Log matching (§5.3): same index and term means same entry, on every pair.
    logs = {
        n: {e.index: e for e in st.entries(st.first_index(), st.last_index() + 1, 1 << 40)}
        for n, st in net.storages.items()
    }
    for a in logs:
        for b in logs:
            for idx, e in logs[a].items():
                other = logs[b].get(idx)
                if other is not None and other.term == e.term:
                    assert other == e, f"seed={seed} index={idx}"


def _digest(net: RaftNetwork) -> str:
    return hashlib.sha256("\n".join(net.trace).encode()).hexdigest()


def test_same_seed_same_trace_and_different_seeds_differ():
    a, b, c = run(7, steps=200), run(7, steps=200), run(8, steps=200)
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)


def test_ignore_message_type_filter():
    net = RaftNetwork([1, 2, 3], seed=1)
    net.ignore(MessageType.MsgVote)
    net.campaign(1)
    assert net.leader() == 0
    net.recover()
    net.campaign(1)
    assert net.leader() == 1
