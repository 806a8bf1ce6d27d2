"""One seeded simulation run: clients, a nemesis, then the checks. ``run_simulation(seed)``.

A run (all on virtual time, all drawn from the seed):

1. **Start** a 3- or 5-member :class:`~pycoreos.testing.sim.cluster.SimCluster`.
2. **Workload** for ``duration`` seconds: ``clients`` concurrent clients, each with one request
   in flight, on a few keys: quorum get (ReadIndex, then the local store), set, create
   (``prevExist=false``), update (``prevExist=true``), compare-and-swap by ``prevValue`` and/or
   ``prevIndex``, delete and compare-and-delete. Each client talks to a random member that is
   up. Every operation is recorded in a :class:`~pycoreos.testing.history.HistoryRecorder`;
   a timeout, a server error or a crash of the member leaves its outcome UNKNOWN.
3. **Nemesis**, meanwhile, every 0.3-2 s: partitions (random split, isolate a member or the
   leader), one-way cuts, heal, lossy/duplicating/reordering links, crashes (clean, torn, torn
   with zero fill), crashes at a failpoint inside the member, restarts.
4. **Heal**: faults off, every member restarted, clients stopped; run until every member has
   applied the same index (at most ``settle`` seconds).
5. **Check**: the Raft safety properties seen during the run, log matching, convergence,
   linearizability of the history.

:meth:`SimResult.report` names the seed as ``--sim-seed=N``; rerunning that seed replays the
run exactly (same trace hash).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace

from pycoreos.errors import StackError
from pycoreos.server.requests import V2Request as ServerRequest
from pycoreos.testing.history import HistoryRecorder
from pycoreos.testing.models.v2_keyspace import V2OpKind, V2Request, V2Response
from pycoreos.testing.sim.checks import Violation, check_convergence, check_linearizable
from pycoreos.testing.sim.cluster import CRASH_FAILPOINTS, MemberOptions, SimCluster, SimMember
from pycoreos.testing.sim.network import LinkConfig
from pycoreos.v2store.errors import V2Error

__all__ = ["SimConfig", "SimResult", "run_simulation"]

_SETTLE_STEP = 0.25


@dataclass(frozen=True, slots=True, kw_only=True)
class SimConfig:
    """Parameters of one run. :meth:`from_seed` draws the shape of the run from the seed.

    Attributes:
        seed: the seed every random stream derives from.
        members: cluster size.
        clients: concurrent clients.
        keys: how many keys they share (few keys, much contention).
        duration: virtual seconds of workload and faults.
        settle: virtual seconds allowed for convergence after healing.
        faults: run the nemesis.
        client_timeout: virtual seconds a client waits for an answer.
        options: member flags (snapshot count, timeouts).
        link: the network links' configuration while no fault degrades them.
    """

    seed: int
    members: int = 3
    clients: int = 5
    keys: int = 3
    duration: float = 10.0
    settle: float = 20.0
    faults: bool = True
    client_timeout: float = 3.0
    options: MemberOptions = field(default_factory=MemberOptions)
    link: LinkConfig = field(default_factory=LinkConfig)

    @classmethod
    def from_seed(cls, seed: int, **overrides: object) -> SimConfig:
        """The seed's configuration: 5 members in about a third of the runs, and small
        ``--snapshot-count``/catch-up entries in half (snapshots, compaction, MsgSnap)."""
        import random

        rng = random.Random(f"{seed}:config")
        members = 5 if rng.random() < 0.3 else 3
        options = MemberOptions()
        if rng.random() < 0.5:
            options = MemberOptions(
                snapshot_count=rng.choice((8, 20, 50)), catchup_entries=rng.choice((2, 5, 20))
            )
        cfg = cls(seed=seed, members=members, options=options)
        return replace(cfg, **overrides)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class SimResult:
    """The outcome of one run.

    Attributes:
        config: what ran.
        violations: every property broken (empty = the run passed).
        linearizability: the checker's verdict (``unknown`` if it timed out).
        ops: client operations recorded; ``ops_unknown``/``ops_failed`` of them had an unknown
            outcome / a definite error answer.
        faults: nemesis actions taken; ``crashes``/``restarts`` among the member events.
        trace_hash: SHA-256 of the event trace (equal for equal seeds).
        trace_events: lines in the trace; ``tail`` the last of them.
        virtual_time: virtual seconds simulated; ``real_time`` the seconds it took.
    """

    config: SimConfig
    violations: tuple[Violation, ...]
    linearizability: str
    ops: int
    ops_unknown: int
    ops_failed: int
    faults: int
    crashes: int
    restarts: int
    applied: int
    trace_hash: str
    trace_events: int
    tail: tuple[str, ...]
    virtual_time: float
    real_time: float

    @property
    def seed(self) -> int:
        """The run's seed."""
        return self.config.seed

    @property
    def ok(self) -> bool:
        """No violation."""
        return not self.violations

    def summary(self) -> str:
        """One line: seed, verdict and counters."""
        verdict = "ok" if self.ok else f"FAILED ({len(self.violations)} violations)"
        return (
            f"seed {self.seed}: {verdict}; {self.config.members} members, {self.ops} ops "
            f"({self.ops_unknown} unknown, {self.ops_failed} failed), {self.faults} faults, "
            f"{self.crashes} crashes, {self.applied} applies, linearizability "
            f"{self.linearizability}, {self.virtual_time:.1f}s virtual in "
            f"{self.real_time:.2f}s, trace {self.trace_hash[:16]}"
        )

    def report(self, tail: int = 60) -> str:
        """A failure report: the violations, the trace's end, and how to replay the seed."""
        lines = [self.summary(), *(str(v) for v in self.violations)]
        lines.append(f"last {min(tail, len(self.tail))} trace events:")
        lines += [f"  {t}" for t in self.tail[-tail:]]
        lines.append(
            f"replay: pytest tests/sim --sim-seed={self.seed}   "
            f"(or PYCOREOS_SIM_SEED={self.seed}, or "
            f"tests/sim/run_seeds.py --start {self.seed} --count 1 -v)"
        )
        return "\n".join(lines)


