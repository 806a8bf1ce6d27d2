"""pycoreos: the CoreOS cluster stack (etcd, fleet, cloud-config) rebuilt in Python."""

__version__ = "0.1.0"

# The etcd release whose v2 behaviour we reproduce; reported by /version.
ETCD_SERVER_VERSION = "3.4.23"
ETCD_CLUSTER_VERSION = "3.4.0"
