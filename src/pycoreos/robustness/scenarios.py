"""The fault scripts of reliability.md §8 that apply to the v2 cluster.

Each scenario is a :class:`Scenario`: cluster shape and member environment chosen from the
seed, and an ``inject`` script that runs while the workload is running and leaves the network
healed and every member that should be up started (the runner then checks U1-U6). A script
records every fault it injected (:meth:`Ctx.fault`) and any scenario-specific failure
(:meth:`Ctx.problem`). Variants are chosen from the seed (``seed % k``) so that 20 seeds cover
every variant of every scenario.

Timings assume etcd's defaults (heartbeat 100 ms, election timeout ET = 1 s).
"""

from __future__ import annotations

import logging
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pycoreos.robustness.cluster import Node, TortureCluster, member_env
from pycoreos.robustness.workload import Workload, WorkloadConfig

__all__ = ["SCENARIOS", "Ctx", "Scenario"]

ET = 1.0


@dataclass
class Ctx:
    """What a fault script works with."""

    cluster: TortureCluster
    workload: Workload
    rng: random.Random
    seed: int
    duration: float
    faults: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    t0: float = field(default_factory=time.monotonic)

    def fault(self, what: str) -> None:
        """Record an injected fault (with its time from the start of the fault phase)."""
        self.faults.append(f"+{time.monotonic() - self.t0:5.1f}s {what}")

    def note(self, what: str) -> None:
        """Record a timeline line that is not a fault."""
        self.faults.append(f"+{time.monotonic() - self.t0:5.1f}s   ({what})")

    def problem(self, what: str) -> None:
        """Record a scenario-specific failure."""
        self.problems.append(what)

    def wait(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    def left(self) -> float:
        """Seconds left of the fault phase."""
        return self.duration - (time.monotonic() - self.t0)

    @property
    def fault_count(self) -> int:
        """Faults injected (timeline notes excluded)."""
        return sum(1 for f in self.faults if "   (" not in f)


@dataclass(frozen=True)
class Scenario:
    """A named fault script and the cluster it needs."""

    name: str
    title: str
    inject: Callable[[Ctx], None]
    size: Callable[[int], int] = lambda seed: 3
    extra_args: tuple[str, ...] = ()
    env: Callable[[int, list[str]], dict[str, dict[str, str]]] | None = None
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)


# -- helpers --------------------------------------------------------------------------------


def _store_index(c: TortureCluster, node: Node) -> int:
    try:
        return c.request(node, "GET", "/v2/keys/", timeout=1.0).header_int("x-etcd-index") or 0
    except Exception:  # down or cut off: unknown, treat as 0
        return 0


def _restart_dead(ctx: Ctx) -> None:
    for n in ctx.cluster.live():
        if not n.running:
            ctx.cluster.poll_exits()
            ctx.note(f"restart {n.name}")
            if not ctx.cluster.restart(n):
                ctx.problem(f"{n.name} did not come back after a restart")


def _term_bound(ctx: Ctx, before: int, limit: int = 3) -> None:
    after = ctx.cluster.term()
    if after - before > limit:
        ctx.problem(f"T8: {after - before} elections in one fault window (limit {limit})")


def _replace(ctx: Ctx, node: Node, name: str) -> None:
    """Remove ``node`` (it may be down), wipe it and add a fresh member on new ports."""
    c = ctx.cluster
    via = c.leader()
    if via is node:
        via = c.followers(via)[0]
    c.remove_member(node, via)
    ctx.fault(f"remove {node.name}")
    if node.running and node.proc is not None:
        node.proc.kill()
    c.wipe(node)
    c.add_member(name, c.leader())
    ctx.fault(f"add fresh member {name}")


# -- T1 stale-read hunt ----------------------------------------------------------------------


def t1(ctx: Ctx) -> None:
    """Blackhole the leader's peer traffic for 3 ET, heal; repeat (Jepsen 2014)."""
    c = ctx.cluster
    while ctx.left() > 3 * ET:
        leader = c.leader()
        c.net.isolate(leader.member_id)
        ctx.fault(f"isolate leader {leader.name}")
        ctx.wait(3 * ET)
        c.net.heal()
        ctx.fault("heal")
        ctx.wait(1.0 + ctx.rng.uniform(0, 1.0))


