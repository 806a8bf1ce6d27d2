"""Byte-for-byte comparison of our events/errors with the real etcd 3.4 v2 API (e2e).

The real member writes its membership into ``/0`` first, so our store is brought to the same
index with dummy ``/0`` writes; from then on the same operations must give identical bodies.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycoreos._clock import ManualClock
from pycoreos.testing.procs import Member, start_member
from pycoreos.v2store import Store, TTLOptionSet, V2Error, encode_event

pytestmark = [pytest.mark.e2e, pytest.mark.compat]


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Member]:
    m = start_member("real", Path(tmp_path_factory.mktemp("real-etcd")))
    try:
        yield m
    finally:
        m.stop()


def _call(m: Member, method: str, key: str, **params: str) -> tuple[int, int, bytes]:
    url = f"{m.client_url}/v2/keys{key}"
    data = None
    if method in ("PUT", "POST"):
        data = urllib.parse.urlencode(params).encode()
    elif params:
        url += "?" + urllib.parse.urlencode(params)
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, int(resp.headers["X-Etcd-Index"]), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, int(err.headers["X-Etcd-Index"]), err.read()


def _ours(fn: object) -> tuple[int, bytes]:
    try:
        e = fn()  # type: ignore[operator]
    except V2Error as err:
        return err.status_code, err.to_json("/1") + b"\n"
    status = 201 if e.is_created else 200
    return status, encode_event(e, "/1") + b"\n"


def test_same_bytes_as_real_etcd(real: Member) -> None:
    _, start, _ = _call(real, "GET", "/")
    clock = ManualClock()
    s = Store(clock, ["/0", "/1"])
    for i in range(start):
        s.set(f"/0/pad{i}", False, "")
    cases = [
        (("PUT", "/foo", {"value": "bar"}), lambda: s.set("/1/foo", False, "bar")),
        (("PUT", "/foo", {"value": "<b>&\b"}), lambda: s.set("/1/foo", False, "<b>&\b")),
        (("GET", "/nope/x", {}), lambda: s.get("/1/nope/x")),
        (("PUT", "/foo", {"value": "x", "prevExist": "false"}),
         lambda: s.create("/1/foo", False, "x", False)),
        (("PUT", "/foo", {"value": "x", "prevValue": "two", "prevIndex": "1"}),
         lambda: s.compare_and_swap("/1/foo", "two", 1, "x")),
        (("PUT", "/dir/a", {"value": "1"}), lambda: s.set("/1/dir/a", False, "1")),
        (("PUT", "/dir/_h", {"value": "h"}), lambda: s.set("/1/dir/_h", False, "h")),
        (("PUT", "/dir/sub", {"dir": "true"}), lambda: s.set("/1/dir/sub", True, "")),
        (("POST", "/dir", {"value": "job"}), lambda: s.create("/1/dir", False, "job", True)),
        (("GET", "/", {"recursive": "true", "sorted": "true"}), lambda: s.get("/1", True, True)),
        (("GET", "/dir", {"sorted": "true"}), lambda: s.get("/1/dir", False, True)),
        (("DELETE", "/dir", {}), lambda: s.delete("/1/dir", False, False)),
        (("DELETE", "/dir", {"dir": "true"}), lambda: s.delete("/1/dir", True, False)),
        (("PUT", "/foo/bar", {"value": "x"}), lambda: s.set("/1/foo/bar", False, "x")),
        (("PUT", "/", {"value": "x"}), lambda: s.set("/1", False, "x")),
        (("DELETE", "/foo", {"prevValue": "nope"}),
         lambda: s.compare_and_delete("/1/foo", "nope", 0)),
        (("PUT", "/foo", {"value": "", "prevExist": "true"}), lambda: s.update("/1/foo", "")),
        (("DELETE", "/dir", {"recursive": "true"}), lambda: s.delete("/1/dir", True, True)),
    ]  # fmt: skip
    seen: list[bytes] = []
    for (method, key, params), op in cases:
        status, _, body = _call(real, method, key, **params)
        ours = _ours(op)
        assert ours == (status, body), (method, key, params)
        seen.append(body)
    assert len(seen) == len(cases)
    assert b"\\u0026\\u0008" in seen[1]


def test_ttl_fields_match_real_etcd_format(real: Member) -> None:
    _, _, body = _call(real, "PUT", "/ttlkey", value="v", ttl="100")
    node = json.loads(body)["node"]
    assert node["ttl"] == 100
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z", node["expiration"])
    s = Store(ManualClock())
    ours = json.loads(encode_event(s.set("/ttlkey", False, "v", TTLOptionSet(1e9 + 100.5))))
    assert list(ours["node"]) == list(node)


def test_watch_cleared_error_matches_real_etcd(real: Member) -> None:
    for i in range(1002):
        _call(real, "PUT", "/w", value=str(i))
    status, index, body = _call(real, "GET", "/w", wait="true", waitIndex="1")
    err = json.loads(body)
    assert (status, err["errorCode"], err["index"]) == (400, 401, index)
    assert re.fullmatch(r"the requested history has been cleared \[\d+/1\]", err["cause"])
