"""Cluster layout and per-node cloud-configs (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pycoreos.cloudinit import Severity, parse_user_data
from pycoreos.cluster import TemplateError, plan_cluster, render_node_config
from pycoreos.cluster.netns import NetnsError, plan_netns

EXAMPLE = (Path(__file__).parents[2] / "examples" / "cloud-config.yaml").read_text()


def _plan(n: int = 3):
    return plan_cluster(
        n, Path("/s"), addresses=["127.0.0.1"] * n, ports=list(range(7001, 7001 + 3 * n))
    )


def test_plan_gives_each_node_its_ports_and_directory():
    plan = _plan()
    assert [n.name for n in plan.nodes] == ["node1", "node2", "node3"]
    n2 = plan.node("node2")
    assert (n2.client_port, n2.peer_port, n2.fleet_port) == (7004, 7005, 7006)
    assert n2.root == Path("/s/node2/root")
    assert plan.initial_cluster == (
        "node1=http://127.0.0.1:7002,node2=http://127.0.0.1:7005,node3=http://127.0.0.1:7008"
    )
    assert plan.client_urls.count(",") == 2
    with pytest.raises(KeyError):
        plan.node("node4")


def test_plan_with_one_address_per_node_shares_the_ports():
    plan = plan_cluster(2, Path("/s"), addresses=["10.0.0.1", "10.0.0.2"], ports=[1, 2, 3],
                        netns=["a", "b"])  # fmt: skip
    assert [n.client_url for n in plan.nodes] == ["http://10.0.0.1:1", "http://10.0.0.2:1"]
    assert [n.netns for n in plan.nodes] == ["a", "b"]


@pytest.mark.parametrize(
    "kw",
    [
        {"size": 0, "addresses": [], "ports": [1, 2, 3]},
        {"size": 2, "addresses": ["a"], "ports": [1, 2, 3]},
        {"size": 2, "addresses": ["a", "b"], "ports": [1, 2, 3, 4]},
    ],
)
def test_plan_rejects_inconsistent_arguments(kw):
    with pytest.raises(ValueError, match="cluster:"):
        plan_cluster(kw["size"], Path("/s"), addresses=kw["addresses"], ports=kw["ports"])


def test_example_renders_a_valid_config_per_node():
    plan = _plan()
    for i, node in enumerate(plan.nodes, 1):
        text = render_node_config(EXAMPLE, plan, node)
        ud = parse_user_data(text, substitutions={"$private_ipv4": "127.0.0.1"})
        assert [str(x) for x in ud.issues if x.kind is Severity.ERROR] == []
        cfg = ud.config
        assert cfg.hostname == f"coreos-{i}"
        e = cfg.coreos.etcd2
        assert e.name == node.name
        assert e.listen_client_urls == f"http://127.0.0.1:{node.client_port}"
        assert e.initial_advertise_peer_urls == f"http://127.0.0.1:{node.peer_port}"
        assert e.initial_cluster == plan.initial_cluster
        assert cfg.coreos.fleet.public_ip == "127.0.0.1"
        assert cfg.coreos.fleet.etcd_servers == plan.client_urls
        # the template's own parts are kept
        assert [u.name for u in cfg.coreos.units][:3] == [
            "etcd2.service", "fleet.service", "docker.service"
        ]  # fmt: skip
        assert tuple(cfg.users[0].groups) == ("sudo", "docker")


def test_template_keys_are_replaced_in_either_spelling_and_fleet_tuning_is_kept():
    tmpl = (
        "#cloud-config\ncoreos:\n  etcd2:\n    listen_client_urls: http://x:1\n"
        "    heartbeat-interval: 50\n  fleet:\n    agent_ttl: 40s\n    metadata: role=web\n"
    )
    plan = _plan(1)
    doc = yaml.safe_load(render_node_config(tmpl, plan, plan.nodes[0]))
    etcd = doc["coreos"]["etcd2"]
    assert "listen_client_urls" not in etcd
    assert etcd["listen-client-urls"] == "http://$private_ipv4:7001"
    assert etcd["heartbeat-interval"] == 50
    fleet = doc["coreos"]["fleet"]
    assert fleet["agent_ttl"] == "40s"
    assert "agent-ttl" not in fleet
    assert fleet["metadata"] == "role=web"
    assert fleet["engine-reconcile-interval"] == 1
    # etcd2 and fleet are started even though the template did not say so
    names = [u["name"] for u in doc["coreos"]["units"]]
    assert names == ["etcd2.service", "fleet.service"]
    assert doc["hostname"] == "core-1"


def test_a_template_that_starts_etcd_service_gets_the_coreos_etcd_section():
    tmpl = "#cloud-config\ncoreos:\n  units:\n    - name: etcd.service\n      command: start\n"
    plan = _plan(1)
    doc = yaml.safe_load(render_node_config(tmpl, plan, plan.nodes[0]))
    assert "etcd2" not in doc["coreos"]
    assert doc["coreos"]["etcd"]["name"] == "node1"
    assert [u["name"] for u in doc["coreos"]["units"]] == ["etcd.service", "fleet.service"]


def test_rendered_unit_contents_stay_block_scalars():
    plan = _plan(1)
    text = render_node_config(EXAMPLE, plan, plan.nodes[0])
    assert "content: |\n" in text
    assert text.startswith("#cloud-config\n")


@pytest.mark.parametrize(
    ("tmpl", "msg"),
    [
        ("hostname: x\n", "not a cloud-config"),
        ("#cloud-config\n- a\n", "must be a mapping"),
        ("#cloud-config\ncoreos: [1]\n", "coreos must be a mapping"),
        ("#cloud-config\ncoreos:\n  units: {}\n", "units must be a list"),
        ("#cloud-config\ncoreos:\n  fleet: 3\n", "coreos.fleet must be a mapping"),
        ("#cloud-config\na: [\n", "cluster template:"),
    ],
)
def test_unusable_templates_are_reported(tmpl, msg):
    plan = _plan(1)
    with pytest.raises(TemplateError, match=msg):
        render_node_config(tmpl, plan, plan.nodes[0])


def test_netns_refuses_when_no_subnet_is_free():
    with pytest.raises(NetnsError, match="no free"):
        plan_netns(4194303, 3, ["10.0.0.0/8"])  # the whole 10/8 is taken
    with pytest.raises(NetnsError, match="at most"):
        plan_netns(1, 251, [])


def test_netns_plan_is_pure_and_avoids_overlaps():
    used = ["10.200.5.0/24", "192.168.1.0/24"]
    plan = plan_netns(5, 3, used)
    assert plan.subnet == "10.200.6"
    assert plan.address(2) == "10.200.6.2"
    assert plan.host_address == "10.200.6.254"
    assert len(f"pc{4194303}v250") <= 15
    assert len(plan.host_if) <= 15
    assert plan.node_ns(1) == "pycoreos-5-n1"
    assert plan_netns(5, 3, used) == plan
