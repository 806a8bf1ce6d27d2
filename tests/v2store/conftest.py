"""Fixtures for the v2 store tests: a manual clock and a store with etcd's namespaces."""

from __future__ import annotations

import pytest

from pycoreos._clock import ManualClock
from pycoreos.v2store import Store

NOW = 1_700_000_000.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(wall=NOW)


@pytest.fixture
def store(clock: ManualClock) -> Store:
    """A bare store (no namespaces), like etcd's store tests use."""
    return Store(clock)


@pytest.fixture
def ns_store(clock: ManualClock) -> Store:
    """A store as the etcd server creates it: read-only ``/0`` and ``/1``."""
    return Store(clock, ["/0", "/1"])
