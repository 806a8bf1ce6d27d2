"""VMware guestinfo (``--from-vmware-guestinfo``): user-data and metadata from the VMX.

Keys are read with ``vmware-rpctool "info-get guestinfo.<key>"`` or
``vmtoolsd --cmd "info-get guestinfo.<key>"``, whichever is installed (the command prefix is
injectable; tests pass a stand-in script). A non-zero exit means the key is unset.

``coreos.config.data`` is the user-data, decoded per ``coreos.config.data.encoding``
(``""``, ``base64``/``b64``, ``gzip+base64``/``gz+base64``/``gzip+b64``/``gz+b64``, and
``gz``/``gzip``); when it is empty, ``coreos.config.url`` is fetched (same decoding).
Interface keys set ``$public_ipv4``/``$private_ipv4`` (or v6) by ``role``; indices are
0-based and enumeration stops at the first missing one.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pycoreos.cloudinit.datasource import HttpGet, http_get
from pycoreos.cloudinit.errors import DatasourceError
from pycoreos.cloudinit.plan import Metadata
from pycoreos.cloudinit.validate import decode_content

GuestinfoReader = Callable[[str], "str | None"]


def default_rpc_command() -> tuple[str, ...] | None:
    """``vmware-rpctool`` if installed, else ``vmtoolsd --cmd``, else ``None``."""
    if shutil.which("vmware-rpctool"):
        return ("vmware-rpctool",)
    for candidate in ("vmtoolsd", "/usr/share/oem/bin/vmtoolsd"):
        if shutil.which(candidate):
            return (candidate, "--cmd")
    return None


def rpc_reader(command: Sequence[str], timeout: float = 10.0) -> GuestinfoReader:
    """A reader running ``command + ["info-get guestinfo.<key>"]``."""

    def read(key: str) -> str | None:
        try:
            proc = subprocess.run(
                [*command, f"info-get guestinfo.{key}"],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DatasourceError(f"vmware: cannot run {command[0]}: {exc}") from exc
        if proc.returncode != 0:
            return None
        return proc.stdout.rstrip("\n")

    return read


@dataclass
class VmwareGuestinfo:
    """The guestinfo datasource over a :data:`GuestinfoReader`."""

    read: GuestinfoReader
    get: HttpGet = field(default=http_get)
    name: str = "vmware"
    may_change: bool = False

    def _key(self, key: str) -> str:
        return self.read(key) or ""

    def available(self) -> bool:
        """The RPC channel answers (we are in a VMware "virtual world")."""
        try:
            self.read("coreos.config.data")
        except DatasourceError:
            return False
        return True

    def fetch_user_data(self) -> bytes:
        """Decoded ``coreos.config.data``, else the decoded body of ``coreos.config.url``.

        Raises:
            DatasourceError: undecodable data or an unsupported encoding.
        """
        encoding = self._key("coreos.config.data.encoding")
        data = self._key("coreos.config.data")
        if not data:
            url = self._key("coreos.config.url")
            if not url:
                return b""
            data = (self.get(url) or b"").decode("utf-8", errors="replace")
        try:
            return decode_content(data.strip() if encoding else data, encoding)
        except ValueError as exc:
            raise DatasourceError(f"vmware: guestinfo.coreos.config.data: {exc}") from exc

    def fetch_metadata(self) -> Metadata:
        """Hostname and role-based addresses from ``interface.<n>.*`` keys.

        Raises:
            DatasourceError: an address with an unknown role.
        """
        ips: dict[str, str] = {}
        n = 0
        while self.read(f"interface.{n}.name") is not None or self.read(f"interface.{n}.mac"):
            role = self._key(f"interface.{n}.role")
            m = 0
            while (addr := self.read(f"interface.{n}.ip.{m}.address")) is not None:
                ips.update(_role_address(role, addr, n, m))
                m += 1
            n += 1
        return Metadata(
            hostname=self._key("hostname"),
            public_ipv4=ips.get("public_ipv4", ""),
            private_ipv4=ips.get("private_ipv4", ""),
            public_ipv6=ips.get("public_ipv6", ""),
            private_ipv6=ips.get("private_ipv6", ""),
        )


def _role_address(role: str, cidr: str, n: int, m: int) -> dict[str, str]:
    try:
        ip = ipaddress.ip_interface(cidr).ip
    except ValueError as exc:
        raise DatasourceError(f"vmware: interface.{n}.ip.{m}.address: {exc}") from exc
    if role not in ("public", "private"):
        raise DatasourceError(f"unrecognized role: {role!r}")
    return {f"{role}_ipv{ip.version}": str(ip)}