# -- T3 process pause -------------------------------------------------------------------------


def t3(ctx: Ctx) -> None:
    """SIGSTOP the leader for 2-5 ET, SIGCONT; then the same for a follower."""
    c = ctx.cluster
    leader = c.leader()
    c.pause(leader)
    ctx.fault(f"SIGSTOP leader {leader.name}")
    ctx.wait(ctx.rng.uniform(2, 5) * ET)
    c.resume(leader)
    ctx.fault(f"SIGCONT {leader.name}")
    ctx.wait(2 * ET)
    follower = ctx.rng.choice(c.followers())
    c.pause(follower)
    ctx.fault(f"SIGSTOP follower {follower.name}")
    ctx.wait(ctx.rng.uniform(2, 5) * ET)
    c.resume(follower)
    ctx.fault(f"SIGCONT {follower.name}")
    ctx.wait(max(1.0, ctx.left()))


# -- T4 kill at each persistence step ---------------------------------------------------------

# (failpoint, hits before the crash: low, high). Per-Ready points are hit many times a second;
# snapshot points once per snapshot (--snapshot-count 100).
T4_FAILPOINTS: tuple[tuple[str, int, int], ...] = (
    ("raft_before_save", 5, 60),
    ("raft_after_save", 5, 60),
    ("raft_before_apply", 3, 30),
    ("raft_after_apply", 3, 30),
    ("wal_before_write", 5, 60),
    ("wal_before_fsync", 3, 40),
    ("wal_after_fsync", 3, 40),
    ("raft_before_save_snap", 1, 1),
    ("raft_after_save_snap", 1, 1),
    ("wal_after_release", 1, 1),
)


def t4(ctx: Ctx) -> None:
    """Crash one member at a named failpoint (seed picks which), restart it, repeat."""
    c = ctx.cluster
    name, lo, hi = T4_FAILPOINTS[ctx.seed % len(T4_FAILPOINTS)]
    while ctx.left() > 4 * ET:
        target = ctx.rng.choice(c.live())
        hits = ctx.rng.randint(lo, hi)
        c.kill(target)
        ctx.fault(f"SIGKILL {target.name}, restart armed with {name}=panic@{hits}")
        c.restart(target, member_env(failpoints=f"{name}=panic@{hits}"), wait=False)
        c.expect_exit(target)
        if c.wait_exit(target, max(1.0, ctx.left() - 2 * ET)):
            ctx.fault(f"{target.name} crashed at {name}")
        else:
            c.kill(target)
            ctx.note(f"{name} not reached; killed {target.name}")
        c.poll_exits()
        if not c.restart(target):
            ctx.problem(f"T4: {target.name} does not restart after a crash at {name}")
            return
        ctx.note(f"restarted {target.name}")
        ctx.wait(1.5 * ET)


# -- T5 power loss ---------------------------------------------------------------------------


def t5(ctx: Ctx) -> None:
    """Every member drops its un-fsynced bytes when killed; kill one or all, restart."""
    c = ctx.cluster
    while ctx.left() > 3 * ET:
        everyone = c.size > 1 and ctx.rng.random() < 0.4
        targets = list(c.live()) if everyone else [ctx.rng.choice(c.live())]
        for t in targets:
            c.kill(t)
        ctx.fault(f"power loss on {', '.join(t.name for t in targets)} (unsynced bytes lost)")
        ctx.wait(ctx.rng.uniform(0.2, 1.0))
        # Start every target before waiting for any: after a whole-cluster power loss a member
        # serves only once a quorum is back and it has published (etcd's ReadyNotify), so
        # waiting for the first alone never ends (track record #6, a harness bug).
        for t in targets:
            c.restart(t, member_env(disk_faults="lazy"), wait=False)
        unhealthy = c.wait_healthy(30)
        down = [t.name for t in targets if not t.running or t.name in unhealthy]
        if down:
            ctx.problem(f"T5: {', '.join(down)} does not restart after a power loss")
            return
        ctx.note("restarted")
        ctx.wait(2 * ET)