class _Run:
    """The state of one run: the cluster, its clients and its nemesis."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.cluster = SimCluster(cfg.seed, cfg.members, options=cfg.options, link=cfg.link)
        self.history: HistoryRecorder[V2Request, V2Response] = HistoryRecorder(self.cluster.clock)
        self.client_rng = self.cluster.rng("clients")
        self.nemesis_rng = self.cluster.rng("nemesis")
        self.keys = [f"/1/k{i}" for i in range(cfg.keys)]
        self.stop_clients = False
        self.faults = 0
        # client -> key -> (value, modifiedIndex) last seen: material for CAS/CAD.
        self.seen: dict[int, dict[str, tuple[str | None, int]]] = {}
        self.ops_failed = 0

    # -- the scenario ----------------------------------------------------------------------

    async def main(self) -> None:
        c = self.cluster
        c.start_all()
        loop = c.loop
        clients = [loop.create_task(self.client(i)) for i in range(self.cfg.clients)]
        nemesis = loop.create_task(self.nemesis()) if self.cfg.faults else None
        await self.sleep_checking(self.cfg.duration)
        if nemesis is not None:
            nemesis.cancel()
        self.stop_clients = True
        self.heal()
        await asyncio.wait(clients)
        await self.settle()

    async def sleep_checking(self, seconds: float) -> None:
        """Sleep, looking every half second for violations (a failed run stops early)."""
        until = self.cluster.now() + seconds
        while self.cluster.now() < until and not self.cluster.violations:
            await asyncio.sleep(min(0.5, until - self.cluster.now()))
            self.cluster.check_members()

    def heal(self) -> None:
        c = self.cluster
        c.net.heal()
        c.net.set_all(self.cfg.link)
        c.note("heal all; restart all")
        for name in sorted(c.members):
            c.restart(name)

    async def settle(self) -> None:
        c = self.cluster
        until = c.now() + self.cfg.settle
        while c.now() < until and not c.violations:
            await asyncio.sleep(_SETTLE_STEP)
            c.check_members()
            for name in sorted(c.members):
                c.restart(name)  # a member that fail-stopped while settling
            if self.settled():
                break

    def settled(self) -> bool:
        c = self.cluster
        servers = [m.server for m in c.members.values()]
        if any(s is None for s in servers):
            return False
        indexes = {s.applied_index for s in servers if s is not None}
        commits = {s.node.raw.raft.raft_log.committed for s in servers if s is not None}
        return len(indexes) == 1 and commits == indexes and c.leader() is not None

    # -- clients ---------------------------------------------------------------------------

    async def client(self, cid: int) -> None:
        rng = self.client_rng
        c = self.cluster
        n = 0
        self.seen[cid] = {}
        while not self.stop_clients:
            await asyncio.sleep(rng.expovariate(1 / 0.05))
            up = [m for _, m in sorted(c.members.items()) if m.up]
            if not up or self.stop_clients:
                continue
            member = rng.choice(up)
            n += 1
            req = self.next_request(cid, n)
            await self.run_op(cid, member, req)

    def next_request(self, cid: int, n: int) -> V2Request:
        rng = self.client_rng
        key = rng.choice(self.keys)
        value = f"c{cid}.{n}"
        r = rng.random()
        if r < 0.35:
            return V2Request(kind=V2OpKind.GET, key=key)
        if r < 0.55:
            return V2Request(kind=V2OpKind.SET, key=key, value=value)
        if r < 0.63:
            return V2Request(kind=V2OpKind.CREATE, key=key, value=value)
        if r < 0.68:
            return V2Request(kind=V2OpKind.UPDATE, key=key, value=value)
        if r < 0.92:
            kind = V2OpKind.CAS if r < 0.84 else V2OpKind.CAD
            last_value, last_index = self.seen[cid].get(key, (None, 0))
            how = rng.random()
            prev_value = (last_value or "c0.0") if how < 0.6 else None
            prev_index = max(last_index, 1) if how >= 0.4 else None
            return V2Request(
                kind=kind,
                key=key,
                value=value if kind is V2OpKind.CAS else None,
                prev_value=prev_value,
                prev_index=prev_index,
            )
        return V2Request(kind=V2OpKind.DELETE, key=key)

    async def run_op(self, cid: int, member: SimMember, req: V2Request) -> None:
        c = self.cluster
        c.note(f"client {cid} -> {member.name}: {req.kind.value} {req.key}")
        with self.history.record(cid, req) as pending:
            try:
                resp = await asyncio.wait_for(self.execute(member, req), self.cfg.client_timeout)
            except (TimeoutError, StackError) as exc:
                c.note(f"client {cid}: unknown ({type(exc).__name__})")
                return
            pending.set(resp)
            if resp.error_code is not None:
                self.ops_failed += 1
            elif resp.modified_index is not None:
                value = req.value if req.kind is not V2OpKind.GET else resp.value
                if req.kind in (V2OpKind.DELETE, V2OpKind.CAD):
                    value = None
                self.seen[cid][req.key] = (value, resp.modified_index)
            c.note(f"client {cid}: {resp}")

    async def execute(self, member: SimMember, req: V2Request) -> V2Response:
        c = self.cluster
        try:
            if req.kind is V2OpKind.GET:
                ev = await c.quorum_get(member.name, req.key)
                return V2Response(value=ev.node.value, modified_index=ev.node.modified_index)
            sreq = _server_request(c.request_id(member.name), req)
            ev = await c.propose(member.name, sreq)
        except V2Error as err:
            return V2Response(error_code=err.code, index=err.index)
        return V2Response(modified_index=ev.node.modified_index)

    # -- nemesis ---------------------------------------------------------------------------

    async def nemesis(self) -> None:
        rng = self.nemesis_rng
        await asyncio.sleep(rng.uniform(0.5, 2.0))
        while True:
            self.fault()
            await asyncio.sleep(rng.uniform(0.3, 2.0))

    def fault(self) -> None:
        c = self.cluster
        rng = self.nemesis_rng
        names = sorted(c.members)
        up = [n for n in names if c.members[n].up]
        down = [n for n in names if not c.members[n].up]
        r = rng.random()
        self.faults += 1
        c.check_logs()  # log matching at every fault, not only at the end
        if r < 0.12:
            groups = names[:]
            rng.shuffle(groups)
            cut = rng.randint(1, len(groups) - 1)
            c.net.partition([groups[:cut], groups[cut:]])
        elif r < 0.20:
            c.net.isolate(rng.choice(names))
        elif r < 0.27:
            leader = c.leader()
            c.net.isolate(leader if leader is not None else rng.choice(names))
        elif r < 0.34:
            a, b = rng.sample(names, 2)
            c.net.cut(a, b)
        elif r < 0.46:
            c.net.heal()
        elif r < 0.56:
            c.net.set_all(self.random_link())
        elif r < 0.62:
            c.net.set_all(self.cfg.link)
        elif r < 0.74 and up and len(down) < len(names) // 2 + (rng.random() < 0.2):
            victim = rng.choice(up)
            tear = rng.random() < 0.6
            c.crash(victim, tear=tear, zero_fill=tear and rng.random() < 0.3)
        elif r < 0.84 and up:
            victim = rng.choice(up)
            tear = rng.random() < 0.6
            c.crash_at(
                victim,
                rng.choice(CRASH_FAILPOINTS),
                hits=rng.randint(1, 4),
                tear=tear,
                zero_fill=tear and rng.random() < 0.3,
            )
        elif down:
            c.restart(rng.choice(down))
        c.note(f"nemesis: {c.net.describe()} down={[n for n in names if not c.members[n].up]}")

    def random_link(self) -> LinkConfig:
        rng = self.nemesis_rng
        lo = rng.uniform(0.001, 0.01)
        return LinkConfig(
            delay_min=lo,
            delay_max=lo + rng.uniform(0.0, 0.05),
            drop=rng.choice((0.0, 0.02, 0.1, 0.3)),
            duplicate=rng.choice((0.0, 0.05, 0.2)),
            reorder=rng.choice((0.0, 0.1, 0.3)),
            reorder_delay=rng.uniform(0.01, 0.1),
        )

    # -- the checks ------------------------------------------------------------------------

    def finish(self, started: float) -> SimResult:
        c = self.cluster
        c.check_members()
        now = c.now()
        c.check_logs()
        if not c.violations:
            if self.settled():
                views = {n: c.view(n) for n in sorted(c.members)}
                c.cluster_violations += check_convergence(views, now)
            else:
                down = [n for n, m in sorted(c.members.items()) if not m.up]
                applied = {n: m.server.applied_index for n, m in c.members.items() if m.server}
                c.cluster_violations.append(
                    Violation(
                        "liveness",
                        f"not settled {self.cfg.settle}s after healing: down={down} "
                        f"applied={applied} leader={c.leader()}",
                        now,
                    )
                )
        ops = self.history.operations()
        lin = check_linearizable(ops, now)
        if lin.violation is not None:
            c.cluster_violations.append(lin.violation)
        return SimResult(
            config=self.cfg,
            violations=tuple(c.violations),
            linearizability=str(lin.result),
            ops=len(ops),
            ops_unknown=sum(1 for o in ops if o.unknown),
            ops_failed=self.ops_failed,
            faults=self.faults,
            crashes=c.crashes,
            restarts=c.restarts,
            applied=c.monitor.applied_entries,
            trace_hash=c.trace.digest(),
            trace_events=c.trace.events,
            tail=tuple(c.trace.tail),
            virtual_time=now,
            real_time=time.perf_counter() - started,
        )


def _server_request(rid: int, req: V2Request) -> ServerRequest:
    """The replicated request the v2 HTTP layer would build for ``req``."""
    pv = req.prev_value or ""
    pi = req.prev_index or 0
    match req.kind:
        case V2OpKind.SET:
            return ServerRequest(id=rid, method="PUT", path=req.key, val=req.value or "")
        case V2OpKind.CREATE:
            return ServerRequest(
                id=rid, method="PUT", path=req.key, val=req.value or "", prev_exist=False
            )
        case V2OpKind.UPDATE:
            return ServerRequest(
                id=rid, method="PUT", path=req.key, val=req.value or "", prev_exist=True
            )
        case V2OpKind.CAS:
            return ServerRequest(
                id=rid,
                method="PUT",
                path=req.key,
                val=req.value or "",
                prev_value=pv,
                prev_index=pi,
            )
        case V2OpKind.DELETE:
            return ServerRequest(id=rid, method="DELETE", path=req.key)
        case V2OpKind.CAD:
            return ServerRequest(
                id=rid, method="DELETE", path=req.key, prev_value=pv, prev_index=pi
            )
        case V2OpKind.GET:
            raise ValueError("sim: a quorum get is not replicated here")


def run_simulation(seed: int | SimConfig, **overrides: object) -> SimResult:
    """Run one simulation and check it.

    Args:
        seed: a seed (its configuration drawn by :meth:`SimConfig.from_seed`) or a config.
        overrides: fields of :class:`SimConfig` to force (with a seed).

    Returns:
        The result; ``result.ok`` is False when any property was violated. Never raises for
        a violation (the report says what and how to replay).
    """
    cfg = seed if isinstance(seed, SimConfig) else SimConfig.from_seed(seed, **overrides)
    started = time.perf_counter()
    run = _Run(cfg)
    try:
        run.cluster.loop.run_until_complete(run.main())
        return run.finish(started)
    finally:
        run.cluster.close()
