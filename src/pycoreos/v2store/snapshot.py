"""Serialization of the whole store state for Raft snapshots (``Store.save``/``recovery``).

Format: one msgspec JSON object ``{"version","index","root","history","stats"}``. The tree is
written depth first with children in insertion order (the unsorted listing order), so equal
stores (same operations applied) give identical bytes, and a recovered store lists, expires
and replays exactly like the original. Watchers and the TTL heap are not saved: watchers stay
with the live store, the heap is rebuilt from the nodes' expiry times.

Not wire-compatible with etcd's Go snapshot JSON (a pycoreos member only restores its own).
"""

from __future__ import annotations

import msgspec

from pycoreos.v2store.event import Event
from pycoreos.v2store.node import Node
from pycoreos.v2store.stats import Stats


class NodeRecord(msgspec.Struct, array_like=True, omit_defaults=True):
    """One saved node: ``children`` is ``None`` for a key."""

    path: str
    created_index: int
    modified_index: int
    expire_time: float | None = None
    value: str = ""
    children: list[NodeRecord] | None = None


class HistoryRecord(msgspec.Struct, kw_only=True):
    """The saved event history window."""

    capacity: int
    start_index: int
    last_index: int
    events: list[Event]


class StoreState(msgspec.Struct, kw_only=True):
    """Everything ``Store.save`` writes."""

    version: int
    index: int
    root: NodeRecord
    history: HistoryRecord
    stats: Stats


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(StoreState)


def node_to_record(n: Node) -> NodeRecord:
    """The record of ``n`` and its subtree."""
    children = None
    if n.children is not None:
        children = [node_to_record(c) for c in n.children.values()]
    return NodeRecord(n.path, n.created_index, n.modified_index, n.expire_time, n.value, children)


def record_to_node(rec: NodeRecord, parent: Node | None) -> Node:
    """Rebuild a detached-from-heap subtree; the caller re-queues TTL nodes."""
    n = Node(
        rec.path,
        rec.created_index,
        parent,
        rec.expire_time,
        value=rec.value,
        is_dir=rec.children is not None,
    )
    n.modified_index = rec.modified_index
    if rec.children is not None:
        assert n.children is not None
        for child_rec in rec.children:
            child = record_to_node(child_rec, n)
            n.children[child.name] = child
    return n


def encode_state(state: StoreState) -> bytes:
    """Serialize a ``StoreState``."""
    return _encoder.encode(state)


def decode_state(data: bytes) -> StoreState:
    """Parse bytes written by ``encode_state``.

    Raises:
        msgspec.ValidationError, msgspec.DecodeError: the data is not a saved store.
    """
    return _decoder.decode(data)
