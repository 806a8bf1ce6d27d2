"""Readiness rules, the status table (pure), and the state record."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pycoreos.cli.cluster import _exports, render_table
from pycoreos.cluster import EtcdView, FleetView, summarize
from pycoreos.cluster.health import etcd_ready, fleet_ready
from pycoreos.cluster.state import ClusterRecord, NodeRecord, load_record, save_record


def _rec(tmp: Path) -> ClusterRecord:
    nodes = [
        NodeRecord(name=f"node{i}", address="127.0.0.1", client_port=100 + i,
                   peer_port=200 + i, fleet_port=300 + i, pid=1000 + i, start_time=5)
        for i in (1, 2, 3)
    ]  # fmt: skip
    return ClusterRecord(state_dir=tmp, token="t", template="/t.yaml", nodes=nodes)


def _view(name: str, id_: str, state: str, leader: str = "b2") -> EtcdView:
    return EtcdView(healthy=True, name=name, id=id_, state=state, leader=leader,
                    members=("node1", "node2", "node3"))  # fmt: skip


def test_etcd_is_ready_only_when_all_are_healthy_and_agree_on_a_leader():
    views = [_view("node1", "a1", "StateFollower"), _view("node2", "b2", "StateLeader"),
             _view("node3", "c3", "StateFollower")]  # fmt: skip
    assert etcd_ready(views, 3)
    assert not etcd_ready(views[:2], 3)
    split = [*views[:2], _view("node3", "c3", "StateFollower", leader="a1")]
    assert not etcd_ready(split, 3)
    no_leader = [_view(v.name, v.id, v.state, leader="0") for v in views]
    assert not etcd_ready(no_leader, 3)
    sick = [*views[:2], EtcdView(healthy=False)]
    assert not etcd_ready(sick, 3)
    partial = [EtcdView(**{**_fields(v), "members": ("node1",)}) for v in views]
    assert not etcd_ready(partial, 3)


def _fields(v: EtcdView) -> dict[str, object]:
    return {f: getattr(v, f) for f in v.__dataclass_fields__}


def test_fleet_is_ready_when_it_sees_every_machine():
    assert fleet_ready(FleetView(answered=True, machines={"a": "", "b": ""}), 2)
    assert not fleet_ready(FleetView(answered=True, machines={"a": ""}), 2)
    assert not fleet_ready(FleetView(answered=False, machines={}), 0)


def test_summary_puts_units_on_their_nodes_and_names_the_leader(tmp_path):
    rec = _rec(tmp_path)
    mids = {"node1": "m1" * 16, "node2": "m2" * 16, "node3": "m3" * 16}
    fleet = FleetView(
        answered=True,
        machines={mids["node1"]: "127.0.0.1", mids["node2"]: "127.0.0.1"},
        units=(("hello.service", mids["node2"], "active/running"),
               ("lost.service", "f" * 32, "active/running")),
    )  # fmt: skip
    etcd = {"node1": _view("node1", "a1", "StateFollower"),
            "node2": _view("node2", "b2", "StateLeader")}  # fmt: skip
    st = summarize(
        rec,
        running={"node1": True, "node2": True, "node3": False},
        phases={"node1": "running", "node2": "running"},
        machine_ids=mids,
        etcd=etcd,
        fleet=fleet,
    )
    assert st.leader == "node2"
    rows = {r.name: r for r in st.rows}
    assert rows["node2"].units == ("hello.service active/running",)
    assert rows["node2"].etcd == "leader"
    assert rows["node1"].etcd == "follower"
    assert rows["node3"].etcd == "down"
    assert rows["node3"].process == "stopped"
    assert rows["node3"].machine == "-"
    assert rows["node3"].phase == "-"
    assert st.unplaced == ("lost.service active/running",)
    assert st.fleet_machines == 2
    assert st.fleet_endpoint == "http://127.0.0.1:301"
    table = render_table(st)
    assert [c.header for c in table.columns][:2] == ["NODE", "PID"]
    assert table.row_count == 3


def test_record_round_trips_and_bad_records_read_as_none(tmp_path):
    rec = _rec(tmp_path)
    rec.netns = {"tag": "9", "subnet": "10.200.0", "size": "3"}
    save_record(rec)
    back = load_record(tmp_path)
    assert back == rec
    assert back is not None
    assert back.plan.node("node2").client_url == "http://127.0.0.1:102"
    (tmp_path / "cluster.json").write_text("{")
    assert load_record(tmp_path) is None
    assert load_record(tmp_path / "nope") is None


def test_exports_list_the_other_fleet_apis_in_a_comment_eval_ignores():
    text = _exports("http://a:1,http://b:1", "http://a:2", ["http://a:2", "http://b:2"])
    assert text.splitlines() == [
        "export ETCDCTL_ENDPOINTS=http://a:1,http://b:1",
        "export FLEETCTL_ENDPOINT=http://a:2",
        "# fleet API on the other nodes: http://b:2",
    ]
    out = subprocess.run(
        ["sh", "-c", f'{text}\necho "$FLEETCTL_ENDPOINT"'], capture_output=True, text=True
    )
    assert out.stdout == "http://a:2\n"
    assert _exports("e", "f").splitlines() == [
        "export ETCDCTL_ENDPOINTS=e",
        "export FLEETCTL_ENDPOINT=f",
    ]
