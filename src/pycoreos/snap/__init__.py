"""pycoreos.snap: snapshot files (etcd's ``server/etcdserver/api/snap``)."""

from __future__ import annotations

from pycoreos.snap.errors import SnapCorruptError, SnapError
from pycoreos.snap.snapshotter import Snapshotter, snapshot_name

__all__ = ["SnapCorruptError", "SnapError", "Snapshotter", "snapshot_name"]