def t5_env(seed: int, names: list[str]) -> dict[str, dict[str, str]]:
    return {n: member_env(disk_faults="lazy") for n in names}


# -- T6 WAL crash matrix on a real member's files --------------------------------------------


def _wal_dir(c: TortureCluster, node: Node) -> Path:
    return c.data_dir(node) / "member" / "wal"


def wal_matrix(wal_dir: Path, rng: random.Random, samples: int = 24) -> list[str]:
    """Tear/flip copies of a real WAL: a torn tail opens with a prefix, a mid-file flip is
    refused. Returns problems."""
    from pycoreos.raft.types import ConfState
    from pycoreos.storage.disk import RealDisk
    from pycoreos.wal import WAL, WalSnapshot

    disk = RealDisk()
    start = WalSnapshot(0, 0, ConfState())

    def read(d: Path) -> list[tuple[int, int, bytes]]:
        w = WAL.open(disk, str(d), start)
        try:
            _, _, ents = w.read_all()
        finally:
            w.close()
        return [(e.index, e.term, e.data) for e in ents]

    problems: list[str] = []
    # Every torn copy is "repaired" with a warning: expected here, not worth a log line each.
    wal_log = logging.getLogger("pycoreos.wal")
    level = wal_log.level
    wal_log.setLevel(logging.ERROR)
    try:
        _tear_and_flip(wal_dir, rng, samples, read, problems)
    finally:
        wal_log.setLevel(level)
    return problems


