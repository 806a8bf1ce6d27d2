"""Internal requests: what the member proposes through Raft, encoded into ``Entry.data``.

Every state change is a :class:`V2Request` (etcd's ``etcdserverpb.Request``): the client's
PUT/POST/DELETE, a quorum GET (``QGET``), the leader's TTL ``SYNC`` and the member's own
attribute publication. The encoding is msgpack (msgspec) as a positional array: compact, fast,
and stable as long as fields are only ever appended.
"""

from __future__ import annotations

import msgspec


class V2Request(msgspec.Struct, array_like=True, omit_defaults=False, frozen=True):
    """One v2 request, as replicated. ``expiration`` and ``time`` are Unix nanoseconds.

    ``prev_exist`` and ``refresh`` are tri-state (``None`` = not given), as in etcd.
    """

    id: int
    method: str
    path: str = ""
    val: str = ""
    dir: bool = False
    prev_value: str = ""
    prev_index: int = 0
    prev_exist: bool | None = None
    expiration: int = 0
    wait: bool = False
    since: int = 0
    recursive: bool = False
    sorted: bool = False
    quorum: bool = False
    time: int = 0
    stream: bool = False
    refresh: bool | None = None


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(V2Request)


def encode_request(req: V2Request) -> bytes:
    """Serialize ``req`` for ``Entry.data``."""
    return _encoder.encode(req)


def decode_request(data: bytes) -> V2Request:
    """Inverse of :func:`encode_request`.

    Raises:
        msgspec.DecodeError: ``data`` is not an encoded request (a corrupt entry).
    """
    return _decoder.decode(data)
