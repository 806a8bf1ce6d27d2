"""Random requests (hypothesis) never make the server under test fail where etcd does not.

Each example sends one generated request. A 5xx or a transport failure (reset, timeout) is only
accepted if a real etcd (``fuzz_reference``) answers the same request the same way. Afterwards the
member must still answer ``/health`` and a canary key (unreachable by the generator: its name
holds a ``~``) must be intact.

Generated: methods (standard and odd), paths under the keys API and a few read-only endpoints
with odd characters, ``.``/``..`` segments and valid/invalid ``%`` escapes, query parameters
drawn from etcd's names plus random ones, and form or random bodies. Left out on purpose:
``wait``/``stream`` with a true value (a watch blocks until an event) and the members API
write paths (a random member add would leave a one-node cluster without quorum).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pycoreos.testing import v2compat as v
from pycoreos.testing.procs import Kind, Member, start_member

pytestmark = [pytest.mark.e2e, pytest.mark.compat]

CANARY = "/zz~canary"
KNOWN_PARAMS = (
    "value", "ttl", "dir", "prevExist", "prevValue", "prevIndex", "refresh", "recursive",
    "sorted", "quorum", "wait", "waitIndex", "stream", "noValueOnSuccess",
)  # fmt: skip
TRUE_VALUES = {"1", "t", "T", "TRUE", "true", "True"}
# Weighted by repetition: most requests should reach the keys handler with plausible parameters,
# the rest probe routing, escaping and method handling.
PREFIXES = (
    *["/v2/keys/"] * 8, "/v2/keys", "/v2/keys/fuzz/", "/v2/machines", "/version", "/health",
    "/v2/stats/self", "/v2/stats/store", "/v2/stats/leader", "/v2/nothing/", "/",
)  # fmt: skip
METHODS = (
    *["GET"] * 4, *["PUT"] * 5, *["POST"] * 2, *["DELETE"] * 3, "HEAD",
    "PATCH", "OPTIONS", "TRACE", "FOO", "MKCOL",
)  # fmt: skip

_odd_chars = st.sampled_from(
    [*"abcXYZ019_-.:@!$&'()*+,;=~", "%", "%2F", "%2e", "%zz", "%00", "%C3%A9", "%ff", "%20"]
)
segments = st.one_of(
    st.sampled_from(["a", "b", "dir", "fuzz", "_hidden", "00000000000000000001", "a", "b"]),
    st.sampled_from([".", "..", ""]),
    st.lists(_odd_chars, min_size=1, max_size=6).map("".join),
)
paths = st.builds(
    lambda prefix, segs: prefix + "/".join(segs),
    st.sampled_from(PREFIXES),
    st.lists(segments, max_size=4),
)
values = st.one_of(
    st.sampled_from(["", "0", "1", "true", "false", "t", "F", "maybe", "-1", "1.5", "5", "300"]),
    st.sampled_from(["99999999999999999999", "%", "%zz", " ", "0x10", "1e3"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12),
    st.integers(min_value=0, max_value=10**6).map(str),
)
param_names = st.one_of(
    st.sampled_from(KNOWN_PARAMS), st.sampled_from(KNOWN_PARAMS), st.text(min_size=1, max_size=6)
)
params = st.lists(st.tuples(param_names, values), max_size=5).map(
    # Never start a blocking watch.
    lambda ps: [(k, val) for k, val in ps if not (k in ("wait", "stream") and val in TRUE_VALUES)]
)
bodies = st.one_of(
    st.none(),
    params.map(lambda ps: urllib.parse.urlencode(ps).encode()),
    params.map(lambda ps: urllib.parse.urlencode(ps).encode()),
    st.binary(max_size=64),
    st.sampled_from([b"value=%zz", b"a;b", b"value=x&value=y", b"=", b"&&&", b"%"]),
)
content_types = st.sampled_from(
    [*["application/x-www-form-urlencoded"] * 4, "application/json", "text/plain",
     "multipart/form-data", ""]
)  # fmt: skip
raw_queries = st.sampled_from(["", "", "", "", "", "", "&", ";", "%zz", "a=%", "=x"])


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, bytes | None, dict[str, str]]:
    method = draw(st.sampled_from(METHODS))
    path = draw(paths)
    query = draw(params)
    raw_query = draw(raw_queries)
    encoded = urllib.parse.urlencode(query)
    if encoded or raw_query:
        path += "?" + "&".join(p for p in (encoded, raw_query) if p)
    body = draw(bodies)
    ctype = draw(content_types)
    headers = {"Content-Type": ctype} if ctype and body is not None else {}
    return method, path, body, headers


def _bad(res: v.Result) -> bool:
    return res.error is not None or res.status >= 500


def _send(
    url: str, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> v.Result:
    # A server that answers 400 and closes without reading the request body (Go does this for a
    # malformed request line) can make the client see a reset instead of the answer: a TCP race,
    # not a failure. Retry transport errors twice and keep the first real answer.
    res = v.exchange(url, method, path, body=body, headers=headers, timeout=10)
    for _ in range(2):
        if res.error is None:
            break
        res = v.exchange(url, method, path, body=body, headers=headers, timeout=10)
    return res


@pytest.fixture(scope="module")
def canary(kind: Kind, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Member]:
    """A member of ``kind`` for fuzzing only (random TTL writes would disturb shared members)."""
    member = start_member(kind, tmp_path_factory.mktemp(f"fuzz-{kind}"), name="compat")
    try:
        res = v.exchange(
            member.client_url, "PUT", v.key(CANARY), body=b"value=alive",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )  # fmt: skip
        assert res.status in (200, 201), res
        yield member
    finally:
        member.stop()


@pytest.fixture(scope="module")
def fuzz_reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Member]:
    """A real etcd that replays the requests our member failed, to see if etcd fails too."""
    member = start_member("real", tmp_path_factory.mktemp("fuzz-reference"), name="compat")
    yield member
    member.stop()


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(req=requests())
def test_random_requests_never_fail_where_etcd_does_not(
    req: tuple[str, str, bytes | None, dict[str, str]], canary: Member, fuzz_reference: Member
) -> None:
    method, path, body, headers = req
    got = _send(canary.client_url, method, path, body, headers)
    if _bad(got):
        real = _send(fuzz_reference.client_url, method, path, body, headers)
        assert _bad(real), (
            f"{method} {path!r} body={body!r}: {got.status} {got.error} {got.body!r}; real etcd: {real.status}"
        )
        assert (got.status, got.error is None) == (real.status, real.error is None)
    health = v.exchange(canary.client_url, "GET", "/health")
    assert health.status == 200, f"unhealthy after {method} {path!r} body={body!r}"


def test_canary_intact_after_fuzzing(canary: Member) -> None:
    res = v.exchange(canary.client_url, "GET", v.key(CANARY))
    assert res.status == 200
    assert res.body["node"]["value"] == "alive"
