"""The package's ``__all__`` lists exactly its public names, and the core stays pure."""

from __future__ import annotations

import ast
from pathlib import Path

import pycoreos.v2store as pkg

_FORBIDDEN = {"asyncio", "os", "time", "socket", "threading", "subprocess"}


def test_all_matches_public_names() -> None:
    public = {n for n in vars(pkg) if not n.startswith("_")}
    modules = {n for n in public if type(vars(pkg)[n]).__name__ == "module"}
    assert set(pkg.__all__) == public - modules


def test_no_io_imports_in_core() -> None:
    for path in Path(pkg.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in _FORBIDDEN, (path.name, name)
                assert not name.startswith(("pycoreos.server", "pycoreos.api")), (path.name, name)
