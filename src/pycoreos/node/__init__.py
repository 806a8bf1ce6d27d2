"""One CoreOS machine as a process: ``pycoreos node --config FILE --root DIR``.

:func:`prepare` validates and applies the cloud-config below the node's root (refusing to
boot on validator errors) and places the shipped units; :func:`run_node` runs the unit
manager, boots ``default.target`` and the config's unit commands, and shuts down in order.
Design notes: ``docs/design/node.md``.
"""

from pycoreos.node.boot import Prepared, lock_root, machine_id, prepare
from pycoreos.node.cmdline import UserData, kernel_cmdline, read_user_data
from pycoreos.node.config import (
    ContainerEngine,
    NodeConfig,
    NodeError,
    NodeLayout,
    RefusedError,
    UnitManagerKind,
)
from pycoreos.node.manager import choose_manager, open_manager, resolve_manager
from pycoreos.node.runner import NodeStatus, read_status, run_node
from pycoreos.node.services import ServiceFacts, base_units, default_environment, shutdown_phases
from pycoreos.node.sink import NodeUnitSink, RunCommand, StartTransient, UnitOp

__all__ = [
    "ContainerEngine",
    "NodeConfig",
    "NodeError",
    "NodeLayout",
    "NodeStatus",
    "NodeUnitSink",
    "Prepared",
    "RefusedError",
    "RunCommand",
    "ServiceFacts",
    "StartTransient",
    "UnitManagerKind",
    "UnitOp",
    "UserData",
    "base_units",
    "choose_manager",
    "default_environment",
    "kernel_cmdline",
    "lock_root",
    "machine_id",
    "open_manager",
    "prepare",
    "read_status",
    "read_user_data",
    "resolve_manager",
    "run_node",
    "shutdown_phases",
]
