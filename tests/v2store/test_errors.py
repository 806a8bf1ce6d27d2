"""V2Error: code tables verbatim from etcd, HTTP mapping, JSON rendering."""

from __future__ import annotations

import json

import pytest

from pycoreos.v2store import errors as v2errors
from pycoreos.v2store.errors import CODE_MESSAGES, CODE_TO_HTTP, V2Error


def test_every_code_has_its_etcd_message() -> None:
    assert CODE_MESSAGES[100] == "Key not found"
    assert CODE_MESSAGES[101] == "Compare failed"
    assert CODE_MESSAGES[105] == "Key already exists"
    assert CODE_MESSAGES[107] == "Root is read only"
    assert CODE_MESSAGES[212] == "A TTL must be provided on refresh"
    assert CODE_MESSAGES[401] == "The event in requested index is outdated and cleared"
    expected = set(range(100, 111)) | set(range(200, 213)) | {300, 301} | set(range(400, 405))
    assert set(CODE_MESSAGES) == expected | {500}


def test_code_constants_match_table_keys() -> None:
    consts = {v for k, v in vars(v2errors).items() if k.startswith("ECODE_")}
    assert consts == set(CODE_MESSAGES)


@pytest.mark.parametrize(
    ("code", "status"),
    [(100, 404), (101, 412), (102, 403), (104, 400), (105, 412), (107, 400), (108, 403),
     (110, 401), (209, 400), (300, 500), (301, 500), (400, 400), (401, 400), (500, 400)],
)  # fmt: skip
def test_status_code(code: int, status: int) -> None:
    assert V2Error(code).status_code == status


def test_only_listed_codes_map_specially() -> None:
    assert set(CODE_TO_HTTP) == {100, 101, 102, 105, 108, 110, 300, 301}


def test_to_json_field_order_and_values() -> None:
    err = V2Error(100, "/foo", 7)
    assert err.to_json() == b'{"errorCode":100,"message":"Key not found","cause":"/foo","index":7}'


def test_to_json_omits_empty_cause_but_keeps_zero_index() -> None:
    assert V2Error(300).to_json() == b'{"errorCode":300,"message":"Raft Internal Error","index":0}'


def test_to_json_trims_prefix_from_cause() -> None:
    body = json.loads(V2Error(100, "/1/foo/bar", 3).to_json("/1"))
    assert body["cause"] == "/foo/bar"


def test_to_json_trim_prefix_only_at_start() -> None:
    body = json.loads(V2Error(101, "[/1 != x]", 3).to_json("/1"))
    assert body["cause"] == "[/1 != x]"


def test_to_json_escapes_html_like_go() -> None:
    assert b'"cause":"\\u003ca\\u003e \\u0026"' in V2Error(101, "<a> &", 1).to_json()


def test_str_is_message_and_cause() -> None:
    assert str(V2Error(104, "/a", 1)) == "Not a directory (/a)"
