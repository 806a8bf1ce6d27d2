"""One seed, one run: the event trace's hash is a function of the seed alone (trio's habit)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from pycoreos.testing.sim.scenario import run_simulation

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")


def setup_module() -> None:
    logging.disable(logging.WARNING)


def teardown_module() -> None:
    logging.disable(logging.NOTSET)


def test_same_seed_same_trace():
    a, b = run_simulation(17), run_simulation(17)
    assert a.trace_hash == b.trace_hash
    assert a.trace_events == b.trace_events > 1000
    assert a.tail == b.tail
    assert (a.ops, a.ops_unknown, a.faults, a.crashes) == (
        b.ops,
        b.ops_unknown,
        b.faults,
        b.crashes,
    )


def test_different_seeds_different_traces():
    hashes = {run_simulation(seed).trace_hash for seed in (1, 2, 3, 4)}
    assert len(hashes) == 4


def test_a_seed_replays_identically_in_other_processes_with_other_hash_seeds():
    code = (
        "import logging; logging.disable(logging.CRITICAL)\n"
        "from pycoreos.testing.sim.scenario import run_simulation\n"
        "print(run_simulation(23).trace_hash)\n"
    )
    here = run_simulation(23).trace_hash
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": SRC}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == here
