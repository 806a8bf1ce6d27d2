"""A local CoreOS cluster: N ``pycoreos node`` processes from one cloud-config template.

``up`` renders each node's cloud-config (:func:`render_node_config`), starts the nodes (each
in its own cgroup, and with ``--netns`` its own network namespace), and waits until etcd is
healthy and fleet sees every machine; ``status`` summarizes; ``down``/``kill``/``restart``
act on the recorded PIDs. Design notes: ``docs/design/node.md``.
"""

from pycoreos.cluster.health import EtcdView, FleetView, probe_etcd, probe_fleet
from pycoreos.cluster.manager import ClusterError, UpOptions, UpTimings, down, kill, restart, up
from pycoreos.cluster.render import TemplateError, render_node_config
from pycoreos.cluster.spec import ClusterPlan, NodePlan, plan_cluster
from pycoreos.cluster.state import ClusterRecord, NodeRecord, load_record
from pycoreos.cluster.status import ClusterStatus, NodeRow, collect, summarize

__all__ = [
    "ClusterError",
    "ClusterPlan",
    "ClusterRecord",
    "ClusterStatus",
    "EtcdView",
    "FleetView",
    "NodePlan",
    "NodeRecord",
    "NodeRow",
    "TemplateError",
    "UpOptions",
    "UpTimings",
    "collect",
    "down",
    "kill",
    "load_record",
    "plan_cluster",
    "probe_etcd",
    "probe_fleet",
    "render_node_config",
    "restart",
    "summarize",
    "up",
]
