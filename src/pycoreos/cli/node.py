"""``pycoreos node [--config FILE] [--root DIR]``: boot one machine from its cloud-config.

Reads the kernel command line (``--cmdline``, or ``/proc/cmdline`` for root ``/``) and
acts on ``coreos.autologin``, ``coreos.config.url``/``cloud-config-url`` (the user-data
when no ``--config`` is given) and ``coreos.oem.id``. Applies the cloud-config below
``--root`` (refusing to boot, exit 1, on validator errors, with the validator's report),
starts the node's unit manager (``--unit-manager``: host systemd where it is PID 1 and the
root is ``/``, else the built-in supervisor) and the services the config names (etcd,
fleet, docker, ``coreos.units``), and runs until SIGTERM/SIGINT, then shuts down in order:
fleet (and its units), other units, docker, etcd.

Exit codes: 0 clean shutdown, 1 refused or failed boot, 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from pycoreos.cloudinit import CloudConfigError
from pycoreos.node import (
    ContainerEngine,
    NodeConfig,
    RefusedError,
    UnitManagerKind,
    lock_root,
    prepare,
    run_node,
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pycoreos node", description=__doc__.splitlines()[0])
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="cloud-config (user-data) file (default: the kernel command line's config URL)",
    )
    p.add_argument(
        "--cmdline",
        default=None,
        metavar="TEXT",
        help="kernel command line (default: /proc/cmdline for --root /, else empty)",
    )
    p.add_argument(
        "--unit-manager",
        choices=[k.value for k in UnitManagerKind],
        default=UnitManagerKind.AUTO.value,
        help="auto: host systemd when it is PID 1 and --root is /, else builtin",
    )
    p.add_argument(
        "--systemd-bus",
        default=None,
        metavar="ADDRESS",
        help="D-Bus address of the systemd that owns --root (a container's); it runs the units",
    )
    p.add_argument("--root", type=Path, default=Path("/"), help="node root (default /)")
    p.add_argument("--private-ipv4", default="127.0.0.1", help="$private_ipv4 (127.0.0.1)")
    p.add_argument("--public-ipv4", default="", help="$public_ipv4 (default: private)")
    p.add_argument("--fleet-api-port", type=int, default=0, help="fleet HTTP API port")
    p.add_argument(
        "--container-engine",
        choices=[e.value for e in ContainerEngine],
        default=ContainerEngine.AUTO.value,
        help="what docker.service runs (auto: dockerd if installed)",
    )
    p.add_argument("--tracker", default="auto", help="auto|cgroup2|cgroup1|pgroup")
    p.add_argument("--stop-timeout", type=float, default=60.0, help="orderly shutdown limit")
    return p


async def _main(cfg: NodeConfig) -> int:
    fd = lock_root(cfg)
    try:
        prepared = prepare(cfg)
        for line in prepared.warnings:
            print(line, file=sys.stderr)
        for line in prepared.report.lines():
            print(line, file=sys.stderr)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        status = await run_node(cfg, prepared, stop)
        return 0 if status.phase == "stopped" else 1
    finally:
        os.close(fd)


def main(argv: list[str]) -> int:
    """Run ``pycoreos node``; returns the exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    cfg = NodeConfig(
        config_file=args.config,
        root=args.root,
        private_ipv4=args.private_ipv4,
        public_ipv4=args.public_ipv4,
        fleet_api_port=args.fleet_api_port,
        container_engine=ContainerEngine(args.container_engine),
        tracker=args.tracker,
        stop_timeout=args.stop_timeout,
        cmdline=args.cmdline,
        unit_manager=UnitManagerKind(args.unit_manager),
        systemd_bus=args.systemd_bus,
    )
    try:
        # The stdlib loop: uvloop reserves SIGCHLD, which the unit manager needs.
        return asyncio.run(_main(cfg))
    except RefusedError as exc:
        for line in exc.report:
            print(line, file=sys.stderr)
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except CloudConfigError as exc:
        print(f"Error: node: applying {cfg.config_file or 'user-data'}: {exc}", file=sys.stderr)
        return 1
