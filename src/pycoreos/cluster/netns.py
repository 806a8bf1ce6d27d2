"""``--netns``: each node in its own network namespace, like a machine on a LAN (root only).

Layout (``shared/reference/sandbox.md`` §3): a switch namespace holds a bridge; each node
namespace has ``eth0`` (one end of a veth pair, the other end enslaved to the bridge) with
address ``<subnet>.K/24``; one more veth pair connects the host to the bridge with
``<subnet>.254`` so the host (etcdctl, fleetctl, ``cluster status``) reaches every node.
Frames between nodes never cross the host's netfilter (the bridge lives in the switch
namespace).

Names carry the PID of the ``cluster up`` that created them (unique on the host);
interface names stay within the kernel's 15 characters. :func:`plan_netns` is pure;
:func:`setup` / :func:`teardown` run ``ip``. Teardown deletes the namespaces (which
destroys the veths inside) and the host's veth, ignoring what is already gone, so it is
safe to repeat.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from dataclasses import dataclass

from pycoreos.errors import ConfigError

__all__ = [
    "NetnsError",
    "NetnsPlan",
    "pick_subnet",
    "plan_netns",
    "setup",
    "teardown",
    "used_networks",
]


class NetnsError(ConfigError):
    """Namespaces cannot be set up (not root, no ``ip``, a command failed)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NetnsPlan:
    """Names and addresses of one cluster's namespaces."""

    tag: str
    subnet: str  # "10.201.7" (a /24)
    size: int

    @property
    def switch(self) -> str:
        """The switch namespace (holds the bridge)."""
        return f"pycoreos-{self.tag}-sw"

    def node_ns(self, k: int) -> str:
        """Namespace of node ``k`` (1-based)."""
        return f"pycoreos-{self.tag}-n{k}"

    def address(self, k: int) -> str:
        """Address of node ``k``."""
        return f"{self.subnet}.{k}"

    @property
    def host_address(self) -> str:
        """The host's address on the bridge."""
        return f"{self.subnet}.254"

    @property
    def host_if(self) -> str:
        """The host's veth."""
        return f"pc{self.tag}h"

    def to_record(self) -> dict[str, str]:
        """For ``cluster.json``."""
        return {"tag": self.tag, "subnet": self.subnet, "size": str(self.size)}

    @classmethod
    def from_record(cls, rec: dict[str, str]) -> NetnsPlan:
        """Inverse of :meth:`to_record`."""
        return cls(tag=rec["tag"], subnet=rec["subnet"], size=int(rec["size"]))


def pick_subnet(pid: int, used: list[str]) -> str:
    """A ``10.X.Y`` /24 derived from ``pid`` that overlaps none of the ``used`` networks."""
    nets = [ipaddress.ip_network(u, strict=False) for u in used]
    for step in range(256 * 50):
        n = (pid + step) % (256 * 50)
        cand = f"10.{200 + n // 256}.{n % 256}"
        net = ipaddress.ip_network(f"{cand}.0/24")
        if not any(net.overlaps(u) for u in nets):
            return cand
    raise NetnsError("netns: no free 10.200-249.x.0/24 subnet")


def plan_netns(pid: int, size: int, used: list[str]) -> NetnsPlan:
    """Names and a free subnet for ``size`` nodes. Pure."""
    if size > 250:
        raise NetnsError("netns: at most 250 nodes")
    return NetnsPlan(tag=str(pid), subnet=pick_subnet(pid, used), size=size)


def used_networks() -> list[str]:
    """IPv4 networks already routed on the host (``ip -4 route``)."""
    out = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=False)
    nets = []
    for line in out.stdout.splitlines():
        word = line.split(" ", 1)[0]
        if word != "default" and word[:1].isdigit():
            nets.append(word if "/" in word else f"{word}/32")
    return nets


def _ip(*args: str) -> None:
    r = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise NetnsError(f"netns: ip {' '.join(args)}: {r.stderr.strip()}")


def setup(plan: NetnsPlan) -> None:
    """Create the switch, one namespace per node and the host link.

    Raises:
        NetnsError: not root, or an ``ip`` command failed (what was created is removed).
    """
    if os.geteuid() != 0:
        raise NetnsError("netns: --netns needs root (network namespaces)")
    sw, br = plan.switch, "br0"
    try:
        _ip("netns", "add", sw)
        _ip("-n", sw, "link", "set", "lo", "up")
        _ip("-n", sw, "link", "add", br, "type", "bridge")
        _ip("-n", sw, "link", "set", br, "up")
        for k in range(1, plan.size + 1):
            ns, v, p = plan.node_ns(k), f"pc{plan.tag}v{k}", f"pc{plan.tag}p{k}"
            _ip("netns", "add", ns)
            _ip("link", "add", v, "type", "veth", "peer", "name", p)
            _ip("link", "set", v, "netns", ns)
            _ip("link", "set", p, "netns", sw)
            _ip("-n", ns, "link", "set", v, "name", "eth0")
            _ip("-n", ns, "addr", "add", f"{plan.address(k)}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", sw, "link", "set", p, "master", br)
            _ip("-n", sw, "link", "set", p, "up")
        h, s = plan.host_if, f"pc{plan.tag}s"
        _ip("link", "add", h, "type", "veth", "peer", "name", s)
        _ip("link", "set", s, "netns", sw)
        _ip("-n", sw, "link", "set", s, "master", br)
        _ip("-n", sw, "link", "set", s, "up")
        _ip("addr", "add", f"{plan.host_address}/24", "dev", h)
        _ip("link", "set", h, "up")
    except NetnsError:
        teardown(plan)
        raise


def teardown(plan: NetnsPlan) -> None:
    """Delete everything :func:`setup` created; what is already gone is ignored."""
    for k in range(1, plan.size + 1):
        subprocess.run(["ip", "netns", "del", plan.node_ns(k)], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "del", plan.switch], capture_output=True, check=False)
    subprocess.run(["ip", "link", "del", plan.host_if], capture_output=True, check=False)
