"""One cloud-config template -> one cloud-config per node. Pure (text in, text out).

What a person writing configs for a CoreOS cluster did by hand, done per node:

* ``coreos.etcd2`` (or ``coreos.etcd`` when the template uses only ``etcd.service``) gets
  the node's name, its listen/advertise URLs (written with ``$private_ipv4``, which the node
  substitutes with its own address, as on a cloud), the cluster's ``initial-cluster`` and
  token; other keys of the template's section are kept.
* ``coreos.fleet`` gets ``public-ip: $private_ipv4`` and every member in ``etcd-servers``;
  ``agent-ttl`` and ``engine-reconcile-interval`` default to values that move units off a
  dead machine in seconds, unless the template sets them.
* ``hostname`` becomes ``<template hostname>-<K>`` (``core-<K>`` without one).
* ``etcd2.service``/``fleet.service`` ``command: start`` entries are added when the template
  does not start etcd or fleet: a cluster node always runs both.

Invariants:

* Keys are written with ``-`` (the original accepts ``-`` and ``_``; a template key in
  either spelling is replaced, never duplicated).
* The output starts with ``#cloud-config`` and re-parses to the same mapping.

Raises :class:`TemplateError` for a template that is not a cloud-config mapping.
"""

from __future__ import annotations

from typing import Any

import yaml

from pycoreos.cluster.spec import ClusterPlan, NodePlan
from pycoreos.errors import ConfigError

__all__ = ["TemplateError", "render_node_config"]

HEADER = "#cloud-config"
FLEET_DEFAULTS = {"agent-ttl": "10s", "engine-reconcile-interval": 1}


class TemplateError(ConfigError):
    """The cluster's cloud-config template is unusable."""


def _norm(key: object) -> str:
    return str(key).replace("_", "-")


def _set(section: dict[str, Any], key: str, value: object, *, keep: bool = False) -> None:
    existing = [k for k in section if _norm(k) == key]
    if keep and existing:
        return
    for k in existing:
        del section[k]
    section[key] = value


def _units(coreos: dict[str, Any]) -> list[dict[str, Any]]:
    units = coreos.get("units")
    if units is None:
        units = coreos["units"] = []
    if not isinstance(units, list):
        raise TemplateError("cluster template: coreos.units must be a list")
    return units


def _starts(units: list[dict[str, Any]], name: str) -> bool:
    return any(isinstance(u, dict) and u.get("name") == name for u in units)


def _etcd_section(coreos: dict[str, Any], units: list[dict[str, Any]]) -> str:
    keys = {_norm(k) for k in coreos}
    if "etcd2" in keys or _starts(units, "etcd2.service"):
        return "etcd2"
    if "etcd" in keys or _starts(units, "etcd.service"):
        return "etcd"
    return "etcd2"


def _section(coreos: dict[str, Any], name: str) -> dict[str, Any]:
    for k in list(coreos):
        if _norm(k) == name:
            value = coreos.pop(k)
            if value is not None and not isinstance(value, dict):
                raise TemplateError(f"cluster template: coreos.{name} must be a mapping")
            coreos[name] = value or {}
            return coreos[name]  # type: ignore[no-any-return]
    coreos[name] = {}
    return coreos[name]  # type: ignore[no-any-return]


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    # Unit contents stay readable block scalars in the rendered file.
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def render_node_config(template: str, cluster: ClusterPlan, node: NodePlan) -> str:
    """The cloud-config of ``node`` (see the module doc).

    Raises:
        TemplateError: ``template`` is not a ``#cloud-config`` mapping.
    """
    if not template.lstrip().startswith(HEADER):
        raise TemplateError("cluster template: not a cloud-config (first line #cloud-config)")
    try:
        doc = yaml.safe_load(template)
    except yaml.YAMLError as exc:
        raise TemplateError(f"cluster template: {exc}") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise TemplateError("cluster template: the document must be a mapping")
    index = cluster.nodes.index(node) + 1
    base = doc.get("hostname") or "core"
    doc["hostname"] = f"{base}-{index}"
    coreos = doc.get("coreos")
    if coreos is None:
        coreos = doc["coreos"] = {}
    if not isinstance(coreos, dict):
        raise TemplateError("cluster template: coreos must be a mapping")
    units = _units(coreos)
    which = _etcd_section(coreos, units)
    etcd = _section(coreos, which)
    _set(etcd, "name", node.name)
    _set(etcd, "listen-client-urls", f"http://$private_ipv4:{node.client_port}")
    _set(etcd, "advertise-client-urls", f"http://$private_ipv4:{node.client_port}")
    _set(etcd, "listen-peer-urls", f"http://$private_ipv4:{node.peer_port}")
    _set(etcd, "initial-advertise-peer-urls", f"http://$private_ipv4:{node.peer_port}")
    _set(etcd, "initial-cluster", cluster.initial_cluster)
    _set(etcd, "initial-cluster-state", "new")
    _set(etcd, "initial-cluster-token", cluster.token)
    fleet = _section(coreos, "fleet")
    _set(fleet, "public-ip", "$private_ipv4")
    _set(fleet, "etcd-servers", cluster.client_urls)
    for key, value in FLEET_DEFAULTS.items():
        _set(fleet, key, value, keep=True)
    unit = f"{which}.service"
    if not _starts(units, unit):
        units.insert(0, {"name": unit, "command": "start"})
    if not _starts(units, "fleet.service"):
        units.insert(1, {"name": "fleet.service", "command": "start"})
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000)
    return f"{HEADER}\n# node {node.name} of a {len(cluster.nodes)}-node pycoreos cluster\n{body}"
