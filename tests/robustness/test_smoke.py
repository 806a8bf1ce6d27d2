"""Smoke subset on real clusters: one seed of every scenario, and the suite catching a broken
member. Marked slow (CI runs it in the slow pass); the 20-seed run is ``pycoreos torture``."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycoreos.robustness.runner import run_scenario
from pycoreos.robustness.scenarios import SCENARIOS

pytestmark = [pytest.mark.slow, pytest.mark.robustness, pytest.mark.e2e]

# Short fault phase: about 20 s per scenario on 2 cores, ~4 min for all of them.
SMOKE_DURATION = 7.0


# Odd T7 seeds crash the follower inside the snapshot install, which hits open bug #2 of the
# track record (README.md): the smoke run uses the plain catch-up variant, the regression
# below keeps the crash variant.
SMOKE_SEED = {"T7": 0}


@pytest.mark.timeout(180)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_smoke(name: str, tmp_path: Path) -> None:
    r = run_scenario(name, SMOKE_SEED.get(name, 1), duration=SMOKE_DURATION, base_dir=tmp_path)
    assert r.passed, "\n".join([r.verdict, *r.problems, *r.timeline])
    assert r.operations > 50
    assert r.faults >= 1, r.timeline


@pytest.mark.timeout(240)
def test_the_suite_catches_members_that_serve_quorum_reads_locally(tmp_path: Path) -> None:
    """A deliberately broken member (PYCOREOS_UNSAFE_LOCAL_QUORUM_READS=1) must be caught by
    T1 within a few seeds, by the linearizability check."""
    verdicts = []
    for seed in range(4):
        r = run_scenario("T1", seed, duration=SMOKE_DURATION, base_dir=tmp_path, unsafe=True)
        verdicts.append(r.verdict)
        if not r.passed:
            # A stale quorum read shows as a linearizability violation (U1) or, when the
            # stale answer also carries an older index than one already seen, as U2 first.
            assert any(p.startswith(("U1:", "U2:")) for p in r.problems), r.problems
            assert r.artefacts is not None
            assert (Path(r.artefacts) / "history.jsonl").exists()
            return
    pytest.fail(f"a member serving stale quorum reads passed 4 seeds of T1: {verdicts}")


@pytest.mark.timeout(180)
def test_regression_crash_inside_snapshot_install_restarts(tmp_path: Path) -> None:
    r = run_scenario("T7", 1, duration=SMOKE_DURATION, base_dir=tmp_path)
    assert r.passed, "\n".join([r.verdict, *r.problems, *r.timeline])
