"""Bad input is refused cleanly, exactly as the real etcd refuses it, and the data stays intact.

Every case runs against the kind under test and against an independent real etcd (the
``reference`` member); the real answers are also pinned in ``CASES`` (status, errorCode, checked
against Debian's etcd 3.4.23) so a change in the reference cannot hide a regression. After each
case a canary key is read back twice: on the same connection (compared with the real etcd: a
server that silently drops a kept-alive connection after a refusal differs) and on a new one (the
value must be intact). ``/health`` is checked at the end.

Oversized bodies: etcd 3.4 does not apply ``--max-request-bytes`` (1.5 MiB) to the v2 API. A
2 MiB value is stored (201). Go's form parser refuses bodies over 10 MiB before etcd sees them:
400, errorCode 210, cause ``http: POST too large``. Ours must answer the same.
"""

from __future__ import annotations

import http.client
from dataclasses import dataclass

import pytest

from pycoreos.testing import v2compat as v
from pycoreos.testing.procs import Member

pytestmark = [pytest.mark.e2e, pytest.mark.compat]

FORM = (("Content-Type", "application/x-www-form-urlencoded"),)
CANARY = "/bad/canary"


@dataclass(frozen=True)
class Case:
    request: v.Request
    status: int
    error_code: int | None  # None: not a keys-API error body


def _put(name: str, path: str, body: bytes, headers: v.Params = FORM) -> v.Request:
    return v.Request(name=name, method="PUT", path=v.key(path), body=body, headers=headers)


def _q(name: str, method: str, path: str, query: str, body: bytes | None = None) -> v.Request:
    # Query strings are written raw so that malformed ones reach the server unchanged.
    return v.Request(
        name=name, method=method, path=f"{v.key(path)}?{query}", body=body,
        headers=FORM if body is not None else (),
    )  # fmt: skip


_2MIB = b"value=" + b"b" * (2 * 1024 * 1024)
_11MIB = b"value=" + b"c" * (11 * 1024 * 1024)

CASES: tuple[Case, ...] = (
    # malformed forms
    Case(_put("form_bad_escape", "/bad/f", b"value=%zz"), 400, 210),
    Case(_put("form_bad_escape_tail", "/bad/f", b"value=ok&x=%Z"), 400, 210),
    Case(_q("query_bad_escape", "PUT", "/bad/f", "value=%zz", b""), 400, 210),
    Case(_put("form_semicolon", "/bad/f", b"value=a;b=c"), 400, 210),
    Case(_q("query_semicolon", "GET", CANARY, "a;b"), 400, 210),
    Case(_put("form_json_body", "/bad/json", b'{"value":"x"}', (("Content-Type", "application/json"),)), 201, None),
    Case(_put("form_multipart", "/bad/mp", b"--x\r\n\r\n", (("Content-Type", "multipart/form-data; boundary=x"),)), 201, None),
    Case(_put("form_duplicate_first_wins", "/bad/dup", b"value=a&value=b"), 201, None),
    Case(_q("query_and_form", "PUT", "/bad/qf", "value=q", b"value=f"), 201, None),
    # non-numeric numbers
    Case(_q("ttl_word", "PUT", "/bad/t", "ttl=abc", b"value=1"), 400, 202),
    Case(_q("ttl_float", "PUT", "/bad/t", "ttl=1.5", b"value=1"), 400, 202),
    Case(_q("ttl_negative", "PUT", "/bad/t", "ttl=-1", b"value=1"), 400, 202),
    Case(_q("ttl_space", "PUT", "/bad/t", "ttl=%20", b"value=1"), 400, 202),
    Case(_q("ttl_overflow", "PUT", "/bad/t", "ttl=99999999999999999999", b"value=1"), 400, 202),
    Case(_q("previndex_word", "PUT", CANARY, "prevIndex=x", b"value=2"), 400, 203),
    Case(_q("previndex_overflow", "PUT", CANARY, "prevIndex=99999999999999999999", b"value=2"), 400, 203),
    Case(_q("previndex_delete_word", "DELETE", CANARY, "prevIndex=x"), 400, 203),
    Case(_q("waitindex_word", "GET", CANARY, "wait=true&waitIndex=x"), 400, 203),
    Case(_q("waitindex_negative", "GET", CANARY, "wait=true&waitIndex=-5"), 400, 203),
    Case(_q("waitindex_empty", "GET", CANARY, "wait=true&waitIndex="), 400, 203),
    # bad booleans
    *(
        Case(_q(f"bool_{p}", m, CANARY, f"{p}=maybe", b"value=alive" if m == "PUT" else None), 400, 209)
        for p, m in (
            ("recursive", "GET"), ("sorted", "GET"), ("quorum", "GET"), ("wait", "GET"),
            ("stream", "GET"), ("dir", "PUT"), ("prevExist", "PUT"), ("refresh", "PUT"),
            ("noValueOnSuccess", "PUT"), ("recursive", "DELETE"), ("dir", "DELETE"),
        )
    ),
    Case(_q("bool_empty", "GET", CANARY, "recursive="), 400, 209),
    Case(_q("wait_on_delete", "DELETE", CANARY, "wait=true"), 400, 209),
    Case(_q("prevvalue_empty", "DELETE", CANARY, "prevValue="), 400, 201),
    Case(_q("refresh_without_ttl", "PUT", CANARY, "refresh=true&prevExist=true", b""), 400, 212),
    Case(_q("refresh_with_value", "PUT", CANARY, "refresh=true&ttl=5", b"value=x"), 400, 211),
    # invalid paths and writes where they cannot go
    Case(v.Request(name="path_bad_escape", method="GET", path="/v2/keys/a%zzb"), 400, None),
    Case(v.Request(name="path_dotdot", method="GET", path="/v2/keys/../../etc/passwd"), 301, None),
    Case(v.Request(name="path_encoded_dotdot", method="GET", path="/v2/keys/%2e%2e/x"), 301, None),
    Case(v.Request(name="path_nul", method="PUT", path="/v2/keys/bad/a%00b", body=b"value=1", headers=FORM), 201, None),
    Case(v.Request(name="path_through_key", method="PUT", path=v.key(CANARY + "/x"), body=b"value=1", headers=FORM), 400, 104),
    Case(v.Request(name="post_under_key", method="POST", path=v.key(CANARY), body=b"value=1", headers=FORM), 400, 104),
    Case(v.Request(name="root_delete", method="DELETE", path="/v2/keys/"), 400, 107),
    Case(v.Request(name="unknown_v2", method="GET", path="/v2/keyz/x"), 404, None),
    # unknown methods
    *(
        Case(v.Request(name=f"method_{m.lower()}", method=m, path=v.key(CANARY)), 405, None)
        for m in ("PATCH", "TRACE", "CONNECT", "FOO", "PROPFIND")
    ),
    Case(v.Request(name="method_options", method="OPTIONS", path=v.key(CANARY)), 200, None),
    # oversized bodies
    Case(_put("body_2mib", "/bad/big", _2MIB), 201, None),
    Case(_put("body_11mib", "/bad/huge", _11MIB), 400, 210),
)  # fmt: skip