def _tear_and_flip(
    wal_dir: Path,
    rng: random.Random,
    samples: int,
    read: Callable[[Path], list[tuple[int, int, bytes]]],
    problems: list[str],
) -> None:
    from pycoreos.wal.errors import WalError

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "orig"
        shutil.copytree(wal_dir, base)
        full = read(base)
        segs = sorted(p.name for p in base.iterdir() if p.name.endswith(".wal"))
        last = segs[-1]
        raw = (base / last).read_bytes()
        end = len(raw.rstrip(b"\0"))
        span = min(end, 600)
        for i in range(samples):
            cut = end - rng.randrange(1, span + 1)
            d = Path(tmp) / f"cut{i}"
            shutil.copytree(base, d)
            with open(d / last, "r+b") as f:
                f.truncate(cut)
            try:
                got = read(d)
            except WalError as exc:
                problems.append(f"T6: WAL torn at byte {cut} of {last} does not open: {exc!r}")
                continue
            if got != full[: len(got)]:
                problems.append(f"T6: WAL torn at byte {cut} opened with entries not a prefix")
            shutil.rmtree(d)
        # A bit flip in the first half of the first segment: refused, or harmless (padding).
        first = segs[0]
        first_raw = (base / first).read_bytes()
        first_end = len(first_raw.rstrip(b"\0"))
        if first_end > 256:
            off = rng.randrange(first_end // 4, first_end // 2)
            d = Path(tmp) / "flip"
            shutil.copytree(base, d)
            flipped = bytearray(first_raw)
            flipped[off] ^= 1 << rng.randrange(8)
            (d / first).write_bytes(bytes(flipped))
            try:
                got = read(d)
            except WalError:
                pass
            else:
                if got != full:
                    problems.append(
                        f"T6: bit flip at byte {off} of {first} opened silently with other data"
                    )


def t6(ctx: Ctx) -> None:
    """Kill a member, run the crash matrix on copies of its real WAL, restart it."""
    c = ctx.cluster
    while ctx.left() > 4 * ET:
        target = ctx.rng.choice(c.live())
        c.kill(target)
        ctx.fault(f"SIGKILL {target.name}; tear/flip copies of its WAL")
        ctx.problems.extend(wal_matrix(_wal_dir(c, target), ctx.rng))
        if not c.restart(target):
            ctx.problem(f"T6: {target.name} does not restart")
            return
        ctx.wait(2 * ET)


# -- T7 snapshot catch-up --------------------------------------------------------------------


def t7(ctx: Ctx) -> None:
    """Blackhole a follower until the leader compacted past it, heal; odd seeds also crash the
    follower inside the snapshot install (before/after apply)."""
    c = ctx.cluster
    leader = c.leader()
    follower = ctx.rng.choice(c.followers(leader))
    start = _store_index(c, leader)
    c.net.isolate(follower.member_id)
    ctx.fault(f"isolate follower {follower.name} until a snapshot is needed")
    deadline = time.monotonic() + max(6.0, ctx.left())
    while time.monotonic() < deadline and _store_index(c, c.leader()) - start < 200:
        ctx.wait(0.2)
    ctx.note(f"leader index moved by {_store_index(c, c.leader()) - start}")
    crash = ctx.seed % 2 == 1
    if crash:
        fp = "raft_before_apply_snap" if (ctx.seed // 2) % 2 == 0 else "raft_after_apply_snap"
        c.kill(follower)
        c.restart(follower, member_env(failpoints=f"{fp}=panic"), wait=False)
        c.expect_exit(follower)
        ctx.fault(f"restart {follower.name} armed with {fp}=panic")
    c.net.heal()
    ctx.fault("heal")
    if crash:
        if c.wait_exit(follower, 15):
            ctx.fault(f"{follower.name} crashed installing the snapshot")
        else:
            ctx.note("snapshot failpoint not reached")
            c.kill(follower)
        c.poll_exits()
        if not c.restart(follower):
            ctx.problem(f"T7: {follower.name} does not restart after a crash in snapshot apply")
            return
    # It catches up to the leader.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if _store_index(c, follower) >= _store_index(c, c.leader()) - 5:
            break
        ctx.wait(0.2)
    else:
        ctx.problem(f"T7: {follower.name} did not catch up within 15 s of healing")
    ctx.wait(max(1.0, ctx.left()))


# -- T8 peer delay and drop ------------------------------------------------------------------


def t8(ctx: Ctx) -> None:
    """Seed % 4: delay a member 75±50 ms; delay the leader 5±0.5 s; 50 % drop on a member;
    Tx-only blackhole of a member. At most 3 elections per fault window."""
    c = ctx.cluster
    variant = ctx.seed % 4
    before = c.term()
    target = ctx.rng.choice(c.live())
    if variant == 0:
        c.net.delay_member(target.member_id, 0.075, 0.05)
        ctx.fault(f"delay {target.name} 75±50 ms")
        ctx.wait(max(2.0, ctx.left() - 2))
    elif variant == 1:
        target = c.leader()
        c.net.delay_member(target.member_id, 5.0, 0.5)
        ctx.fault(f"delay leader {target.name} 5000±500 ms")
        ctx.wait(6 * ET)
    elif variant == 2:
        c.net.drop(target.member_id, 0.5)
        ctx.fault(f"50% drop on {target.name}")
        ctx.wait(max(3.0, ctx.left() - 2))
    else:
        c.net.blackhole_tx(target.member_id)
        ctx.fault(f"Tx-only blackhole of {target.name}")
        ctx.wait(3 * ET)
    c.net.heal()
    ctx.fault("heal")
    ctx.wait(2 * ET)
    _term_bound(ctx, before)
    ctx.wait(max(0.0, ctx.left()))


# -- T9 membership ----------------------------------------------------------------------------


def t9(ctx: Ctx) -> None:
    """Seed % 4: add a member; remove a follower; remove the leader; replace a follower (remove,
    wipe, add fresh). All under load."""
    c = ctx.cluster
    variant = ctx.seed % 4
    ctx.wait(1.0)
    leader = c.leader()
    if variant == 0:
        c.add_member("m4", leader)
        ctx.fault("add member m4")
    elif variant == 1:
        f = ctx.rng.choice(c.followers(leader))
        c.remove_member(f, leader)
        ctx.fault(f"remove follower {f.name}")
    elif variant == 2:
        c.remove_member(leader, leader)
        ctx.fault(f"remove leader {leader.name}")
    else:
        f = ctx.rng.choice(c.followers(leader))
        _replace(ctx, f, "m4")
    ctx.wait(max(2.0, ctx.left()))


# -- T14 v2 API semantics --------------------------------------------------------------------


def t14(ctx: Ctx) -> None:
    """Kill the leader (term must rise), isolate the new one, then the v2 specifics: TTL refresh
    and a waitIndex older than the 1000-event window answered 401 with the current index."""
    c = ctx.cluster
    before = c.term()
    leader = c.leader()
    c.kill(leader)
    ctx.fault(f"SIGKILL leader {leader.name}")
    ctx.wait(2.5 * ET)
    if not c.restart(leader):
        ctx.problem(f"T14: {leader.name} does not restart")
    if c.term() <= before:
        ctx.problem(f"T14: X-Raft-Term did not rise across an election ({before})")
    new = c.leader()
    c.net.isolate(new.member_id)
    ctx.fault(f"isolate leader {new.name}")
    ctx.wait(3 * ET)
    c.net.heal()
    ctx.fault("heal")
    ctx.wait(1.0)
    _ttl_refresh(ctx)
    _event_window(ctx)


def _ttl_refresh(ctx: Ctx) -> None:
    c = ctx.cluster
    node = c.leader()
    path = "/v2/keys/torture-ttl/x"
    ans = c.request(node, "PUT", path, {"value": "v", "ttl": "30"}, timeout=5)
    ans2 = c.request(
        node, "PUT", path, {"ttl": "60", "refresh": "true", "prevExist": "true"}, timeout=5
    )
    got = c.request(node, "GET", path, {"quorum": "true"}, timeout=5)
    node_doc = got.body.get("node") if isinstance(got.body, dict) else None
    if ans.status != 201 or ans2.status != 200 or not isinstance(node_doc, dict):
        ctx.problem(f"T14: TTL refresh answered {ans.status}/{ans2.status}/{got.status}")
    elif node_doc.get("value") != "v" or not 30 < int(str(node_doc.get("ttl", 0))) <= 60:
        ctx.problem(f"T14: after refresh the key is {node_doc}")
    c.request(node, "DELETE", path, timeout=5)


def _event_window(ctx: Ctx) -> None:
    import concurrent.futures

    c = ctx.cluster
    node = c.leader()

    def put(i: int) -> None:
        try:
            c.request(
                node, "PUT", f"/v2/keys/torture-burst/k{i % 50}", {"value": str(i)}, timeout=5
            )
        except Exception:  # a lost burst write is harmless: only the event count matters
            return

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(1050)))
    ctx.note("1050 burst writes")
    ans = c.request(node, "GET", "/v2/keys/", {"wait": "true", "waitIndex": "1"}, timeout=5)
    current = ans.header_int("x-etcd-index") or 0
    body = ans.body if isinstance(ans.body, dict) else {}
    if ans.status != 400 or body.get("errorCode") != 401:
        ctx.problem(f"T14: waitIndex=1 after >1000 events answered {ans.status} {body}")
    elif not isinstance(body.get("index"), int) or body["index"] < current - 1:
        ctx.problem(f"T14: EventIndexCleared index {body.get('index')} (current {current})")


