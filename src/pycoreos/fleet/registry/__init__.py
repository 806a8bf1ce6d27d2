"""fleet's registry in etcd: the asyncio v2 client, the key layout and typed operations."""

from pycoreos.fleet.registry.etcd import AsyncEtcd
from pycoreos.fleet.registry.layout import (
    DEFAULT_PREFIX,
    Keys,
    LeaseRecord,
    Snapshot,
    UnitStateRecord,
)
from pycoreos.fleet.registry.registry import Registry

__all__ = [
    "DEFAULT_PREFIX",
    "AsyncEtcd",
    "Keys",
    "LeaseRecord",
    "Registry",
    "Snapshot",
    "UnitStateRecord",
]
