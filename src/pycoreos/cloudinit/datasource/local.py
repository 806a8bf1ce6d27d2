"""Local datasources: ``--from-file`` and ``--from-configdrive`` (OpenStack config-drive)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pycoreos.cloudinit.errors import DatasourceError
from pycoreos.cloudinit.plan import Metadata


@dataclass
class FileSource:
    """User-data read from a local file; no metadata."""

    path: Path
    name: str = "local-file"
    may_change: bool = False

    def available(self) -> bool:
        """The file exists."""
        return self.path.is_file()

    def fetch_user_data(self) -> bytes:
        """The file's bytes."""
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise DatasourceError(f"unable to read {self.path}: {exc}") from exc

    def fetch_metadata(self) -> Metadata:
        """Nothing: a file carries no metadata."""
        return Metadata()


@dataclass
class ConfigDrive:
    """``<root>/openstack/latest/user_data`` and ``meta_data.json``."""

    root: Path
    name: str = "cloud-drive"
    may_change: bool = False

    def _latest(self) -> Path:
        return self.root / "openstack" / "latest"

    def available(self) -> bool:
        """The ``openstack`` directory exists."""
        return (self.root / "openstack").is_dir()

    def fetch_user_data(self) -> bytes:
        """``user_data`` (empty when absent)."""
        path = self._latest() / "user_data"
        return path.read_bytes() if path.is_file() else b""

    def fetch_metadata(self) -> Metadata:
        """``hostname`` and ``public_keys`` from ``meta_data.json``."""
        path = self._latest() / "meta_data.json"
        if not path.is_file():
            return Metadata()
        try:
            doc = json.loads(path.read_text())
        except ValueError as exc:
            raise DatasourceError(f"invalid {path}: {exc}") from exc
        keys = doc.get("public_keys") or {}
        return Metadata(
            hostname=str(doc.get("hostname") or ""),
            ssh_public_keys={str(k): str(v) for k, v in keys.items()}
            if isinstance(keys, dict)
            else {},
        )
