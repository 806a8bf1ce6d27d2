"""A storage shim for real member processes: lose un-fsynced bytes on crash, fail with ENOSPC/EIO.

Selected by the environment variable ``PYCOREOS_DISK_FAULTS`` (read once, in
``server.bootstrap.open_member``); without it the member uses :class:`RealDisk` directly, so the
production path pays nothing. The value is a ``;``-separated list of:

- ``lazy``: every :meth:`DiskFile.write_at` is kept in this process's memory and reaches the
  file only at :meth:`DiskFile.fsync` (LazyFS-style). A SIGKILL therefore loses exactly the
  bytes that were never fsynced, as a power loss would with a volatile page cache.
- ``enospc@N``: the N-th ``write_at`` (counting from 1, over all files) and every later one
  raise ``OSError(ENOSPC)``.
- ``eio@N``: the N-th ``read_file`` and every later one raise ``OSError(EIO)``.

Invariants of ``lazy``:

- Reads see unsynced writes (``read_file`` overlays the pending writes of open files, ``size``
  counts them), as the page cache would.
- Pending writes of a file are flushed, in order, before anything that would otherwise reorder
  them against the file's content: ``truncate``, a ``rename`` of the file, ``close`` keeps them
  pending (close is not fsync; they are lost with the process, which only matters on a crash).
- Directory operations (create, rename, remove) are passed through at once: the shim models lost
  file *data*, not lost directory entries (``RealDisk`` fsyncs directories eagerly anyway).
"""

from __future__ import annotations

import errno
import os
import threading

from pycoreos.errors import ConfigError
from pycoreos.storage.disk import Disk, DiskFile, FileLock, RealDisk

__all__ = ["FaultDisk", "FaultSpec", "disk_from_env", "parse_spec"]


class FaultSpec:
    """Parsed ``PYCOREOS_DISK_FAULTS``: which faults are armed."""

    __slots__ = ("eio_at", "enospc_at", "lazy")

    def __init__(
        self, *, lazy: bool = False, enospc_at: int | None = None, eio_at: int | None = None
    ) -> None:
        self.lazy = lazy
        self.enospc_at = enospc_at
        self.eio_at = eio_at


def parse_spec(spec: str) -> FaultSpec:
    """Parse a fault list (see the module docstring).

    Raises:
        ConfigError: an unknown fault or a bad count.
    """
    out = FaultSpec()
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        name, _, count = part.partition("@")
        try:
            n = int(count) if count else 1
        except ValueError:
            raise ConfigError(f"PYCOREOS_DISK_FAULTS: bad count in {part!r}") from None
        if n < 1:
            raise ConfigError(f"PYCOREOS_DISK_FAULTS: count must be >= 1 in {part!r}")
        if name == "lazy":
            out.lazy = True
        elif name == "enospc":
            out.enospc_at = n
        elif name == "eio":
            out.eio_at = n
        else:
            raise ConfigError(f"PYCOREOS_DISK_FAULTS: unknown fault {name!r}")
    return out


class _LazyFile:
    """A file whose writes stay in memory until fsync (``lazy``), with ENOSPC counting."""

    def __init__(self, disk: FaultDisk, inner: DiskFile) -> None:
        self._disk = disk
        self._inner = inner
        self.pending: list[tuple[int, bytes]] = []

    @property
    def path(self) -> str:
        return self._inner.path

    def write_at(self, offset: int, data: bytes) -> None:
        self._disk.count_write(self._inner.path)
        if self._disk.spec.lazy:
            with self._disk.lock:
                self.pending.append((offset, bytes(data)))
        else:
            self._inner.write_at(offset, data)

    def flush(self) -> None:
        """Write the pending bytes to the OS file (not fsynced by itself)."""
        with self._disk.lock:
            pending, self.pending = self.pending, []
        for off, data in pending:
            self._inner.write_at(off, data)

    def fsync(self) -> None:
        self.flush()
        self._inner.fsync()

    def truncate(self, size: int) -> None:
        self.flush()
        self._inner.truncate(size)

    def pending_end(self) -> int:
        """End offset of the furthest pending write (0 if none)."""
        with self._disk.lock:
            return max((off + len(data) for off, data in self.pending), default=0)

    def size(self) -> int:
        return max(self._inner.size(), self.pending_end())

    def close(self) -> None:
        # Unsynced bytes of a closed file still sit in the "page cache": keep them readable
        # and flushable, as the kernel would, until the process dies.
        self._inner.close()


