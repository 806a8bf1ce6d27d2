"""Typed values of the etcd v2 API as the client sees them, and their JSON decoding.

Invariants: every value is a frozen dataclass; decoding never returns loose dicts, and any
shape it does not understand raises :class:`InvalidResponseError` (never ``KeyError``).
A missing ``key`` (the root listing) decodes as ``""``, as the Go client does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pycoreos.client.v2_errors import EtcdError, InvalidResponseError


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """A key or a directory.

    ``value`` is None for directories; ``expiration`` is the server's RFC 3339 text and ``ttl``
    the remaining seconds, both None for permanent nodes. ``nodes`` lists children (only for
    directories read with GET).
    """

    key: str
    value: str | None = None
    dir: bool = False
    nodes: tuple[Node, ...] = ()
    created_index: int = 0
    modified_index: int = 0
    expiration: str | None = None
    ttl: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    """A keys-API answer: the event (or read) plus the cluster headers.

    ``etcd_index`` is ``X-Etcd-Index`` (for a watch: the index when the watch began),
    ``raft_index``/``raft_term`` are ``X-Raft-Index``/``X-Raft-Term`` (0 when absent) and
    ``cluster_id`` the hex ``X-Etcd-Cluster-Id`` ("" when absent).
    """

    action: str
    node: Node
    prev_node: Node | None = None
    etcd_index: int = 0
    raft_index: int = 0
    raft_term: int = 0
    cluster_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """A cluster member. ``id`` is the hex text etcd uses; ``name`` is "" until it starts."""

    id: str
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Version:
    """``GET /version``: the member's and the cluster's versions."""

    server: str
    cluster: str


def load_json(body: bytes) -> Any:
    """Decode a JSON body or raise :class:`InvalidResponseError`."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidResponseError() from e


def _int(obj: Mapping[str, Any], name: str) -> int:
    v = obj.get(name, 0)
    if isinstance(v, bool) or not isinstance(v, int):
        raise InvalidResponseError()
    return v


def parse_node(obj: object) -> Node:
    """Decode one node object (recursively)."""
    if not isinstance(obj, dict):
        raise InvalidResponseError()
    value = obj.get("value")
    children = obj.get("nodes") or []
    if not isinstance(children, list) or (value is not None and not isinstance(value, str)):
        raise InvalidResponseError()
    ttl = obj.get("ttl")
    expiration = obj.get("expiration")
    return Node(
        key=str(obj.get("key", "")),
        value=value,
        dir=bool(obj.get("dir", False)),
        nodes=tuple(parse_node(c) for c in children),
        created_index=_int(obj, "createdIndex"),
        modified_index=_int(obj, "modifiedIndex"),
        expiration=expiration if isinstance(expiration, str) else None,
        ttl=ttl if isinstance(ttl, int) and ttl != 0 else None,
    )


def _header_int(headers: Mapping[str, str], name: str) -> int:
    try:
        return int(headers.get(name, "0"))
    except ValueError:
        return 0


def parse_response(headers: Mapping[str, str], body: bytes) -> Response:
    """Decode a 200/201 keys answer; ``headers`` has lower-case names."""
    obj = load_json(body)
    if not isinstance(obj, dict) or not isinstance(obj.get("action"), str):
        raise InvalidResponseError()
    prev = obj.get("prevNode")
    # noValueOnSuccess answers carry no node; model it as an empty node, not None.
    node = parse_node(obj["node"]) if "node" in obj else Node(key="")
    return Response(
        action=obj["action"],
        node=node,
        prev_node=parse_node(prev) if prev is not None else None,
        etcd_index=_header_int(headers, "x-etcd-index"),
        raft_index=_header_int(headers, "x-raft-index"),
        raft_term=_header_int(headers, "x-raft-term"),
        cluster_id=headers.get("x-etcd-cluster-id", ""),
    )


def parse_error(body: bytes) -> EtcdError:
    """Decode a keys-API error body into :class:`EtcdError`."""
    obj = load_json(body)
    if not isinstance(obj, dict) or not isinstance(obj.get("errorCode"), int):
        raise InvalidResponseError()
    return EtcdError(
        obj["errorCode"],
        str(obj.get("message", "")),
        str(obj.get("cause", "")),
        _int(obj, "index"),
    )


def parse_member(obj: object) -> Member:
    """Decode one member object."""
    if not isinstance(obj, dict):
        raise InvalidResponseError()
    peers = obj.get("peerURLs") or []
    clients = obj.get("clientURLs") or []
    if not isinstance(peers, list) or not isinstance(clients, list):
        raise InvalidResponseError()
    return Member(
        id=str(obj.get("id", "")),
        name=str(obj.get("name", "")),
        peer_urls=tuple(str(u) for u in peers),
        client_urls=tuple(str(u) for u in clients),
    )


def parse_members(body: bytes) -> tuple[Member, ...]:
    """Decode ``{"members": [...]}``."""
    obj = load_json(body)
    if not isinstance(obj, dict) or not isinstance(obj.get("members") or [], list):
        raise InvalidResponseError()
    return tuple(parse_member(m) for m in obj.get("members") or [])
