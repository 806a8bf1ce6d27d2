"""SimNetwork: a seeded, lossy, reordering network between named nodes, on a :class:`SimLoop`.

Each directed link ``a -> b`` has a :class:`LinkConfig`: a uniform delay, a drop probability,
a duplication probability and a reordering probability. On top of the links sit the faults a
nemesis controls: partitions (:meth:`SimNetwork.partition`, :meth:`SimNetwork.isolate`),
one-way cuts (:meth:`SimNetwork.cut`) and :meth:`SimNetwork.heal`.

Invariants:

* Every random choice is drawn from the one ``random.Random`` given to the constructor, in an
  order fixed by the order of calls; nodes and links are iterated sorted. Same seed, same calls,
  same deliveries.
* Without reordering a link is FIFO (a TCP stream): a message is never delivered before one
  sent earlier on the same link. A reordered message gets an extra delay and may be overtaken.
* Reachability is checked twice, when a message is sent and when it arrives: a partition that
  starts while a message is in flight loses it (a cable pulled mid-transfer).
* Delivery callbacks run in the context the network was created in (the harness's), never in
  the sender's: a message outlives the incarnation that sent it.

The network moves opaque payloads; what a drop *means* to the sender (a transport error, a
failed snapshot) is the ``on_drop`` callback's business.
"""

from __future__ import annotations

import contextvars
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from pycoreos.testing.sim.loop import SimLoop

__all__ = ["DropReason", "LinkConfig", "NetworkStats", "SimNetwork"]

P = TypeVar("P")

# Consecutive deliveries on a FIFO link are at least this far apart, so their timers are
# strictly ordered whatever the float rounding.
_FIFO_GAP = 1e-6

