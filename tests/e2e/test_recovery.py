"""Recovery of a real member process from its data dir: snapshots, torn tails, corruption."""

from __future__ import annotations

import http.client
import json
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from pycoreos.testing.procs import Member, member_args, restart, start_member

pytestmark = pytest.mark.e2e


def _put(member: Member, key: str, value: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", member.client_port, timeout=10)
    try:
        conn.request(
            "PUT",
            "/v2/keys" + key,
            urllib.parse.urlencode({"value": value}),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        resp = conn.getresponse()
        body = json.loads(resp.read())
        assert resp.status in (200, 201), body
        return int(body["node"]["modifiedIndex"])
    finally:
        conn.close()


def _get(member: Member, key: str) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", member.client_port, timeout=10)
    try:
        conn.request("GET", "/v2/keys" + key)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def _wal_files(member: Member) -> list[Path]:
    return sorted((member.data_dir / "member" / "wal").glob("*.wal"))


def test_snapshots_compact_the_log_and_restart_recovers(tmp_path: Path) -> None:
    member = start_member("ours", tmp_path, extra_args=["--snapshot-count", "50"])
    try:
        for i in range(260):
            _put(member, f"/snap/k{i}", f"v{i}")
        snaps = sorted((member.data_dir / "member" / "snap").glob("*.snap"))
        assert snaps, "no snapshot was written"
        assert len(snaps) <= 5  # --max-snapshots default: older ones are purged
    finally:
        member.stop()
    member = restart(member)
    try:
        for i in (0, 49, 50, 199, 259):
            status, body = _get(member, f"/snap/k{i}")
            assert status == 200, body
            assert body["node"]["value"] == f"v{i}"  # type: ignore[index]
        _put(member, "/snap/after", "restart")
    finally:
        member.stop()


def test_torn_tail_is_repaired_to_the_complete_prefix(tmp_path: Path) -> None:
    member = start_member("ours", tmp_path)
    for i in range(5):
        _put(member, f"/torn/k{i}", f"v{i}")
    member.stop()
    wal = _wal_files(member)[-1]
    full = wal.read_bytes()
    size_before_last = None
    # Add one more record, then find where it starts: the file grows by its length.
    member = restart(member)
    _put(member, "/torn/last", "x")
    member.stop()
    grown = wal.read_bytes()
    size_before_last = len(full)
    assert len(grown) > size_before_last
    # Cut the file at several offsets inside the records written by the last run (which
    # include the member's own attribute publication and the last put).
    cut_points = sorted(
        {size_before_last + (len(grown) - size_before_last) * k // 8 for k in range(1, 8)}
    )
    for cut in cut_points:
        wal.write_bytes(grown[:cut])
        member = restart(member)
        try:
            for i in range(5):
                status, body = _get(member, f"/torn/k{i}")
                assert status == 200, (cut, body)
            status, _ = _get(member, "/torn/last")
            assert status == 404, f"a torn record was served (cut at {cut})"
        finally:
            member.stop()
        # Restore the full file so every cut starts from the same log.
        wal.write_bytes(grown)


def test_bit_flip_in_the_middle_refuses_to_start(tmp_path: Path) -> None:
    member = start_member("ours", tmp_path)
    for i in range(50):
        _put(member, f"/flip/k{i}", "v" * 100)
    member.stop()
    wal = _wal_files(member)[-1]
    data = bytearray(wal.read_bytes())
    offset = len(data) // 2
    data[offset] ^= 0x10
    wal.write_bytes(bytes(data))
    args = member_args("ours", member.name, member.data_dir, member.client_port, member.peer_port)
    proc = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert wal.name in proc.stderr, proc.stderr
    assert "offset" in proc.stderr, proc.stderr
