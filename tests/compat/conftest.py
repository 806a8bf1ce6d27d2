"""Fixtures for the v2 compatibility suite: real and our etcd members, started once per session.

``KINDS`` is the one list of server kinds; every kind-parametrised test takes the ``kind`` or
``member`` fixture. ``reference`` is an independent real etcd that the kind under test is compared
with, so the "real" case compares two real instances and proves the comparison has no false
differences. Tests that share a member use their own key prefix.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pycoreos.testing import v2compat
from pycoreos.testing.procs import Kind, Member, start_member

KINDS: list[Kind] = ["real", "ours"]


def _start(kind: Kind, tmp_path_factory: pytest.TempPathFactory, label: str) -> Member:
    # Same member name everywhere so that /v2/members and stats compare equal.
    return start_member(kind, tmp_path_factory.mktemp(f"{label}-{kind}"), name="compat")


@pytest.fixture(scope="session", params=KINDS)
def kind(request: pytest.FixtureRequest) -> Kind:
    """The server kind under test."""
    value: Kind = request.param
    return value


@pytest.fixture(scope="session")
def member(kind: Kind, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Member]:
    """A long-lived member of ``kind`` shared by the tests of a session."""
    m = _start(kind, tmp_path_factory, "shared")
    yield m
    m.stop()


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Member]:
    """A long-lived real etcd to compare answers with."""
    m = _start("real", tmp_path_factory, "reference")
    yield m
    m.stop()


@pytest.fixture(scope="session")
def reference_recording(tmp_path_factory: pytest.TempPathFactory) -> v2compat.Recording:
    """The acceptance script played once against a fresh real etcd."""
    m = _start("real", tmp_path_factory, "script-reference")
    try:
        return v2compat.run_script(m.client_url)
    finally:
        m.stop()


@pytest.fixture
def fresh_member(kind: Kind, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Member]:
    """A brand-new member of ``kind`` for one test (the script needs an untouched store)."""
    m = _start(kind, tmp_path_factory, "fresh")
    yield m
    m.stop()
