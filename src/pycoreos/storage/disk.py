"""The disk abstraction: a small ``Disk`` Protocol and ``RealDisk``, its operating-system backend.

Everything durable (WAL segments, snapshot files) goes through a :class:`Disk`, so the same code
runs on the real file system and on ``pycoreos.testing.sim.disk.SimDisk``, which keeps written
and fsynced bytes apart and can crash.

Contract (what callers may rely on, on every backend):

- Paths are POSIX strings. ``list_dir`` returns sorted names.
- Bytes written with :meth:`DiskFile.write_at` are visible to reads at once but **durable only
  after** :meth:`DiskFile.fsync`.
- A new, renamed or removed directory entry is durable only after :meth:`Disk.fsync_dir` on its
  parent directory. ``RealDisk`` also fsyncs the parent after create and rename (belt and braces,
  PACE #6368), but callers must not rely on that: ``SimDisk`` does not.
- Missing paths raise :class:`FileNotFoundError`, existing ones :class:`FileExistsError`, as
  the ``os`` module does.
- :meth:`Disk.try_lock` takes an exclusive, non-blocking lock (``flock`` on Linux), held until
  :meth:`FileLock.release`; a lock held by anyone else raises :class:`LockedError`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
from typing import Protocol

from pycoreos.errors import StackError

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


class LockedError(StackError):
    """The file is locked by another holder (another process, or another open of it)."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"storage: {path} is locked")


class DiskFile(Protocol):
    """An open file, for positional writes."""

    @property
    def path(self) -> str:
        """The path the file was opened with (it does not follow renames)."""
        ...

    def write_at(self, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset``, extending the file (with zeros) if needed."""
        ...

    def fsync(self) -> None:
        """Make every byte written so far durable (data and size)."""
        ...

    def truncate(self, size: int) -> None:
        """Cut or extend (with zeros) the file to ``size`` bytes; durable after ``fsync``."""
        ...

    def size(self) -> int:
        """Current size in bytes, durable or not."""
        ...

    def close(self) -> None:
        """Close the file; unsynced bytes stay buffered (and are lost in a crash)."""
        ...


class FileLock(Protocol):
    """An exclusive lock on a file."""

    def release(self) -> None:
        """Release the lock. Idempotent."""
        ...


class Disk(Protocol):
    """File-system operations used by the WAL and the snapshotter."""

    def open_file(self, path: str, *, create: bool = False) -> DiskFile:
        """Open ``path`` for writing; create it (empty) when missing and ``create`` is true."""
        ...

    def read_file(self, path: str) -> bytes:
        """Return the whole current content of ``path``."""
        ...

    def exists(self, path: str) -> bool:
        """Whether ``path`` names a file or directory."""
        ...

    def is_dir(self, path: str) -> bool:
        """Whether ``path`` names a directory."""
        ...

    def makedirs(self, path: str) -> None:
        """Create ``path`` and missing parents (mode 0700); no error if it exists."""
        ...

    def list_dir(self, path: str) -> list[str]:
        """Sorted names in directory ``path``."""
        ...

    def rename(self, src: str, dst: str) -> None:
        """Atomically rename a file or directory, replacing a file at ``dst``."""
        ...

    def remove(self, path: str) -> None:
        """Remove a file."""
        ...

    def remove_tree(self, path: str) -> None:
        """Remove a directory and everything below it; no error if missing."""
        ...

    def truncate(self, path: str, size: int) -> None:
        """Cut or extend ``path`` to ``size`` bytes (not fsynced)."""
        ...

    def file_size(self, path: str) -> int:
        """Size of ``path`` in bytes."""
        ...

    def fsync_dir(self, path: str) -> None:
        """Make the entries of directory ``path`` (creates, renames, removes) durable."""
        ...

    def try_lock(self, path: str) -> FileLock:
        """Lock ``path`` exclusively without blocking.

        Raises:
            LockedError: someone else holds the lock.
        """
        ...


class _OsFile:
    __slots__ = ("_fd", "_path")

    def __init__(self, path: str, fd: int) -> None:
        self._path = path
        self._fd = fd

    @property
    def path(self) -> str:
        return self._path

    def write_at(self, offset: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.pwrite(self._fd, view, offset)
            view = view[n:]
            offset += n

    def fsync(self) -> None:
        # fdatasync is enough: the size change of an append is metadata fdatasync does flush.
        os.fdatasync(self._fd)

    def truncate(self, size: int) -> None:
        os.ftruncate(self._fd, size)

    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class _OsLock:
    __slots__ = ("_fd",)

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            # Closing the descriptor drops the flock.
            os.close(self._fd)
            self._fd = -1


class RealDisk:
    """The operating system's file system. Fsyncs the parent directory after create/rename."""

    def open_file(self, path: str, *, create: bool = False) -> DiskFile:
        flags = os.O_WRONLY | os.O_CLOEXEC
        created = False
        if create:
            try:
                fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
                created = True
            except FileExistsError:
                fd = os.open(path, flags)
        else:
            fd = os.open(path, flags)
        if created:
            self.fsync_dir(os.path.dirname(path) or ".")
        return _OsFile(path, fd)

    def read_file(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(path)

    def makedirs(self, path: str) -> None:
        missing: list[str] = []
        p = os.path.abspath(path)
        while not os.path.exists(p):
            missing.append(p)
            p = os.path.dirname(p)
        for d in reversed(missing):
            with contextlib.suppress(FileExistsError):
                os.mkdir(d, PRIVATE_DIR_MODE)
            self.fsync_dir(os.path.dirname(d))
        if not os.path.isdir(path):
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", path)

    def list_dir(self, path: str) -> list[str]:
        return sorted(os.listdir(path))

    def rename(self, src: str, dst: str) -> None:
        os.rename(src, dst)
        src_dir = os.path.dirname(os.path.abspath(src))
        dst_dir = os.path.dirname(os.path.abspath(dst))
        self.fsync_dir(dst_dir)
        if src_dir != dst_dir:
            self.fsync_dir(src_dir)

    def remove(self, path: str) -> None:
        os.remove(path)

    def remove_tree(self, path: str) -> None:
        if os.path.exists(path):
            shutil.rmtree(path)

    def truncate(self, path: str, size: int) -> None:
        os.truncate(path, size)

    def file_size(self, path: str) -> int:
        return os.stat(path).st_size

    def fsync_dir(self, path: str) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def try_lock(self, path: str) -> FileLock:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            # flock (not fcntl) locks: they belong to the open file description, so a second
            # open in the same process conflicts too, which is what purge relies on.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockedError(path) from None
        except BaseException:
            os.close(fd)
            raise
        return _OsLock(fd)
