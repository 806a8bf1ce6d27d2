"""InteractionEnv: RawNodes driven by golden-script commands (etcd-io/raft ``rafttest``).

Vocabulary (a subset of etcd-io/raft's ``interaction_env_handler.go``)::

    add-nodes <n> [voters=(1,2,3)] [learners=(4)] [index=<i>] [prevote=true]
              [checkquorum=true] [max-inflight=<k>]
    campaign <id>                 propose <id> <data>       read-index <id> <ctx>
    propose-conf-change <id>      (input lines: v2 | l2 | r2 | u2, one change)
    process-ready <id>...         deliver-msgs <id>... [drop=true]
    stabilize [<id>...]           tick-heartbeat <id>       tick-election <id>
    raft-log <id>                 raft-state                status <id>
    compact <id> <index>          transfer-leadership from=<id> to=<id>
    log-level <debug|info|warn|error|none>

Output combines the harness trace ("> 1 handling Ready") with raft's own log lines, both
rendered deterministically (``describe.py``; ids, terms and indexes only).
"""

from __future__ import annotations

import logging
import random

from pycoreos.raft import (
    ConfChange,
    ConfChangeType,
    Config,
    ConfState,
    EntryType,
    MemoryStorage,
    Message,
    MessageType,
    RaftError,
    RawNode,
    Snapshot,
    SnapshotMetadata,
    SnapshotStatus,
    StateType,
    decode_conf_change,
)
from pycoreos.raft.describe import describe_entries, describe_message, describe_ready
from pycoreos.testing.datadriven import TestData

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "none": logging.CRITICAL + 1,
}
_NAMES = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARN",
    logging.ERROR: "ERROR",
}
_CC = {
    "v": ConfChangeType.AddNode,
    "l": ConfChangeType.AddLearnerNode,
    "r": ConfChangeType.RemoveNode,
    "u": ConfChangeType.UpdateNode,
}
_STATES = {
    StateType.Follower: "StateFollower",
    StateType.Candidate: "StateCandidate",
    StateType.Leader: "StateLeader",
    StateType.PreCandidate: "StatePreCandidate",
}


