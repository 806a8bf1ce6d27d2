"""The harness must catch real bugs: plant one in the member, and some seed must fail with the
property that bug breaks. (A check that never fires proves nothing.)"""

from __future__ import annotations

import asyncio

import pytest

from pycoreos.raft import core
from pycoreos.server import server as server_mod
from pycoreos.server.requests import V2Request
from pycoreos.testing.sim import disk as disk_mod
from pycoreos.testing.sim.scenario import SimResult, run_simulation


def first_failure(kinds: set[str], seeds: range, **overrides: object) -> SimResult:
    """The first run among ``seeds`` with a violation of one of ``kinds``."""
    seen: list[str] = []
    for seed in seeds:
        r = run_simulation(seed, **overrides)
        found = {v.kind for v in r.violations}
        if found & kinds:
            return r
        seen.append(f"{seed}: {sorted(found)}")
    pytest.fail(f"no seed in {seeds} showed {kinds}: {seen}")


def test_stale_local_reads_break_linearizability(monkeypatch):
    def local_read(self):  # serve "quorum" reads from the local store, no ReadIndex
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    monkeypatch.setattr(server_mod.EtcdServer, "linearizable_read", local_read)
    r = first_failure({"linearizability"}, range(5))
    assert "history not linearizable" in r.report()
    assert f"--sim-seed={r.seed}" in r.report()


def test_forgetting_votes_breaks_election_safety(monkeypatch):
    handle = core.Raft._handle_vote_request

    def forgetful(self, m):  # as if the vote were never persisted
        self.vote = 0
        self.lead = 0
        handle(self, m)

    monkeypatch.setattr(core.Raft, "_handle_vote_request", forgetful)
    first_failure({"election safety", "log matching", "state machine safety"}, range(40))


def test_an_fsync_that_does_nothing_loses_data_on_crash(monkeypatch):
    def no_fsync(self):  # the disk lies: nothing ever becomes durable
        self._live()

    monkeypatch.setattr(disk_mod._SimFile, "fsync", no_fsync)
    first_failure(
        {"restart", "liveness", "state machine safety", "linearizability", "leader completeness"},
        range(10),
    )


def test_one_member_applying_differently_breaks_convergence(monkeypatch):
    apply_v2 = server_mod.apply_v2

    def skewed(store, cluster, req):
        # n2 (member ids are stable per cluster) stores a different value for one write.
        if req.method == "PUT" and req.path.startswith("/1/") and store is skewed.target:
            req = V2Request(id=req.id, method="PUT", path=req.path, val="skewed")
        return apply_v2(store, cluster, req)

    skewed.target = None
    init = server_mod.EtcdServer.__init__

    def init_and_pick(self, cfg, **kw):
        init(self, cfg, **kw)
        if cfg.name == "n2":
            skewed.target = self.store

    monkeypatch.setattr(server_mod, "apply_v2", skewed)
    monkeypatch.setattr(server_mod.EtcdServer, "__init__", init_and_pick)
    first_failure({"convergence", "linearizability"}, range(5), faults=False)
