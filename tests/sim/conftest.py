"""Seed selection for the simulation tests.

``pytest tests/sim --sim-seed=N`` (or ``PYCOREOS_SIM_SEED=N``) replays exactly one seed in the
seeded tests instead of their seed lists; a failing run's report prints that command.
"""

from __future__ import annotations

import os

import pytest

FAST_SEEDS = range(50)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--sim-seed",
        type=int,
        default=None,
        help="replay one simulation seed (instead of the seed lists)",
    )


def replay_seed(config: pytest.Config) -> int | None:
    """The seed asked for on the command line or in the environment, if any."""
    # getoption's default covers runs where this conftest was not an initial one.
    seed = config.getoption("--sim-seed", default=None)
    if seed is None and os.environ.get("PYCOREOS_SIM_SEED"):
        seed = int(os.environ["PYCOREOS_SIM_SEED"])
    return seed


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "sim_seed" in metafunc.fixturenames:
        seed = replay_seed(metafunc.config)
        metafunc.parametrize("sim_seed", [seed] if seed is not None else list(FAST_SEEDS))
