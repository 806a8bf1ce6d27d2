"""Open a member's storage: a brand-new member, or a restart from its WAL and snapshot.

Data directory layout (etcd's)::

    <data-dir>/member/wal/*.wal     write-ahead log (hard state + entries + snapshot markers)
    <data-dir>/member/snap/*.snap   store snapshots

A new member of a new cluster writes, in its first WAL, one ConfChange(AddNode) entry per
initial member at term 1 and a hard state committing them (etcd-io/raft's ``Bootstrap``), then
proceeds exactly as a restart does: Raft re-delivers the committed conf changes, the apply
loop adds the members, and the lone voter (or the elected leader) takes over. Using one path
for both means the bootstrap is as crash-safe as any restart.

WAL metadata records the member id and the cluster id, so a restarted member never
recomputes them from flags that may have changed.
"""

from __future__ import annotations

import json
import os
import random
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pycoreos._clock import Clock, RealClock
from pycoreos._failpoints import failpoint
from pycoreos.errors import ConfigError
from pycoreos.raft.confchange import encode_conf_change
from pycoreos.raft.config import Config as RaftConfig
from pycoreos.raft.rawnode import RawNode
from pycoreos.raft.storage import MemoryStorage
from pycoreos.raft.types import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Snapshot,
)
from pycoreos.server.config import ServerConfig
from pycoreos.server.membership import (
    MEMBERS_PREFIX,
    REMOVED_PREFIX,
    VERSION_KEY,
    Cluster,
    Member,
    compute_member_id,
    id_hex,
)
from pycoreos.snap.snapshotter import Snapshotter
from pycoreos.storage.disk import Disk, RealDisk
from pycoreos.v2store.errors import V2Error
from pycoreos.v2store.store import Store, TTLOptionSet
from pycoreos.wal.record import WalSnapshot
from pycoreos.wal.wal import WAL, valid_snapshot_entries

NAMESPACES = ("/0", "/1")


@dataclass
class Boot:
    """Everything :class:`EtcdServer` needs from storage, opened and recovered."""

    store: Store
    cluster: Cluster
    member_id: int
    conf_state: ConfState
    snapshot_index: int
    raw: RawNode
    storage: MemoryStorage
    wal: WAL
    snapshotter: Snapshotter
    cfg: ServerConfig
    fsync_observer: Callable[[float], None] | None = None
    # Members learnt from a peer when joining an existing cluster (the transport needs their
    # URLs before the log tells us about them).
    remote_members: list[Member] = field(default_factory=list)
    _wal_snaps: list[int] = field(default_factory=list)

    def persist(self, hs: HardState | None, entries: Sequence[Entry], sync: bool) -> None:
        """Write hard state and entries to the WAL (fsync if ``sync``). WAL thread."""
        import time

        t0 = time.monotonic()
        self.wal.save(hs, entries, sync=sync)
        if sync and self.fsync_observer is not None:
            self.fsync_observer(time.monotonic() - t0)

    def save_snapshot_files(self, snap: Snapshot) -> None:
        """Snapshot file first, then its WAL marker (etcd's order). WAL thread."""
        failpoint("raft_before_save_snap")  # robustness T4/T7: crash before the .snap file
        self.snapshotter.save(snap)
        md = snap.metadata
        self.wal.save_snapshot(WalSnapshot(md.index, md.term, md.conf_state))
        failpoint("raft_after_save_snap")  # robustness T4/T7: crash after file + WAL marker

    def purge(self, index: int) -> None:
        """Release WAL segments before ``index`` and keep ``max-snapshots`` snapshot files."""
        self.wal.release_lock_to(index)
        self.snapshotter.purge(keep=max(1, self.cfg.max_snapshots))

    def close(self) -> None:
        self.wal.close()


def member_dirs(cfg: ServerConfig) -> tuple[str, str]:
    member = os.path.join(cfg.data_dir, "member")
    wal_dir = cfg.wal_dir or os.path.join(member, "wal")
    return wal_dir, os.path.join(member, "snap")


def new_member_id(peer_urls: Sequence[str], token: str, clock: Clock) -> int:
    """Id of a member added at runtime (etcd mixes in the current time)."""
    return compute_member_id(peer_urls, token, int(clock.wall()))


def open_member(
    cfg: ServerConfig,
    *,
    disk: Disk | None = None,
    clock: Clock | None = None,
    rng: random.Random | None = None,
) -> Boot:
    """Create or recover the member's storage and its RawNode.

    Raises:
        ConfigError: e.g. ``--initial-cluster-state existing`` with no data to join from.
        WalError: the WAL is corrupt (never served).
    """
    if disk is None and os.environ.get("PYCOREOS_DISK_FAULTS"):  # robustness tests only
        from pycoreos.robustness.faultdisk import disk_from_env

        disk = disk_from_env(os.environ["PYCOREOS_DISK_FAULTS"])
    disk = disk or RealDisk()
    wal_dir, snap_dir = member_dirs(cfg)
    disk.makedirs(snap_dir)
    snapshotter = Snapshotter(disk, snap_dir)
    remote: list[Member] = []
    if not WAL.exists(disk, wal_dir):
        remote = _create_new(cfg, disk, wal_dir)
    boot = _restart(cfg, disk, wal_dir, snapshotter, rng or random.Random(), clock or RealClock())
    boot.remote_members = remote
    return boot


