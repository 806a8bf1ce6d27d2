"""Small helpers shared by the v2 store tests."""

from __future__ import annotations

from collections.abc import Callable

from pycoreos.v2store import V2Error


def v2err(fn: Callable[[], object]) -> V2Error:
    """Run ``fn`` and return the V2Error it raises (fail if it raises none)."""
    try:
        fn()
    except V2Error as e:
        return e
    raise AssertionError("no V2Error raised")
