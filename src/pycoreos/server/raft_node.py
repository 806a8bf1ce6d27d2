"""The Raft driver: the one place that orders persist → send → apply → advance.

Contract (etcd-io/raft's Ready, restated because the whole member's safety rests on it):

1. A snapshot in a Ready is saved (snapshot file, then its WAL marker) and applied to the
   in-memory raft storage before anything else in that Ready.
2. Hard state and entries are written to the WAL — **fsynced when ``must_sync``** — before any
   message of the same Ready is sent. A vote or an append acknowledged to a peer is therefore
   never forgotten by a crash, and an entry is counted towards commitment only once durable.
   Exception (Raft thesis §10.2.1, etcd's raft.go): a *leader* sends its messages (appends,
   heartbeats) before writing, in parallel with its fsync; its own entries still count
   towards a quorum only after they are persisted (``advance()``).
3. Entries are appended to the in-memory storage after they are durable.
4. Committed entries are applied in order. They may be applied before *this* Ready's new
   entries are persisted: being committed, they are already durable on a quorum (a leader
   counts its own entries only once it persisted them and called ``advance()``), so an
   acknowledged write (acked after apply) is durable on a quorum.
5. ``advance()`` is called last.

Group commit: the WAL write and its fsync run on a dedicated I/O thread. While one batch is
being synced, the event loop keeps accepting requests, which Raft appends to its unstable log;
the next Ready carries all of them, so many concurrent proposals share one write and one fsync
(and one append message per follower).

Ticks, proposals, inbound messages and the Ready loop all run on the event loop thread, so the
RawNode has one writer and needs no lock. Storage failures are fail-stop: the member stops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from pycoreos._failpoints import failpoint
from pycoreos.raft.rawnode import RawNode
from pycoreos.raft.storage import MemoryStorage
from pycoreos.raft.types import (
    Entry,
    HardState,
    Message,
    ReadState,
    Snapshot,
    SoftState,
    StateType,
)

log = logging.getLogger("pycoreos.server")

# Above this average fsync time (seconds) the loop should not sit blocked in fsync: the thread
# hops (~0.1-0.2 ms) are then cheaper than the requests and acks the loop could handle.
SYNC_OFF_LOOP_THRESHOLD = 0.001

Persist = Callable[[HardState | None, Sequence[Entry], bool], None]
SaveSnapshot = Callable[[Snapshot], None]


class RaftNode:
    """Runs a :class:`RawNode` on the event loop; see the module docstring for the ordering."""

    def __init__(
        self,
        raw: RawNode,
        storage: MemoryStorage,
        *,
        persist: Persist,
        save_snapshot: SaveSnapshot,
        send: Callable[[Sequence[Message]], None],
        apply_snapshot: Callable[[Snapshot], None],
        apply_entries: Callable[[Sequence[Entry]], None],
        on_soft_state: Callable[[SoftState], None],
        on_read_states: Callable[[Sequence[ReadState]], None],
        after_advance: Callable[[], None],
        tick_seconds: float,
        on_fatal: Callable[[BaseException], None],
        inline_io: bool = False,
    ) -> None:
        self.raw = raw
        self.storage = storage
        self._persist = persist
        self._save_snapshot = save_snapshot
        self._send = send
        self._apply_snapshot = apply_snapshot
        self._apply_entries = apply_entries
        self._on_soft_state = on_soft_state
        self._on_read_states = on_read_states
        self._after_advance = after_advance
        self._tick_seconds = tick_seconds
        self._on_fatal = on_fatal
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wal")
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._ticker: asyncio.TimerHandle | None = None
        self.commit_index = storage.initial_state()[0].commit
        self._is_leader = False
        # Moving average of recent fsync times: decides inline vs. I/O-thread fsyncs.
        self._sync_ewma = 0.0
        # Simulations run every write on the loop: no threads, so runs are deterministic.
        self._inline_io = inline_io

    def start(self) -> None:
        """Start the Ready loop and the ticker on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="raft-ready")
        self._schedule_tick()
        self.notify()

    def notify(self) -> None:
        """Something was fed to the RawNode: look for a Ready soon."""
        self._wakeup.set()

    async def stop(self) -> None:
        self._stopping = True
        if self._ticker is not None:
            self._ticker.cancel()
        self._wakeup.set()
        if self._task is not None:
            await asyncio.wait([self._task], timeout=5)
        self._io.shutdown(wait=True)

    def _schedule_tick(self) -> None:
        if not self._stopping:
            loop = asyncio.get_running_loop()
            self._ticker = loop.call_later(self._tick_seconds, self._tick)

    def _tick(self) -> None:
        self.raw.tick()
        self.notify()
        self._schedule_tick()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping:
                await self._wakeup.wait()
                self._wakeup.clear()
                while not self._stopping and self.raw.has_ready():
                    await self._handle_ready(loop)
        except Exception as exc:  # fail-stop: storage or invariant failure
            log.critical("raft driver stopped: %r", exc, exc_info=True)
            self._on_fatal(exc)

    async def _handle_ready(self, loop: asyncio.AbstractEventLoop) -> None:
        rd = self.raw.ready()
        if rd.soft_state is not None:
            self._is_leader = rd.soft_state.raft_state == StateType.Leader
            self._on_soft_state(rd.soft_state)
        sent_early = False
        if self._is_leader and rd.messages and rd.snapshot is None:
            # Raft thesis §10.2.1 (and etcd's raft.go): a leader may replicate while it
            # writes its own log, since it counts its own entries towards a quorum only
            # after persisting them (advance()). This takes the leader's fsync off the
            # critical path of every write.
            self._send(rd.messages)
            sent_early = True
        if rd.snapshot is not None and not rd.snapshot.is_empty():
            await self.run_io(lambda: self._save_snapshot(rd.snapshot))  # type: ignore[arg-type]
            self.storage.apply_snapshot(rd.snapshot)
            failpoint("raft_before_apply_snap")  # robustness T7: crash inside snapshot install
            self._apply_snapshot(rd.snapshot)
            failpoint("raft_after_apply_snap")
        if rd.committed_entries:
            # Committed entries are already durable on a quorum (a leader counts its own log
            # only after advance(), i.e. after persisting), so they may be applied before
            # this Ready's new entries are written, as etcd does: a batch is acknowledged
            # after one fsync, not two, and the next batch's fsync overlaps this apply.
            failpoint("raft_before_apply")
            self._apply_entries(rd.committed_entries)
            failpoint("raft_after_apply")
        if rd.read_states:
            self._on_read_states(rd.read_states)
        failpoint("raft_before_save")
        # A Ready that installed a snapshot must fsync its hard state before anything is
        # acknowledged, even when only the commit index moved (etcd #10219, our track
        # record #3): otherwise a crash leaves us behind what the leader saw us accept.
        must_sync = rd.must_sync or (rd.snapshot is not None and not rd.snapshot.is_empty())
        if rd.hard_state is not None or rd.entries:
            if must_sync and self._sync_off_loop():
                # A slow disk: fsync on the I/O thread so the loop keeps accepting requests
                # and peer messages meanwhile (they form the next batch: group commit).
                t0 = time.monotonic()
                await loop.run_in_executor(self._io, self._persist, rd.hard_state, rd.entries, True)
                self._note_sync(time.monotonic() - t0)
            elif must_sync:
                # A fast disk: the two thread hops would cost more than the fsync itself
                # (~0.2 ms on an idle disk here); block the loop for it instead.
                t0 = time.monotonic()
                self._persist(rd.hard_state, rd.entries, True)
                self._note_sync(time.monotonic() - t0)
            else:
                # Only the commit index moved: a small unsynced write, not worth a thread hop
                # (the I/O thread is idle here: every Ready awaits its own writes).
                self._persist(rd.hard_state, rd.entries, False)
        failpoint("raft_after_save")
        if rd.hard_state is not None:
            self.storage.set_hard_state(rd.hard_state)
            self.commit_index = rd.hard_state.commit
        if rd.entries:
            self.storage.append(list(rd.entries))
        if rd.messages and not sent_early:
            self._send(rd.messages)
        self.raw.advance()
        self._after_advance()

    def _sync_off_loop(self) -> bool:
        """Whether the next fsync should run on the I/O thread (measured, not configured)."""
        if self._inline_io:
            return False
        return self._sync_ewma > SYNC_OFF_LOOP_THRESHOLD

    def _note_sync(self, seconds: float) -> None:
        self._sync_ewma = 0.8 * self._sync_ewma + 0.2 * seconds

    async def run_io(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the WAL thread, ordered with the Ready loop's writes."""
        if self._inline_io:
            fn()
            return
        await asyncio.get_running_loop().run_in_executor(self._io, fn)
