"""The ``pycoreos`` command: one console script, subcommands named after the originals.

Each subcommand lives in its own module and is imported only when run, so ``pycoreos etcdctl``
does not pay for importing the server. A subcommand module exposes ``main(argv) -> int``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

# name -> (module, one-line help). Add new subcommands here.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "etcd": ("pycoreos.cli.etcd", "run an etcd member (v2 API, Raft, WAL)"),
    "etcdctl": ("pycoreos.cli.etcdctl", "etcd v2 command-line client"),
    "benchmark": ("pycoreos.cli.benchmark", "measure v2 put/get throughput and latency"),
    "check-history": (
        "pycoreos.cli.check_history",
        "check a Jepsen-format history for linearizability",
    ),
    "torture": ("pycoreos.cli.torture", "fault-injection runs on real clusters, checked"),
    "units": ("pycoreos.cli.units", "drive one node's unit manager (systemctl-like)"),
    "cloudinit": ("pycoreos.cli.cloudinit", "apply or validate a cloud-config (coreos-cloudinit)"),
    "fleetd": ("pycoreos.cli.fleetd", "run fleet's engine and agent on this machine"),
    "fleetctl": ("pycoreos.cli.fleetctl", "drive the fleet cluster"),
    "node": ("pycoreos.cli.node", "boot one machine from its cloud-config (etcd, fleet, units)"),
    "cluster": ("pycoreos.cli.cluster", "bring up, inspect and tear down a local N-node cluster"),
    "certs": ("pycoreos.cli.certs", "create a CA and server/peer/client TLS certificates"),
    "discovery": ("pycoreos.cli.discovery", "serve the discovery token service"),
}


def _usage() -> str:
    lines = ["usage: pycoreos <command> [args...]", "", "commands:"]
    width = max(len(n) for n in SUBCOMMANDS)
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``argv`` (default ``sys.argv[1:]``) to a subcommand; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if args else 2
    if args[0] in ("--version", "version"):
        from pycoreos import __version__

        print(f"pycoreos {__version__}")
        return 0
    entry = SUBCOMMANDS.get(args[0])
    if entry is None:
        print(f"pycoreos: unknown command {args[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(entry[0])
    rc: int = module.main(args[1:])
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
