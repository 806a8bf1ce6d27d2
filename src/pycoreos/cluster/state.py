"""The cluster's record in its state directory: ``cluster.json``.

Everything ``down``/``kill``/``restart``/``status`` need is here: the plan (addresses,
ports, directories), and per node the PID, its start time (``/proc/PID/stat`` field 22, so
a recycled PID is never mistaken for ours) and the cgroup it runs in. The file is replaced
atomically on every change.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pycoreos.cluster.spec import ClusterPlan, NodePlan

__all__ = ["ClusterRecord", "NodeRecord", "load_record", "save_record"]

RECORD = "cluster.json"


@dataclass(kw_only=True)
class NodeRecord:
    """A node and the process running it (``pid`` 0: not running)."""

    name: str
    address: str
    client_port: int
    peer_port: int
    fleet_port: int
    netns: str = ""
    pid: int = 0
    start_time: int = 0
    cgroup: str = ""

    def plan(self, state_dir: Path) -> NodePlan:
        """The node's :class:`NodePlan`."""
        return NodePlan(
            name=self.name,
            address=self.address,
            client_port=self.client_port,
            peer_port=self.peer_port,
            fleet_port=self.fleet_port,
            netns=self.netns,
            dir=state_dir / self.name,
        )


@dataclass(kw_only=True)
class ClusterRecord:
    """What ``cluster up`` started.

    Attributes:
        state_dir: where the record lives.
        token: etcd's initial cluster token.
        template: the cloud-config template used.
        container_engine: passed to every node.
        netns: the namespace setup (``{"switch": ..., "host_if": ..., ...}``) or empty.
        nodes: the nodes, in order.
    """

    state_dir: Path
    token: str
    template: str
    container_engine: str = "auto"
    netns: dict[str, str] = field(default_factory=dict)
    nodes: list[NodeRecord] = field(default_factory=list)

    @property
    def plan(self) -> ClusterPlan:
        """The cluster's :class:`ClusterPlan`."""
        return ClusterPlan(
            nodes=tuple(n.plan(self.state_dir) for n in self.nodes), token=self.token
        )

    def node(self, name: str) -> NodeRecord:
        """The node called ``name``.

        Raises:
            KeyError: no such node.
        """
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


def save_record(rec: ClusterRecord) -> None:
    """Write ``cluster.json`` atomically."""
    rec.state_dir.mkdir(parents=True, exist_ok=True)
    data = asdict(rec)
    data["state_dir"] = str(rec.state_dir)
    tmp = rec.state_dir / f".{RECORD}.tmp"
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, rec.state_dir / RECORD)


def load_record(state_dir: Path) -> ClusterRecord | None:
    """The record in ``state_dir``, or ``None`` if there is none (or it is unreadable)."""
    try:
        data = json.loads((state_dir / RECORD).read_text())
        nodes = [NodeRecord(**n) for n in data.pop("nodes")]
        data.pop("state_dir", None)
        return ClusterRecord(state_dir=state_dir, nodes=nodes, **data)
    except (OSError, ValueError, TypeError, KeyError):
        return None
