"""Unit tests of the v2compat comparator and templates (no processes).

The comparator must be blind to what legitimately differs (index offsets, ids, times, raft
counters, unsorted children order, ttl +-1) and must catch everything else.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from pycoreos.testing import v2compat as v
from pycoreos.testing.v2compat import Recording, Result

SCRIPT: tuple[v.Step, ...] = (
    v.put("set", "/foo", value="bar"),
    v.get("list", "/dir", recursive="true"),
    v.get("list_sorted", "/dir", recursive="true", sorted="true"),
    v.put("cas_bad", "/foo", prevIndex="{set}", value="x"),
    v.put("ttl", "/t", value="x", ttl="10"),
    v.raw("stats", "GET", "/v2/stats/self", mode="shape"),
    v.raw("members", "GET", "/v2/members"),
)


def _r(status: int, headers: dict[str, str], body: Any, error: str | None = None) -> Result:
    return Result(status=status, headers=headers, body=body, error=error)


def _headers(index: int, cid: str = "cdf818194e3a8c32") -> dict[str, str]:
    return {
        "x-etcd-index": str(index),
        "x-raft-index": str(index + 7),
        "x-raft-term": "2",
        "x-etcd-cluster-id": cid,
        "content-type": "application/json",
    }


def _node(key: str, idx: int, **extra: Any) -> dict[str, Any]:
    return {"key": key, "createdIndex": idx, "modifiedIndex": idx, **extra}


def _recording(
    base: int, *, cid: str = "cdf818194e3a8c32", member: str = "8e9e05c52164694d"
) -> Recording:
    b = base
    children = [_node("/dir/a", b + 2, value="1"), _node("/dir/b", b + 3, value="2")]
    results = {
        "set": _r(201, _headers(b + 1, cid), {"action": "set", "node": _node("/foo", b + 1, value="bar")}),
        "list": _r(200, _headers(b + 3, cid), {"action": "get", "node": _node("/dir", b + 2, dir=True, nodes=children)}),
        "list_sorted": _r(200, _headers(b + 3, cid), {"action": "get", "node": _node("/dir", b + 2, dir=True, nodes=list(children))}),
        "cas_bad": _r(412, _headers(b + 3, cid), {"errorCode": 101, "message": "Compare failed", "cause": f"[{b + 1} != {b + 4}]", "index": b + 3}),
        "ttl": _r(201, _headers(b + 4, cid), {"action": "set", "node": _node("/t", b + 4, value="x", ttl=10, expiration="2026-11-26T21:43:22.655540224Z")}),
        "stats": _r(200, {"content-type": "application/json"}, {"id": member, "name": "n", "startTime": "2026-11-26T21:43:15.068662194Z", "recvAppendRequestCnt": 0}),
        "members": _r(200, {"content-type": "application/json", "x-etcd-cluster-id": cid}, {"members": [{"id": member, "name": "n", "peerURLs": ["http://127.0.0.1:2380"], "clientURLs": [f"http://127.0.0.1:{base}"]}]}),
    }  # fmt: skip
    return Recording(base_url="http://x", base=base, results=results)


def _diffs(a: Recording, b: Recording) -> list[str]:
    return [str(d) for d in v.compare(SCRIPT, a, b)]


def test_offsets_ids_times_and_urls_are_not_differences() -> None:
    a = _recording(3)
    b = _recording(17, cid="0123456789abcdef", member="fedcba9876543210")
    b.results["stats"] = _r(200, {"content-type": "application/json"}, {"id": "ab", "name": "n", "startTime": "2030-01-01T00:00:00Z", "recvAppendRequestCnt": 99})  # fmt: skip
    assert _diffs(a, b) == []


def test_one_changed_value_is_exactly_one_difference() -> None:
    a, b = _recording(3), _recording(3)
    b.results["set"].body["node"]["value"] = "BAR"
    diffs = v.compare(SCRIPT, a, b)
    assert len(diffs) == 1
    assert diffs[0].step == "set"
    assert diffs[0].where == ".body.node.value"
    assert (diffs[0].a, diffs[0].b) == ("bar", "BAR")


def test_relative_index_mismatch_is_caught() -> None:
    # "this key's modifiedIndex equals that earlier write's index" is what is checked.
    a, b = _recording(3), _recording(40)
    b.results["set"].body["node"]["modifiedIndex"] += 1
    assert _diffs(a, b) == ["set: .body.node.modifiedIndex: '<idx+1>' != '<idx+2>'"]


def test_index_inside_cause_is_relative() -> None:
    a, b = _recording(3), _recording(40)
    assert _diffs(a, b) == []
    b.results["cas_bad"].body["cause"] = "[41 != 45]"
    assert _diffs(a, b) == [
        "cas_bad: .body.cause: '[<idx+1> != <idx+4>]' != '[<idx+1> != <idx+5>]'"
    ]


def test_status_header_and_missing_key_are_caught() -> None:
    a, b = _recording(3), _recording(3)
    b.results["set"] = _r(200, dict(b.results["set"].headers), b.results["set"].body)
    cas_bad = b.results["cas_bad"]
    headers = {k: h for k, h in cas_bad.headers.items() if k != "x-etcd-index"}
    b.results["cas_bad"] = _r(cas_bad.status, headers, cas_bad.body)
    del b.results["ttl"].body["node"]["expiration"]
    assert sorted(_diffs(a, b)) == [
        "cas_bad: .headers.x-etcd-index: '<idx+3>' != '<absent>'",
        "set: .status: 201 != 200",
        "ttl: .body.node.expiration: '<time>' != '<absent>'",
    ]


def test_ttl_tolerates_one_second() -> None:
    a, b = _recording(3), _recording(3)
    b.results["ttl"].body["node"]["ttl"] = 9
    assert _diffs(a, b) == []
    b.results["ttl"].body["node"]["ttl"] = 8
    assert _diffs(a, b) == ["ttl: .body.node.ttl: 10 != 8"]


def test_bad_expiration_format_is_caught() -> None:
    a, b = _recording(3), _recording(3)
    b.results["ttl"].body["node"]["expiration"] = "1764193402"
    assert len(_diffs(a, b)) == 1


def test_children_order_matters_only_when_sorted_was_asked() -> None:
    a, b = _recording(3), _recording(3)
    b.results["list"].body["node"]["nodes"].reverse()
    assert _diffs(a, b) == []
    b.results["list_sorted"].body["node"]["nodes"].reverse()
    diffs = _diffs(a, b)
    assert diffs
    assert all(d.startswith("list_sorted:") for d in diffs)


def test_shape_mode_catches_missing_and_retyped_fields() -> None:
    a, b = _recording(3), _recording(3)
    b.results["stats"].body["recvAppendRequestCnt"] = "0"
    del b.results["stats"].body["name"]
    assert sorted(_diffs(a, b)) == [
        "stats: .body.name: 'str' != '<absent>'",
        "stats: .body.recvAppendRequestCnt: 'int' != 'str'",
    ]


def test_transport_failure_and_missing_step_are_differences() -> None:
    a, b = _recording(3), _recording(3)
    b.results["set"] = _r(0, {}, None, error="ConnectionRefusedError")
    del b.results["members"]
    diffs = _diffs(a, b)
    assert "set: .error: '<absent>' != 'transport failure'" in diffs
    assert "members: : True != False" in diffs
    assert all(d.startswith(("set:", "members:")) for d in diffs)


def test_templates_expand_from_earlier_results() -> None:
    rec = _recording(3)
    assert v._expand("{set}", rec) == "4"
    assert v._expand("{set+2}/{base-1}", rec) == "6/2"
    assert v._expand("/v2/keys{set.key}", rec) == "/v2/keys/foo"


def test_normalise_is_deterministic_copy() -> None:
    a = _recording(3)
    before = copy.deepcopy(a.results)
    v.compare(SCRIPT, a, a)
    assert a.results == before


def test_ttl_slack_grows_with_the_arrival_time_difference() -> None:
    # A slower server answers the same read later in its run, so less ttl remains.
    a, b = _recording(3), _recording(3)
    b.results["ttl"].body["node"]["ttl"] = 7
    assert _diffs(a, b) == ["ttl: .body.node.ttl: 10 != 7"]
    b.results["ttl"] = dataclasses.replace(b.results["ttl"], at=2.5)
    assert _diffs(a, b) == []
    b.results["ttl"].body["node"]["ttl"] = 5
    assert _diffs(a, b) == ["ttl: .body.node.ttl: 10 != 5"]
