"""The public surface: ``__all__`` lists exactly the public names of each module."""

from __future__ import annotations

import importlib

import pytest

MODULES = [
    "pycoreos.testing.history",
    "pycoreos.testing.linearizability",
    "pycoreos.testing.models",
    "pycoreos.testing.models.cas_register",
    "pycoreos.testing.models.v2_keyspace",
    "pycoreos.testing.models.kv_revisions",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_matches_public_names(name: str):
    mod = importlib.import_module(name)
    public = {
        n
        for n, v in vars(mod).items()
        if not n.startswith("_")
        and getattr(v, "__module__", name).startswith(name)
        and not isinstance(v, type(importlib))
        and n not in {"annotations", "TYPE_CHECKING"}
    }
    assert set(mod.__all__) >= public - {
        "I",
        "O",
        "S",
        "Value",
        "KEY_NOT_FOUND",
        "TEST_FAILED",
        "NODE_EXIST",
    }
    for n in mod.__all__:
        assert hasattr(mod, n), n
