"""Probes of a running cluster over HTTP (etcd v2 API, fleet API v1), and the pure
summaries built from their answers.

Every probe has a short timeout and returns ``None`` (or an empty value) when the service
does not answer: a cluster being brought up is expected to fail probes for a while, and the
caller decides what "ready" means (:func:`etcd_ready`, :func:`fleet_ready`).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

__all__ = [
    "EtcdView",
    "FleetView",
    "etcd_ready",
    "fleet_ready",
    "get_json",
    "probe_etcd",
    "probe_fleet",
]


def get_json(url: str, timeout: float = 1.0) -> Any:
    """GET ``url`` and decode JSON; ``None`` on any connection, HTTP or decoding error."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class EtcdView:
    """What one member says.

    Attributes:
        healthy: ``/health`` answered ``{"health": "true"}``.
        name, id, state: from ``/v2/stats/self`` (``StateLeader``...), empty if no answer.
        leader: the leader's member ID as this member sees it.
        members: member names from ``/v2/members``.
    """

    healthy: bool
    name: str = ""
    id: str = ""
    state: str = ""
    leader: str = ""
    members: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetView:
    """What one fleet API says: machines (``id -> primaryIP``) and unit states."""

    answered: bool
    machines: dict[str, str]
    units: tuple[tuple[str, str, str], ...] = ()  # (unit, machine id, "active/running")


def probe_etcd(client_url: str, timeout: float = 1.0) -> EtcdView:
    """Ask the member at ``client_url`` about itself and the cluster."""
    health = get_json(client_url + "/health", timeout)
    healthy = isinstance(health, dict) and health.get("health") == "true"
    st = get_json(client_url + "/v2/stats/self", timeout)
    mem = get_json(client_url + "/v2/members", timeout)
    names: tuple[str, ...] = ()
    if isinstance(mem, dict) and isinstance(mem.get("members"), list):
        names = tuple(sorted(str(m.get("name", "")) for m in mem["members"]))
    if not isinstance(st, dict):
        return EtcdView(healthy=healthy, members=names)
    leader = st.get("leaderInfo", {})
    return EtcdView(
        healthy=healthy,
        name=str(st.get("name", "")),
        id=str(st.get("id", "")),
        state=str(st.get("state", "")),
        leader=str(leader.get("leader", "")) if isinstance(leader, dict) else "",
        members=names,
    )


def probe_fleet(api_url: str, timeout: float = 2.0) -> FleetView:
    """Ask fleet's API at ``api_url`` for machines and unit states."""
    ms = get_json(api_url + "/fleet/v1/machines", timeout)
    if not isinstance(ms, dict):
        return FleetView(answered=False, machines={})
    machines = {str(m.get("id", "")): str(m.get("primaryIP", "")) for m in ms.get("machines") or []}
    st = get_json(api_url + "/fleet/v1/state", timeout)
    units: list[tuple[str, str, str]] = []
    if isinstance(st, dict):
        units = [
            (
                str(s.get("name", "")),
                str(s.get("machineID", "")),
                f"{s.get('systemdActiveState', '')}/{s.get('systemdSubState', '')}",
            )
            for s in st.get("states") or []
        ]
    return FleetView(answered=True, machines=machines, units=tuple(sorted(units)))


def etcd_ready(views: list[EtcdView], size: int) -> bool:
    """Every member is healthy, knows all ``size`` members, and all agree on one leader."""
    if len(views) != size or not all(v.healthy for v in views):
        return False
    leaders = {v.leader for v in views}
    if len(leaders) != 1 or not _is_id(next(iter(leaders))):
        return False
    return all(len(v.members) == size for v in views)


def _is_id(text: str) -> bool:
    try:
        return int(text, 16) != 0
    except ValueError:
        return False


def fleet_ready(view: FleetView, size: int) -> bool:
    """fleet sees ``size`` machines."""
    return view.answered and len(view.machines) == size