DropReason = str
"""Why a message was lost: ``"loss"`` (random drop) or ``"unreachable"`` (partition or cut)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkConfig:
    """How one directed link behaves.

    Attributes:
        delay_min: smallest one-way delay, seconds.
        delay_max: largest one-way delay (uniform in between), seconds.
        drop: probability that a message is silently lost.
        duplicate: probability that a message is delivered twice (the copy with its own delay).
        reorder: probability that a message gets an extra delay in ``[0, reorder_delay]`` and
            stops being FIFO with respect to the others.
        reorder_delay: the largest such extra delay, seconds.
    """

    delay_min: float = 0.001
    delay_max: float = 0.005
    drop: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_delay: float = 0.05

    def __post_init__(self) -> None:
        if not 0 < self.delay_min <= self.delay_max:
            raise ValueError(f"sim: bad delay range {self.delay_min}..{self.delay_max}")
        for name in ("drop", "duplicate", "reorder"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"sim: {name} probability {p} outside [0, 1]")


@dataclass(slots=True)
class NetworkStats:
    """Counters since the network was created."""

    sent: int = 0
    delivered: int = 0
    lost: int = 0
    unreachable: int = 0
    duplicated: int = 0
    reordered: int = 0


class SimNetwork(Generic[P]):
    """Seeded message delivery between named nodes; see the module docstring.

    Args:
        loop: the virtual-time loop deliveries are scheduled on.
        rng: the only source of randomness.
        default: the configuration of every link not set otherwise.
        on_deliver: called as ``on_deliver(src, dst, payload)`` when a message arrives.
        on_drop: called as ``on_drop(src, dst, payload, reason)`` when one is lost, at the
            time it would have arrived (when the sender's transport would notice).
    """

    def __init__(
        self,
        loop: SimLoop,
        rng: random.Random,
        *,
        default: LinkConfig | None = None,
        on_deliver: Callable[[str, str, P], None],
        on_drop: Callable[[str, str, P, DropReason], None] | None = None,
    ) -> None:
        self._loop = loop
        self._rng = rng
        self.default = default or LinkConfig()
        self._on_deliver = on_deliver
        self._on_drop = on_drop
        self._links: dict[tuple[str, str], LinkConfig] = {}
        self._group: dict[str, int] = {}  # node -> partition group; empty = fully connected
        self._cuts: set[tuple[str, str]] = set()
        self._fifo_until: dict[tuple[str, str], float] = {}
        self._ctx = contextvars.copy_context()
        self.stats = NetworkStats()

    # -- configuration ---------------------------------------------------------------------

    def link(self, src: str, dst: str) -> LinkConfig:
        """The configuration of ``src -> dst``."""
        return self._links.get((src, dst), self.default)

    def set_link(self, src: str, dst: str, cfg: LinkConfig) -> None:
        """Configure the directed link ``src -> dst``."""
        self._links[(src, dst)] = cfg

    def set_all(self, cfg: LinkConfig) -> None:
        """Make ``cfg`` the configuration of every link (forgetting per-link settings)."""
        self.default = cfg
        self._links.clear()

    # -- faults ----------------------------------------------------------------------------

    def partition(self, groups: Sequence[Iterable[str]]) -> None:
        """Split the nodes into ``groups``; only nodes of one group reach each other.

        Nodes named in no group form one more group, together. Replaces any earlier
        partition; one-way cuts stay.
        """
        self._group = {}
        for i, group in enumerate(groups):
            for node in sorted(group):
                self._group[node] = i

    def isolate(self, node: str) -> None:
        """Cut ``node`` off from every other node, both ways."""
        self.partition([[node]])

    def cut(self, src: str, dst: str) -> None:
        """Drop everything ``src`` sends to ``dst`` (one way: ``dst -> src`` still works)."""
        self._cuts.add((src, dst))

    def heal(self) -> None:
        """Remove every partition and cut (link configurations stay)."""
        self._group = {}
        self._cuts.clear()

    def can_reach(self, src: str, dst: str) -> bool:
        """Whether a message from ``src`` to ``dst`` would get through the faults now."""
        if (src, dst) in self._cuts:
            return False
        if not self._group:
            return True
        # A node in no group is in the group of all nodes not named (-1).
        return self._group.get(src, -1) == self._group.get(dst, -1)

    def describe(self) -> str:
        """The current faults, e.g. ``groups=[[n1], [n2, n3]] cuts=[n1->n3]`` (for traces)."""
        parts = []
        if self._group:
            by: dict[int, list[str]] = {}
            for node, g in sorted(self._group.items()):
                by.setdefault(g, []).append(node)
            parts.append(f"groups={[by[g] for g in sorted(by)]}+rest")
        if self._cuts:
            parts.append("cuts=[" + ", ".join(f"{a}->{b}" for a, b in sorted(self._cuts)) + "]")
        return " ".join(parts) or "healed"

    # -- delivery --------------------------------------------------------------------------

    def send(self, src: str, dst: str, payload: P, *, may_duplicate: bool = True) -> None:
        """Send ``payload`` from ``src`` to ``dst``; it arrives (or is lost) later.

        Args:
            may_duplicate: False for payloads whose duplication the real transport rules out
                and the receiver is not built to tolerate.
        """
        self.stats.sent += 1
        cfg = self.link(src, dst)
        rng = self._rng
        if not self.can_reach(src, dst):
            self._schedule(src, dst, payload, self._delay(cfg), "unreachable")
            return
        if cfg.drop and rng.random() < cfg.drop:
            self._schedule(src, dst, payload, self._delay(cfg), "loss")
            return
        self._schedule_delivery(src, dst, payload, cfg)
        if may_duplicate and cfg.duplicate and rng.random() < cfg.duplicate:
            self.stats.duplicated += 1
            self._schedule_delivery(src, dst, payload, cfg)

    def _delay(self, cfg: LinkConfig) -> float:
        return self._rng.uniform(cfg.delay_min, cfg.delay_max)

    def _schedule_delivery(self, src: str, dst: str, payload: P, cfg: LinkConfig) -> None:
        rng = self._rng
        delay = self._delay(cfg)
        now = self._loop.time()
        if cfg.reorder and rng.random() < cfg.reorder:
            self.stats.reordered += 1
            delay += rng.uniform(0.0, cfg.reorder_delay)
        else:
            key = (src, dst)
            at = max(now + delay, self._fifo_until.get(key, 0.0) + _FIFO_GAP)
            self._fifo_until[key] = at
            delay = at - now
        self._schedule(src, dst, payload, delay, None)

    def _schedule(
        self, src: str, dst: str, payload: P, delay: float, dropped: DropReason | None
    ) -> None:
        self._loop.call_later(delay, self._arrive, src, dst, payload, dropped, context=self._ctx)

    def _arrive(self, src: str, dst: str, payload: P, dropped: DropReason | None) -> None:
        if dropped is None and not self.can_reach(src, dst):
            dropped = "unreachable"
        if dropped is None:
            self.stats.delivered += 1
            self._on_deliver(src, dst, payload)
            return
        if dropped == "loss":
            self.stats.lost += 1
        else:
            self.stats.unreachable += 1
        if self._on_drop is not None:
            self._on_drop(src, dst, payload, dropped)
