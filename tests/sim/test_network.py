"""SimNetwork: delays, FIFO links, loss, duplication, reordering, partitions, cuts."""

from __future__ import annotations

import asyncio
import random

import pytest

from pycoreos.testing.sim.loop import SimLoop
from pycoreos.testing.sim.network import LinkConfig, SimNetwork


class Net:
    def __init__(self, seed: int = 1, **link: float) -> None:
        self.loop = SimLoop()
        self.got: list[tuple[float, str, str, int]] = []
        self.lost: list[tuple[str, str, int, str]] = []
        self.net: SimNetwork[int] = SimNetwork(
            self.loop,
            random.Random(seed),
            default=LinkConfig(**link),
            on_deliver=lambda s, d, p: self.got.append((self.loop.time(), s, d, p)),
            on_drop=lambda s, d, p, why: self.lost.append((s, d, p, why)),
        )

    def run(self, seconds: float = 5.0) -> None:
        self.loop.run_until_complete(asyncio.sleep(seconds))

    def payloads(self, src: str = "a", dst: str = "b") -> list[int]:
        return [p for _, s, d, p in self.got if (s, d) == (src, dst)]


@pytest.fixture
def make():
    nets: list[Net] = []

    def _make(seed: int = 1, **link: float) -> Net:
        n = Net(seed, **link)
        nets.append(n)
        return n

    yield _make
    for n in nets:
        n.loop.close()


def test_links_are_fifo_with_random_delays(make):
    n = make(delay_min=0.001, delay_max=0.1)
    for i in range(200):
        n.net.send("a", "b", i)
    n.run()
    assert n.payloads() == list(range(200))
    times = [t for t, *_ in n.got]
    assert times == sorted(times)
    assert len(set(times)) == 200
    assert all(t >= 0.001 for t in times)


def test_reordering_lets_messages_overtake(make):
    n = make(reorder=0.5, reorder_delay=0.2)
    for i in range(200):
        n.net.send("a", "b", i)
    n.run()
    assert sorted(n.payloads()) == list(range(200))
    assert n.payloads() != list(range(200))
    assert n.net.stats.reordered > 50


def test_loss_and_duplication_rates_follow_the_link(make):
    n = make(drop=0.2, duplicate=0.1)
    for i in range(2000):
        n.net.send("a", "b", i)
    n.run()
    lost = {p for _, _, p, why in n.lost if why == "loss"}
    assert 300 < len(lost) < 500
    delivered = n.payloads()
    assert set(delivered) == set(range(2000)) - lost
    assert 100 < len(delivered) - len(set(delivered)) < 220  # duplicates
    assert n.net.stats.duplicated == len(delivered) - len(set(delivered))


def test_no_duplicates_when_the_sender_says_so(make):
    n = make(duplicate=1.0)
    for i in range(50):
        n.net.send("a", "b", i, may_duplicate=False)
    n.run()
    assert n.payloads() == list(range(50))


def test_partition_isolate_cut_and_heal(make):
    n = make()
    net = n.net
    net.partition([["a", "b"], ["c"]])
    assert net.can_reach("a", "b")
    assert not net.can_reach("a", "c")
    assert not net.can_reach("c", "b")
    net.isolate("b")
    assert net.can_reach("a", "c")
    assert not net.can_reach("a", "b")
    assert not net.can_reach("b", "c")
    net.heal()
    net.cut("a", "b")
    assert not net.can_reach("a", "b")
    assert net.can_reach("b", "a")
    assert "a->b" in net.describe()
    net.heal()
    assert net.can_reach("a", "b")
    assert net.describe() == "healed"


def test_a_partition_loses_messages_already_in_flight(make):
    n = make(delay_min=1.0, delay_max=1.0)
    n.net.send("a", "b", 1)
    n.loop.call_later(0.5, n.net.isolate, "b")
    n.run()
    assert n.got == []
    assert n.lost == [("a", "b", 1, "unreachable")]


def test_messages_across_a_cut_are_reported_unreachable(make):
    n = make()
    n.net.cut("a", "b")
    n.net.send("a", "b", 7)
    n.net.send("b", "a", 8)
    n.run()
    assert n.lost == [("a", "b", 7, "unreachable")]
    assert n.payloads("b", "a") == [8]


@pytest.mark.parametrize("field", ["drop", "duplicate", "reorder"])
def test_link_config_rejects_bad_probabilities(field):
    with pytest.raises(ValueError, match=field):
        LinkConfig(**{field: 1.5})
    with pytest.raises(ValueError, match="delay"):
        LinkConfig(delay_min=0.0)


def test_same_seed_same_deliveries_different_seed_different(make):
    def run(seed: int) -> list[tuple[float, str, str, int]]:
        n = make(seed, drop=0.1, duplicate=0.1, reorder=0.2, delay_max=0.05)
        for i in range(300):
            n.net.send("a", "b", i)
            n.net.send("b", "c", i)
        n.run()
        return n.got

    assert run(5) == run(5)
    assert run(5) != run(6)
