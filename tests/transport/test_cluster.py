"""Three in-process etcd members replicating through PeerTransport over loopback.

The wiring here is what the member's CLI does: ``send_messages`` -> ``PeerTransport.send``,
``on_message`` -> ``EtcdServer.receive``, the reports -> ``RawNode``.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from pycoreos.raft.rawnode import SnapshotStatus
from pycoreos.server.config import ServerConfig
from pycoreos.server.membership import Cluster
from pycoreos.server.requests import V2Request
from pycoreos.server.server import EtcdServer
from pycoreos.testing.procs import free_ports
from pycoreos.transport import PeerTransport, TransportOptions

# Waits below poll every 20 ms: EtcdServer has no leadership/applied event to await.


def _wire(srv: EtcdServer, initial: Cluster, seed: int) -> PeerTransport:
    def on_snapshot_status(peer_id: int, ok: bool) -> None:
        srv.node.raw.report_snapshot(
            peer_id, SnapshotStatus.FINISH if ok else SnapshotStatus.FAILURE
        )
        srv.node.notify()

    t = PeerTransport(
        member_id=srv.member_id,
        cluster_id=srv.cluster.cluster_id,
        on_message=srv.receive,
        on_unreachable=srv.node.raw.report_unreachable,
        on_snapshot_status=on_snapshot_status,
        is_removed=lambda mid: mid in srv.cluster.removed,
        rng=random.Random(seed),
        options=TransportOptions(backoff_min=0.02, backoff_max=0.1),
    )
    srv.send_messages = t.send
    # The peers come from --initial-cluster (the store learns them only as the bootstrap
    # conf changes are applied, which needs the peers).
    for m in initial.sorted_members():
        if m.id != srv.member_id:
            t.add_peer(m.id, m.peer_urls)
    return t


async def test_three_members_elect_and_replicate(tmp_path: Path) -> None:
    ports = free_ports(3)
    names = ["m0", "m1", "m2"]
    initial = tuple((n, f"http://127.0.0.1:{p}") for n, p in zip(names, ports, strict=True))
    servers: list[EtcdServer] = []
    transports: list[PeerTransport] = []
    try:
        for i, name in enumerate(names):
            cfg = ServerConfig(
                name=name,
                data_dir=str(tmp_path / name),
                initial_advertise_peer_urls=(initial[i][1],),
                listen_peer_urls=(initial[i][1],),
                initial_cluster=initial,
                heartbeat_interval_ms=20,
                election_timeout_ms=200,
            )
            srv = EtcdServer(cfg, rng=random.Random(i))
            t = _wire(srv, Cluster.new(initial, cfg.initial_cluster_token), i)
            await t.serve("127.0.0.1", ports[i])
            servers.append(srv)
            transports.append(t)
        assert len({s.cluster.cluster_id for s in servers}) == 1
        for t in transports:
            await t.start()
        for srv in servers:
            await srv.start()
        async with asyncio.timeout(20):
            while not any(s.is_leader() for s in servers):  # noqa: ASYNC110 - servers expose no leadership event
                await asyncio.sleep(0.02)
            leader = next(s for s in servers if s.is_leader())
            for k in range(20):
                req = V2Request(
                    id=leader.next_request_id(), method="PUT", path=f"/k{k}", val=str(k)
                )
                await leader.propose(req)
            while not all(s.applied_index >= leader.applied_index for s in servers):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        for srv in servers:
            node = srv.store.get("/k19").node
            assert node is not None
            assert node.value == "19"
        followers = [s for s in servers if s is not leader]
        leader_t = transports[servers.index(leader)]
        stats = leader_t.stats()
        assert set(stats) == {f"{s.member_id:x}" for s in followers}
    finally:
        for srv in servers:
            await srv.stop()
        for t in transports:
            await t.stop()
