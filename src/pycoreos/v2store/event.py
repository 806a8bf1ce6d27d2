"""Events and external node representations, and their exact etcd JSON encoding.

Port of etcd ``store/event.go`` and ``store/node_extern.go``. ``NodeExtern`` and ``Event`` are
frozen msgspec Structs whose field order and omit-defaults match the Go ``omitempty`` tags, so
``encode_event`` is a single C-level encode plus cheap byte rewrites (Go's HTML escaping and
the namespace trim). Everything here is immutable: one ``Event`` object may be returned to the
caller, kept in the event history and queued to several watchers at once.

Time: expirations are Unix seconds (float) quantised to microseconds, since a float near the
current epoch cannot hold finer precision; ``ttl`` is the remaining time rounded up, computed
once when the ``NodeExtern`` is built (as etcd does).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

import msgspec

from pycoreos.v2store._gojson import go_json_escape

GET: Final = "get"
CREATE: Final = "create"
SET: Final = "set"
UPDATE: Final = "update"
DELETE: Final = "delete"
COMPARE_AND_SWAP: Final = "compareAndSwap"
COMPARE_AND_DELETE: Final = "compareAndDelete"
EXPIRE: Final = "expire"

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_US: Final = 1_000_000


class NodeExtern(msgspec.Struct, frozen=True, omit_defaults=True, rename="camel", kw_only=True):
    """The external view of a node, as it appears under ``node``/``prevNode``/``nodes``.

    Every field is omitted from JSON when it has its default, like Go's ``omitempty``: a key
    node always carries ``value`` (possibly ``""``), a directory carries ``dir`` and no value.

    Attributes:
        key: the absolute node path (``""`` for the trimmed namespace root).
        value: the value of a key; ``None`` for directories and delete/expire event nodes.
        dir: whether the node is a directory.
        expiration: RFC3339Nano UTC expiry time as Go prints it, or ``None`` if permanent.
        ttl: remaining seconds rounded up, at the time this view was built (0 = omitted).
        nodes: children of a directory (only when listed), in listing order.
        modified_index: etcd index of the last modification.
        created_index: etcd index of creation.
    """

    key: str = ""
    value: str | None = None
    dir: bool = False
    expiration: str | None = None
    ttl: int = 0
    nodes: tuple[NodeExtern, ...] = ()
    modified_index: int = 0
    created_index: int = 0


class Event(msgspec.Struct, frozen=True, omit_defaults=True, rename="camel", kw_only=True):
    """The result of a store operation, and what watchers receive.

    Attributes:
        action: one of ``get``, ``create``, ``set``, ``update``, ``delete``,
            ``compareAndSwap``, ``compareAndDelete``, ``expire``.
        node: the node after the operation (for deletes: key, indexes and ``dir`` only).
        prev_node: the node before the operation (non-recursive view), if it existed.
        etcd_index: the store index to report in ``X-Etcd-Index`` (not part of the JSON).
        refresh: ``True`` only for TTL refresh writes (never delivered to watchers).
    """

    action: str
    node: NodeExtern
    prev_node: NodeExtern | None = None
    etcd_index: int = 0
    refresh: bool = False

    @property
    def index(self) -> int:
        """The event's index: the ``modifiedIndex`` of its node."""
        return self.node.modified_index

    @property
    def is_created(self) -> bool:
        """Whether the event created a node (HTTP 201): ``create``, or ``set`` of a new key."""
        return self.action == CREATE or (self.action == SET and self.prev_node is None)


def format_expiration(expire_time: float) -> str:
    """Format Unix seconds as Go's ``time.Time`` JSON in UTC (RFC3339Nano, zeros trimmed)."""
    sec, us = divmod(round(expire_time * _US), _US)
    t = _EPOCH + timedelta(seconds=sec)
    frac = f".{us:06d}".rstrip("0") if us else ""
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}{frac}Z"
    )


def remaining_ttl(expire_time: float, now: float) -> int:
    """etcd's ``ttl``: the remaining seconds rounded up (may be 0 or negative once expired).

    Go computes ``d / time.Second`` (truncating) plus one if ``d % time.Second > 0``, which is
    the ceiling for both signs. The difference is rounded to microseconds first so that
    ``now + n`` read back at ``now`` gives exactly ``n`` despite float rounding of the sum.
    """
    remaining = round((expire_time - now) * _US)
    return -(-remaining // _US)


_encoder = msgspec.json.Encoder()
_ACTION_PREFIX: Final = {
    a: b'{"action":"' + a.encode() + b'","node":'
    for a in (GET, CREATE, SET, UPDATE, DELETE, COMPARE_AND_SWAP, COMPARE_AND_DELETE, EXPIRE)
}


_needles: dict[str, bytes] = {}


def _trim_keys(data: bytes, trim_prefix: str) -> bytes:
    # ``key`` is always the first field of a node object, and ``"key":"`` can only appear as
    # that field (quotes inside strings are escaped), so the namespace can be stripped with
    # byte replaces. A key reduced to "" is dropped, as Go's omitempty would do.
    needle = _needles.get(trim_prefix)
    if needle is None:
        needle = b'"key":"' + go_json_escape(_encoder.encode(trim_prefix))[1:-1]
        _needles[trim_prefix] = needle
    if needle not in data:
        return data
    data = data.replace(needle, b'"key":"')
    if b'{"key":""' in data:
        data = data.replace(b'{"key":"",', b"{").replace(b'{"key":""}', b"{}")
    return data


def encode_event(event: Event, trim_prefix: str = "") -> bytes:
    """Encode ``event`` exactly as etcd's v2 HTTP API does (without the trailing newline).

    Args:
        event: the event to encode; ``etcd_index`` is not part of the body.
        trim_prefix: a namespace (``"/1"``) removed from the start of every key in ``node``,
            its ``nodes`` and ``prevNode``; a key equal to it is omitted.

    Returns:
        ``{"action":...,"node":{...},"prevNode":{...},"refresh":true}`` with absent parts
        omitted, byte-identical to Go 1.19's ``encoding/json``.
    """
    head = _ACTION_PREFIX.get(event.action)
    if head is None:
        head = b'{"action":' + _encoder.encode(event.action) + b',"node":'
    parts = [head, _encoder.encode(event.node)]
    if event.prev_node is not None:
        parts.append(b',"prevNode":')
        parts.append(_encoder.encode(event.prev_node))
    if event.refresh:
        parts.append(b',"refresh":true')
    parts.append(b"}")
    data = go_json_escape(b"".join(parts))
    if trim_prefix:
        data = _trim_keys(data, trim_prefix)
    return data


def encode_node(node: NodeExtern) -> bytes:
    """Encode one ``NodeExtern`` as Go would (used for listings and tests)."""
    return go_json_escape(_encoder.encode(node))
