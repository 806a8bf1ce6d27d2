"""pycoreos.testing.sim: deterministic simulation pieces (disk, network, clock, loop, cluster).

See ``docs/design/simulation.md``. ``run_simulation(seed)`` runs and checks one seeded
whole-member scenario; the pieces compose for scripted ones (``SimCluster``).

Names are imported lazily: ``pycoreos.testing.sim.disk`` is used on its own by storage tests,
which should not pay for (or break with) the whole server import.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pycoreos.testing.sim.checks import MemberView, SafetyMonitor, Violation
    from pycoreos.testing.sim.cluster import (
        CRASH_FAILPOINTS,
        MemberGoneError,
        MemberOptions,
        SimCluster,
        SimMember,
        Trace,
    )
    from pycoreos.testing.sim.disk import SimDisk
    from pycoreos.testing.sim.loop import OWNER, SimClock, SimCrashError, SimDeadlockError, SimLoop
    from pycoreos.testing.sim.network import LinkConfig, NetworkStats, SimNetwork
    from pycoreos.testing.sim.scenario import SimConfig, SimResult, run_simulation

__all__ = [
    "CRASH_FAILPOINTS",
    "OWNER",
    "LinkConfig",
    "MemberGoneError",
    "MemberOptions",
    "MemberView",
    "NetworkStats",
    "SafetyMonitor",
    "SimClock",
    "SimCluster",
    "SimConfig",
    "SimCrashError",
    "SimDeadlockError",
    "SimDisk",
    "SimLoop",
    "SimMember",
    "SimNetwork",
    "SimResult",
    "Trace",
    "Violation",
    "run_simulation",
]

_MODULES = {
    "MemberView": "checks",
    "SafetyMonitor": "checks",
    "Violation": "checks",
    "CRASH_FAILPOINTS": "cluster",
    "MemberGoneError": "cluster",
    "MemberOptions": "cluster",
    "SimCluster": "cluster",
    "SimMember": "cluster",
    "Trace": "cluster",
    "SimDisk": "disk",
    "OWNER": "loop",
    "SimClock": "loop",
    "SimCrashError": "loop",
    "SimDeadlockError": "loop",
    "SimLoop": "loop",
    "LinkConfig": "network",
    "NetworkStats": "network",
    "SimNetwork": "network",
    "SimConfig": "scenario",
    "SimResult": "scenario",
    "run_simulation": "scenario",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