# -- T15 client ambiguity ---------------------------------------------------------------------


def t15(ctx: Ctx) -> None:
    """Clients drop 20 % of write connections after sending; kill the leader mid-request."""
    c = ctx.cluster
    while ctx.left() > 4 * ET:
        leader = c.leader()
        c.kill(leader)
        ctx.fault(f"SIGKILL leader {leader.name} (clients drop 20% of writes mid-request)")
        ctx.wait(ctx.rng.uniform(0.5, 2.0))
        if not c.restart(leader):
            ctx.problem(f"T15: {leader.name} does not restart")
            return
        ctx.wait(2 * ET)


# -- T16 disk faults on one member ------------------------------------------------------------


def _flip_mid_wal(wal_dir: Path, rng: random.Random) -> bool:
    """Flip one bit in the first half of the first segment where the reader must notice.

    Returns False when no such spot was found (the file was too small).
    """
    from pycoreos.raft.types import ConfState
    from pycoreos.storage.disk import RealDisk
    from pycoreos.wal import WAL, WalSnapshot
    from pycoreos.wal.errors import WalError

    segs = sorted(p for p in wal_dir.iterdir() if p.name.endswith(".wal"))
    raw = segs[0].read_bytes()
    end = len(raw.rstrip(b"\0"))
    if end < 512:
        return False
    for _ in range(20):
        off = rng.randrange(end // 4, end // 2)
        flipped = bytearray(raw)
        flipped[off] ^= 1 << rng.randrange(8)
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp) / "wal"
            shutil.copytree(wal_dir, d)
            (d / segs[0].name).write_bytes(bytes(flipped))
            try:
                w = WAL.open(RealDisk(), str(d), WalSnapshot(0, 0, ConfState()))
                w.read_all()
                w.close()
            except WalError:
                segs[0].write_bytes(bytes(flipped))
                return True
    return False


