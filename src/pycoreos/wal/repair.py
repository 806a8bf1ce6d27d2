"""Repair of a torn tail: keep every complete record of the last segment, drop the rest.

Only the **last** segment is ever repaired, and only when :func:`pycoreos.wal.record.decode_segment`
judged the damage a torn tail (see its rules). A CRC mismatch followed by good data is never
repaired: it raises, and the member must be rebuilt from its peers.

Strategy, as etcd's ``Repair``: copy the damaged file to ``<name>.broken`` (evidence for the
operator, overwritten by a later repair), then truncate the segment at the end of the last good
record and fsync it before anything is appended after it.
"""

from __future__ import annotations

import logging

from pycoreos.storage.disk import Disk

__all__ = ["repair_tail"]

log = logging.getLogger("pycoreos.wal")


def repair_tail(disk: Disk, path: str, end: int, *, keep_broken: bool = True) -> None:
    """Truncate segment ``path`` to ``end`` bytes durably.

    Args:
        disk: the disk holding the segment.
        path: the last segment's path.
        end: offset just past its last complete record.
        keep_broken: save the damaged file as ``path + ".broken"`` first.
    """
    size = disk.file_size(path)
    log.warning(
        "wal: repairing torn tail of %s: truncating %d bytes at offset %d", path, size - end, end
    )
    if keep_broken:
        broken = path + ".broken"
        data = disk.read_file(path)
        bf = disk.open_file(broken, create=True)
        try:
            bf.truncate(0)
            bf.write_at(0, data)
            bf.fsync()
        finally:
            bf.close()
    f = disk.open_file(path)
    try:
        f.truncate(end)
        f.fsync()
    finally:
        f.close()
