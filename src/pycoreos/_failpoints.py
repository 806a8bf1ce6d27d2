"""Named failpoints, as etcd's gofail: ``failpoint("raft_before_save")``.

Costs one dict lookup when nothing is armed. Arm them with the environment variable
``PYCOREOS_FAILPOINTS="name=action;name2=action"`` (read once at import), or from code with
:func:`arm` (simulations and tests). Actions:

- ``panic``: exit the process immediately with status 2, without flushing anything (a crash).
- ``sleep(MS)``: block this thread for MS milliseconds.
- ``raise``: raise :class:`FailpointError` (for in-process tests).
- ``off``: disarmed.

Any action may be suffixed ``@N`` (``panic@3``): the first N-1 hits pass, the Nth and later
hits run the action. Robustness scenarios use it to crash in the middle of a run rather than at
the first write (which would be the bootstrap).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable


class FailpointError(Exception):
    """Raised by a failpoint armed with ``raise``."""


_armed: dict[str, Callable[[], None]] = {}


def _action(spec: str, name: str) -> Callable[[], None] | None:
    spec = spec.strip()
    if "@" in spec:
        base, _, count = spec.rpartition("@")
        inner = _action(base, name)
        if inner is None:
            return None
        return _after_hits(inner, int(count), name)
    if spec in ("off", ""):
        return None
    if spec == "panic":

        def _panic() -> None:
            os.write(2, f"failpoint {name}: panic\n".encode())
            os._exit(2)

        return _panic
    if spec == "raise":

        def _raise() -> None:
            raise FailpointError(name)

        return _raise
    if spec.startswith("sleep(") and spec.endswith(")"):
        ms = float(spec[6:-1])
        return lambda: time.sleep(ms / 1000.0)
    raise ValueError(f"failpoint {name}: unknown action {spec!r}")


def _after_hits(inner: Callable[[], None], n: int, name: str) -> Callable[[], None]:
    if n < 1:
        raise ValueError(f"failpoint {name}: @N needs N >= 1, got {n}")
    hits = 0

    def _counted() -> None:
        nonlocal hits
        hits += 1
        if hits >= n:
            inner()

    return _counted


def arm(name: str, action: str | Callable[[], None]) -> None:
    """Arm failpoint ``name`` with an action string or a callable."""
    fn = _action(action, name) if isinstance(action, str) else action
    if fn is None:
        _armed.pop(name, None)
    else:
        _armed[name] = fn


def disarm(name: str) -> None:
    """Disarm failpoint ``name`` (no-op if it was not armed)."""
    _armed.pop(name, None)


def failpoint(name: str) -> None:
    """Run the action armed at ``name``, if any."""
    fn = _armed.get(name)
    if fn is not None:
        fn()


def _load_env() -> None:
    spec = os.environ.get("PYCOREOS_FAILPOINTS", "")
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        name, _, action = part.partition("=")
        arm(name.strip(), action)


_load_env()
