"""Cluster membership: member ids, the cluster id, and the member registry kept in the v2 store.

As in etcd, a member's id is derived from its peer URLs and the cluster token, and the cluster
id from the sorted member ids, so every member of a new cluster computes the same ids without
talking to the others. Membership is replicated state: it changes only when a ConfChange entry
or an attribute update is applied, and it is mirrored into the v2 store under ``/0/members``
so that snapshots carry it.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MEMBERS_PREFIX = "/0/members"
REMOVED_PREFIX = "/0/removed_members"
VERSION_KEY = "/0/version"


def compute_member_id(peer_urls: Iterable[str], token: str, now_unix: int | None = None) -> int:
    """etcd's ``computeMemberId``: sha1(sorted peer URLs + token [+ now]) first 8 bytes."""
    data = "".join(sorted(peer_urls)) + token
    if now_unix is not None:
        data += str(now_unix)
    digest = hashlib.sha1(data.encode()).digest()
    return int(struct.unpack(">Q", digest[:8])[0])


def compute_cluster_id(member_ids: Iterable[int]) -> int:
    """etcd's ``genID``: sha1 of the sorted member ids (big-endian u64 each), first 8 bytes."""
    data = b"".join(struct.pack(">Q", m) for m in sorted(member_ids))
    return int(struct.unpack(">Q", hashlib.sha1(data).digest()[:8])[0])


def id_hex(member_id: int) -> str:
    """Member and cluster ids are shown as lower-case hex without padding (types.ID.String)."""
    return f"{member_id:x}"


@dataclass(frozen=True, slots=True)
class Member:
    """One member. ``name`` and ``client_urls`` are empty until the member publishes them."""

    id: int
    peer_urls: tuple[str, ...]
    name: str = ""
    client_urls: tuple[str, ...] = ()
    is_learner: bool = False

    def to_json_dict(self) -> dict[str, object]:
        """The v2 members API shape."""
        return {
            "id": id_hex(self.id),
            "name": self.name,
            "peerURLs": list(self.peer_urls),
            "clientURLs": list(self.client_urls),
        }

    def raft_context(self) -> bytes:
        """What a ConfChange carries for this member (etcd puts the member JSON there)."""
        return json.dumps(
            {
                "id": self.id,
                "peerURLs": list(self.peer_urls),
                "name": self.name,
                "clientURLs": list(self.client_urls),
                "isLearner": self.is_learner,
            },
            separators=(",", ":"),
        ).encode()

    @staticmethod
    def from_raft_context(data: bytes) -> Member:
        obj = json.loads(data)
        return Member(
            id=int(obj["id"]),
            peer_urls=tuple(obj.get("peerURLs") or ()),
            name=obj.get("name") or "",
            client_urls=tuple(obj.get("clientURLs") or ()),
            is_learner=bool(obj.get("isLearner", False)),
        )


class Cluster:
    """The replicated member registry of one cluster (mutated only by the apply loop)."""

    def __init__(self, cluster_id: int, members: Sequence[Member] = ()) -> None:
        self.cluster_id = cluster_id
        self.members: dict[int, Member] = {m.id: m for m in members}
        self.removed: set[int] = set()
        self.version: str = ""

    @staticmethod
    def new(initial: Sequence[tuple[str, str]], token: str) -> Cluster:
        """The cluster of ``--initial-cluster`` (name, peer URL) pairs; a name may repeat."""
        urls: dict[str, list[str]] = {}
        for name, url in initial:
            urls.setdefault(name, []).append(url)
        members = [
            Member(id=compute_member_id(u, token), peer_urls=tuple(sorted(u)), name=n)
            for n, u in urls.items()
        ]
        return Cluster(compute_cluster_id(m.id for m in members), members)

    def member_by_name(self, name: str) -> Member | None:
        for m in self.members.values():
            if m.name == name:
                return m
        return None

    def sorted_members(self) -> list[Member]:
        return [self.members[i] for i in sorted(self.members)]

    def client_urls(self) -> list[str]:
        """All members' client URLs, sorted (``/v2/machines``)."""
        return sorted(u for m in self.members.values() for u in m.client_urls)

    def add(self, member: Member) -> None:
        self.members[member.id] = member

    def remove(self, member_id: int) -> None:
        self.members.pop(member_id, None)
        self.removed.add(member_id)

    def update_attributes(self, member_id: int, name: str, client_urls: Sequence[str]) -> None:
        m = self.members.get(member_id)
        if m is not None:
            self.members[member_id] = Member(
                m.id, m.peer_urls, name, tuple(client_urls), m.is_learner
            )

    def update_peer_urls(self, member_id: int, peer_urls: Sequence[str]) -> None:
        m = self.members.get(member_id)
        if m is not None:
            self.members[member_id] = Member(
                m.id, tuple(peer_urls), m.name, m.client_urls, m.is_learner
            )

    def peer_url_in_use(self, url: str) -> bool:
        return any(url in m.peer_urls for m in self.members.values())
