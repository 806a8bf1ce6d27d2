"""The PYCOREOS_DISK_FAULTS storage shim: lazy fsync loses unsynced bytes, ENOSPC/EIO at N."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from pycoreos.errors import ConfigError
from pycoreos.robustness.faultdisk import FaultDisk, parse_spec
from pycoreos.storage.disk import RealDisk


def test_lazy_keeps_unsynced_bytes_in_memory_until_fsync(tmp_path: Path) -> None:
    disk = FaultDisk(parse_spec("lazy"))
    path = str(tmp_path / "f")
    f = disk.open_file(path, create=True)
    f.write_at(0, b"synced")
    f.fsync()
    f.write_at(6, b"-lost")
    # The process sees its own writes (page cache) ...
    assert disk.read_file(path) == b"synced-lost"
    assert disk.file_size(path) == 11
    assert f.size() == 11
    # ... but the file holds only what was fsynced: a SIGKILL now loses the tail.
    assert RealDisk().read_file(path) == b"synced"
    f.fsync()
    assert RealDisk().read_file(path) == b"synced-lost"


def test_lazy_flushes_before_truncate_and_rename(tmp_path: Path) -> None:
    disk = FaultDisk(parse_spec("lazy"))
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    f = disk.open_file(a, create=True)
    f.write_at(0, b"0123456789")
    f.truncate(4)
    assert RealDisk().read_file(a) == b"0123"
    f.write_at(4, b"xy")
    disk.rename(a, b)
    assert RealDisk().read_file(b) == b"0123xy"


def test_enospc_from_the_nth_write_on(tmp_path: Path) -> None:
    disk = FaultDisk(parse_spec("enospc@3"))
    f = disk.open_file(str(tmp_path / "f"), create=True)
    f.write_at(0, b"a")
    f.write_at(1, b"b")
    for _ in range(2):
        with pytest.raises(OSError) as exc:
            f.write_at(2, b"c")
        assert exc.value.errno == errno.ENOSPC
    assert RealDisk().read_file(str(tmp_path / "f")) == b"ab"


def test_eio_from_the_nth_read_on(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"data")
    disk = FaultDisk(parse_spec("eio@2"))
    assert disk.read_file(str(tmp_path / "f")) == b"data"
    with pytest.raises(OSError) as exc:
        disk.read_file(str(tmp_path / "f"))
    assert exc.value.errno == errno.EIO


@pytest.mark.parametrize("spec", ["bogus", "enospc@0", "eio@x"])
def test_bad_specs_are_config_errors(spec: str) -> None:
    with pytest.raises(ConfigError):
        parse_spec(spec)


def test_combined_spec() -> None:
    s = parse_spec("lazy; enospc@5 ;eio")
    assert (s.lazy, s.enospc_at, s.eio_at) == (True, 5, 1)