class FaultDisk:
    """A :class:`Disk` over :class:`RealDisk` injecting the faults of a :class:`FaultSpec`."""

    def __init__(self, spec: FaultSpec, inner: RealDisk | None = None) -> None:
        self.spec = spec
        self.inner = inner or RealDisk()
        self.lock = threading.Lock()
        self._writes = 0
        self._reads = 0
        self._files: list[_LazyFile] = []

    # -- fault counters -------------------------------------------------------------------
    def count_write(self, path: str) -> None:
        with self.lock:
            self._writes += 1
            n = self._writes
        if self.spec.enospc_at is not None and n >= self.spec.enospc_at:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    def _count_read(self, path: str) -> None:
        with self.lock:
            self._reads += 1
            n = self._reads
        if self.spec.eio_at is not None and n >= self.spec.eio_at:
            raise OSError(errno.EIO, os.strerror(errno.EIO), path)

    def _pending_for(self, path: str) -> list[_LazyFile]:
        with self.lock:
            return [f for f in self._files if f.path == path and f.pending]

    # -- Disk -------------------------------------------------------------------------------
    def open_file(self, path: str, *, create: bool = False) -> DiskFile:
        f = _LazyFile(self, self.inner.open_file(path, create=create))
        with self.lock:
            self._files.append(f)
        return f

    def read_file(self, path: str) -> bytes:
        self._count_read(path)
        data = bytearray(self.inner.read_file(path))
        for f in self._pending_for(path):
            with self.lock:
                pending = list(f.pending)
            for off, chunk in pending:
                if off + len(chunk) > len(data):
                    data.extend(bytes(off + len(chunk) - len(data)))
                data[off : off + len(chunk)] = chunk
        return bytes(data)

    def exists(self, path: str) -> bool:
        return self.inner.exists(path)

    def is_dir(self, path: str) -> bool:
        return self.inner.is_dir(path)

    def makedirs(self, path: str) -> None:
        self.inner.makedirs(path)

    def list_dir(self, path: str) -> list[str]:
        return self.inner.list_dir(path)

    def rename(self, src: str, dst: str) -> None:
        for f in self._pending_for(src):
            f.flush()
        self.inner.rename(src, dst)

    def remove(self, path: str) -> None:
        with self.lock:
            self._files = [f for f in self._files if f.path != path]
        self.inner.remove(path)

    def remove_tree(self, path: str) -> None:
        prefix = path.rstrip("/") + "/"
        with self.lock:
            self._files = [f for f in self._files if not f.path.startswith(prefix)]
        self.inner.remove_tree(path)

    def truncate(self, path: str, size: int) -> None:
        for f in self._pending_for(path):
            f.flush()
        self.inner.truncate(path, size)

    def file_size(self, path: str) -> int:
        n = self.inner.file_size(path)
        for f in self._pending_for(path):
            n = max(n, f.pending_end())
        return n

    def fsync_dir(self, path: str) -> None:
        self.inner.fsync_dir(path)

    def try_lock(self, path: str) -> FileLock:
        return self.inner.try_lock(path)


def disk_from_env(spec: str) -> Disk:
    """The :class:`Disk` a member should use for ``PYCOREOS_DISK_FAULTS=spec``."""
    import logging

    logging.getLogger("pycoreos.server").warning(
        "!!! PYCOREOS_DISK_FAULTS=%s: storage faults are injected (robustness tests only) !!!",
        spec,
    )
    return FaultDisk(parse_spec(spec))