def t16(ctx: Ctx) -> None:
    """On one follower: seed % 3 = ENOSPC on a write; EIO on a read at startup; a bit flip in
    the middle of its WAL. It must stop or refuse to start (never serve corrupt data), the
    others stay available, and it can be wiped and re-added."""
    c = ctx.cluster
    variant = ctx.seed % 3
    target = ctx.rng.choice(c.followers())
    c.kill(target)
    if variant == 0:
        n = ctx.rng.randint(10, 80)
        ctx.fault(f"restart {target.name} with ENOSPC from its write #{n}")
        c.restart(target, member_env(disk_faults=f"enospc@{n}"), wait=False)
        c.expect_exit(target)
        if not c.wait_exit(target, max(4.0, ctx.left() - 3)):
            ctx.problem(f"T16: {target.name} kept running with every write failing (ENOSPC)")
            c.kill(target)
        else:
            ctx.fault(f"{target.name} stopped on ENOSPC")
        _replace(ctx, target, "m4")
    elif variant == 1:
        ctx.fault(f"restart {target.name} with EIO on every read")
        served = c.restart(target, member_env(disk_faults="eio@1"))
        c.expect_exit(target)
        if served:
            ctx.problem(f"T16: {target.name} served with EIO on every read of its WAL")
            c.kill(target)
        c.poll_exits()
        if not c.restart(target):
            ctx.problem(f"T16: {target.name} does not restart once reads work again")
    else:
        if not _flip_mid_wal(_wal_dir(c, target), ctx.rng):
            ctx.note("WAL too small to flip a bit in the middle")
            c.restart(target)
        else:
            ctx.fault(f"flip a bit in the middle of {target.name}'s WAL")
            c.expect_exit(target)
            if c.restart(target):
                ctx.problem(f"T16: {target.name} started on a WAL with a flipped bit")
                c.kill(target)
            _replace(ctx, target, "m4")
    ctx.wait(max(1.0, ctx.left()))


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("T1", "stale-read hunt: leader isolated 3 ET, repeated", t1),
        Scenario("T3", "process pause: SIGSTOP leader, then a follower", t3),
        Scenario(
            "T4",
            "crash at a persistence failpoint, restart",
            t4,
            size=lambda seed: 1 if (seed // 10) % 2 else 3,
            extra_args=("--snapshot-count", "100", "--experimental-snapshot-catchup-entries", "50"),
        ),
        Scenario(
            "T5",
            "power loss: un-fsynced bytes dropped on kill",
            t5,
            size=lambda seed: 1 if seed % 2 else 3,
            env=t5_env,
            workload=WorkloadConfig(rate=8.0),
        ),
        Scenario("T6", "WAL crash matrix on a real member's files", t6),
        Scenario(
            "T7",
            "snapshot catch-up after a blackhole (crash in apply on odd seeds)",
            t7,
            extra_args=("--snapshot-count", "50", "--experimental-snapshot-catchup-entries", "20"),
        ),
        Scenario("T8", "peer delay, drop and one-way blackhole", t8),
        Scenario("T9", "membership changes under load", t9),
        Scenario("T14", "v2 semantics: elections, TTL refresh, event window", t14),
        Scenario(
            "T15",
            "client ambiguity: dropped connections, leader killed mid-request",
            t15,
            workload=WorkloadConfig(drop_rate=0.2),
        ),
        Scenario("T16", "disk faults on one member: ENOSPC, EIO, bit flip", t16),
    )
}
