"""Min-heap of nodes with a TTL, ordered by expiry time (etcd ``store/ttl_key_heap.go``).

Strategy: ``heapq`` with lazy deletion. Each live node owns exactly one live entry
(``node.heap_entry``); ``remove``/``update`` mark the old entry dead and ``top``/``pop`` skip
dead entries. Ties on expiry time break on the node path (unique among live nodes), so the
expiry order is total and identical after a save/recovery round trip, unlike Go's.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pycoreos.v2store.node import Node


class HeapEntry:
    """One heap slot; ``node`` is ``None`` once the entry is dead."""

    __slots__ = ("expire_time", "node", "path", "seq")

    def __init__(self, expire_time: float, path: str, seq: int, node: Node) -> None:
        self.expire_time = expire_time
        self.path = path
        self.seq = seq
        self.node: Node | None = node

    def __lt__(self, other: HeapEntry) -> bool:
        return (self.expire_time, self.path, self.seq) < (other.expire_time, other.path, other.seq)


class TTLKeyHeap:
    """The nodes that will expire, earliest first."""

    def __init__(self) -> None:
        self._heap: list[HeapEntry] = []
        self._live = 0
        self._seq = 0

    def __len__(self) -> int:
        return self._live

    def push(self, node: Node) -> None:
        """Add ``node`` (which must have an expiry time); replaces any entry it already has."""
        assert node.expire_time is not None
        self.remove(node)
        self._seq += 1
        entry = HeapEntry(node.expire_time, node.path, self._seq, node)
        node.heap_entry = entry
        heapq.heappush(self._heap, entry)
        self._live += 1

    def update(self, node: Node) -> None:
        """Re-position ``node`` after its expiry time changed (no-op if it is not queued)."""
        if node.heap_entry is not None:
            self.push(node)

    def remove(self, node: Node) -> None:
        """Drop ``node`` from the heap if it is queued."""
        entry = node.heap_entry
        if entry is not None:
            entry.node = None
            node.heap_entry = None
            self._live -= 1

    def top(self) -> Node | None:
        """The node expiring first, or ``None`` if the heap is empty."""
        heap = self._heap
        while heap and heap[0].node is None:
            heapq.heappop(heap)
        return heap[0].node if heap else None

    def pop(self) -> Node | None:
        """Remove and return the node expiring first."""
        node = self.top()
        if node is not None:
            self.remove(node)
        return node
