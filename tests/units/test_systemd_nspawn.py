"""The conformance suite against a real systemd (in systemd-nspawn) through
:class:`~pycoreos.units.systemd.SystemdManager` over D-Bus. Slow: boots a container."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from .conformance import CASES
from .nspawn import NspawnNode, missing_requirements
from .test_supervisor import marked

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(missing_requirements() is not None, reason=str(missing_requirements())),
]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NspawnNode]:
    n = NspawnNode(tmp_path_factory.mktemp("nspawn") / "console.log")
    try:
        n.wait_running()
        yield n
    finally:
        n.stop()


class SystemdHarness:
    def __init__(self, node: NspawnNode, manager: object) -> None:
        self.node = node
        self.manager = manager
        self.marker = uuid.uuid4().hex
        self.can_track_setsid = True
        self.strict_unit_files = False
        self.units: list[str] = []
        self.conf = f"/tmp/pycoreos-{self.marker[:8]}"
        (node.root / self.conf.lstrip("/")).mkdir(parents=True)

    def write_unit(self, name: str, text: str) -> None:
        p = self.node.root / "run/systemd/system" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        if "/" not in name:
            self.units.append(name)

    def write_file(self, name: str, text: str) -> str:
        (self.node.root / self.conf.lstrip("/") / name).write_text(text)
        return f"{self.conf}/{name}"

    def read_file(self, name: str) -> str:
        return (self.node.root / self.conf.lstrip("/") / name).read_text()

    def marked_pids(self) -> list[int]:
        return marked(self.marker)


@pytest.fixture
async def harness(node: NspawnNode) -> AsyncIterator[SystemdHarness]:
    from pycoreos.units.systemd import SystemdManager

    async with SystemdManager(
        bus_address=node.bus_address, root=node.root, command_prefix=node.nsenter()
    ) as m:
        h = SystemdHarness(node, m)
        yield h
        for name in h.units:
            if not name.endswith("@.service"):
                await m.stop(name)
    assert h.marked_pids() == []


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", sorted(CASES))
async def test_conformance_systemd(harness: SystemdHarness, case: str) -> None:
    await CASES[case](harness)  # type: ignore[arg-type]


def test_container_is_systemd(node: NspawnNode) -> None:
    assert Path(f"/proc/{node.pid1}/comm").read_text().strip() == "systemd"
