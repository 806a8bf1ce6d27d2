"""SimDisk: an in-memory :class:`~pycoreos.storage.disk.Disk` that remembers what is durable.

Model (pessimistic, in the spirit of ALICE and LazyFS):

- Every file keeps its *current* bytes (what reads see) and its *durable* bytes (as of its last
  ``fsync``), plus the list of writes/truncates done since.
- Every directory keeps its *current* entries and its *durable* entries (as of its last
  ``fsync_dir``). Creating, renaming or removing a file is durable only once the parent
  directory is fsynced; ``makedirs`` is durable on return (as ``RealDisk`` makes it).
- :meth:`SimDisk.crash` rebuilds the tree from durable entries and durable bytes. Open handles
  and locks die with it (their later use raises ``OSError(EBADF)``). With ``tear=True`` a random
  byte-prefix of each file's unsynced write stream survives (a torn write); with
  ``zero_fill=True`` the file keeps the size the lost writes gave it, filled with zeros (metadata
  persisted, data not).

Randomness comes only from the ``random.Random`` given to the constructor. Not thread-safe.
"""

from __future__ import annotations

import errno
import posixpath
import random
from dataclasses import dataclass, field

from pycoreos.storage.disk import DiskFile, FileLock, LockedError

__all__ = ["SimDisk"]


@dataclass(eq=False)
class _File:
    data: bytearray = field(default_factory=bytearray)
    durable: bytes = b""
    # Unsynced operations in order: (offset, bytes) for a write, (size, None) for a truncate.
    pending: list[tuple[int, bytes | None]] = field(default_factory=list)


@dataclass(eq=False)
class _Dir:
    entries: dict[str, _File | _Dir] = field(default_factory=dict)
    durable: dict[str, _File | _Dir] = field(default_factory=dict)


def _apply(buf: bytearray, offset: int, data: bytes | None) -> None:
    if data is None:  # truncate to `offset`
        if offset < len(buf):
            del buf[offset:]
        else:
            buf.extend(bytes(offset - len(buf)))
        return
    end = offset + len(data)
    if offset > len(buf):
        buf.extend(bytes(offset - len(buf)))
    buf[offset:end] = data


class _SimFile:
    __slots__ = ("_disk", "_gen", "_node", "_path")

    def __init__(self, disk: SimDisk, node: _File, path: str) -> None:
        self._disk = disk
        self._node = node
        self._path = path
        self._gen = disk._generation

    @property
    def path(self) -> str:
        return self._path

    def _live(self) -> _File:
        if self._gen != self._disk._generation:
            raise OSError(errno.EBADF, "file handle closed (crash or close)", self._path)
        return self._node

    def write_at(self, offset: int, data: bytes) -> None:
        node = self._live()
        data = bytes(data)
        _apply(node.data, offset, data)
        node.pending.append((offset, data))
        self._disk.writes += 1

    def fsync(self) -> None:
        node = self._live()
        node.durable = bytes(node.data)
        node.pending.clear()
        self._disk.fsyncs += 1

    def truncate(self, size: int) -> None:
        node = self._live()
        _apply(node.data, size, None)
        node.pending.append((size, None))

    def size(self) -> int:
        return len(self._live().data)

    def close(self) -> None:
        self._gen = -1


class _SimLock:
    __slots__ = ("_disk", "_gen", "_node")

    def __init__(self, disk: SimDisk, node: _File) -> None:
        self._disk = disk
        self._node = node
        self._gen = disk._generation

    def release(self) -> None:
        if self._gen == self._disk._generation:
            self._disk._locked.discard(id(self._node))
        self._gen = -1


