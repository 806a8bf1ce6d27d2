"""The units a node ships, as CoreOS shipped them in ``/usr/lib/systemd/system``. Pure.

``etcd.service`` and ``etcd2.service`` run ``pycoreos etcd``; ``fleet.service`` runs
``pycoreos fleetd`` with the node's unit manager; ``docker.service`` runs a private
``dockerd`` when one is installed (else a placeholder that succeeds, so configs that start
docker still boot). Cloud-config only adds ``Environment=`` drop-ins
(``20-cloudinit.conf``): the ``ETCD_*``/``FLEET_*`` values there override the defaults
here, because drop-ins are read after the fragment.

Invariants:

* Every path in a unit is below the node's root (etcd data, fleet's root, docker's data),
  except docker's exec root, which must stay short for its sockets.
* Rendering is a function of :class:`ServiceFacts` only; the same facts give byte-identical
  units, so re-placing them on every boot changes nothing.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass

__all__ = [
    "ETCD_UNITS",
    "ServiceFacts",
    "base_units",
    "default_environment",
    "docker_socket",
    "shutdown_phases",
]

ETCD_UNITS = ("etcd2.service", "etcd.service")
FLEET_UNIT = "fleet.service"
DOCKER_UNIT = "docker.service"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceFacts:
    """What the shipped units depend on.

    Attributes:
        root: the node root (absolute).
        python: interpreter for ``-m pycoreos``.
        machine_id: default etcd member name (CoreOS used ``%m``).
        private_ipv4: fleet's public IP and API address.
        fleet_api_port: fleet's TCP API port (0: unix socket only).
        units_socket: the node's unit manager socket (fleetd drives units through it).
        dockerd: path of ``dockerd``, or ``""`` for no container engine.
        public_ipv4: the node's public address (``COREOS_PUBLIC_IPV4``).
    """

    root: str
    python: str
    machine_id: str
    private_ipv4: str
    fleet_api_port: int = 0
    units_socket: str
    dockerd: str = ""
    public_ipv4: str = ""


def _q(word: str) -> str:
    # Exec lines are split like a shell (execline.py); quote anything unusual.
    return shlex.quote(word)


def _env(name: str, value: str) -> str:
    return f'Environment="{name}={value}"\n'


def _etcd(f: ServiceFacts, unit: str, data: str, other: str) -> str:
    return (
        "[Unit]\n"
        f"Description={unit.removesuffix('.service')} (pycoreos etcd)\n"
        f"Conflicts={other}\n"
        "\n[Service]\n"
        f"WorkingDirectory={f.root}\n"
        + _env("ETCD_DATA_DIR", f"{f.root}/var/lib/{data}")
        + _env("ETCD_NAME", f.machine_id)
        + f"ExecStart={_q(f.python)} -m pycoreos etcd\n"
        "Restart=always\n"
        "RestartSec=2s\n"
        "TimeoutStopSec=30s\n"
        "\n[Install]\n"
        "WantedBy=multi-user.target\n"
    )


def _fleet(f: ServiceFacts) -> str:
    api = f"{f.private_ipv4}:{f.fleet_api_port}" if f.fleet_api_port else ""
    return (
        "[Unit]\n"
        "Description=fleet daemon (pycoreos fleetd)\n"
        "After=etcd.service etcd2.service\n"
        "\n[Service]\n"
        f"WorkingDirectory={f.root}\n"
        + _env("FLEET_ROOT", f.root)
        + _env("FLEET_UNIT_MANAGER", f"socket:{f.units_socket}")
        + _env("FLEET_API_SOCKET", "/var/run/fleet.sock")
        + _env("FLEET_API_LISTEN", api)
        + _env("FLEET_PUBLIC_IP", f.private_ipv4)
        + f"ExecStart={_q(f.python)} -m pycoreos fleetd\n"
        "Restart=always\n"
        "RestartSec=2s\n"
        "TimeoutStopSec=60s\n"
        "\n[Install]\n"
        "WantedBy=multi-user.target\n"
    )


def docker_exec_root(root: str) -> str:
    """A short exec root per node: dockerd's containerd sockets must fit in ``sun_path``."""
    return f"/run/pycoreos-docker-{hashlib.sha256(root.encode()).hexdigest()[:12]}"


def docker_socket(root: str) -> str:
    """The node's private docker socket (what ``DOCKER_HOST`` points at)."""
    return f"{root.rstrip('/')}/run/docker.sock"


def default_environment(f: ServiceFacts) -> dict[str, str]:
    """What every unit of the node sees in its environment (``DefaultEnvironment=``).

    CoreOS units found the machine's addresses in ``/etc/environment``
    (``COREOS_PRIVATE_IPV4``/``COREOS_PUBLIC_IPV4``) and docker at its default socket. A
    node's docker listens on a private socket below its root, so ``DOCKER_HOST`` tells
    every unit's ``docker`` where it is; a unit's own ``Environment=`` still wins.
    """
    env = {
        "COREOS_PRIVATE_IPV4": f.private_ipv4,
        "COREOS_PUBLIC_IPV4": f.public_ipv4 or f.private_ipv4,
    }
    if f.dockerd:
        env["DOCKER_HOST"] = f"unix://{docker_socket(f.root)}"
    return env


def _docker(f: ServiceFacts) -> str:
    if not f.dockerd:
        return (
            "[Unit]\n"
            "Description=container engine (none installed on this host)\n"
            "\n[Service]\n"
            "Type=oneshot\n"
            "RemainAfterExit=yes\n"
            "ExecStart=/bin/true\n"
        )
    argv = [
        f.dockerd,
        "--iptables=false",
        "--ip-masq=false",
        "--bridge=none",
        f"--data-root={f.root}/var/lib/docker",
        f"--exec-root={docker_exec_root(f.root)}",
        f"--pidfile={f.root}/run/docker.pid",
        f"--host=unix://{docker_socket(f.root)}",
    ]
    return (
        "[Unit]\n"
        "Description=Docker Application Container Engine (private to this node)\n"
        "\n[Service]\n"
        f"ExecStart={' '.join(_q(a) for a in argv)}\n"
        "Restart=on-failure\n"
        "RestartSec=2s\n"
        "TimeoutStopSec=30s\n"
    )


def base_units(f: ServiceFacts) -> dict[str, str]:
    """``{unit name: text}`` for the node's vendor unit directory."""
    return {
        "etcd2.service": _etcd(f, "etcd2.service", "etcd2", "etcd.service"),
        "etcd.service": _etcd(f, "etcd.service", "etcd", "etcd2.service"),
        FLEET_UNIT: _fleet(f),
        DOCKER_UNIT: _docker(f),
    }


def shutdown_phases(active: list[str]) -> list[list[str]]:
    """The order a node stops its active units in, one list per phase.

    fleet goes first (its SIGTERM stops the units it scheduled, as fleet's purge does),
    then every other unit, then the container engine, and etcd last: fleetd and the units
    need the store while they stop, and etcd's SIGTERM hands leadership to a peer.
    Targets are left to the manager. Empty phases are dropped.
    """
    units = sorted(u for u in active if not u.endswith(".target"))
    fleet = [u for u in units if u == FLEET_UNIT]
    etcd = [u for u in units if u in ETCD_UNITS]
    docker = [u for u in units if u == DOCKER_UNIT]
    rest = [u for u in units if u not in (FLEET_UNIT, DOCKER_UNIT, *ETCD_UNITS)]
    return [p for p in (fleet, rest, docker, etcd) if p]