def _create_new(cfg: ServerConfig, disk: Disk, wal_dir: str) -> list[Member]:
    if cfg.initial_cluster_state == "existing":
        return _join_existing(cfg, disk, wal_dir)
    initial, token = cfg.initial_cluster, cfg.initial_cluster_token
    if cfg.discovery:
        # Discovery replaces --initial-cluster: register under the token, wait for the
        # others, and build the cluster with the discovery URL as its token (etcd's rule).
        from pycoreos.discovery.bootstrap import discover_initial_cluster

        initial, token = discover_initial_cluster(cfg)
    elif cfg.discovery_srv:
        # DNS SRV records replace --initial-cluster; the token stays --initial-cluster-token.
        from pycoreos.discovery.srv import DnsResolver, dns_cluster, dns_server_from_env

        resolver = DnsResolver(dns_server_from_env())
        initial = dns_cluster(
            cfg.name,
            cfg.discovery_srv,
            cfg.initial_advertise_peer_urls,
            resolver,
            cfg.discovery_srv_name,
        )
    cluster = Cluster.new(initial, token)
    me = cluster.member_by_name(cfg.name)
    if me is None:
        raise ConfigError(f"couldn't find local name {cfg.name!r} in the initial cluster")
    meta = json.dumps({"member_id": me.id, "cluster_id": cluster.cluster_id}).encode()
    wal = WAL.create(disk, wal_dir, meta)
    entries = []
    for i, m in enumerate(cluster.sorted_members(), start=1):
        cc = ConfChange(ConfChangeType.AddNode, m.id, Member(m.id, m.peer_urls).raft_context())
        entries.append(
            Entry(term=1, index=i, type=EntryType.CONF_CHANGE, data=encode_conf_change(cc))
        )
    wal.save(HardState(term=1, vote=0, commit=len(entries)), entries, sync=True)
    wal.close()
    return []


def fetch_remote_cluster(
    peer_urls: Sequence[str], timeout: float = 2.0, context: ssl.SSLContext | None = None
) -> tuple[int, list[Member]]:
    """GET ``/members`` from the first peer that answers (etcd's GetClusterFromRemotePeers).

    ``context`` is the peer client TLS context for ``https`` peer URLs.

    Raises:
        ConfigError: no peer answered.
    """
    import urllib.request

    problems: list[str] = []
    for url in peer_urls:
        try:
            with urllib.request.urlopen(
                url.rstrip("/") + "/members", timeout=timeout, context=context
            ) as resp:
                cluster_id = int(resp.headers.get("X-Etcd-Cluster-ID", "0"), 16)
                body = json.loads(resp.read())
        except (OSError, ValueError) as exc:
            problems.append(f"{url}: {exc}")
            continue
        members = [
            Member(
                id=int(m["id"], 16),
                peer_urls=tuple(m.get("peerURLs") or ()),
                name=m.get("name", ""),
                client_urls=tuple(m.get("clientURLs") or ()),
                is_learner=bool(m.get("isLearner", False)),
            )
            for m in body
        ]
        return cluster_id, members
    raise ConfigError(["could not retrieve cluster information from the given URLs", *problems])


def _join_existing(cfg: ServerConfig, disk: Disk, wal_dir: str) -> list[Member]:
    """A member added with ``member add`` starts empty and learns the cluster from a peer."""
    mine = set(cfg.initial_advertise_peer_urls)
    others = [u for n, u in cfg.initial_cluster if n != cfg.name and u not in mine]
    from pycoreos.tls.info import client_context

    cluster_id, members = fetch_remote_cluster(others, context=client_context(cfg.peer_tls))
    me = next((m for m in members if set(m.peer_urls) == mine), None)
    if me is None:
        raise ConfigError(
            f"member with peer URLs {','.join(sorted(mine))} has not been added to the "
            "cluster; add it first (etcdctl member add)"
        )
    meta = json.dumps({"member_id": me.id, "cluster_id": cluster_id}).encode()
    wal = WAL.create(disk, wal_dir, meta)
    wal.close()
    return [m for m in members if m.id != me.id]


def _restart(
    cfg: ServerConfig,
    disk: Disk,
    wal_dir: str,
    snapshotter: Snapshotter,
    rng: random.Random,
    clock: Clock,
) -> Boot:
    store = Store(clock, NAMESPACES)
    # Only a snapshot the WAL has a marker for (covered by its last commit index): a crash
    # between writing a snapshot file and its WAL marker leaves a newer file the log cannot
    # be opened at (etcd's ValidSnapshotEntries + LoadNewestAvailable).
    snap = snapshotter.load_newest_available(valid_snapshot_entries(disk, wal_dir))
    at = WalSnapshot(0, 0, ConfState())
    conf_state = ConfState()
    snap_index = 0
    if snap is not None:
        md = snap.metadata
        store.recovery(snap.data)
        at = WalSnapshot(md.index, md.term, md.conf_state)
        conf_state = md.conf_state
        snap_index = md.index
    wal = WAL.open(disk, wal_dir, at)
    try:
        return _recover(cfg, wal, snap, store, snapshotter, rng, conf_state, snap_index)
    except BaseException:
        # Release the WAL's lock: a failed start must not keep the next one out
        # (track record #7).
        wal.close()
        raise


