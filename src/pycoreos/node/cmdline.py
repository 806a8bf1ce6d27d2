"""The kernel command line as a node sees it, and where its user-data comes from.

A CoreOS machine reads ``/proc/cmdline`` early in boot (:mod:`pycoreos.cloudinit.cmdline`
parses it): ``coreos.autologin[=TTY]`` gets getty drop-ins, ``coreos.config.url`` /
``cloud-config-url`` names the user-data when none is given otherwise, ``coreos.oem.id``
names the platform. A node acts on the same tokens.

Invariants:

* The command line of a node is ``--cmdline`` when given. Otherwise it is ``/proc/cmdline``
  only for a node whose root is ``/`` (a real machine): a node root on a host shares the
  host's kernel, whose command line was written for the host, not for the node.
* User-data precedence: ``--config FILE``, else the command line's URL, else none (a
  machine without user-data boots with nothing configured, as CoreOS did). A 404 from the
  URL is empty user-data (coreos-cloudinit's rule); an unreachable URL after the node's
  fetch timeout refuses the boot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pycoreos.cloudinit.cmdline import KernelCmdline, parse
from pycoreos.cloudinit.datasource import HttpGet, http_get, select
from pycoreos.cloudinit.datasource.net import UrlSource
from pycoreos.cloudinit.errors import DatasourceError
from pycoreos.node.config import NodeConfig, RefusedError

__all__ = ["PROC_CMDLINE", "UserData", "kernel_cmdline", "read_user_data"]

PROC_CMDLINE = Path("/proc/cmdline")


@dataclass(frozen=True, slots=True, kw_only=True)
class UserData:
    """The raw user-data a node boots with.

    Attributes:
        data: the bytes (may be gzipped; empty for none).
        source: where they came from: ``file:PATH``, ``url:URL`` or ``none``.
    """

    data: bytes
    source: str


def kernel_cmdline(cfg: NodeConfig, *, proc: Path = PROC_CMDLINE) -> KernelCmdline:
    """The node's parsed kernel command line (see the module doc for which one)."""
    if cfg.cmdline is not None:
        return parse(cfg.cmdline)
    if not cfg.is_host_root:
        return KernelCmdline()
    try:
        return parse(proc.read_text(errors="replace"))
    except OSError:
        return KernelCmdline()


def read_user_data(
    cfg: NodeConfig,
    cmd: KernelCmdline,
    *,
    get: HttpGet = http_get,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> UserData:
    """The user-data for this boot: ``--config``, else the command line's URL, else none.

    Raises:
        RefusedError: the file cannot be read, or the URL did not answer in time.
    """
    if cfg.config_file is not None:
        try:
            return UserData(data=cfg.config_file.read_bytes(), source=f"file:{cfg.config_file}")
        except OSError as exc:
            raise RefusedError(f"node: cannot read {cfg.config_file}: {exc.strerror}") from None
    if not cmd.config_url:
        return UserData(data=b"", source="none")
    src = UrlSource(cmd.config_url, get=get)
    found = select([src], timeout=cfg.fetch_timeout, sleep=sleep, monotonic=monotonic)
    try:
        if found is None:
            raise DatasourceError(f"no answer within {cfg.fetch_timeout:g}s")
        data = found.fetch_user_data()
    except DatasourceError as exc:
        raise RefusedError(f"node: cannot fetch user-data from {cmd.config_url}: {exc}") from None
    return UserData(data=data, source=f"url:{cmd.config_url}")
