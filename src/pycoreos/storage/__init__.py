"""pycoreos.storage: the disk abstraction every durable component writes through.

``Disk`` is a Protocol; ``RealDisk`` talks to the operating system and
``pycoreos.testing.sim.disk.SimDisk`` keeps everything in memory and can crash.
"""

from __future__ import annotations

from pycoreos.storage.disk import Disk, DiskFile, FileLock, LockedError, RealDisk

__all__ = ["Disk", "DiskFile", "FileLock", "LockedError", "RealDisk"]
