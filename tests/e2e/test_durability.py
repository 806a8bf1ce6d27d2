"""Nothing acknowledged is lost: SIGKILL our member in the middle of a concurrent write load.

16 client threads write distinct keys as fast as they can; after a while the member is killed
with SIGKILL (no chance to flush anything), restarted on the same data dir, and every write
that was acknowledged (HTTP 200/201 received) must be there with its value. Writes whose
answer never arrived may or may not be there — but nothing that is there may be unknown.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from pycoreos.testing.procs import restart, start_member

pytestmark = pytest.mark.e2e

CLIENTS = 16


def _writer(
    port: int,
    client: int,
    stop: threading.Event,
    acked: list[tuple[str, str]],
    attempted: list[tuple[str, str]],
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        _write_until_stopped(conn, client, stop, acked, attempted)
    finally:
        conn.close()


def _write_until_stopped(
    conn: http.client.HTTPConnection,
    client: int,
    stop: threading.Event,
    acked: list[tuple[str, str]],
    attempted: list[tuple[str, str]],
) -> None:
    i = 0
    while not stop.is_set():
        key, value = f"/load/c{client}/k{i}", f"v{client}-{i}"
        attempted.append((key, value))
        try:
            conn.request(
                "PUT",
                "/v2/keys" + key,
                urllib.parse.urlencode({"value": value}),
                {"Content-Type": "application/x-www-form-urlencoded"},
            )
            resp = conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException):
            return  # the member died under us: this write's outcome is unknown
        if resp.status in (200, 201):
            acked.append((key, value))
        i += 1


def test_sigkill_under_load_loses_no_acknowledged_write(tmp_path: Path) -> None:
    member = start_member("ours", tmp_path)
    stop = threading.Event()
    acked: list[list[tuple[str, str]]] = [[] for _ in range(CLIENTS)]
    attempted: list[list[tuple[str, str]]] = [[] for _ in range(CLIENTS)]
    threads = [
        threading.Thread(
            target=_writer, args=(member.client_port, c, stop, acked[c], attempted[c]), daemon=True
        )
        for c in range(CLIENTS)
    ]
    for t in threads:
        t.start()
    # Let the load build up: wait until a good number of writes were acknowledged.
    deadline = time.monotonic() + 30
    while sum(map(len, acked)) < 2000 and time.monotonic() < deadline:
        time.sleep(0.05)
    member.kill()
    stop.set()
    for t in threads:
        t.join(timeout=15)
    total_acked = sum(map(len, acked))
    assert total_acked > 0

    member = restart(member)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", member.client_port, timeout=10)
        conn.request("GET", "/v2/keys/load?recursive=true")
        body = json.loads(conn.getresponse().read())
        conn.close()
        found: dict[str, str] = {}
        for cdir in body["node"].get("nodes", []):
            for node in cdir.get("nodes", []):
                found[node["key"]] = node["value"]
        missing = [(k, v) for c in acked for k, v in c if found.get(k) != v]
        assert not missing, f"{len(missing)} of {total_acked} acknowledged writes lost"
        known = {k: v for c in attempted for k, v in c}
        unknown = [k for k in found if known.get(k) != found[k]]
        assert not unknown, f"keys that no client wrote: {unknown[:5]}"
    finally:
        member.stop()