def _recover(
    cfg: ServerConfig,
    wal: WAL,
    snap: Snapshot | None,
    store: Store,
    snapshotter: Snapshotter,
    rng: random.Random,
    conf_state: ConfState,
    snap_index: int,
) -> Boot:
    meta_raw, hs, entries = wal.read_all()
    meta = json.loads(meta_raw)
    member_id, cluster_id = int(meta["member_id"]), int(meta["cluster_id"])
    storage = MemoryStorage()
    if snap is not None:
        storage.apply_snapshot(snap)
    storage.set_hard_state(hs)
    storage.append(entries)
    cluster = cluster_from_store(store, cluster_id)
    raft_cfg = RaftConfig(
        id=member_id,
        election_tick=cfg.election_ticks,
        heartbeat_tick=1,
        applied=snap_index,
        check_quorum=True,
        pre_vote=True,
        max_size_per_msg=1024 * 1024,
        max_inflight_msgs=4096 // 8,
    )
    raw = RawNode(raft_cfg, storage, rng=rng)
    return Boot(
        store, cluster, member_id, conf_state, snap_index, raw, storage, wal, snapshotter, cfg
    )


def cluster_from_store(store: Store, cluster_id: int) -> Cluster:
    """Rebuild the member registry mirrored under ``/0`` (after a snapshot recovery)."""
    cluster = Cluster(cluster_id)
    try:
        ev = store.get(MEMBERS_PREFIX, True, True)
    except V2Error:
        ev = None
    for node in (ev.node.nodes or []) if ev is not None else []:
        mid = int(node.key.rsplit("/", 1)[1], 16)
        raft_attrs: dict[str, list[str]] = {}
        attrs: dict[str, object] = {}
        for child in node.nodes or []:
            if child.key.endswith("/raftAttributes") and child.value:
                raft_attrs = json.loads(child.value)
            elif child.key.endswith("/attributes") and child.value:
                attrs = json.loads(child.value)
        cluster.add(
            Member(
                id=mid,
                peer_urls=tuple(raft_attrs.get("peerURLs", [])),
                name=str(attrs.get("name", "")),
                client_urls=tuple(attrs.get("clientURLs", []) or []),  # type: ignore[arg-type]
                is_learner=bool(raft_attrs.get("isLearner", False)),
            )
        )
    try:
        rm = store.get(REMOVED_PREFIX, False, False)
        for node in rm.node.nodes or []:
            cluster.removed.add(int(node.key.rsplit("/", 1)[1], 16))
    except V2Error:
        pass
    try:
        cluster.version = store.get(VERSION_KEY, False, False).node.value or ""
    except V2Error:
        pass
    return cluster


def apply_membership_change(store: Store, cluster: Cluster, cc: ConfChange) -> None:
    """Mirror an applied ConfChange into the cluster registry and the store (etcd's layout)."""
    permanent = TTLOptionSet(expire_time=None)
    key = f"{MEMBERS_PREFIX}/{id_hex(cc.node_id)}"
    if cc.type in (ConfChangeType.AddNode, ConfChangeType.AddLearnerNode):
        m = Member.from_raft_context(cc.context) if cc.context else Member(cc.node_id, ())
        existing = cluster.members.get(cc.node_id)
        if existing is not None:  # promotion, or a replay after restart
            m = Member(
                existing.id,
                existing.peer_urls,
                existing.name,
                existing.client_urls,
                cc.type == ConfChangeType.AddLearnerNode,
            )
        cluster.add(m)
        raft_attrs = {"peerURLs": list(m.peer_urls)}
        if m.is_learner:
            raft_attrs["isLearner"] = True  # type: ignore[assignment]
        store.set(
            key + "/raftAttributes", False, json.dumps(raft_attrs, separators=(",", ":")), permanent
        )
    elif cc.type == ConfChangeType.RemoveNode:
        cluster.remove(cc.node_id)
        try:
            store.delete(key, True, True)
        except V2Error:
            pass
        store.set(f"{REMOVED_PREFIX}/{id_hex(cc.node_id)}", False, "removed", permanent)
    elif cc.type == ConfChangeType.UpdateNode:
        m = Member.from_raft_context(cc.context)
        cluster.update_peer_urls(cc.node_id, m.peer_urls)
        store.set(
            key + "/raftAttributes",
            False,
            json.dumps({"peerURLs": list(m.peer_urls)}, separators=(",", ":")),
            permanent,
        )
