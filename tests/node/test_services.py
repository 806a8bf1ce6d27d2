"""The shipped units (pure rendering) and the shutdown order."""

from __future__ import annotations

import shlex

from pycoreos.node import ServiceFacts, base_units, shutdown_phases
from pycoreos.units.config import build_config
from pycoreos.units.unitfile import parse_unit

FACTS = ServiceFacts(
    root="/srv/node 1",
    python="/opt/py/bin/python",
    machine_id="ab" * 16,
    private_ipv4="10.0.0.7",
    fleet_api_port=4002,
    units_socket="/srv/node 1/run/pycoreos/units.sock",
)


def _env(text: str) -> dict[str, str]:
    out = {}
    for opt in parse_unit(text, file="x").options:
        if opt.name == "Environment":
            k, _, v = opt.value.strip('"').partition("=")
            out[k] = v
    return out


def _exec(text: str) -> list[str]:
    for opt in parse_unit(text, file="x").options:
        if opt.name == "ExecStart":
            return shlex.split(opt.value)
    raise AssertionError("no ExecStart")


def test_etcd_units_run_our_etcd_with_data_below_the_root():
    units = base_units(FACTS)
    for name, data in (("etcd2.service", "etcd2"), ("etcd.service", "etcd")):
        text = units[name]
        assert _exec(text) == ["/opt/py/bin/python", "-m", "pycoreos", "etcd"]
        env = _env(text)
        assert env["ETCD_DATA_DIR"] == f"/srv/node 1/var/lib/{data}"
        assert env["ETCD_NAME"] == "ab" * 16
    # the two are alternatives, as on CoreOS: starting one stops the other
    assert "Conflicts=etcd.service" in units["etcd2.service"]
    assert "Conflicts=etcd2.service" in units["etcd.service"]


def test_fleet_unit_drives_the_nodes_unit_manager_and_listens_on_the_node_address():
    text = base_units(FACTS)["fleet.service"]
    env = _env(text)
    assert env["FLEET_ROOT"] == "/srv/node 1"
    assert env["FLEET_UNIT_MANAGER"] == "socket:/srv/node 1/run/pycoreos/units.sock"
    assert env["FLEET_API_LISTEN"] == "10.0.0.7:4002"
    assert env["FLEET_PUBLIC_IP"] == "10.0.0.7"
    assert _exec(text)[-2:] == ["pycoreos", "fleetd"]
    # fleet must not pull in etcd2 (that would stop a config's etcd.service)
    assert "Wants=" not in text


def test_docker_is_a_placeholder_without_dockerd_and_private_with_it():
    none = base_units(FACTS)["docker.service"]
    assert _exec(none) == ["/bin/true"]
    assert "RemainAfterExit=yes" in none
    real = base_units(ServiceFacts(**{**_facts_dict(), "dockerd": "/usr/sbin/dockerd"}))[
        "docker.service"
    ]
    argv = _exec(real)
    assert argv[0] == "/usr/sbin/dockerd"
    assert "--data-root=/srv/node 1/var/lib/docker" in argv
    assert "--host=unix:///srv/node 1/run/docker.sock" in argv
    exec_root = next(a for a in argv if a.startswith("--exec-root="))
    assert len(exec_root) < 60  # containerd's sockets live there: must fit in sun_path


def _facts_dict() -> dict[str, object]:
    return {f: getattr(FACTS, f) for f in FACTS.__dataclass_fields__}


def test_every_shipped_unit_loads_as_a_valid_unit():
    for name, text in base_units(FACTS).items():
        cfg = build_config(parse_unit(text, file=name), name)
        assert cfg.service is not None


def test_rendering_is_deterministic():
    assert base_units(FACTS) == base_units(FACTS)


def test_shutdown_order_fleet_first_then_units_then_docker_then_etcd():
    active = [
        "etcd2.service",
        "docker.service",
        "hello.service",
        "fleet.service",
        "multi-user.target",
        "a.service",
    ]
    assert shutdown_phases(active) == [
        ["fleet.service"],
        ["a.service", "hello.service"],
        ["docker.service"],
        ["etcd2.service"],
    ]
    assert shutdown_phases(["x.service"]) == [["x.service"]]
    assert shutdown_phases([]) == []
