"""ReadIndex bookkeeping on the leader (ReadOnlySafe).

A request is identified by its context bytes (``Entry.data`` of the MsgReadIndex's only
entry). The leader records ``(committed index, request)``, broadcasts a heartbeat carrying
the context, and answers once a quorum acknowledged a heartbeat carrying that context or a
*later* one: acknowledging a later context proves leadership at the earlier point too, so
``advance`` releases every request queued up to and including the acknowledged one.

Invariants: ``queue`` and ``pending`` hold the same contexts; ``queue`` is in arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pycoreos.raft.errors import RaftInvariantError
from pycoreos.raft.types import Message


@dataclass(slots=True)
class ReadIndexStatus:
    """One pending ReadIndex request."""

    req: Message
    index: int
    acks: set[int] = field(default_factory=set)


class ReadOnly:
    """Pending ReadIndex requests awaiting a heartbeat quorum."""

    def __init__(self) -> None:
        self.pending: dict[bytes, ReadIndexStatus] = {}
        self.queue: list[bytes] = []

    def add_request(self, index: int, m: Message) -> None:
        """Queue request ``m`` to be answered with read index ``index``."""
        ctx = m.entries[0].data
        if ctx in self.pending:
            return
        self.pending[ctx] = ReadIndexStatus(req=m, index=index)
        self.queue.append(ctx)

    def recv_ack(self, node_id: int, ctx: bytes) -> set[int] | None:
        """Record ``node_id``'s heartbeat ack for ``ctx``; returns the ack set (or None)."""
        rs = self.pending.get(ctx)
        if rs is None:
            return None
        rs.acks.add(node_id)
        return rs.acks

    def advance(self, ctx: bytes) -> list[ReadIndexStatus]:
        """Release every request queued up to and including ``ctx``."""
        if ctx not in self.pending:
            return []
        released: list[ReadIndexStatus] = []
        for i, okctx in enumerate(self.queue):
            rs = self.pending.get(okctx)
            if rs is None:
                raise RaftInvariantError("cannot find corresponding read state from pending map")
            released.append(rs)
            if okctx == ctx:
                self.queue = self.queue[i + 1 :]
                for r in released:
                    del self.pending[r.req.entries[0].data]
                return released
        return []

    def last_pending_request_ctx(self) -> bytes:
        """Context of the newest pending request, or ``b""``."""
        return self.queue[-1] if self.queue else b""
