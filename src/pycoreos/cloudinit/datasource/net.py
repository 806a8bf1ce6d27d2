"""Network datasources: ``--from-url``, ``--from-proc-cmdline``, ``--from-ec2-metadata``."""

from __future__ import annotations

from dataclasses import dataclass, field

from pycoreos.cloudinit.cmdline import parse as parse_cmdline
from pycoreos.cloudinit.datasource import HttpGet, http_get
from pycoreos.cloudinit.errors import DatasourceError
from pycoreos.cloudinit.plan import Metadata


@dataclass
class UrlSource:
    """User-data fetched from a URL (404 means empty user-data)."""

    url: str
    get: HttpGet = field(default=http_get)
    name: str = "url"
    may_change: bool = True

    def available(self) -> bool:
        """The URL answers (any status but a connection failure)."""
        try:
            self.get(self.url)
        except DatasourceError:
            return False
        return True

    def fetch_user_data(self) -> bytes:
        """The body."""
        return self.get(self.url) or b""

    def fetch_metadata(self) -> Metadata:
        """Nothing."""
        return Metadata()


@dataclass
class ProcCmdline:
    """``cloud-config-url=`` (or ``coreos.config.url=``) from the kernel command line."""

    text: str
    get: HttpGet = field(default=http_get)
    name: str = "proc-cmdline"
    may_change: bool = True

    def _url(self) -> str:
        url = parse_cmdline(self.text).config_url
        if not url:
            raise DatasourceError("cloud-config-url not found")
        return url

    def available(self) -> bool:
        """A URL is given and answers."""
        try:
            self.get(self._url())
        except DatasourceError:
            return False
        return True

    def fetch_user_data(self) -> bytes:
        """The body at the URL."""
        return self.get(self._url()) or b""

    def fetch_metadata(self) -> Metadata:
        """Nothing."""
        return Metadata()


@dataclass
class Ec2Metadata:
    """An EC2-style metadata service at ``root`` (``http://169.254.169.254/``)."""

    root: str
    get: HttpGet = field(default=http_get)
    name: str = "ec2-metadata-service"
    may_change: bool = True
    api: str = "2009-04-04"

    def _url(self, path: str) -> str:
        return f"{self.root.rstrip('/')}/{self.api}/{path}"

    def _text(self, path: str) -> str:
        data = self.get(self._url(path))
        return data.decode().strip() if data else ""

    def available(self) -> bool:
        """The versioned API root answers."""
        try:
            return self.get(self._url("")) is not None
        except DatasourceError:
            return False

    def fetch_user_data(self) -> bytes:
        """``<api>/user-data`` (404: empty)."""
        return self.get(self._url("user-data")) or b""

    def fetch_metadata(self) -> Metadata:
        """``public-keys``, ``hostname``, ``local-ipv4``, ``public-ipv4``."""
        keys: dict[str, str] = {}
        for line in self._text("meta-data/public-keys").splitlines():
            index, _, key_name = line.partition("=")
            key = self._text(f"meta-data/public-keys/{index}/openssh-key")
            if key:
                keys[key_name or index] = key
        hostname = self._text("meta-data/hostname").split(" ")[0]
        return Metadata(
            hostname=hostname,
            ssh_public_keys=keys,
            private_ipv4=self._text("meta-data/local-ipv4"),
            public_ipv4=self._text("meta-data/public-ipv4"),
        )
