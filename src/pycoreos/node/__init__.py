"""One CoreOS machine as a process: ``pycoreos node --config FILE --root DIR``.

:func:`prepare` validates and applies the cloud-config below the node's root (refusing to
boot on validator errors) and places the shipped units; :func:`run_node` runs the unit
manager, boots ``default.target`` and the config's unit commands, and shuts down in order.
Design notes: ``docs/design/node.md``.
"""

from pycoreos.node.boot import Prepared, lock_root, machine_id, prepare
from pycoreos.node.config import ContainerEngine, NodeConfig, NodeError, NodeLayout, RefusedError
from pycoreos.node.runner import NodeStatus, read_status, run_node
from pycoreos.node.services import ServiceFacts, base_units, shutdown_phases
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
    "UnitOp",
    "base_units",
    "lock_root",
    "machine_id",
    "prepare",
    "read_status",
    "run_node",
    "shutdown_phases",
]
