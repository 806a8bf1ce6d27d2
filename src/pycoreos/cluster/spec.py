"""A local cluster's shape: nodes, their addresses, ports and directories. Pure.

``plan_cluster`` turns a size, a state directory and the addresses/ports to use into a
:class:`ClusterPlan`; nothing here allocates ports or touches the filesystem, so the same
inputs always give the same plan (and a recorded plan can be re-used by ``restart``).

Invariants:

* Node names are ``node1..nodeN``; the etcd member name is the node name, so
  ``initial_cluster`` lists every node exactly once.
* Each node's directories are below ``state_dir/<name>/``: ``root/`` (the node's root),
  ``cloud-config.yaml`` (its rendered config), ``node.log``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ClusterPlan", "NodePlan", "plan_cluster"]


@dataclass(frozen=True, slots=True, kw_only=True)
class NodePlan:
    """One node of the cluster.

    Attributes:
        name: ``nodeK`` (also its etcd member name).
        address: the node's IPv4 address (``$private_ipv4``).
        client_port, peer_port: etcd's ports on ``address``.
        fleet_port: fleet's HTTP API port on ``address``.
        netns: the network namespace it runs in, or ``""`` for the host's.
        dir: ``state_dir/<name>``.
    """

    name: str
    address: str
    client_port: int
    peer_port: int
    fleet_port: int
    netns: str = ""
    dir: Path

    @property
    def root(self) -> Path:
        """The node's root directory."""
        return self.dir / "root"

    @property
    def config_path(self) -> Path:
        """The node's rendered cloud-config."""
        return self.dir / "cloud-config.yaml"

    @property
    def log_path(self) -> Path:
        """The node process's output."""
        return self.dir / "node.log"

    @property
    def client_url(self) -> str:
        """etcd's client URL."""
        return f"http://{self.address}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        """etcd's peer URL."""
        return f"http://{self.address}:{self.peer_port}"

    @property
    def fleet_url(self) -> str:
        """fleet's HTTP API (``FLEETCTL_ENDPOINT``)."""
        return f"http://{self.address}:{self.fleet_port}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterPlan:
    """Every node, plus the cluster-wide etcd settings."""

    nodes: tuple[NodePlan, ...]
    token: str

    @property
    def initial_cluster(self) -> str:
        """etcd's ``--initial-cluster`` for these nodes."""
        return ",".join(f"{n.name}={n.peer_url}" for n in self.nodes)

    @property
    def client_urls(self) -> str:
        """Every client URL, comma-separated (``ETCDCTL_ENDPOINTS``)."""
        return ",".join(n.client_url for n in self.nodes)

    def node(self, name: str) -> NodePlan:
        """The node called ``name``.

        Raises:
            KeyError: no such node.
        """
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


def plan_cluster(
    size: int,
    state_dir: Path,
    *,
    addresses: Sequence[str],
    ports: Sequence[int],
    netns: Sequence[str] = (),
    token: str = "pycoreos-cluster",
) -> ClusterPlan:
    """Lay out ``size`` nodes.

    Args:
        size: number of nodes (>= 1).
        state_dir: where the nodes' directories go.
        addresses: one address per node.
        ports: ``3 * size`` ports (client, peer, fleet per node, in node order), or 3 ports
            shared by every node (each node has its own address, e.g. in its own netns).
        netns: one namespace name per node, or empty for the host's.
        token: etcd's ``--initial-cluster-token``.

    Raises:
        ValueError: inconsistent arguments.
    """
    if size < 1:
        raise ValueError("cluster: need at least one node")
    if len(addresses) != size or (netns and len(netns) != size):
        raise ValueError("cluster: one address (and namespace) per node")
    if len(ports) not in (3, 3 * size):
        raise ValueError("cluster: need 3 ports, or 3 per node")
    nodes = []
    for i in range(size):
        c, p, f = ports[0:3] if len(ports) == 3 else ports[3 * i : 3 * i + 3]
        name = f"node{i + 1}"
        nodes.append(
            NodePlan(
                name=name,
                address=addresses[i],
                client_port=c,
                peer_port=p,
                fleet_port=f,
                netns=netns[i] if netns else "",
                dir=state_dir / name,
            )
        )
    return ClusterPlan(nodes=tuple(nodes), token=token)
