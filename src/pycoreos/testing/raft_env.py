"""An in-memory network of RawNodes for deterministic Raft tests (no asyncio, no clock).

Each node has a ``MemoryStorage`` and a trivial state machine (the list of applied normal
entry payloads). ``stabilize()`` processes Readies (persist → send → apply → advance, the
driver contract) and delivers messages until nothing changes. Faults come from explicit
filters (``cut``, ``isolate``, ``ignore``, ``msg_hook``) and a *seeded* ``drop``
probability, so one seed reproduces one run exactly.

Snapshot sends are reported to the sender (``report_snapshot``) on delivery (FINISH) or
drop (FAILURE), as etcd's transport does.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from pycoreos.raft import (
    NO_LIMIT,
    Config,
    ConfState,
    Entry,
    EntryType,
    MemoryStorage,
    Message,
    MessageType,
    Peer,
    PeerNotFoundError,
    ProposalDroppedError,
    RawNode,
    ReadOnlyOption,
    ReadState,
    SnapshotStatus,
    StateType,
    decode_conf_change,
)
from pycoreos.raft.core import Raft
from pycoreos.raft.describe import describe_message

MsgHook = Callable[[Message], bool]
"""Return False to drop the message."""


def encode_state(applied: Sequence[bytes]) -> bytes:
    """Snapshot payload for the harness state machine (hex items joined by ``|``)."""
    return b"|".join(a.hex().encode() for a in applied) if applied else b""


def decode_state(data: bytes) -> list[bytes]:
    """Inverse of ``encode_state``."""
    if not data:
        return []
    return [bytes.fromhex(x.decode()) for x in data.split(b"|")]


class RaftNetwork:
    """Nodes, their storages and state machines, and a lossy, filterable message queue."""

    def __init__(
        self,
        ids: Iterable[int],
        *,
        seed: int = 0,
        pre_vote: bool = False,
        check_quorum: bool = False,
        election_tick: int = 10,
        heartbeat_tick: int = 1,
        max_size_per_msg: int = 1024 * 1024,
        max_inflight_msgs: int = 256,
        max_uncommitted_entries_size: int = 0,
        logger: logging.Logger | None = None,
    ) -> None:
        self.rng = random.Random(seed)
        self.logger = logger
        self._cfg = Config(
            id=1,
            election_tick=election_tick,
            heartbeat_tick=heartbeat_tick,
            pre_vote=pre_vote,
            check_quorum=check_quorum,
            max_size_per_msg=max_size_per_msg,
            max_inflight_msgs=max_inflight_msgs,
            max_uncommitted_entries_size=max_uncommitted_entries_size,
        )
        self.nodes: dict[int, RawNode] = {}
        self.storages: dict[int, MemoryStorage] = {}
        self.applied: dict[int, list[bytes]] = {}
        self.read_states: dict[int, list[ReadState]] = {}
        self.conf_states: dict[int, ConfState] = {}
        self.queue: deque[Message] = deque()
        self.trace: list[str] = []
        self.cuts: set[tuple[int, int]] = set()
        self.drops: dict[tuple[int, int], float] = {}
        self.ignored: set[MessageType] = set()
        self.msg_hook: MsgHook | None = None
        ids = sorted(ids)
        for nid in ids:
            self.add_node(nid)
        # Founding members bootstrap identically (voters first, then learners).
        peers = [Peer(i) for i in ids]
        for nid in ids:
            self.nodes[nid].bootstrap(peers)
        self.stabilize()

    # -- membership -----------------------------------------------------------------------

    def add_node(self, nid: int, *, storage: MemoryStorage | None = None) -> RawNode:
        """Create (or re-create, keeping ``storage``) node ``nid`` with its own seeded rng."""
        st = storage if storage is not None else MemoryStorage()
        cfg = replace(self._cfg, id=nid)
        node = RawNode(cfg, st, rng=random.Random(self.rng.random()), logger=self.logger)
        self.nodes[nid] = node
        self.storages[nid] = st
        self.applied.setdefault(nid, [])
        self.read_states.setdefault(nid, [])
        if storage is None:
            self.applied[nid] = []
        return node

    def restart(self, nid: int) -> RawNode:
        """Crash and restart ``nid`` from its storage (volatile state and queue lost)."""
        st = self.storages[nid]
        snap = st.snapshot()
        self.queue = deque(m for m in self.queue if m.to != nid and m.from_ != nid)
        cfg = replace(self._cfg, id=nid, applied=snap.metadata.index)
        node = RawNode(cfg, st, rng=random.Random(self.rng.random()), logger=self.logger)
        self.nodes[nid] = node
        # The state machine restarts from the snapshot; committed entries after it replay.
        self.applied[nid] = decode_state(snap.data)
        return node

    # -- faults ---------------------------------------------------------------------------

    def cut(self, a: int, b: int) -> None:
        """Drop every message between ``a`` and ``b`` (both directions)."""
        self.cuts |= {(a, b), (b, a)}

    def isolate(self, nid: int) -> None:
        """Cut ``nid`` from every other node."""
        for other in self.nodes:
            if other != nid:
                self.cut(nid, other)

    def drop(self, a: int, b: int, p: float) -> None:
        """Drop messages from ``a`` to ``b`` with probability ``p`` (seeded)."""
        self.drops[(a, b)] = p

    def ignore(self, t: MessageType) -> None:
        """Drop every message of type ``t``."""
        self.ignored.add(t)

    def recover(self) -> None:
        """Remove every fault."""
        self.cuts.clear()
        self.drops.clear()
        self.ignored.clear()
        self.msg_hook = None

    def _passes(self, m: Message) -> bool:
        if (m.from_, m.to) in self.cuts or m.type in self.ignored:
            return False
        p = self.drops.get((m.from_, m.to), 0.0)
        if p and self.rng.random() < p:
            return False
        return self.msg_hook is None or self.msg_hook(m)

    # -- driving --------------------------------------------------------------------------

    def process_ready(self, nid: int) -> bool:
        """Run one Ready cycle for ``nid``; False if it had nothing to do."""
        node = self.nodes[nid]
        if not node.has_ready():
            return False
        st = self.storages[nid]
        rd = node.ready()
        # 1. persist
        if rd.snapshot is not None:
            st.apply_snapshot(rd.snapshot)
        if rd.hard_state is not None:
            st.set_hard_state(rd.hard_state)
        st.append(rd.entries)
        # 2. send
        self.queue.extend(rd.messages)
        # 3. apply
        if rd.snapshot is not None:
            self.applied[nid] = decode_state(rd.snapshot.data)
            self.conf_states[nid] = rd.snapshot.metadata.conf_state
        for e in rd.committed_entries:
            self._apply(nid, e)
        self.read_states[nid].extend(rd.read_states)
        # 4. advance
        node.advance()
        return True

    def _apply(self, nid: int, e: Entry) -> None:
        if e.type == EntryType.CONF_CHANGE:
            cc = decode_conf_change(e.data)
            self.conf_states[nid] = self.nodes[nid].apply_conf_change(cc)
        elif e.data:
            self.applied[nid].append(e.data)

    def send(self, m: Message) -> None:
        """Inject a message into the queue."""
        self.queue.append(m)

    def deliver_all(self) -> bool:
        """Deliver every queued message once (new ones wait); False if none were queued."""
        if not self.queue:
            return False
        batch, self.queue = list(self.queue), deque()
        for m in batch:
            self.deliver(m)
        return True

    def deliver(self, m: Message) -> None:
        """Deliver ``m`` through the filters."""
        target = self.nodes.get(m.to)
        ok = target is not None and self._passes(m)
        if m.type == MessageType.MsgSnap and m.from_ in self.nodes:
            status = SnapshotStatus.FINISH if ok else SnapshotStatus.FAILURE
            if ok and target is not None:
                self._step(target, m)
            self.nodes[m.from_].report_snapshot(m.to, status)
            return
        if not ok or target is None:
            return
        self._step(target, m)

    def _step(self, node: RawNode, m: Message) -> None:
        self.trace.append(describe_message(m))
        try:
            node.step(m)
        except (ProposalDroppedError, PeerNotFoundError):
            pass

    def stabilize(self, max_rounds: int = 10_000) -> None:
        """Process readies and deliver messages until quiescent."""
        for _ in range(max_rounds):
            progress = False
            for nid in sorted(self.nodes):
                while self.process_ready(nid):
                    progress = True
            if self.deliver_all():
                progress = True
            if not progress:
                return
        raise AssertionError("network did not stabilize")

    def tick(self, nid: int, n: int = 1) -> None:
        """Tick ``nid`` ``n`` times (without stabilizing)."""
        for _ in range(n):
            self.nodes[nid].tick()

    def tick_all(self, n: int = 1, *, stabilize: bool = True) -> None:
        """Tick every node ``n`` times, stabilizing after each round by default."""
        for _ in range(n):
            for nid in sorted(self.nodes):
                self.nodes[nid].tick()
            if stabilize:
                self.stabilize()

    def campaign(self, nid: int) -> None:
        """Make ``nid`` campaign and stabilize."""
        self.nodes[nid].campaign()
        self.stabilize()

    def propose(self, nid: int, data: bytes) -> None:
        """Propose through ``nid`` and stabilize (raises ProposalDroppedError)."""
        self.nodes[nid].propose(data)
        self.stabilize()

    def compact(self, nid: int, index: int) -> None:
        """Snapshot ``nid``'s state machine at ``index`` and compact its log there."""
        node = self.nodes[nid]
        st = self.storages[nid]
        applied = node.raft.raft_log.applied
        if index > applied:
            raise ValueError(f"cannot compact {nid} at {index} > applied {applied}")
        # The harness state machine only knows its state at `applied`; snapshot that.
        st.create_snapshot(applied, node.status().conf_state, encode_state(self.applied[nid]))
        st.compact(index)

    # -- queries --------------------------------------------------------------------------

    def leader(self) -> int:
        """The id of the unique leader with the highest term, or 0."""
        best, term = 0, -1
        for nid in sorted(self.nodes):
            n = self.nodes[nid]
            if n.raft_state == StateType.Leader and n.term > term:
                best, term = nid, n.term
        return best

    def state(self, nid: int) -> StateType:
        """Role of ``nid``."""
        return self.nodes[nid].raft_state


