"""EtcdServer: one etcd member — Raft, WAL, snapshots and the v2 store wired together.

Responsibilities (each delegated to a small module):
- bootstrap (``bootstrap.py``): new cluster vs. restart from WAL + snapshot;
- the Raft driver (``raft_node.py``): persist → send → apply → advance;
- apply (``apply.py``): committed entries → store operations, answered through ``wait.py``;
- linearizable reads through ReadIndex; TTL expiry decided by the leader (``SYNC`` entries);
- periodic snapshots of the store and log compaction;
- membership: publishing this member's attributes, applying conf changes.

Everything here runs on the event loop thread. Outside callers use :meth:`propose`,
:meth:`linearizable_read` and the membership methods, which return futures.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pycoreos._clock import Clock, RealClock
from pycoreos.raft.types import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    Message,
    MessageType,
    ReadState,
    Snapshot,
    SnapshotMetadata,
    SoftState,
    StateType,
)
from pycoreos.server import bootstrap
from pycoreos.server.apply import apply_v2
from pycoreos.server.config import ServerConfig
from pycoreos.server.errors import (
    MemberError,
    NoLeaderError,
    RequestTimeoutError,
    ServerError,
    StoppedError,
)
from pycoreos.server.membership import MEMBERS_PREFIX, VERSION_KEY, Cluster, Member, id_hex
from pycoreos.server.metrics import Registry
from pycoreos.server.raft_node import RaftNode
from pycoreos.server.requests import V2Request, decode_request, encode_request
from pycoreos.server.wait import WaitRegistry
from pycoreos.storage.disk import Disk
from pycoreos.v2store.errors import V2Error
from pycoreos.v2store.event import Event

log = logging.getLogger("pycoreos.server")

SYNC_INTERVAL = 0.5  # seconds between leader TTL sweeps (etcd's SYNC ticker)
CLUSTER_VERSION = "3.4.0"

ApplyResult = Event | None | V2Error


@dataclass
class ServerStats:
    """What ``/v2/stats/self`` reports."""

    start_time: float
    leader_start_time: float = 0.0
    recv_append: int = 0
    send_append: int = 0
    leader_changes: int = 0


@dataclass
class _ReadRound:
    ctx: bytes
    futures: list[asyncio.Future[None]] = field(default_factory=list)
    index: int = -1


class EtcdServer:
    """One member. Create, ``await start()``, serve, ``await stop()``."""

    def __init__(
        self,
        cfg: ServerConfig,
        *,
        clock: Clock | None = None,
        disk: Disk | None = None,
        rng: random.Random | None = None,
        inline_io: bool = False,
    ) -> None:
        """Open (or create) the member's storage. Nothing runs until :meth:`start`.

        ``clock``, ``disk`` and ``rng`` are injected so a simulation can run whole members
        on virtual time, a simulated disk and a seeded random source.
        """
        self.cfg = cfg
        self.clock: Clock = clock or RealClock()
        self.metrics = Registry()
        self.stats = ServerStats(start_time=self.clock.wall())
        self._boot = bootstrap.open_member(cfg, disk=disk, clock=self.clock, rng=rng)
        self.store = self._boot.store
        self.cluster: Cluster = self._boot.cluster
        self.member_id: int = self._boot.member_id
        # Members learnt from a peer while joining (before our log names them).
        self.remote_members: list[Member] = list(self._boot.remote_members)
        self._conf_state: ConfState = self._boot.conf_state
        self._snapshot_index = self._boot.snapshot_index
        self.applied_index = self._boot.snapshot_index
        self.term = 0
        self.leader_id = 0
        self.raft_state = StateType.Follower
        timeout = 5.0 + 2 * cfg.election_timeout_ms / 1000.0  # etcd's ReqTimeout()
        self._waits: WaitRegistry[ApplyResult] = WaitRegistry(timeout)
        self._conf_waits: WaitRegistry[ApplyResult] = WaitRegistry(timeout)
        self._request_timeout = timeout
        self._ids = itertools.count(
            ((self.member_id & 0xFFFF) << 48)
            | ((int(self.clock.wall() * 1000) << 8) & 0xFFFFFFFFFFFF)
        )
        self._read_ids = itertools.count(1)
        self._proposal_batch: list[tuple[int, bytes, WaitRegistry[ApplyResult]]] = []
        self._pending_read: _ReadRound | None = None
        self._sent_reads: dict[bytes, _ReadRound] = {}
        self._ready_reads: list[_ReadRound] = []
        self._watch_streams: set[Callable[[], None]] = set()
        self._sync_handle: asyncio.TimerHandle | None = None
        self._published = False
        self._stopped = asyncio.Event()
        # Set once this member has replayed its log and published itself (etcd's
        # ReadyNotify). Client requests wait for it, so a restarted member never answers
        # from a store that has not caught up with its own log yet.
        self.ready = asyncio.Event()
        self.fatal: BaseException | None = None
        self.node = RaftNode(
            self._boot.raw,
            self._boot.storage,
            persist=self._boot.persist,
            save_snapshot=self._boot.save_snapshot_files,
            send=self._send,
            apply_snapshot=self._apply_snapshot,
            apply_entries=self._apply_entries,
            on_soft_state=self._on_soft_state,
            on_read_states=self._on_read_states,
            after_advance=self._after_advance,
            tick_seconds=cfg.heartbeat_interval_ms / 1000.0,
            on_fatal=self._on_fatal,
            inline_io=inline_io,
        )
        self.send_messages: Callable[[Sequence[Message]], None] | None = None
        self.last_added_member: Member | None = None
        # Called after the membership changed (a conf change applied, or a snapshot
        # recovered): the transport syncs its peers. ``None`` for a snapshot.
        self.on_membership_change: Callable[[ConfChange | None, Cluster], None] | None = None
        # Per-follower replication statistics (the transport's), for /v2/stats/leader.
        self.peer_stats: Callable[[], dict[str, object]] | None = None
        self._setup_metrics()
        # A deliberately broken member for the robustness suite's "the suite can fail" test.
        self._unsafe_local_reads = os.environ.get("PYCOREOS_UNSAFE_LOCAL_QUORUM_READS") == "1"
        if self._unsafe_local_reads:
            log.warning(
                "!!! UNSAFE: PYCOREOS_UNSAFE_LOCAL_QUORUM_READS=1: quorum reads are "
                "served locally and MAY BE STALE; for fault-injection tests only !!!"
            )

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start Raft. A lone voter campaigns at once instead of waiting an election timeout."""
        self.node.start()
        self._maybe_campaign_alone()
        self._schedule_sync()

    async def transfer_leadership(self) -> bool:
        """If leader, hand leadership to the most up-to-date voter (graceful shutdown).

        Returns whether leadership moved within one election timeout (Raft aborts the
        transfer after that).
        """
        if not self.is_leader():
            return False
        status = self.node.raw.status()
        candidates = [
            (pr.match, pid)
            for pid, pr in status.progress.items()
            if pid != self.member_id and pid in self._conf_state.voters
        ]
        if not candidates:
            return False
        _, target = max(candidates)
        log.info("transferring leadership to %x", target)
        self.node.raw.transfer_leader(target)
        self.node.notify()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.cfg.election_timeout_ms / 1000.0
        while loop.time() < deadline:
            await asyncio.sleep(self.cfg.heartbeat_interval_ms / 1000.0)
            if self.leader_id not in (0, self.member_id):
                return True
        return False

    async def stop(self) -> None:
        """Stop serving: pending requests fail with ``server stopped``."""
        if self._sync_handle is not None:
            self._sync_handle.cancel()
        for close in list(self._watch_streams):
            close()
        self._waits.fail_all(StoppedError())
        self._conf_waits.fail_all(StoppedError())
        await self.node.stop()
        self._boot.close()
        self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    def _on_fatal(self, exc: BaseException) -> None:
        self.fatal = exc
        self._waits.fail_all(ServerError(f"etcdserver: {exc}"))
        self._stopped.set()

    # ------------------------------------------------------------------ public API
    def next_request_id(self) -> int:
        return next(self._ids)

    def raft_index(self) -> int:
        """The committed Raft index (``X-Raft-Index``)."""
        return self.node.commit_index

    def raft_term(self) -> int:
        return self.term

    def is_leader(self) -> bool:
        return self.raft_state == StateType.Leader

    def propose(self, req: V2Request) -> asyncio.Future[ApplyResult]:
        """Replicate ``req``; the future gets the applied event or raises the V2Error."""
        fut = self._waits.register(req.id)
        self._propose_data(req.id, encode_request(req), self._waits)
        out: asyncio.Future[ApplyResult] = asyncio.get_running_loop().create_future()

        def done(f: asyncio.Future[ApplyResult]) -> None:
            # Read the outcome first, even when nobody waits any more (the caller gave up):
            # an unread exception is logged by asyncio as "never retrieved" (track record #1).
            exc = None if f.cancelled() else f.exception()
            if out.done():
                return
            if f.cancelled():
                out.cancel()
            elif exc is not None:
                out.set_exception(exc)
            else:
                result = f.result()
                if isinstance(result, V2Error):
                    out.set_exception(result)
                else:
                    out.set_result(result)

        fut.add_done_callback(done)
        return out

    def _propose_data(self, rid: int, data: bytes, waits: WaitRegistry[ApplyResult]) -> None:
        # Proposals arriving in the same loop iteration go to Raft as one MsgProp: one step
        # through the core instead of one per request.
        if not self._proposal_batch:
            asyncio.get_running_loop().call_soon(self._flush_proposals)
        self._proposal_batch.append((rid, data, waits))

    def _flush_proposals(self) -> None:
        from pycoreos.raft.errors import ProposalDroppedError

        batch, self._proposal_batch = self._proposal_batch, []
        try:
            self.node.raw.propose_batch([data for _, data, _ in batch])
        except ProposalDroppedError:
            # No leader known right now: etcd blocks until one appears or the request times
            # out. Retry on the next tick until each waiter's deadline.
            for rid, data, waits in batch:
                self._retry_when_leader(rid, data, waits)
            return
        self.node.notify()

    def _retry_when_leader(self, rid: int, data: bytes, waits: WaitRegistry[ApplyResult]) -> None:
        loop = asyncio.get_running_loop()

        def again() -> None:
            if rid in waits:
                self._propose_data(rid, data, waits)

        loop.call_later(0.05, again)

    def linearizable_read(self) -> asyncio.Future[None]:
        """Resolves once the local store reflects every write committed before the call.

        Reads that arrive while a ReadIndex round is being prepared share it (etcd batches
        them the same way), so concurrent quorum reads cost one heartbeat round.
        """
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        if self._unsafe_local_reads:  # deliberately broken (see __init__): no ReadIndex
            fut.set_result(None)
            return fut
        if self._pending_read is None:
            ctx = next(self._read_ids).to_bytes(8, "big")
            self._pending_read = _ReadRound(ctx)
            loop.call_soon(self._send_read_round)
        self._pending_read.futures.append(fut)
        loop.call_later(self._request_timeout, self._expire_read, fut)
        return fut

    def _send_read_round(self) -> None:
        rnd = self._pending_read
        self._pending_read = None
        if rnd is None:
            return
        self._sent_reads[rnd.ctx] = rnd
        self.node.raw.read_index(rnd.ctx)
        self.node.notify()

    @staticmethod
    def _expire_read(fut: asyncio.Future[None]) -> None:
        if not fut.done():
            fut.set_exception(RequestTimeoutError())

    def track_watch(self, resp: object, close: Callable[[], None]) -> None:
        self._watch_streams.add(close)

    # ------------------------------------------------------------------ membership
    def add_member(
        self, peer_urls: Sequence[str], *, learner: bool = False
    ) -> asyncio.Future[ApplyResult]:
        for url in peer_urls:
            if self.cluster.peer_url_in_use(url):
                raise MemberError(409, "etcdserver: peerURL exists")
        member = Member(
            id=bootstrap.new_member_id(peer_urls, self.cfg.initial_cluster_token, self.clock),
            peer_urls=tuple(peer_urls),
            is_learner=learner,
        )
        kind = ConfChangeType.AddLearnerNode if learner else ConfChangeType.AddNode
        self.last_added_member = member
        return self._propose_conf_change(ConfChange(kind, member.id, member.raft_context()))

    def remove_member(self, member_id: int) -> asyncio.Future[ApplyResult]:
        if member_id in self.cluster.removed:
            raise MemberError(410, "Member permanently removed")
        if member_id not in self.cluster.members:
            raise MemberError(404, f"No such member: {id_hex(member_id)}")
        return self._propose_conf_change(ConfChange(ConfChangeType.RemoveNode, member_id))

    def update_member(
        self, member_id: int, peer_urls: Sequence[str]
    ) -> asyncio.Future[ApplyResult]:
        m = self.cluster.members.get(member_id)
        if m is None:
            raise MemberError(404, f"No such member: {id_hex(member_id)}")
        for url in peer_urls:
            if url not in m.peer_urls and self.cluster.peer_url_in_use(url):
                raise MemberError(409, "etcdserver: peerURL exists")
        updated = Member(m.id, tuple(peer_urls), m.name, m.client_urls, m.is_learner)
        return self._propose_conf_change(
            ConfChange(ConfChangeType.UpdateNode, member_id, updated.raft_context())
        )

    def _propose_conf_change(self, cc: ConfChange) -> asyncio.Future[ApplyResult]:
        cid = self.next_request_id()
        cc = ConfChange(cc.type, cc.node_id, cc.context, cid)
        fut = self._conf_waits.register(cid)
        try:
            self.node.raw.propose_conf_change(cc)
        except Exception as exc:  # ProposalDroppedError: another change is pending, no leader
            self._conf_waits.fail(cid, ServerError(f"etcdserver: {exc}"))
        self.node.notify()
        return fut

    def _maybe_campaign_alone(self) -> None:
        """A lone voter need not wait an election timeout to lead (etcd's tick advance)."""
        if tuple(self._conf_state.voters) == (self.member_id,) and self.leader_id == 0:
            self.node.raw.campaign()
            self.node.notify()

    # ------------------------------------------------------------------ peers
    def receive(self, msg: Message) -> None:
        """Feed a message from a peer to Raft (called by the transport, on the loop)."""
        from pycoreos.raft.errors import RaftError, RaftInvariantError

        if msg.type == MessageType.MsgApp:
            self.stats.recv_append += 1
        try:
            self.node.raw.step(msg)
        except RaftInvariantError as exc:
            # Fail-stop (etcd panics): our state contradicts what we acknowledged before;
            # going on would serve or vote from a broken log (track record #3).
            log.critical("raft invariant violated by %s from %x: %s", msg.type.name, msg.from_, exc)
            self._on_fatal(exc)
            return
        except RaftError as exc:  # e.g. from a peer we no longer know: drop it
            log.debug("dropped message %s from %x: %r", msg.type.name, msg.from_, exc)
            return
        self.node.notify()

    # ------------------------------------------------------------------ raft callbacks
    def _send(self, msgs: Sequence[Message]) -> None:
        self.stats.send_append += sum(1 for m in msgs if m.type == MessageType.MsgApp)
        if any(m.type == MessageType.MsgSnap for m in msgs):
            msgs = [self._fresh_snapshot(m) if m.type == MessageType.MsgSnap else m for m in msgs]
        if self.send_messages is not None:
            self.send_messages(msgs)

    def _fresh_snapshot(self, m: Message) -> Message:
        """Replace a MsgSnap's stored snapshot by one of the current applied state.

        The stored snapshot may predate the receiver's own membership (a member added after
        the last snapshot), which the receiver must refuse. etcd sends a snapshot of the
        applied state with the current ConfState instead (``createMergedSnapshotMessage``).
        """
        index = self.applied_index
        meta = SnapshotMetadata(
            conf_state=self._conf_state, index=index, term=self.node.storage.term(index)
        )
        return dataclasses.replace(m, snapshot=Snapshot(data=self.store.save(), metadata=meta))

    def _on_soft_state(self, ss: SoftState) -> None:
        if ss.lead != self.leader_id:
            self.stats.leader_changes += 1
            self.stats.leader_start_time = self.clock.wall()
            self._m_leader_changes.inc()
        self.leader_id = ss.lead
        was_leader = self.raft_state == StateType.Leader
        self.raft_state = ss.raft_state
        if was_leader and ss.raft_state != StateType.Leader:
            # Reads waiting for this leader's confirmation may never get it.
            for rnd in self._sent_reads.values():
                for f in rnd.futures:
                    if not f.done():
                        f.set_exception(NoLeaderError("etcdserver: leader changed"))
            self._sent_reads.clear()

    def _on_read_states(self, states: Sequence[ReadState]) -> None:
        for rs in states:
            rnd = self._sent_reads.pop(rs.request_ctx, None)
            if rnd is not None:
                rnd.index = rs.index
                self._ready_reads.append(rnd)
        self._release_reads()

    def _release_reads(self) -> None:
        if not self._ready_reads:
            return
        still: list[_ReadRound] = []
        for rnd in self._ready_reads:
            if rnd.index <= self.applied_index:
                for f in rnd.futures:
                    if not f.done():
                        f.set_result(None)
            else:
                still.append(rnd)
        self._ready_reads = still

    def _apply_snapshot(self, snap: Snapshot) -> None:
        self.store.recovery(snap.data)
        self.cluster = bootstrap.cluster_from_store(self.store, self.cluster.cluster_id)
        self._conf_state = snap.metadata.conf_state
        self.applied_index = snap.metadata.index
        self._snapshot_index = snap.metadata.index
        if self.on_membership_change is not None:
            self.on_membership_change(None, self.cluster)

    def _apply_entries(self, entries: Sequence[Entry]) -> None:
        for e in entries:
            if e.index <= self.applied_index:
                continue
            if e.type == EntryType.CONF_CHANGE:
                self._apply_conf_change(e)
            elif e.data:
                self._apply_normal(e)
            self.applied_index = e.index
            if e.term > self.term:
                self.term = e.term
        self._m_applied.set(self.applied_index)
        self._release_reads()

    def _apply_normal(self, e: Entry) -> None:
        req = decode_request(e.data)
        result: ApplyResult
        try:
            result = apply_v2(self.store, self.cluster, req)
        except V2Error as err:
            result = err
        self._waits.trigger(req.id, result)

    def _apply_conf_change(self, e: Entry) -> None:
        from pycoreos.raft.confchange import decode_conf_change

        cc = decode_conf_change(e.data)
        self._conf_state = self.node.raw.apply_conf_change(cc)
        bootstrap.apply_membership_change(self.store, self.cluster, cc)
        self._conf_waits.trigger(cc.id, None)
        if self.on_membership_change is not None:
            self.on_membership_change(cc, self.cluster)
        if cc.type == ConfChangeType.RemoveNode and cc.node_id == self.member_id:
            log.warning("this member was removed from the cluster; shutting down")
            asyncio.get_running_loop().call_soon(self._stopped.set)

    def _after_advance(self) -> None:
        self.term = self.node.raw.term
        if self.leader_id == 0:
            self._maybe_campaign_alone()
        elif self.is_leader() or self.leader_id:
            self._maybe_publish()
        if self.applied_index - self._snapshot_index >= self.cfg.snapshot_count:
            self._snapshot()

    def _maybe_publish(self) -> None:
        """Publish name + client URLs once (etcd's ``publish``); the leader sets the version."""
        if self._published:
            return
        self._published = True
        import json

        attrs = json.dumps(
            {"name": self.cfg.name, "clientURLs": list(self.cfg.advertise_client_urls)},
            separators=(",", ":"),
        )
        reqs = []
        if self.is_leader() and not self.cluster.version:
            reqs.append(
                V2Request(
                    id=self.next_request_id(), method="PUT", path=VERSION_KEY, val=CLUSTER_VERSION
                )
            )
        reqs.append(
            V2Request(
                id=self.next_request_id(),
                method="PUT",
                path=f"{MEMBERS_PREFIX}/{id_hex(self.member_id)}/attributes",
                val=attrs,
            )
        )
        for r in reqs:
            fut = self.propose(r)
            fut.add_done_callback(self._publish_done)

    def _publish_done(self, fut: asyncio.Future[ApplyResult]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            self._published = False  # retried on the next advance
        elif not self.ready.is_set():
            # Our own attributes are applied, so is everything committed before them:
            # the store now reflects the log we restarted with (etcd's ReadyNotify).
            log.info("published member attributes; serving client requests")
            self.ready.set()

    def _snapshot(self) -> None:
        data = self.store.save()
        index = self.applied_index
        snap = self.node.storage.create_snapshot(index, self._conf_state, data)
        compact_to = index - self.cfg.snapshot_catchup_entries
        if compact_to > self.node.storage.first_index():
            self.node.storage.compact(compact_to)
        self._snapshot_index = index
        save = self._boot.save_snapshot_files

        async def persist() -> None:
            await self.node.run_io(lambda: save(snap))
            await self.node.run_io(lambda: self._boot.purge(index))

        asyncio.get_running_loop().create_task(persist())
        log.info("saved snapshot at index %d", index)

    # ------------------------------------------------------------------ TTL
    def _schedule_sync(self) -> None:
        loop = asyncio.get_running_loop()
        self._sync_handle = loop.call_later(SYNC_INTERVAL, self._sync)

    def _sync(self) -> None:
        if self.is_leader() and self.store.has_ttl_keys():
            req = V2Request(
                id=self.next_request_id(), method="SYNC", time=int(self.clock.wall() * 1e9)
            )
            try:
                self.node.raw.propose(encode_request(req))
                self.node.notify()
            except Exception as exc:
                log.debug("sync proposal dropped: %r", exc)
        self._schedule_sync()

    # ------------------------------------------------------------------ metrics
    def _setup_metrics(self) -> None:
        m = self.metrics
        m.gauge(
            "etcd_server_has_leader",
            "Whether or not a leader exists. 1 is existence, 0 is not.",
            lambda: 1.0 if self.leader_id else 0.0,
        )
        m.gauge(
            "etcd_server_is_leader",
            "Whether or not this member is a leader.",
            lambda: 1.0 if self.is_leader() else 0.0,
        )
        self._m_leader_changes = m.counter(
            "etcd_server_leader_changes_seen_total", "The number of leader changes seen."
        )
        self._m_applied = m.gauge(
            "etcd_server_proposals_applied_total",
            "The total number of consensus proposals applied.",
        )
        m.gauge(
            "etcd_server_proposals_committed_total",
            "The total number of consensus proposals committed.",
            lambda: float(self.raft_index()),
        )
        m.gauge(
            "etcd_server_proposals_pending",
            "The current number of pending proposals.",
            lambda: float(len(self._waits)),
        )
        m.gauge(
            "etcd_debugging_store_watchers",
            "Count of currently active watchers.",
            lambda: float(self.store.watcher_count),
        )
        m.gauge("etcd_server_id", "Server or member ID in hexadecimal format.", lambda: 1.0)
        self.wal_fsync = m.histogram(
            "etcd_disk_wal_fsync_duration_seconds",
            "The latency distributions of fsync called by WAL.",
        )
        self._boot.fsync_observer = self.wal_fsync.observe
