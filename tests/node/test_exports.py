"""The public surface of ``pycoreos.node`` and ``pycoreos.cluster`` is what ``__all__`` says."""

from __future__ import annotations

import importlib
import types

import pytest


@pytest.mark.parametrize("name", ["pycoreos.node", "pycoreos.cluster"])
def test_all_lists_exactly_the_public_names(name):
    mod = importlib.import_module(name)
    public = {
        n
        for n, v in vars(mod).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType)
    }
    assert set(mod.__all__) == public
    assert mod.__all__ == sorted(mod.__all__)
    for n in mod.__all__:
        assert getattr(mod, n).__doc__, n
