"""The snapshotter's errors. Messages start with ``snap:`` as etcd's do."""

from __future__ import annotations

from pycoreos.errors import StackError


class SnapError(StackError):
    """Root of snapshotter errors."""


class SnapCorruptError(SnapError):
    """A snapshot file is damaged: bad magic, CRC mismatch or malformed body.

    ``Snapshotter.load`` never lets it escape: it renames the file ``.broken`` and tries the next
    older one. ``read_snapshot_file`` raises it.
    """

    def __init__(self, message: str, *, path: str) -> None:
        self.path = path
        super().__init__(f"snap: {message} in {path}")