# -- Raft-level helpers (pure step tests, etcd-io/raft raft_test.go style) -----------------


def new_test_raft(
    node_id: int,
    peers: Sequence[int],
    *,
    election: int = 10,
    heartbeat: int = 1,
    storage: MemoryStorage | None = None,
    seed: int = 0,
    learners: Sequence[int] = (),
    pre_vote: bool = False,
    check_quorum: bool = False,
    max_size_per_msg: int = NO_LIMIT,
    max_inflight_msgs: int = 256,
    max_uncommitted_entries_size: int = 0,
    read_only_option: ReadOnlyOption = ReadOnlyOption.SAFE,
) -> Raft:
    """A bare ``Raft`` over a storage whose membership is ``peers`` (+ ``learners``)."""
    st = storage or MemoryStorage()
    if not st.snapshot().metadata.conf_state.voters:
        st = _with_conf_state(st, ConfState(voters=tuple(peers), learners=tuple(learners)))
    cfg = Config(
        id=node_id,
        election_tick=election,
        heartbeat_tick=heartbeat,
        pre_vote=pre_vote,
        check_quorum=check_quorum,
        max_size_per_msg=max_size_per_msg,
        max_inflight_msgs=max_inflight_msgs,
        max_uncommitted_entries_size=max_uncommitted_entries_size,
        read_only_option=read_only_option,
    )
    return Raft(cfg, st, rng=random.Random(seed * 1000 + node_id))


