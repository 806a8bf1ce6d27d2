"""``pycoreos fleetd``: run fleet's engine and agent for one machine.

Flags: ``--config FILE`` (fleet.conf INI, default ``/etc/fleet/fleet.conf`` if present),
``--version``, and ``--<option>=<value>`` for any fleet.conf option; ``FLEET_*`` env vars
override the file and flags override both. SIGTERM/SIGINT stop fleetd and its units (as
fleet); SIGHUP re-reads the configuration without touching units.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pycoreos.errors import ConfigError

if TYPE_CHECKING:
    from pycoreos.fleet.config import FleetConfig

DEFAULT_CONFIG = "/etc/fleet/fleet.conf"


def _parse(argv: list[str]) -> tuple[str | None, dict[str, str]]:
    path: str | None = None
    over: dict[str, str] = {}
    it = iter(argv)
    for a in it:
        if not a.startswith("--"):
            raise ConfigError(f"unexpected argument {a!r}")
        key, eq, value = a[2:].partition("=")
        if not eq:
            value = next(it, "")
        key = key.replace("-", "_")
        if key == "config":
            path = value
        else:
            over[key] = value
    return path, over


def load(argv: list[str]) -> FleetConfig:
    """Read the configuration from the file, the environment and the flags."""
    from pycoreos.fleet.config import FleetConfig

    path, over = _parse(argv)
    text = ""
    file = path or (DEFAULT_CONFIG if os.path.exists(DEFAULT_CONFIG) else None)
    if file:
        try:
            text = Path(file).read_text()
        except OSError as e:
            raise ConfigError(f"cannot read config {file}: {e.strerror}") from None
    return FleetConfig.load(text, os.environ, **over)


async def _run(argv: list[str]) -> int:
    from pycoreos.fleet.server import FleetServer, open_manager

    cfg = load(argv)
    manager = await open_manager(cfg)
    server = FleetServer(cfg, manager)
    await server.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def hup() -> None:
        try:
            server.reload(load(argv))
            logging.getLogger("pycoreos.fleet").info("configuration reloaded")
        except ConfigError as e:
            logging.getLogger("pycoreos.fleet").error("reload failed: %s", e)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, hup)
    await stop.wait()
    await server.stop(purge=True)
    await manager.close()
    return 0


def main(argv: list[str]) -> int:
    """Entry point; returns the exit code."""
    if "--version" in argv or "-version" in argv:
        from pycoreos.fleet.server import VERSION

        print(f"fleetd version {VERSION}")
        return 0
    logging.basicConfig(
        level=logging.DEBUG
        if os.environ.get("FLEET_VERBOSITY", "0") not in ("", "0")
        else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return asyncio.run(_run(argv))
    except ConfigError as e:
        print(f"fleetd: {e}", file=sys.stderr)
        return 1
