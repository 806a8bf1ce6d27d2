"""The conformance suite against the built-in supervisor, per process tracker."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from pycoreos.units.loader import UnitPaths
from pycoreos.units.supervisor import Supervisor, SupervisorConfig

from .conformance import CASES, Harness

_seq = itertools.count()


def marked(marker: str) -> list[int]:
    """PIDs whose environment holds MARK=<marker> (zombies excluded)."""
    needle = f"MARK={marker}".encode()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if needle in env.split(b"\0") and stat[stat.rfind(")") + 2] != "Z":
            out.append(int(entry))
    return out


class SupervisorHarness:
    def __init__(self, sup: Supervisor, root: Path, tracker: str) -> None:
        self.manager = sup
        self.sup = sup
        self.root = root
        self.files = root / "files"
        self.files.mkdir()
        self.marker = uuid.uuid4().hex
        self.can_track_setsid = tracker != "pgroup"
        self.strict_unit_files = True

    def write_unit(self, name: str, text: str) -> None:
        p = self.sup.paths.runtime / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    def write_file(self, name: str, text: str) -> str:
        p = self.files / name
        p.write_text(text)
        return str(p)

    def read_file(self, name: str) -> str:
        return (self.files / name).read_text()

    def marked_pids(self) -> list[int]:
        return marked(self.marker)


def cgroup2_available() -> bool:
    return os.path.exists("/sys/fs/cgroup/unified/cgroup.procs") or os.path.exists(
        "/sys/fs/cgroup/cgroup.controllers"
    )


TRACKERS = [
    pytest.param("cgroup2", marks=pytest.mark.skipif(not cgroup2_available(), reason="no cgroup2")),
    "pgroup",
]


@pytest.fixture(params=TRACKERS)
async def harness(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[SupervisorHarness]:
    tracker: str = request.param
    cfg = SupervisorConfig(
        paths=UnitPaths.under(tmp_path / "root"),
        state_dir=tmp_path / "state",
        tracker=tracker,
        cgroup_root=f"pycoreos-test-{os.getpid()}-{next(_seq)}",
    )
    sup = Supervisor(cfg)
    await sup.open()
    assert sup.tracker_kind == tracker
    h = SupervisorHarness(sup, tmp_path, tracker)
    try:
        yield h
    finally:
        await sup.close()
        assert h.marked_pids() == []
        if tracker == "cgroup2":
            assert not any(cfg.cgroup_root in p for p in _cgroup_dirs())


def _cgroup_dirs() -> list[str]:
    out = []
    for base in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        if os.path.isdir(base):
            out += [os.path.join(base, d) for d in os.listdir(base)]
    return out


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", sorted(CASES))
async def test_conformance(harness: SupervisorHarness, case: str) -> None:
    fn: Callable[[Harness], Awaitable[None]] = CASES[case]
    await fn(harness)