SCRIPT: tuple[v.Step, ...] = (
    v.put("canary", CANARY, value="alive"),
    *(
        step
        for case in CASES
        for step in (
            case.request,
            # Same connection: does the server keep serving it as etcd does?
            v.get(f"{case.request.name}__alive", CANARY),
            # New connection: is the data intact?
            v.Request(
                name=f"{case.request.name}__canary",
                method="GET",
                path=v.key(CANARY),
                fresh_connection=True,
            ),
        )
    ),
    v.raw("health_after", "GET", "/health"),
)


@pytest.fixture(scope="session")
def real_recording(reference: Member) -> v.Recording:
    """The bad-input script played once per session against the real reference.

    Session scope: the script is not idempotent (201 vs 200 for re-created keys), and pytest
    tears module fixtures down when it moves to the next ``kind``.
    """
    return v.run_script(reference.client_url, SCRIPT)


@pytest.fixture(scope="module")
def recordings(member: Member, real_recording: v.Recording) -> tuple[v.Recording, v.Recording]:
    """The real reference's recording and the kind under test's."""
    return real_recording, v.run_script(member.client_url, SCRIPT)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.request.name)
def test_refused_like_real_etcd(case: Case, recordings: tuple[v.Recording, v.Recording]) -> None:
    real, ours = recordings
    name = case.request.name
    got = real.results[name]
    # The pinned answer is what the real etcd gives.
    assert got.status == case.status
    if case.error_code is not None:
        assert got.body["errorCode"] == case.error_code
    # The server under test answers the same, field by field, and then serves the next request
    # on the same connection the same way.
    step_script = (case.request, v.get(f"{name}__alive", CANARY))
    diffs = v.compare(step_script, real, ours)
    assert not diffs, "\n".join(map(str, diffs))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.request.name)
def test_data_intact_after(case: Case, recordings: tuple[v.Recording, v.Recording]) -> None:
    for rec in recordings:
        res = rec.results[f"{case.request.name}__canary"]
        assert res.status == 200, rec.base_url
        assert res.body["node"]["value"] == "alive"


def test_still_healthy(recordings: tuple[v.Recording, v.Recording]) -> None:
    for rec in recordings:
        assert rec.results["health_after"].status == 200
        assert rec.results["health_after"].body == {"health": "true"}


def test_oversized_header_does_not_break_the_server(member: Member) -> None:
    # Go refuses >1 MiB of headers (431, or a reset while we are still sending); any clean
    # refusal is fine as long as the member keeps serving.
    conn = http.client.HTTPConnection("127.0.0.1", member.client_port, timeout=10)
    try:
        conn.request("GET", v.key(CANARY) + "?" + "x" * (2 * 1024 * 1024))
        status = conn.getresponse().status
    except OSError:
        status = 0
    finally:
        conn.close()
    assert status in (0, 400, 414, 431)
    res = v.exchange(member.client_url, "GET", v.key(CANARY))
    assert res.status == 200
    assert res.body["node"]["value"] == "alive"
