"""DNS SRV discovery (``--discovery-srv``): the cluster built from records (fake resolver),
the dnspython resolver against a tiny authoritative server, and three real members
bootstrapping from SRV records alone."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from pycoreos.discovery.srv import (
    DnsResolver,
    SrvError,
    SrvRecord,
    dns_cluster,
    dns_server_from_env,
    get_cluster,
    srv_service,
)
from pycoreos.server.config import load_config
from pycoreos.server.membership import Cluster
from pycoreos.testing.procs import Member, free_ports, ours_command, wait_healthy, wait_ready

from .dns_server import dns_server

DOMAIN = "etcd.test"


class FakeResolver:
    """SRV records by name; addresses by host name (a missing one does not resolve)."""

    def __init__(self, srv: dict[str, list[SrvRecord]], hosts: dict[str, str]) -> None:
        self.srv = srv
        self.hosts = hosts

    def lookup_srv(self, qname: str) -> list[SrvRecord]:
        if qname not in self.srv:
            raise SrvError(f"lookup {qname}: no such host")
        return self.srv[qname]

    def resolve_tcp(self, host: str, port: int) -> str:
        ip = self.hosts.get(host.rstrip("."), host if host[:1].isdigit() else None)
        if ip is None:
            raise SrvError(f"lookup {host}: no such host")
        return f"{ip}:{port}"


HOSTS = {f"infra{i}.etcd.test": f"10.0.1.1{i}" for i in range(3)}


def _records(port: int = 2380) -> list[SrvRecord]:
    return [SrvRecord(0, 0, port, f"infra{i}.etcd.test.") for i in (2, 0, 1)]


def test_service_names_follow_etcd() -> None:
    assert srv_service("https") == "etcd-server-ssl"
    assert srv_service("http") == "etcd-server"
    assert srv_service("https", "prod") == "etcd-server-ssl-prod"
    assert srv_service("http", "prod") == "etcd-server-prod"


def test_own_record_is_found_by_resolved_address_others_get_temporary_names() -> None:
    r = FakeResolver({"_etcd-server._tcp.etcd.test": _records()}, HOSTS)
    # Advertised by IP, listed in DNS by name: the resolved ip:port ties them together.
    got = get_cluster("http", "etcd-server", "infra0", DOMAIN, ["http://10.0.1.10:2380"], r)
    assert got == [
        "infra0=http://infra0.etcd.test:2380",  # trailing dot dropped
        "0=http://infra1.etcd.test:2380",
        "1=http://infra2.etcd.test:2380",
    ]


def test_same_host_other_port_is_not_us() -> None:
    r = FakeResolver({"_etcd-server._tcp.etcd.test": _records(2381)}, HOSTS)
    with pytest.raises(SrvError, match="cannot find local etcd member 'infra0' in SRV records"):
        dns_cluster("infra0", DOMAIN, ["http://10.0.1.10:2380"], r)


def test_https_and_http_records_are_combined_and_ids_agree_across_members() -> None:
    r = FakeResolver(
        {
            "_etcd-server-ssl._tcp.etcd.test": [SrvRecord(0, 0, 2380, "infra0.etcd.test.")],
            "_etcd-server._tcp.etcd.test": [SrvRecord(0, 0, 2380, "infra1.etcd.test.")],
        },
        HOSTS,
    )
    a = dns_cluster("infra0", DOMAIN, ["https://10.0.1.10:2380"], r)
    b = dns_cluster("infra1", DOMAIN, ["http://10.0.1.11:2380"], r)
    assert a == (("infra0", "https://infra0.etcd.test:2380"), ("0", "http://infra1.etcd.test:2380"))
    # Names of the others differ per member; ids come from URLs + token, so they agree.
    ids_a = {m.id for m in Cluster.new(a, "tok").members.values()}
    ids_b = {m.id for m in Cluster.new(b, "tok").members.values()}
    assert ids_a == ids_b
    assert len(ids_a) == 2


def test_http_only_records_bootstrap_even_though_the_https_lookup_fails() -> None:
    # etcd 3.4.x drops these (httpCerr != nil bug); etcd >= 3.5 and we use them.
    r = FakeResolver({"_etcd-server._tcp.etcd.test": _records()}, HOSTS)
    got = dns_cluster("infra0", DOMAIN, ["http://10.0.1.10:2380"], r)
    assert [n for n, _ in got] == ["infra0", "0", "1"]


def test_scheme_mismatch_with_our_own_record_is_an_error() -> None:
    r = FakeResolver(
        {"_etcd-server-ssl._tcp.etcd.test": [SrvRecord(0, 0, 2380, "infra0.etcd.test.")]}, HOSTS
    )
    with pytest.raises(SrvError) as exc:
        get_cluster("https", "etcd-server-ssl", "infra0", DOMAIN, ["http://10.0.1.10:2380"], r)
    assert "has scheme mismatch with expected peer http://10.0.1.10:2380" in str(exc.value)


def test_unresolvable_targets_are_skipped() -> None:
    recs = [*_records(), SrvRecord(0, 0, 2380, "gone.etcd.test.")]
    r = FakeResolver({"_etcd-server._tcp.etcd.test": recs}, HOSTS)
    got = dns_cluster("infra0", DOMAIN, ["http://10.0.1.10:2380"], r)
    assert len(got) == 3


def test_no_records_at_all_names_both_lookups() -> None:
    r = FakeResolver({}, HOSTS)
    with pytest.raises(SrvError) as exc:
        dns_cluster("infra0", DOMAIN, ["http://10.0.1.10:2380"], r, service_name="prod")
    text = str(exc.value)
    assert text.startswith("srv: too many errors querying DNS SRV records")
    assert "_etcd-server-ssl-prod._tcp.etcd.test" in text
    assert "_etcd-server-prod._tcp.etcd.test" in text


def test_records_are_ordered_by_priority() -> None:
    recs = [SrvRecord(10, 0, 2380, "infra1.etcd.test."), SrvRecord(0, 0, 2380, "infra2.etcd.test.")]
    r = FakeResolver({"_etcd-server._tcp.etcd.test": recs}, HOSTS)
    got = get_cluster("http", "etcd-server", "x", DOMAIN, ["http://10.0.1.10:2380"], r)
    assert got == ["0=http://infra2.etcd.test:2380", "1=http://infra1.etcd.test:2380"]


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("", None),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("[::1]:5353", ("::1", 5353)),
    ],
)
def test_dns_server_env(value: str, want: tuple[str, int] | None) -> None:
    assert dns_server_from_env({"PYCOREOS_DNS_SERVER": value}) == want


@pytest.mark.parametrize("value", ["dns.example:53", "127.0.0.1:0", "127.0.0.1:x"])
def test_dns_server_env_rejects_garbage(value: str) -> None:
    with pytest.raises(SrvError, match="PYCOREOS_DNS_SERVER"):
        dns_server_from_env({"PYCOREOS_DNS_SERVER": value})


def test_config_takes_discovery_srv_and_its_service_name() -> None:
    cfg = load_config(
        [
            "--name",
            "m1",
            "--discovery-srv",
            DOMAIN,
            "--discovery-srv-name",
            "prod",
            "--initial-advertise-peer-urls",
            "http://127.0.0.1:2380",
        ]
    )
    assert (cfg.discovery_srv, cfg.discovery_srv_name) == (DOMAIN, "prod")
    # Until the records are read the member stands alone, as with --discovery.
    assert cfg.initial_cluster == (("m1", "http://127.0.0.1:2380"),)


# -- dnspython against a real (tiny) server ---------------------------------------------------


def test_dns_resolver_reads_srv_records_from_the_server() -> None:
    table = {
        "_etcd-server._tcp.etcd.test.": [(0, 5, 2380, "localhost."), (1, 0, 2381, "localhost.")]
    }
    with dns_server(table) as (port, asked):
        r = DnsResolver(("127.0.0.1", port), timeout=2.0)
        got = sorted(r.lookup_srv("_etcd-server._tcp.etcd.test"))
        assert got == [SrvRecord(0, 5, 2380, "localhost."), SrvRecord(1, 0, 2381, "localhost.")]
        with pytest.raises(SrvError, match="no such host"):
            r.lookup_srv("_etcd-server-ssl._tcp.etcd.test")
        assert asked == ["_etcd-server._tcp.etcd.test.", "_etcd-server-ssl._tcp.etcd.test."]
    # Targets resolve through the system (/etc/hosts), IPv4 first, as Go's ResolveTCPAddr.
    assert r.resolve_tcp("localhost.", 2380) == "127.0.0.1:2380"
    with pytest.raises(SrvError):
        r.resolve_tcp("no-such-host.invalid.", 1)


# -- three members from SRV records alone -----------------------------------------------------


def _srv_member(base: Path, name: str, client: int, peer: int, dns_port: int) -> Member:
    """Our member started with ``--discovery-srv`` (and no ``--initial-cluster``), its SRV
    lookups sent to the test server."""
    args = [
        *ours_command(), "--name", name, "--data-dir", str(base / f"ours-{name}.etcd"),
        "--listen-client-urls", f"http://127.0.0.1:{client}",
        "--advertise-client-urls", f"http://127.0.0.1:{client}",
        "--listen-peer-urls", f"http://127.0.0.1:{peer}",
        "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
        "--discovery-srv", DOMAIN,
    ]  # fmt: skip
    env = {**os.environ, "PYCOREOS_DNS_SERVER": f"127.0.0.1:{dns_port}"}
    log_path = base / f"ours-{name}.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    return Member("ours", name, base / f"ours-{name}.etcd", client, peer, proc, log_path)


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_three_members_bootstrap_from_srv_records_alone(tmp_path: Path) -> None:
    ports = free_ports(6)
    clients, peers = ports[:3], ports[3:]
    # The records name the members by host name (localhost), the members advertise IPs.
    table = {f"_etcd-server._tcp.{DOMAIN}.": [(0, 0, p, "localhost.") for p in peers]}
    with dns_server(table) as (dns_port, asked):
        members = [
            _srv_member(tmp_path, f"m{i + 1}", clients[i], peers[i], dns_port) for i in range(3)
        ]
        try:
            for m in members:
                wait_ready(m.client_url, m.proc, timeout=60)
            wait_healthy(members, timeout=30)
            with urllib.request.urlopen(members[0].client_url + "/v2/members", timeout=5) as r:
                listed = json.loads(r.read())["members"]
            assert sorted(u for m in listed for u in m["peerURLs"]) == sorted(
                f"http://localhost:{p}" for p in peers
            )
            assert sorted(m["name"] for m in listed) == ["m1", "m2", "m3"]
            # A write on one member is readable on another: one cluster, not three.
            req = urllib.request.Request(
                members[1].client_url + "/v2/keys/srv", data=b"value=ok", method="PUT"
            )
            with urllib.request.urlopen(req, timeout=5):
                pass
            url = members[2].client_url + "/v2/keys/srv?quorum=true"
            with urllib.request.urlopen(url, timeout=5) as r:
                assert json.loads(r.read())["node"]["value"] == "ok"
            assert f"_etcd-server-ssl._tcp.{DOMAIN}." in asked
        finally:
            for m in members:
                m.kill()


@pytest.mark.e2e
@pytest.mark.timeout(60)
def test_member_missing_from_the_records_exits_with_etcds_error(tmp_path: Path) -> None:
    client, peer, other = free_ports(3)
    table = {f"_etcd-server._tcp.{DOMAIN}.": [(0, 0, other, "localhost.")]}
    with dns_server(table) as (dns_port, _):
        m = _srv_member(tmp_path, "m1", client, peer, dns_port)
        try:
            assert m.proc.wait(timeout=45) == 1
        finally:
            m.kill()
    assert "srv: cannot find local etcd member 'm1' in SRV records" in m.log()
    # Nothing was committed to: a retry with fixed records starts a new member.
    assert not (m.data_dir / "member" / "wal").exists()
