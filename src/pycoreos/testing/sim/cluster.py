"""SimCluster: whole etcd members on a :class:`SimLoop`, a :class:`SimNetwork` and SimDisks.

Each member is the real :class:`~pycoreos.server.server.EtcdServer` (Raft core, driver, WAL,
snapshots, v2 store) built with a :class:`SimClock`, its own :class:`SimDisk`, a seeded
``random.Random`` and ``inline_io=True`` (no threads). The cluster is their transport: a
member's outbound Raft messages go through the network to the other member's ``receive``.

Invariants:

* Each start of a member is an *incarnation* (``"n2#3"``) that owns everything it schedules
  (see :data:`~pycoreos.testing.sim.loop.OWNER`). :meth:`SimCluster.crash` kills the owner (no
  callback of it ever runs again, nothing is flushed) and calls :meth:`SimDisk.crash`, which
  loses what was not fsynced. :meth:`SimCluster.restart` builds a new server on the same disk.
* Crashes can also hit *inside* a member, at a named failpoint (``raft_before_save``,
  ``wal_before_fsync``, ...): :meth:`SimCluster.crash_at` arms one for one incarnation.
* The safety checks of :mod:`.checks` see every leader (checked after every delivered message
  and every leadership change) and every applied entry, through two wrappers around the
  driver's callbacks, installed at each start.
* Every delivery, loss, crash, restart and fault goes into :attr:`SimCluster.trace`, whose hash
  identifies the run: one seed, one trace.

What the cluster adds as "transport" mirrors etcd's rafthttp: a snapshot message reports
``FINISH``/``FAILURE`` back to its sender when it arrives or is lost, and a message lost to a
partition or a cut reports the peer unreachable (a broken stream). Random losses are silent.
Proposals forwarded between members (``MsgProp``) are never duplicated: the real transport is
a TCP stream, and the v2 apply has no request de-duplication (a duplicate would apply twice,
which no etcd deployment can produce).
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import functools
import hashlib
import random
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from pycoreos import _failpoints
from pycoreos.errors import StackError
from pycoreos.raft.config import NO_LIMIT
from pycoreos.raft.rawnode import SnapshotStatus
from pycoreos.raft.types import Entry, Message, MessageType, Snapshot, SoftState, StateType
from pycoreos.server.config import load_config
from pycoreos.server.requests import V2Request as ServerRequest
from pycoreos.server.server import EtcdServer
from pycoreos.testing.sim.checks import MemberView, SafetyMonitor, Violation, check_log_matching
from pycoreos.testing.sim.disk import SimDisk
from pycoreos.testing.sim.loop import OWNER, SimClock, SimCrashError, SimLoop
from pycoreos.testing.sim.network import DropReason, LinkConfig, SimNetwork
from pycoreos.v2store.errors import V2Error
from pycoreos.v2store.event import Event

__all__ = [
    "CRASH_FAILPOINTS",
    "MemberGoneError",
    "MemberOptions",
    "SimCluster",
    "SimMember",
    "Trace",
]

T = TypeVar("T")

CRASH_FAILPOINTS = (
    "raft_before_save_snap",
    "raft_after_save_snap",
    "raft_before_apply_snap",
    "raft_after_apply_snap",
    "raft_before_apply",
    "raft_after_apply",
    "raft_before_save",
    "raft_after_save",
    "wal_before_write",
    "wal_before_fsync",
    "wal_after_fsync",
    "wal_after_release",
)
"""Failpoints :meth:`SimCluster.crash_at` can crash a member at."""

USER_PREFIX = "/1"


class MemberGoneError(StackError):
    """The member a client talked to is down, or went down before answering."""


class Trace:
    """The run's event trace: a running SHA-256 of every line, and the last lines kept.

    Args:
        keep: how many of the latest lines to keep for failure reports.
    """

    def __init__(self, keep: int = 400) -> None:
        self._hash = hashlib.sha256()
        self.events = 0
        self.tail: collections.deque[str] = collections.deque(maxlen=keep)

    def add(self, now: float, text: str) -> None:
        """Record ``text`` at virtual time ``now``."""
        line = f"{now:.6f} {text}"
        self._hash.update(line.encode())
        self._hash.update(b"\n")
        self.events += 1
        self.tail.append(line)

    def digest(self) -> str:
        """The hex SHA-256 of every line so far."""
        return self._hash.hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberOptions:
    """Flags every member is started with.

    Attributes:
        heartbeat_ms: ``--heartbeat-interval``.
        election_ms: ``--election-timeout``.
        snapshot_count: ``--snapshot-count`` (small values make snapshots happen).
        catchup_entries: ``--experimental-snapshot-catchup-entries`` (entries kept after a
            snapshot; small values make log compaction, hence ``MsgSnap``, happen).
    """

    heartbeat_ms: int = 100
    election_ms: int = 1000
    snapshot_count: int = 10000
    catchup_entries: int = 5000


@dataclass(eq=False)
class SimMember:
    """One member slot: its disk and configuration outlive its incarnations.

    Attributes:
        name: ``n1``, ``n2``, ...
        member_id: the Raft id (fixed by the initial cluster).
        server: the running incarnation's server; None while down.
        owner: the running (or last) incarnation's owner tag.
        incarnations: how many times it was started.
        applied: applied entries observed, all incarnations.
    """

    name: str
    argv: list[str]
    disk: SimDisk
    rng: random.Random
    member_id: int = 0
    server: EtcdServer | None = None
    owner: str = ""
    ctx: contextvars.Context = field(default_factory=contextvars.Context)
    incarnations: int = 0
    led_terms: set[int] = field(default_factory=set)
    applied: int = 0

    @property
    def up(self) -> bool:
        """Whether an incarnation is running."""
        return self.server is not None


@dataclass(slots=True)
class _CrashPlan:
    failpoint: str
    remaining: int
    tear: bool
    zero_fill: bool


class SimCluster:
    """N members on one virtual-time loop; see the module docstring.

    Args:
        seed: the run's seed; every random stream is derived from it.
        members: 3 or 5 (any n >= 1 works).
        options: member flags.
        link: the initial configuration of every network link.

    Attributes:
        loop: the virtual-time loop (``run_for`` drives it).
        clock: its clock, shared by members and the history recorder.
        net: the network.
        monitor: the Raft safety monitor.
        trace: the event trace.
        violations: everything wrong seen so far (the monitor's and the cluster's own).
    """

    def __init__(
        self,
        seed: int,
        members: int = 3,
        *,
        options: MemberOptions | None = None,
        link: LinkConfig | None = None,
    ) -> None:
        self.seed = seed
        self.options = options or MemberOptions()
        self.loop = SimLoop()
        self.clock = SimClock(self.loop)
        self.trace = Trace()
        self.monitor = SafetyMonitor()
        self.cluster_violations: list[Violation] = []
        self.net: SimNetwork[Message] = SimNetwork(
            self.loop,
            self.rng("network"),
            default=link,
            on_deliver=self._deliver,
            on_drop=self._dropped,
        )
        names = [f"n{i}" for i in range(1, members + 1)]
        initial = ",".join(f"{n}=http://{n}:2380" for n in names)
        self.members: dict[str, SimMember] = {}
        for name in names:
            argv = self._argv(name, initial)
            load_config(argv, {})  # fail early on a bad option
            self.members[name] = SimMember(
                name, argv, SimDisk(self.rng(f"disk:{name}")), self.rng(f"raft:{name}")
            )
        self._by_id: dict[int, str] = {}
        self._crash_plans: dict[str, _CrashPlan] = {}
        self._armed = False
        self.crashes = 0
        self.restarts = 0
        self.start_failures = 0

    def rng(self, stream: str) -> random.Random:
        """An independent random stream named ``stream``, derived from the seed.

        Streams keep parts independent: adding a client draw does not move the network's.
        Seeding with a string hashes it with SHA-512, so this is PYTHONHASHSEED-proof.
        """
        return random.Random(f"{self.seed}:{stream}")

    def _argv(self, name: str, initial: str) -> list[str]:
        o = self.options
        return [
            "--name", name,
            "--data-dir", f"/sim/{name}",
            "--initial-cluster", initial,
            "--initial-advertise-peer-urls", f"http://{name}:2380",
            "--listen-peer-urls", f"http://{name}:2380",
            "--advertise-client-urls", f"http://{name}:2379",
            "--listen-client-urls", f"http://{name}:2379",
            "--heartbeat-interval", str(o.heartbeat_ms),
            "--election-timeout", str(o.election_ms),
            "--snapshot-count", str(o.snapshot_count),
            "--experimental-snapshot-catchup-entries", str(o.catchup_entries),
        ]  # fmt: skip

    @property
    def violations(self) -> list[Violation]:
        """The monitor's violations and the cluster's own (failed starts, fatal members)."""
        return self.monitor.violations + self.cluster_violations

    def now(self) -> float:
        """The virtual time."""
        return self.loop.time()

    def note(self, text: str) -> None:
        """Add a line to the trace."""
        self.trace.add(self.loop.time(), text)

    # -- lifecycle -------------------------------------------------------------------------

    def start_all(self) -> None:
        """Start every member that is down."""
        for name in sorted(self.members):
            if not self.members[name].up:
                self.start(name)

    def start(self, name: str) -> bool:
        """Start a new incarnation of ``name`` on its disk; False if it refused to start."""
        m = self.members[name]
        if m.up:
            raise RuntimeError(f"sim: {name} is already up")
        m.incarnations += 1
        m.owner = f"{name}#{m.incarnations}"
        ctx = contextvars.copy_context()
        ctx.run(OWNER.set, m.owner)
        m.ctx = ctx
        cfg = load_config(m.argv, {})
        try:
            server = ctx.run(
                EtcdServer, cfg, clock=self.clock, disk=m.disk, rng=m.rng, inline_io=True
            )
        except Exception as exc:  # a WAL that cannot be opened is a finding, not a crash
            self.start_failures += 1
            self.note(f"start {m.owner} failed: {exc!r}")
            self.cluster_violations.append(
                Violation("restart", f"{m.owner} could not start: {exc!r}", self.now())
            )
            self.loop.kill(m.owner)
            return False
        m.member_id = server.member_id
        self._by_id[server.member_id] = name
        m.server = server
        server.send_messages = lambda msgs, name=name: self._send(name, msgs)
        self._instrument(m, server)
        self.note(f"start {m.owner} applied={server.applied_index}")
        self.loop.create_task(server.start(), context=ctx)
        return True

    def crash(self, name: str, *, tear: bool = False, zero_fill: bool = False) -> None:
        """Power-cut ``name``: its incarnation vanishes and its disk loses unsynced bytes.

        Args:
            tear: keep a random prefix of the unsynced writes (a torn write).
            zero_fill: the lost writes leave zeros behind (metadata persisted, data not).
        """
        m = self.members[name]
        if not m.up:
            return
        self.check_logs()  # the last chance to compare this incarnation's in-memory log
        self.crashes += 1
        self.note(f"crash {m.owner} tear={tear} zero_fill={zero_fill}")
        m.server = None
        self._crash_plans.pop(m.owner, None)
        self.loop.kill(m.owner)
        m.disk.crash(tear=tear, zero_fill=zero_fill)

    def restart(self, name: str) -> bool:
        """Start ``name`` again after a crash (no-op if it is up)."""
        if self.members[name].up:
            return True
        self.restarts += 1
        return self.start(name)

    def crash_at(
        self,
        name: str,
        failpoint: str,
        *,
        hits: int = 1,
        tear: bool = False,
        zero_fill: bool = False,
    ) -> None:
        """Crash ``name``'s current incarnation when it reaches ``failpoint`` for the
        ``hits``-th time (the code after the failpoint never runs)."""
        if failpoint not in CRASH_FAILPOINTS:
            raise ValueError(f"sim: unknown crash failpoint {failpoint!r}")
        m = self.members[name]
        if not m.up:
            return
        if not self._armed:
            for fp in CRASH_FAILPOINTS:
                _failpoints.arm(fp, functools.partial(self._at_failpoint, fp))
            self._armed = True
        self._crash_plans[m.owner] = _CrashPlan(failpoint, hits, tear, zero_fill)
        self.note(f"arm {m.owner} crash at {failpoint} hit {hits}")

    def _at_failpoint(self, fp: str) -> None:
        owner = OWNER.get()
        plan = self._crash_plans.get(owner)
        if plan is None or plan.failpoint != fp:
            return
        plan.remaining -= 1
        if plan.remaining > 0:
            return
        name = owner.split("#", 1)[0]
        self.note(f"failpoint {fp} hit in {owner}")
        self.crash(name, tear=plan.tear, zero_fill=plan.zero_fill)
        raise SimCrashError(f"{owner} crashed at {fp}")

    def close(self) -> None:
        """Disarm failpoints and close the loop. The cluster is unusable afterwards."""
        if self._armed:
            for fp in CRASH_FAILPOINTS:
                _failpoints.disarm(fp)
            self._armed = False
        for m in self.members.values():
            if m.up:
                self.loop.kill(m.owner)
                m.server = None
        self.loop.close()

    def run_for(self, seconds: float) -> None:
        """Run the loop for ``seconds`` of virtual time."""
        self.loop.run_until_complete(asyncio.sleep(seconds))
        self.check_members()

    def run(self, aw: Awaitable[T]) -> T:
        """Run the loop until ``aw`` is done; its result."""
        result = self.loop.run_until_complete(aw)
        self.check_members()
        return result

    # -- clients ---------------------------------------------------------------------------

    async def propose(self, name: str, req: ServerRequest) -> Event:
        """Propose ``req`` through member ``name`` and wait for its answer (no timeout).

        Raises:
            V2Error: the store refused it (a definite answer).
            ServerError: the member gave up on it (outcome unknown).
            MemberGoneError: ``name`` is down (nothing sent).
        """
        m = self.members[name]
        server = m.server
        if server is None:
            raise MemberGoneError(f"sim: {name} is down")
        answer = await m.ctx.run(server.propose, req)
        if not isinstance(answer, Event):
            raise MemberGoneError(f"sim: unexpected answer {answer!r}")
        return answer

    async def quorum_get(self, name: str, key: str) -> Event:
        """A ``quorum=true`` GET of ``key`` through ``name``: ReadIndex, then the local store.

        Raises:
            V2Error: e.g. 100 Key not found (a definite answer).
            ServerError: no confirmation from a quorum (outcome unknown).
            MemberGoneError: ``name`` is down, or crashed before answering.
        """
        m = self.members[name]
        server, owner = m.server, m.owner
        if server is None:
            raise MemberGoneError(f"sim: {name} is down")
        await m.ctx.run(server.linearizable_read)
        if self.loop.is_dead(owner):
            raise MemberGoneError(f"sim: {owner} crashed before answering")
        return server.store.get(key)

    def request_id(self, name: str) -> int:
        """A fresh request id from member ``name`` (as its HTTP layer would draw one)."""
        server = self.members[name].server
        if server is None:
            raise MemberGoneError(f"sim: {name} is down")
        return server.next_request_id()

    # -- transport -------------------------------------------------------------------------

    def _send(self, src: str, msgs: Sequence[Message]) -> None:
        for m in msgs:
            dst = self._by_id.get(m.to)
            if dst is None:
                continue
            self.net.send(src, dst, m, may_duplicate=m.type != MessageType.MsgProp)

    def _deliver(self, src: str, dst: str, msg: Message) -> None:
        m = self.members[dst]
        server = m.server
        if server is None:
            # Connection refused: the sender's transport notices.
            self._dropped(src, dst, msg, "unreachable")
            return
        self.note(f"{src}->{dst} {_describe(msg)}")
        m.ctx.run(server.receive, msg)
        self._check_leader(m)
        self._report_snapshot(src, msg, SnapshotStatus.FINISH)

    def _dropped(self, src: str, dst: str, msg: Message, reason: DropReason) -> None:
        self.note(f"{src}->{dst} {_describe(msg)} lost ({reason})")
        self._report_snapshot(src, msg, SnapshotStatus.FAILURE)
        sender = self.members[src]
        if reason == "unreachable" and sender.server is not None:
            sender.ctx.run(_report_unreachable, sender.server, msg.to)

    def _report_snapshot(self, src: str, msg: Message, status: SnapshotStatus) -> None:
        if msg.type != MessageType.MsgSnap:
            return
        sender = self.members[src]
        if sender.server is not None:
            sender.ctx.run(_report_snapshot_status, sender.server, msg.to, status)

    # -- observation -----------------------------------------------------------------------

    def _instrument(self, m: SimMember, server: EtcdServer) -> None:
        # Wrappers around the driver's callbacks: the only way to see every applied entry and
        # every leadership change without changing the server (see docs/design/simulation.md).
        node = server.node
        apply_entries = node._apply_entries
        apply_snapshot = node._apply_snapshot
        on_soft_state = node._on_soft_state

        def apply(entries: Sequence[Entry]) -> None:
            applied = server.applied_index
            fresh = [e for e in entries if e.index > applied]
            self.monitor.observe_apply(m.name, fresh, self.loop.time())
            m.applied += len(fresh)
            apply_entries(entries)

        def snapshot(snap: Snapshot) -> None:
            self.note(f"{m.owner} applies snapshot at {snap.metadata.index}")
            apply_snapshot(snap)

        def soft_state(ss: SoftState) -> None:
            on_soft_state(ss)
            self._check_leader(m)

        node._apply_entries = apply
        node._apply_snapshot = snapshot
        node._on_soft_state = soft_state

    def _check_leader(self, m: SimMember) -> None:
        server = m.server
        if server is None:
            return
        raft = server.node.raw.raft
        if raft.state != StateType.Leader or raft.term in m.led_terms:
            return
        m.led_terms.add(raft.term)
        log = raft.raft_log
        self.note(f"{m.owner} leads term {raft.term}")
        self.monitor.observe_leader(
            m.name, raft.term, log.term_or_zero, log.first_index(), log.last_index(), self.now()
        )

    def check_members(self) -> None:
        """Record members that stopped themselves (fail-stop) as violations, and take them
        down (they are restarted like crashed ones)."""
        for m in self.members.values():
            server = m.server
            if server is not None and server.fatal is not None:
                self.cluster_violations.append(
                    Violation("fail-stop", f"{m.owner} stopped: {server.fatal!r}", self.now())
                )
                self.note(f"{m.owner} fail-stopped: {server.fatal!r}")
                m.server = None
                self.loop.kill(m.owner)
        for ctx in self.loop.errors:
            self.cluster_violations.append(
                Violation(
                    "loop error", f"{ctx.get('message')}: {ctx.get('exception')!r}", self.now()
                )
            )
        self.loop.errors.clear()

    def logs(self) -> dict[str, list[Entry]]:
        """Each up member's log (storage and unstable tail), from its first index."""
        out = {}
        for name, m in sorted(self.members.items()):
            if m.server is not None:
                log = m.server.node.raw.raft.raft_log
                first, last = log.first_index(), log.last_index()
                out[name] = list(log.slice(first, last + 1, NO_LIMIT)) if last >= first else []
        return out

    def check_logs(self) -> list[Violation]:
        """Log matching between the up members, now (the violations are also recorded)."""
        found = check_log_matching(self.logs(), self.now())
        self.cluster_violations += found
        return found

    def view(self, name: str) -> MemberView:
        """What must agree between settled members (see :func:`.checks.check_convergence`)."""
        server = self.members[name].server
        if server is None:
            raise RuntimeError(f"sim: {name} is down")
        keys: list[tuple[str, str | None, int, int]] = []
        try:
            root = server.store.get(USER_PREFIX, True, True).node
        except V2Error:
            root = None
        stack = [root] if root is not None else []
        while stack:
            n = stack.pop()
            if n.dir:
                stack.extend(n.nodes or [])
            else:
                keys.append((n.key, n.value, n.modified_index, n.created_index))
        keys.sort()
        return MemberView(server.applied_index, server.store.index(), tuple(keys))

    def leader(self) -> str | None:
        """The up member that believes it leads the highest term, if any."""
        best: tuple[int, str] | None = None
        for name, m in sorted(self.members.items()):
            if m.server is not None and m.server.node.raw.raft.state == StateType.Leader:
                term = m.server.node.raw.term
                if best is None or term > best[0]:
                    best = (term, name)
        return None if best is None else best[1]


def _report_snapshot_status(server: EtcdServer, to: int, status: SnapshotStatus) -> None:
    server.node.raw.report_snapshot(to, status)
    server.node.notify()


def _report_unreachable(server: EtcdServer, to: int) -> None:
    server.node.raw.report_unreachable(to)
    server.node.notify()


def _describe(m: Message) -> str:
    text = f"{m.type.name} t{m.term} i{m.index} lt{m.log_term} c{m.commit}"
    if m.entries:
        text += f" n{len(m.entries)}"
    if m.reject:
        text += f" rej{m.reject_hint}"
    if m.snapshot is not None:
        text += f" snap{m.snapshot.metadata.index}"
    return text
