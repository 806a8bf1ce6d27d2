"""The public surface: ``pycoreos.raft.__all__`` lists exactly the public names."""

from __future__ import annotations

import ast
import pathlib

import pycoreos.raft as raft

RAFT_DIR = pathlib.Path(raft.__file__).parent
FORBIDDEN = {"asyncio", "os", "time", "socket", "threading", "subprocess"}


def test_all_matches_public_names():
    public = {n for n in dir(raft) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(raft, n)).__name__ == "module"}
    assert set(raft.__all__) == public - modules
    assert sorted(raft.__all__, key=str.lower) == sorted(set(raft.__all__), key=str.lower)


def test_core_is_sans_io():
    """style.md §6.2: raft/ imports no I/O, clock or thread modules, nor upper layers."""
    for path in RAFT_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, (path.name, name)
                assert not name.startswith(
                    ("pycoreos.server", "pycoreos.api", "pycoreos.testing")
                ), (
                    path.name,
                    name,
                )


def test_no_module_level_randomness():
    for path in RAFT_DIR.glob("*.py"):
        text = path.read_text()
        assert "random.random(" not in text
        assert "random.randrange(" not in text
        assert "random.seed(" not in text
