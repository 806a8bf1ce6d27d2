"""Discovery end to end: ``pycoreos discovery`` backed by a real etcd, members bootstrapping
from nothing but the token URL (ours, and the real etcd 3.4 for compatibility)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycoreos.testing.procs import (
    REAL_ETCD,
    Kind,
    Member,
    free_ports,
    ours_command,
    start_member,
    wait_healthy,
    wait_ready,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which(REAL_ETCD) is None, reason="etcd not installed"),
]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The discovery service's base URL, its registry in a real etcd of its own."""
    base = tmp_path_factory.mktemp("disc")
    backing = start_member("real", base, name="registry")
    (port,) = free_ports(1)
    log = open(base / "discovery.log", "ab")  # noqa: SIM115 (kept open for the process)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pycoreos", "discovery", "--addr", f"127.0.0.1:{port}",
         "--etcd", backing.client_url],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), urllib.request.urlopen(url + "/health") as r:
                if r.read() == b"OK":
                    break
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
        backing.stop()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _new_token(service: str, size: int) -> str:
    status, body = _get(f"{service}/new?size={size}")
    assert status == 200, body
    return body


def start_discovery_member(
    kind: Kind, base: Path, name: str, token: str, *extra: str, wait: bool = False
) -> Member:
    """A member started with ``--discovery`` and no ``--initial-cluster``."""
    client, peer = free_ports(2)
    cmd = [REAL_ETCD] if kind == "real" else ours_command()
    args = [
        *cmd, "--name", name, "--data-dir", str(base / f"{kind}-{name}.etcd"),
        "--listen-client-urls", f"http://127.0.0.1:{client}",
        "--advertise-client-urls", f"http://127.0.0.1:{client}",
        "--listen-peer-urls", f"http://127.0.0.1:{peer}",
        "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
        "--discovery", token, *extra,
    ]  # fmt: skip
    log_path = base / f"{kind}-{name}.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                env=dict(os.environ), start_new_session=True)  # fmt: skip
    m = Member(kind, name, base, client, peer, proc, log_path, list(extra))
    if wait:
        wait_ready(m.client_url, proc)
    return m


def test_service_endpoints(service: str) -> None:
    token = _new_token(service, 5)
    assert token.startswith(service + "/")
    assert len(token.rsplit("/", 1)[1]) == 32
    status, body = _get(token + "/_config/size")
    assert json.loads(body)["node"]["value"] == "5"
    assert _get(f"{service}/new?size=five") == (400, "Unable to parse size")
    assert _get(f"{service}/health") == (200, "OK")
    assert _get(f"{service}/not-a-token")[0] == 404
    status, default = _get(f"{service}/new")
    assert status == 200
    assert json.loads(_get(f"{default}/_config/size")[1])["node"]["value"] == "3"
    assert default != token


def test_three_members_bootstrap_from_a_token_and_a_fourth_gets_etcds_behaviour(
    service: str, tmp_path: Path
) -> None:
    token = _new_token(service, 3)
    members = [start_discovery_member("ours", tmp_path, f"d{i}", token) for i in (1, 2, 3)]
    try:
        for m in members:
            wait_ready(m.client_url, m.proc, timeout=60)
        wait_healthy(members)
        status, body = _get(members[0].client_url + "/v2/members")
        names = sorted(m["name"] for m in json.loads(body)["members"])
        assert names == ["d1", "d2", "d3"]
        # Fourth member, --discovery-fallback exit: refuses with etcd's message.
        late = start_discovery_member("ours", tmp_path, "d4", token,
                                      "--discovery-fallback", "exit")  # fmt: skip
        assert late.proc.wait(timeout=30) == 1
        assert "discovery: cluster is full" in late.log()
        assert "please generate a new discovery token" in late.log()
        # Fourth member, default fallback (proxy): serves the cluster's v2 API.
        proxy = start_discovery_member("ours", tmp_path, "d5", token, wait=True)
        try:
            assert "falling back to proxy" in proxy.log()
            req = urllib.request.Request(
                proxy.client_url + "/v2/keys/via-proxy", data=b"value=yes", method="PUT"
            )
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
            with urllib.request.urlopen(req, timeout=10) as r:
                assert r.status == 201
            status, body = _get(members[2].client_url + "/v2/keys/via-proxy")
            assert json.loads(body)["node"]["value"] == "yes"
        finally:
            proxy.stop()
        # Neither late member joined the cluster.
        status, body = _get(members[1].client_url + "/v2/members")
        assert status == 200
        assert len(json.loads(body)["members"]) == 3
    finally:
        for m in members:
            m.stop()


def test_real_etcd_bootstraps_from_our_service(service: str, tmp_path: Path) -> None:
    token = _new_token(service, 1)
    real = start_discovery_member("real", tmp_path, "r1", token, "--enable-v2=true", wait=True)
    try:
        status, body = _get(token)
        assert status == 200
        nodes = json.loads(body)["node"]["nodes"]
        values = [n.get("value") for n in nodes if not n.get("dir")]
        assert values == [f"r1=http://127.0.0.1:{real.peer_port}"]
    finally:
        real.stop()


def test_deleted_token_is_a_clear_error(service: str, tmp_path: Path) -> None:
    gone = f"{service}/{'0' * 32}"
    m = start_discovery_member("ours", tmp_path, "g1", gone)
    assert m.proc.wait(timeout=30) == 1
    assert "discovery: size key not found" in m.log()
    assert "does not exist or was deleted" in m.log()