class SimDisk:
    """In-memory disk with crash semantics; implements ``pycoreos.storage.disk.Disk``.

    Args:
        rng: source of randomness for torn writes; required only for ``crash(tear=True)``.

    Attributes:
        writes: number of ``write_at`` calls so far (for group-commit assertions).
        fsyncs: number of file fsyncs so far.
        dir_fsyncs: number of directory fsyncs so far.
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng
        self._root = _Dir()
        self._generation = 0
        self._locked: set[int] = set()
        self.writes = 0
        self.fsyncs = 0
        self.dir_fsyncs = 0

    # -- path helpers -------------------------------------------------------------------

    @staticmethod
    def _parts(path: str) -> list[str]:
        norm = posixpath.normpath("/" + path)
        return [p for p in norm.split("/") if p]

    def _lookup(self, path: str) -> _File | _Dir | None:
        node: _File | _Dir = self._root
        for part in self._parts(path):
            if not isinstance(node, _Dir):
                return None
            nxt = node.entries.get(part)
            if nxt is None:
                return None
            node = nxt
        return node

    def _parent(self, path: str) -> tuple[_Dir, str]:
        parts = self._parts(path)
        if not parts:
            raise OSError(errno.EINVAL, "invalid path", path)
        parent = self._lookup("/".join(parts[:-1]))
        if parent is None:
            raise FileNotFoundError(errno.ENOENT, "no such directory", path)
        if not isinstance(parent, _Dir):
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", path)
        return parent, parts[-1]

    def _file(self, path: str) -> _File:
        node = self._lookup(path)
        if node is None:
            raise FileNotFoundError(errno.ENOENT, "no such file", path)
        if not isinstance(node, _File):
            raise IsADirectoryError(errno.EISDIR, "is a directory", path)
        return node

    def _dir(self, path: str) -> _Dir:
        node = self._lookup(path)
        if node is None:
            raise FileNotFoundError(errno.ENOENT, "no such directory", path)
        if not isinstance(node, _Dir):
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", path)
        return node

    # -- Disk protocol --------------------------------------------------------------------

    def open_file(self, path: str, *, create: bool = False) -> DiskFile:
        parent, name = self._parent(path)
        node = parent.entries.get(name)
        if node is None:
            if not create:
                raise FileNotFoundError(errno.ENOENT, "no such file", path)
            node = _File()
            parent.entries[name] = node
        if not isinstance(node, _File):
            raise IsADirectoryError(errno.EISDIR, "is a directory", path)
        return _SimFile(self, node, path)

    def read_file(self, path: str) -> bytes:
        return bytes(self._file(path).data)

    def exists(self, path: str) -> bool:
        return self._lookup(path) is not None

    def is_dir(self, path: str) -> bool:
        return isinstance(self._lookup(path), _Dir)

    def makedirs(self, path: str) -> None:
        node: _File | _Dir = self._root
        for part in self._parts(path):
            if not isinstance(node, _Dir):
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", path)
            nxt = node.entries.get(part)
            if nxt is None:
                nxt = _Dir()
                node.entries[part] = nxt
                node.durable[part] = nxt  # durable on return, as RealDisk.makedirs makes it
            node = nxt
        if not isinstance(node, _Dir):
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", path)

    def list_dir(self, path: str) -> list[str]:
        return sorted(self._dir(path).entries)

    def rename(self, src: str, dst: str) -> None:
        sparent, sname = self._parent(src)
        node = sparent.entries.get(sname)
        if node is None:
            raise FileNotFoundError(errno.ENOENT, "no such file", src)
        dparent, dname = self._parent(dst)
        old = dparent.entries.get(dname)
        if old is node:
            return
        if isinstance(old, _Dir) and (not isinstance(node, _Dir) or old.entries):
            raise OSError(errno.ENOTEMPTY, "destination is a non-empty directory", dst)
        if isinstance(node, _Dir) and isinstance(old, _File):
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", dst)
        if isinstance(node, _Dir) and self._parts(dst)[: len(self._parts(src))] == self._parts(src):
            raise OSError(errno.EINVAL, "cannot move a directory into itself", dst)
        del sparent.entries[sname]
        dparent.entries[dname] = node

    def remove(self, path: str) -> None:
        parent, name = self._parent(path)
        node = parent.entries.get(name)
        if node is None:
            raise FileNotFoundError(errno.ENOENT, "no such file", path)
        if isinstance(node, _Dir):
            raise IsADirectoryError(errno.EISDIR, "is a directory", path)
        del parent.entries[name]

    def remove_tree(self, path: str) -> None:
        if self._lookup(path) is None:
            return
        parent, name = self._parent(path)
        del parent.entries[name]

    def truncate(self, path: str, size: int) -> None:
        node = self._file(path)
        _apply(node.data, size, None)
        node.pending.append((size, None))

    def file_size(self, path: str) -> int:
        return len(self._file(path).data)

    def fsync_dir(self, path: str) -> None:
        d = self._dir(path)
        d.durable = dict(d.entries)
        self.dir_fsyncs += 1

    def try_lock(self, path: str) -> FileLock:
        node = self._file(path)
        if id(node) in self._locked:
            raise LockedError(path)
        self._locked.add(id(node))
        return _SimLock(self, node)

    # -- faults ---------------------------------------------------------------------------

    def crash(self, *, tear: bool = False, zero_fill: bool = False) -> None:
        """Lose everything not durable, as a power cut would; see the module docstring.

        Args:
            tear: keep a random byte-prefix (drawn from the rng) of each file's unsynced
                writes instead of none of them.
            zero_fill: give files the size their lost writes had, filled with zeros.
        """
        if tear and self._rng is None:
            raise ValueError("SimDisk.crash(tear=True) needs SimDisk(rng=...)")
        self._generation += 1
        self._locked.clear()
        seen: set[int] = set()
        self._restore(self._root, tear, zero_fill, seen)

    def _restore(self, d: _Dir, tear: bool, zero_fill: bool, seen: set[int]) -> None:
        d.entries = dict(d.durable)
        # Sorted for determinism: the rng is drawn in name order.
        for name in sorted(d.entries):
            node = d.entries[name]
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, _Dir):
                self._restore(node, tear, zero_fill, seen)
            else:
                self._restore_file(node, tear, zero_fill)

    def _restore_file(self, f: _File, tear: bool, zero_fill: bool) -> None:
        full_size = len(f.data)
        buf = bytearray(f.durable)
        if tear and f.pending:
            assert self._rng is not None
            total = sum(len(d) for _, d in f.pending if d is not None)
            cut = self._rng.randint(0, total)
            for off, data in f.pending:
                if data is None:
                    _apply(buf, off, None)
                    continue
                take = min(len(data), cut)
                _apply(buf, off, data[:take])
                cut -= take
                if take < len(data):
                    break
        if zero_fill and len(buf) < full_size:
            buf.extend(bytes(full_size - len(buf)))
        f.data = buf
        f.durable = bytes(buf)
        f.pending = []

    def flip_bit(self, path: str, offset: int, bit: int = 0) -> None:
        """Flip one bit of ``path`` at ``offset``, in both current and durable bytes (bit rot)."""
        f = self._file(path)
        f.data[offset] ^= 1 << bit
        if offset < len(f.durable):
            durable = bytearray(f.durable)
            durable[offset] ^= 1 << bit
            f.durable = bytes(durable)