class _Capture(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(f"{_NAMES.get(record.levelno, record.levelname)} {record.getMessage()}")


class InteractionEnv:
    """Nodes, their storages, and the messages in flight between them."""

    def __init__(self) -> None:
        self.nodes: dict[int, RawNode] = {}
        self.storages: dict[int, MemoryStorage] = {}
        self.messages: list[Message] = []
        self._out: list[str] = []
        self.logger = logging.Logger("pycoreos.raft.interaction")
        self.logger.propagate = False
        self.logger.addHandler(_Capture(self._out))
        self.logger.setLevel(logging.INFO)

    # -- dispatch -------------------------------------------------------------------------

    def handle(self, td: TestData) -> str:
        """Run one command and return its output."""
        self._out.clear()
        handler = getattr(self, "_cmd_" + td.cmd.replace("-", "_"), None)
        if handler is None:
            raise ValueError(f"{td.pos}: unknown command {td.cmd}")
        try:
            handler(td)
        except RaftError as e:
            self._out.append(str(e))
        return "\n".join(self._out)

    def _ids(self, td: TestData) -> list[int]:
        pos = [int(a) for a in td.positional()]
        return pos or sorted(self.nodes)

    def _indented(self, text: str) -> None:
        self._out.extend("  " + ln for ln in text.rstrip("\n").split("\n"))

    # -- commands -------------------------------------------------------------------------

    def _cmd_log_level(self, td: TestData) -> None:
        self.logger.setLevel(_LEVELS[td.positional()[0]])

    def _cmd_add_nodes(self, td: TestData) -> None:
        n = int(td.positional()[0])
        cs = ConfState(
            voters=tuple(td.scan_ints("voters")), learners=tuple(td.scan_ints("learners"))
        )
        index = td.scan_int("index", 0)
        for _ in range(n):
            nid = len(self.nodes) + 1
            st = MemoryStorage(conf_state=cs)
            if index > 0:
                st.apply_snapshot(
                    Snapshot(metadata=SnapshotMetadata(conf_state=cs, index=index, term=1))
                )
            cfg = Config(
                id=nid,
                election_tick=3,
                heartbeat_tick=1,
                max_size_per_msg=1 << 20,
                max_inflight_msgs=td.scan_int("max-inflight", 256),
                pre_vote=td.scan_bool("prevote"),
                check_quorum=td.scan_bool("checkquorum"),
                applied=index,
            )
            self.storages[nid] = st
            self.nodes[nid] = RawNode(cfg, st, rng=random.Random(nid), logger=self.logger)

    def _cmd_campaign(self, td: TestData) -> None:
        self.nodes[int(td.positional()[0])].campaign()

    def _cmd_propose(self, td: TestData) -> None:
        nid, data = td.positional()[:2]
        self.nodes[int(nid)].propose(data.encode())

    def _cmd_propose_conf_change(self, td: TestData) -> None:
        nid = int(td.positional()[0])
        spec = td.input.strip()
        cc = ConfChange(type=_CC[spec[0]], node_id=int(spec[1:]))
        self.nodes[nid].propose_conf_change(cc)

    def _cmd_read_index(self, td: TestData) -> None:
        nid, ctx = td.positional()[:2]
        self.nodes[int(nid)].read_index(ctx.encode())

    def _cmd_transfer_leadership(self, td: TestData) -> None:
        self.nodes[td.scan_int("from")].transfer_leader(td.scan_int("to"))

    def _cmd_tick_heartbeat(self, td: TestData) -> None:
        node = self.nodes[int(td.positional()[0])]
        for _ in range(node.raft.heartbeat_timeout):
            node.tick()

    def _cmd_tick_election(self, td: TestData) -> None:
        node = self.nodes[int(td.positional()[0])]
        for _ in range(node.raft.randomized_election_timeout):
            node.tick()

    def _cmd_process_ready(self, td: TestData) -> None:
        for nid in self._ids(td):
            self._process_ready(nid)

    def _process_ready(self, nid: int) -> bool:
        node = self.nodes[nid]
        if not node.has_ready():
            return False
        self._out.append(f"> {nid} handling Ready")
        start = len(self._out)
        st = self.storages[nid]
        rd = node.ready()
        self._out.extend(describe_ready(rd).rstrip("\n").split("\n"))
        if rd.snapshot is not None:
            st.apply_snapshot(rd.snapshot)
        if rd.hard_state is not None:
            st.set_hard_state(rd.hard_state)
        st.append(rd.entries)
        for e in rd.committed_entries:
            if e.type == EntryType.CONF_CHANGE:
                cs = node.apply_conf_change(decode_conf_change(e.data))
                self._out.append(
                    f"INFO {nid} applied conf change: voters={list(cs.voters)} "
                    f"learners={list(cs.learners)}"
                )
        if rd.committed_entries:
            # Like etcd's interaction env, the storage always offers a snapshot of the
            # applied state (with the membership as of that point) for lagging peers.
            last = rd.committed_entries[-1].index
            if last > st.snapshot().metadata.index:
                st.create_snapshot(last, node.status().conf_state, b"")
        self.messages.extend(rd.messages)
        node.advance()
        self._out[start:] = ["  " + ln for ln in self._out[start:]]
        return True

    def _cmd_deliver_msgs(self, td: TestData) -> None:
        drop = td.scan_bool("drop")
        for nid in self._ids(td):
            self._deliver(nid, drop=drop)

    def _deliver(self, nid: int, *, drop: bool = False) -> bool:
        mine = [m for m in self.messages if m.to == nid]
        if not mine:
            return False
        self.messages = [m for m in self.messages if m.to != nid]
        if drop:
            self._out.extend(f"dropped: {describe_message(m)}" for m in mine)
            return True
        self._out.append(f"> {nid} receiving messages")
        for m in mine:
            start = len(self._out)
            self._out.extend(describe_message(m).split("\n"))
            try:
                self.nodes[nid].step(m)
            except RaftError as e:
                self._out.append(f"{type(e).__name__}: {e}")
            if m.type == MessageType.MsgSnap:
                # The transport reports a delivered snapshot, as etcd's does.
                self.nodes[m.from_].report_snapshot(nid, SnapshotStatus.FINISH)
                self._out.append(f"{m.from_} reported snapshot to {nid}: FINISH")
            self._out[start:] = ["  " + ln for ln in self._out[start:]]
        return True

    def _cmd_stabilize(self, td: TestData) -> None:
        ids = self._ids(td)
        while True:
            progress = False
            for nid in ids:
                progress |= self._process_ready(nid)
            for nid in ids:
                progress |= self._deliver(nid)
            if not progress:
                return

    def _cmd_raft_log(self, td: TestData) -> None:
        st = self.storages[int(td.positional()[0])]
        if st.last_index() < st.first_index():
            self._out.append(
                f"log is empty: first index={st.first_index()}, last index={st.last_index()}"
            )
            return
        ents = st.entries(st.first_index(), st.last_index() + 1, 1 << 62)
        self._out.extend(describe_entries(ents).rstrip("\n").split("\n"))

    def _cmd_raft_state(self, td: TestData) -> None:
        for nid in sorted(self.nodes):
            s = self.nodes[nid].status()
            role = (
                "Voter"
                if nid in s.conf_state.voters
                else ("Learner" if nid in s.conf_state.learners else "Non-Voter")
            )
            self._out.append(
                f"{nid}: {_STATES[s.raft_state]} ({role}) Term:{s.hard_state.term} Lead:{s.lead}"
            )

    def _cmd_status(self, td: TestData) -> None:
        node = self.nodes[int(td.positional()[0])]
        for pid, pr in node.raft.prs.items():
            self._out.append(f"{pid}: {pr!r}")

    def _cmd_compact(self, td: TestData) -> None:
        nid, index = (int(x) for x in td.positional()[:2])
        st = self.storages[nid]
        # The storage already holds a snapshot of the applied state (see _process_ready).
        st.compact(index)
        self._cmd_raft_log(TestData(pos=td.pos, cmd="raft-log", args=td.args[:1]))