def _with_conf_state(st: MemoryStorage, cs: ConfState) -> MemoryStorage:
    fresh = MemoryStorage(conf_state=cs)
    hs, _ = st.initial_state()
    fresh.set_hard_state(hs)
    if st.last_index() > 0:
        fresh.append(st.entries(st.first_index(), st.last_index() + 1, 1 << 62))
    return fresh


def storage_with(peers: Sequence[int], entries: Sequence[Entry] = ()) -> MemoryStorage:
    """A storage with membership ``peers`` holding ``entries``."""
    st = MemoryStorage(conf_state=ConfState(voters=tuple(peers)))
    st.append(list(entries))
    return st


def read_messages(r: Raft) -> list[Message]:
    """Take ``r``'s outbox."""
    msgs, r.msgs = r.msgs, []
    return msgs


def persist(r: Raft) -> None:
    """Play the driver: persist the unstable snapshot/entries, then ack (``stable_to``)."""
    st = r.raft_log.storage
    if not isinstance(st, MemoryStorage):
        raise TypeError("persist() needs a MemoryStorage")
    snap = r.raft_log.unstable.snapshot
    if snap is not None:
        st.apply_snapshot(snap)
        r.raft_log.stable_snap_to(snap.metadata.index)
    ents = r.raft_log.unstable_entries()
    if ents:
        st.append(ents)
        r.stable_to(ents[-1].index, ents[-1].term)


def next_committed(r: Raft) -> tuple[Entry, ...]:
    """Persist, then return and mark applied the committed-but-unapplied entries."""
    persist(r)
    ents = r.raft_log.next_ents()
    if ents:
        r.raft_log.applied_to(ents[-1].index)
    return ents


def accept_and_reply(m: Message) -> Message:
    """The follower's successful MsgAppResp to MsgApp ``m``."""
    return Message(
        type=MessageType.MsgAppResp,
        from_=m.to,
        to=m.from_,
        term=m.term,
        index=m.index + len(m.entries),
    )


class RaftNet:
    """Bare ``Raft`` peers exchanging messages synchronously (``None`` peers drop all).

    ``send`` delivers until no message is left; after each step the receiver persists
    (so leaders self-acknowledge), as etcd-io/raft's test ``network`` does.
    """

    def __init__(self, peers: dict[int, Raft | None]) -> None:
        self.peers = peers
        self.dropped: set[tuple[int, int]] = set()
        self.ignored: set[MessageType] = set()

    def cut(self, a: int, b: int) -> None:
        """Drop messages between ``a`` and ``b``."""
        self.dropped |= {(a, b), (b, a)}

    def isolate(self, nid: int) -> None:
        """Drop every message to or from ``nid``."""
        for other in self.peers:
            if other != nid:
                self.cut(nid, other)

    def recover(self) -> None:
        """Heal every fault."""
        self.dropped.clear()
        self.ignored.clear()

    def send(self, *msgs: Message) -> None:
        """Deliver ``msgs`` and everything they cause."""
        queue = deque(msgs)
        while queue:
            m = queue.popleft()
            p = self.peers.get(m.to)
            if p is None:
                continue
            try:
                p.step(m)
            except ProposalDroppedError:
                pass
            persist(p)
            for out in read_messages(p):
                if (out.from_, out.to) not in self.dropped and out.type not in self.ignored:
                    queue.append(out)
