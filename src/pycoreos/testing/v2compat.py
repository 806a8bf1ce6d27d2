"""Scripted v2 API sequences, a recorder, and a shape-aware comparator (ours vs the real etcd).

What lives here:

* the script vocabulary: :class:`Request` (one HTTP exchange), :class:`Watch` (a request started
  in the background and collected later by a :class:`Join`), and :class:`Bulk` (many fast writes,
  used to push old events out of the 1000-event history);
* :data:`SCRIPT`, the acceptance sequence (well over 60 steps: every action, query parameter and
  keys-API error code, directories, hidden keys, TTLs, in-order keys, watches);
* :func:`run_script`, which plays a script against one base URL with ``http.client`` and returns a
  :class:`Recording`;
* :func:`compare`, which diffs two recordings and returns :class:`Difference` rows.

Invariants and strategy:

* A script is data. Later steps refer to earlier results with templates in paths and parameter
  values: ``{step}`` is the ``X-Etcd-Index`` of ``step``, ``{step.key}`` its ``node.key``, and
  ``{step+N}`` / ``{base+N}`` offsets (``base`` is the index seen before the first step). This is
  how a script says "the modifiedIndex of that earlier write" without knowing the number.
* Indexes legitimately differ between servers (internal membership writes), so every
  index-bearing value (``createdIndex``, ``modifiedIndex``, error ``index``, ``X-Etcd-Index``,
  20-digit in-order key names, the numbers in compare-failed and history-cleared causes) is
  rewritten as an offset from ``base`` before comparing. Index ``0`` (parse errors happen before
  the store is consulted) stays ``0``.
* Values that are per-process are compared by shape: raft index/term (unsigned integer), cluster
  and member ids (hex), URLs, ``expiration`` (RFC 3339), times in stats; ``ttl`` may differ by 1.
* Go map iteration makes ``nodes`` order random, so children are sorted by key unless the step
  asked for ``sorted=true``, in which case order is compared exactly.
* The script only creates TTLs that are either waited on explicitly (the ``ttl=1`` expiry, joined
  immediately) or far longer than a run, so no expiry lands at a random point of the sequence.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import math
import re
import threading
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Mode = Literal["exact", "shape", "status"]
Params = tuple[tuple[str, str], ...]

# Response headers that are recorded; everything else (Date, CORS, Content-Length) is ignored.
RECORDED_HEADERS = (
    "x-etcd-index",
    "x-raft-index",
    "x-raft-term",
    "x-etcd-cluster-id",
    "content-type",
    "allow",
    "location",
)

_FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """One HTTP exchange, recorded under ``name``.

    Attributes:
        name: unique step name; later templates refer to it.
        method: HTTP method, sent verbatim (odd methods allowed).
        path: request path, templated (``/v2/keys/foo``, ``/version``...).
        query: URL query parameters, values templated.
        form: form-encoded body parameters, values templated (ignored if ``body`` is set).
        body: raw body bytes, sent as is.
        headers: extra request headers.
        mode: ``exact`` (normalised values), ``shape`` (keys and value types) or ``status``.
        fresh_connection: send on a new connection instead of the runner's kept-alive one.
    """

    name: str
    method: str
    path: str
    query: Params = ()
    form: Params = ()
    body: bytes | None = None
    headers: Params = ()
    mode: Mode = "exact"
    fresh_connection: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Watch:
    """A request started in the background; its response is recorded when :class:`Join` runs.

    The runner waits until the response headers arrive (etcd flushes them as soon as the watcher
    is registered) or ``grace`` seconds pass, so the next write cannot race the registration.
    With ``stream_events`` > 0 (a ``stream=true`` watch) the body is read as that many
    newline-terminated events, recorded as a JSON list, and the connection is then closed.
    """

    request: Request
    grace: float = 1.0
    stream_events: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Join:
    """Collect the response of the :class:`Watch` named ``name`` (waiting up to ``timeout``)."""

    name: str
    timeout: float = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Bulk:
    """``count`` fast ``PUT path value=<i>`` writes on one connection; the last one is recorded."""

    name: str
    path: str
    count: int


Step = Request | Watch | Join | Bulk


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    """One recorded answer: status, the recorded headers present (lower-case) and the body.

    ``body`` is the parsed JSON when the body parses as JSON, else the text (``None`` if empty).
    ``error`` is set instead when the exchange failed at the transport level. ``at`` is when
    the answer arrived, in seconds since the run started (remaining TTLs depend on it).
    """

    status: int
    headers: Mapping[str, str]
    body: Any
    error: str | None = None
    at: float = 0.0


@dataclass(slots=True)
class Recording:
    """The results of one script run against one server, in step order."""

    base_url: str
    base: int
    results: dict[str, Result] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Difference:
    """One mismatch: the step, the JSON-ish path inside its result, and both normalised values."""

    step: str
    where: str
    a: object
    b: object

    def __str__(self) -> str:
        return f"{self.step}: {self.where}: {_short(self.a)} != {_short(self.b)}"


def _short(v: object, limit: int = 300) -> str:
    # Oversized-request steps echo megabyte values; keep failure messages readable.
    text = repr(v)
    return text if len(text) <= limit else f"{text[:limit]}...({len(text)} chars)"


# --------------------------------------------------------------------------------------------
# Script construction helpers (keep the table below readable).


def _p(**kw: str) -> Params:
    # Python names cannot carry etcd's camelCase and empty values must survive, so pass through.
    return tuple(kw.items())


def key(path: str) -> str:
    """The keys-API URL path for the key ``path`` (``/foo`` -> ``/v2/keys/foo``)."""
    return "/v2/keys" + path


def get(name: str, path: str, mode: Mode = "exact", **query: str) -> Request:
    """A GET on key ``path`` with query parameters."""
    return Request(name=name, method="GET", path=key(path), query=_p(**query), mode=mode)


def put(name: str, path: str, *, query: Params = (), **form: str) -> Request:
    """A PUT on key ``path`` with form parameters (and optional query parameters)."""
    return Request(name=name, method="PUT", path=key(path), query=query, form=_p(**form))


def post(name: str, path: str, **form: str) -> Request:
    """A POST (in-order create) under key ``path``."""
    return Request(name=name, method="POST", path=key(path), form=_p(**form))


def delete(name: str, path: str, **query: str) -> Request:
    """A DELETE on key ``path`` with query parameters."""
    return Request(name=name, method="DELETE", path=key(path), query=_p(**query))


def raw(name: str, method: str, path: str, mode: Mode = "exact", **query: str) -> Request:
    """Any method on any URL path."""
    return Request(name=name, method=method, path=path, query=_p(**query), mode=mode)


def watch(name: str, path: str, *, stream_events: int = 0, **query: str) -> Watch:
    """A background ``GET path?wait=true&...`` on key ``path`` (see :class:`Watch`)."""
    params = (("wait", "true"), *_p(**query))
    req = Request(name=name, method="GET", path=key(path), query=params)
    return Watch(request=req, stream_events=stream_events)


SCRIPT: tuple[Step, ...] = (
    # --- cluster endpoints ------------------------------------------------------------------
    raw("version", "GET", "/version", mode="shape"),
    raw("health", "GET", "/health"),
    raw("machines", "GET", "/v2/machines"),
    raw("members", "GET", "/v2/members"),
    raw("stats_self", "GET", "/v2/stats/self", mode="shape"),
    raw("stats_store", "GET", "/v2/stats/store", mode="shape"),
    raw("stats_leader", "GET", "/v2/stats/leader", mode="shape"),
    raw("members_leader", "GET", "/v2/members/leader"),
    raw("members_get_one", "GET", "/v2/members/abc"),
    raw("unknown_v2_path", "GET", "/v2/nope"),
    raw("unknown_path", "GET", "/nope"),
    raw("stats_subpath_put", "PUT", "/v2/stats/leader/x"),
    raw("stats_subpath_get", "GET", "/v2/stats/selfx"),
    raw("redirect_escaping", "GET", "/v2/keys/./x'y(z)!"),
    raw("redirect_query_escaping", "GET", "/v2/keys/./r?a=1&b=<c>"),
    # --- plain keys ---------------------------------------------------------------------------
    get("root_get", "/"),
    get("get_missing", "/nokey"),
    put("set_new", "/foo", value="bar"),
    get("get_foo", "/foo"),
    raw("head_foo", "HEAD", key("/foo")),
    raw("head_missing", "HEAD", key("/nokey")),
    put("set_replace", "/foo", value="baz"),
    put("create_exists", "/foo", prevExist="false", value="x"),
    put("create_new", "/created", prevExist="false", value="c"),
    put("update_missing", "/nope", prevExist="true", value="1"),
    put("update_foo", "/foo", prevExist="true", value="qux"),
    put("set_query_and_form", "/fq", query=_p(value="fromquery"), value="fromform"),
    put("set_query_only", "/fq2", query=_p(value="fromquery")),
    put("set_no_value", "/novalue"),
    put("set_no_value_on_success", "/nvos", value="v", noValueOnSuccess="true"),
    # --- compare-and-swap ------------------------------------------------------------------
    put("cas_value_ok", "/foo", prevValue="qux", value="v2"),
    put("cas_value_bad", "/foo", prevValue="wrong", value="v3"),
    put("cas_index_ok", "/foo", prevIndex="{cas_value_ok}", value="v3"),
    put("cas_index_bad", "/foo", prevIndex="{cas_value_ok}", value="v4"),
    put("cas_both_bad", "/foo", prevValue="nope", prevIndex="{cas_value_ok}", value="v4"),
    put("cas_both_ok", "/foo", prevValue="v3", prevIndex="{cas_index_ok}", value="v4"),
    put("cas_previndex_zero", "/foo", prevIndex="0", value="v5"),
    put("cas_prevexist_prevvalue", "/foo", prevExist="true", prevValue="v5", value="v6"),
    put("cas_prevexist_false_prevvalue", "/foo", prevExist="false", prevValue="v6", value="v7"),
    put("cas_missing", "/nokey2", prevValue="x", value="y"),
    put("cas_prevvalue_empty", "/foo", prevValue="", value="1"),
    put("cas_previndex_nan", "/foo", prevIndex="abc", value="1"),
    put("cas_previndex_negative", "/foo", prevIndex="-1", value="1"),
    # --- TTL --------------------------------------------------------------------------------
    put("ttl_set", "/ttl", value="t", ttl="300"),
    get("ttl_get", "/ttl"),
    put("ttl_unset", "/ttl", value="t", ttl="", prevExist="true"),
    put("ttl_set_again", "/ttl", value="t", ttl="300"),
    put("ttl_refresh", "/ttl", refresh="true", ttl="600", prevExist="true"),
    put("ttl_refresh_no_prevexist", "/ttl", refresh="true", ttl="600"),
    put("ttl_refresh_missing", "/nottl", refresh="true", ttl="600", prevExist="true"),
    put("ttl_refresh_no_ttl", "/ttl", refresh="true", prevExist="true"),
    put("ttl_refresh_with_value", "/ttl", refresh="true", ttl="5", value="new"),
    put("ttl_cleared_by_update", "/ttl", prevExist="true", value="t2"),
    put("ttl_nan", "/ttl", value="t", ttl="abc"),
    put("ttl_negative", "/ttl", value="t", ttl="-1"),
    # --- directories and hidden keys -----------------------------------------------------------
    put("dir_create", "/dir", dir="true"),
    put("dir_set_again", "/dir", dir="true"),
    put("dir_put_value", "/dir", value="x"),
    put("dir_child", "/dir/a", value="1"),
    put("dir_child_implicit", "/dir/sub/b", value="2"),
    put("dir_hidden", "/dir/_hidden", value="h"),
    get("dir_list", "/dir"),
    get("dir_list_recursive", "/dir", recursive="true"),
    get("dir_list_sorted", "/dir", recursive="true", sorted="true"),
    get("dir_hidden_get", "/dir/_hidden"),
    raw("dir_head", "HEAD", key("/dir")),
    raw("dir_path_unclean", "GET", "/v2/keys//dir/./a"),
    put("dir_ttl_update", "/dir", dir="true", ttl="300", prevExist="true"),
    put("dir_ttl_unset", "/dir", dir="true", ttl="", prevExist="true"),
    put("dir_update_value", "/dir", prevExist="true", value="x"),
    put("dir_cas", "/dir", prevValue="x", value="1"),
    delete("dir_cad", "/dir", prevValue="x"),
    put("through_key_put", "/foo/x", value="1"),
    get("through_key_get", "/foo/x"),
    post("through_key_post", "/foo", value="1"),
    delete("dir_delete_plain", "/dir"),
    delete("dir_delete_nonempty", "/dir", dir="true"),
    put("root_put", "/", value="x"),
    delete("root_delete", "/", recursive="true"),
    put("root_cas", "/", prevValue="x", value="y"),
    # --- in-order keys ---------------------------------------------------------------------
    post("inorder_1", "/queue", value="job1"),
    post("inorder_2", "/queue", value="job2"),
    post("inorder_dir", "/queue", dir="true"),
    post("inorder_ttl", "/queue", value="job3", ttl="300"),
    get("inorder_list", "/queue", recursive="true", sorted="true"),
    raw("inorder_get", "GET", "/v2/keys{inorder_1.key}"),
    # --- reads ----------------------------------------------------------------------------------
    get("quorum_get", "/queue", quorum="true", recursive="true", sorted="true"),
    get("quorum_missing", "/missing", quorum="true"),
    get("sorted_not_recursive", "/dir", sorted="true"),
    # --- compare-and-delete and delete ------------------------------------------------------
    delete("cad_value_bad", "/created", prevValue="wrong"),
    delete("cad_index_bad", "/created", prevIndex="{create_new+1000}"),
    delete("cad_both_bad", "/created", prevValue="wrong", prevIndex="{create_new+1000}"),
    delete("cad_prevvalue_empty", "/created", prevValue=""),
    delete("cad_index_ok", "/created", prevIndex="{create_new}"),
    put("recreate", "/created", value="c"),
    delete("cad_value_ok", "/created", prevValue="c"),
    delete("delete_missing", "/created"),
    delete("delete_key_with_dir", "/fq", dir="true"),
    delete("delete_key", "/fq2"),
    delete("delete_prevexist_ignored", "/novalue", prevExist="false"),
    delete("dir_delete_recursive", "/dir", recursive="true"),
    put("empty_dir", "/edir", dir="true"),
    delete("empty_dir_delete", "/edir", dir="true"),
    # --- bad input ---------------------------------------------------------------------------
    get("bad_bool_recursive", "/foo", recursive="maybe"),
    get("bad_bool_sorted", "/foo", sorted="2"),
    get("bad_bool_quorum", "/foo", quorum="yes"),
    get("bad_bool_wait", "/foo", wait="nah"),
    put("bad_bool_dir", "/bb", dir="yes"),
    put("bad_bool_prevexist", "/bb", prevExist="maybe", value="1"),
    put("bad_bool_refresh", "/bb", refresh="sure", value="1"),
    Request(name="wait_on_put", method="PUT", path=key("/foo"), query=_p(wait="true")),
    get("wait_index_nan", "/foo", wait="true", waitIndex="x"),
    raw("unknown_method", "PATCH", key("/foo")),
    Request(name="bad_form", method="PUT", path=key("/bf"), body=b"value=%zz"),
    # --- watches ------------------------------------------------------------------------------
    get("watch_replay", "/queue", wait="true", recursive="true", waitIndex="{inorder_1}"),
    get("watch_replay_exact", "/foo", wait="true", waitIndex="{set_new}"),
    watch("watch_live", "/watched"),
    put("watch_live_trigger", "/watched", value="1"),
    Join(name="watch_live"),
    watch("watch_recursive", "/wdir", recursive="true"),
    put("watch_hidden_write", "/wdir/_hidden", value="h"),
    put("watch_recursive_trigger", "/wdir/child", value="1"),
    Join(name="watch_recursive"),
    watch("watch_child_of_deleted", "/wdir/child"),
    delete("watch_parent_delete", "/wdir", recursive="true"),
    Join(name="watch_child_of_deleted"),
    put("expiring", "/expiring", value="e", ttl="1"),
    watch("watch_expire", "/expiring", waitIndex="{expiring+1}"),
    Join(name="watch_expire"),
    get("expired_get", "/expiring"),
    put("ttl_zero", "/ttl0", value="z", ttl="0"),
    watch("watch_expire_zero", "/ttl0", waitIndex="{ttl_zero+1}"),
    Join(name="watch_expire_zero"),
    put("refresh_no_notify_key", "/rn", value="r", ttl="300"),
    watch("watch_refresh", "/rn"),
    put("refresh_no_notify", "/rn", refresh="true", ttl="300", prevExist="true"),
    put("refresh_then_write", "/rn", value="after"),
    Join(name="watch_refresh"),
    watch("watch_stream", "/st", stream_events=3, stream="true", recursive="true"),
    put("stream_1", "/st/a", value="1"),
    put("stream_hidden", "/st/_h", value="h"),
    put("stream_2", "/st/a", value="2"),
    delete("stream_3", "/st/a"),
    Join(name="watch_stream"),
    Bulk(name="bulk", path="/bulk", count=1005),
    get("watch_cleared", "/foo", wait="true", waitIndex="{set_new}"),
    get("watch_after_bulk", "/bulk", wait="true", waitIndex="{bulk}"),
    # --- final state --------------------------------------------------------------------------
    get("final_tree", "/", recursive="true", sorted="true"),
)


# --------------------------------------------------------------------------------------------
# Runner.

_TEMPLATE = re.compile(r"\{(\w+)(\.key)?([+-]\d+)?\}")


def _expand(text: str, rec: Recording) -> str:
    def sub(m: re.Match[str]) -> str:
        name, want_key, offset = m.group(1), m.group(2), int(m.group(3) or 0)
        if name == "base":
            return str(rec.base + offset)
        res = rec.results[name]
        if want_key:
            node_key: str = res.body["node"]["key"]
            return node_key
        return str(int(res.headers["x-etcd-index"]) + offset)

    return _TEMPLATE.sub(sub, text)


def _parse_body(data: bytes) -> Any:
    if not data:
        return None
    text = data.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def _encode(params: Params, rec: Recording) -> str:
    return urllib.parse.urlencode([(k, _expand(v, rec)) for k, v in params])


def exchange(
    base_url: str,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    conn: http.client.HTTPConnection | None = None,
) -> Result:
    """Send one request (optionally on an open ``conn``) and record the answer.

    Transport failures (refused, reset, timeout) are returned as a :class:`Result` with status
    ``0`` and ``error`` set, never raised, so a crashed server shows up as a difference.
    """
    url = urllib.parse.urlsplit(base_url)
    own = conn is None
    c = conn or http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=dict(headers or {}))
        resp = c.getresponse()
        data = resp.read()
        return _result(resp, data)
    except (OSError, http.client.HTTPException) as exc:
        c.close()
        return Result(status=0, headers={}, body=None, error=f"{type(exc).__name__}: {exc}")
    finally:
        if own:
            c.close()


def _result(resp: http.client.HTTPResponse, data: bytes) -> Result:
    headers = {h: v for h in RECORDED_HEADERS if (v := resp.getheader(h)) is not None}
    return Result(status=resp.status, headers=headers, body=_parse_body(data))


def _request_parts(req: Request, rec: Recording) -> tuple[str, bytes | None, dict[str, str]]:
    path = _expand(req.path, rec)
    if req.query:
        path += "?" + _encode(req.query, rec)
    headers = dict(req.headers)
    body = req.body
    if body is None and req.form:
        body = _encode(req.form, rec).encode()
        headers.setdefault("Content-Type", _FORM)
    elif body is not None:
        headers.setdefault("Content-Type", _FORM)
    return path, body, headers


class _Background:
    """A watch running in a thread; ``headers`` is set once the response headers arrived."""

    def __init__(self, base_url: str, path: str, timeout: float, stream_events: int = 0) -> None:
        self.headers = threading.Event()
        self.result: Result | None = None
        self._stream_events = stream_events
        url = urllib.parse.urlsplit(base_url)
        self._conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=timeout)
        self._thread = threading.Thread(target=self._run, args=(path,), daemon=True)
        self._thread.start()

    def _run(self, path: str) -> None:
        try:
            self._conn.request("GET", path)
            resp = self._conn.getresponse()
            self.headers.set()
            if self._stream_events and resp.status == 200:
                # A stream never ends by itself: read the wanted events, then hang up.
                lines = [resp.readline() for _ in range(self._stream_events)]
                events = [_parse_body(line.strip()) for line in lines]
                self.result = Result(
                    status=resp.status, headers=_result(resp, b"").headers, body=events
                )
            else:
                self.result = _result(resp, resp.read())
        except (OSError, http.client.HTTPException) as exc:
            self.result = Result(status=0, headers={}, body=None, error=type(exc).__name__)
        finally:
            self.headers.set()
            self._conn.close()

    def join(self, timeout: float) -> Result:
        self._thread.join(timeout)
        if self.result is None:
            # Unblock the thread: a watch that never fired is a difference, not a hang.
            self._conn.close()
            return Result(status=0, headers={}, body=None, error="watch did not fire")
        return self.result


def settle(base_url: str, *, timeout: float = 15.0) -> int:
    """Wait until the cluster version is decided and the etcd index is quiet; return the index.

    A fresh etcd writes its member attributes and the cluster version into the v2 store shortly
    after it starts answering; the script's relative indexes are only stable once that is done.
    """
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        version = exchange(base_url, "GET", "/version")
        decided = isinstance(version.body, dict) and version.body.get("etcdcluster") not in (
            None,
            "not_decided",
        )
        res = exchange(base_url, "GET", "/v2/keys/")
        idx = int(res.headers.get("x-etcd-index", "-1"))
        if decided and idx == last and idx >= 0:
            return idx
        last = idx
        time.sleep(0.2)
    raise TimeoutError(f"{base_url}: etcd index did not settle")


def run_script(
    base_url: str, script: Sequence[Step] = SCRIPT, *, timeout: float = 10.0
) -> Recording:
    """Play ``script`` against ``base_url`` and record every step's answer.

    Args:
        base_url: ``http://host:port`` of a v2 client endpoint.
        script: the steps; names must be unique.
        timeout: per-request socket timeout in seconds.

    Returns:
        The recording, with ``base`` = the settled etcd index before the first step.
    """
    rec = Recording(base_url=base_url, base=settle(base_url))
    start = time.monotonic()

    def record(name: str, res: Result) -> None:
        rec.results[name] = dataclasses.replace(res, at=time.monotonic() - start)

    url = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=timeout)
    pending: dict[str, _Background] = {}
    try:
        for step in script:
            match step:
                case Request():
                    path, body, headers = _request_parts(step, rec)
                    res = exchange(
                        base_url, step.method, path, body=body, headers=headers,
                        conn=None if step.fresh_connection else conn, timeout=timeout,
                    )  # fmt: skip
                    record(step.name, res)
                case Watch(request=req, grace=grace, stream_events=n):
                    path, _, _ = _request_parts(req, rec)
                    bg = _Background(base_url, path, timeout, n)
                    bg.headers.wait(grace)
                    pending[req.name] = bg
                case Join(name=name, timeout=join_timeout):
                    record(name, pending.pop(name).join(join_timeout))
                case Bulk(name=name, path=bulk_path, count=count):
                    for i in range(count):
                        res = exchange(
                            base_url, "PUT", key(bulk_path), body=f"value={i}".encode(),
                            headers={"Content-Type": _FORM}, conn=conn,
                        )  # fmt: skip
                    record(name, res)
    finally:
        conn.close()
        for bg in pending.values():
            bg.join(0)
    return rec


# --------------------------------------------------------------------------------------------
# Normalisation and comparison.

_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
_HEX = re.compile(r"^[0-9a-f]+$")
_UINT = re.compile(r"^\d+$")
_INORDER = re.compile(r"\d{20}")
_URL = re.compile(r"https?://[\w.\-\[\]:]+")
# Indexes inside causes: "[12 != 15]" (prevIndex compare failed) and "[oldest/requested]" (401).
# Compared values in "[pv != v]" are only rewritten when both sides are all digits, so the script
# keeps prevValue operands non-numeric.
_CAUSE_INDEX = re.compile(r"\[(\d+)( != |/)(\d+)\]")
_INDEX_FIELDS = frozenset({"createdIndex", "modifiedIndex", "index"})
_HEX_FIELDS = frozenset({"id", "leader", "etcd-cluster-id"})
_TIME_FIELDS = frozenset({"startTime", "uptime", "expiration"})


def _idx(v: int, base: int) -> str:
    return "0" if v == 0 else f"<idx{v - base:+d}>"


def _norm_text(s: str, base: int) -> str:
    s = _INORDER.sub(lambda m: _idx(int(m.group()), base), s)
    return _URL.sub("<url>", s)


def _shape(v: object) -> object:
    if isinstance(v, dict):
        return {k: _shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_shape(x) for x in v[:1]]
    return type(v).__name__


def _norm_json(v: object, base: int, field_name: str, sort_nodes: bool) -> object:
    if isinstance(v, dict):
        out = {k: _norm_json(x, base, k, sort_nodes) for k, x in v.items()}
        if out.get("errorCode") in (101, 401) and isinstance(v.get("cause"), str):
            out["cause"] = _CAUSE_INDEX.sub(
                lambda m: f"[{_idx(int(m[1]), base)}{m[2]}{_idx(int(m[3]), base)}]", v["cause"]
            )
        return out
    if isinstance(v, list):
        items = [_norm_json(x, base, field_name, sort_nodes) for x in v]
        if field_name == "nodes" and sort_nodes:
            items.sort(key=lambda n: str(n.get("key")) if isinstance(n, dict) else "")
        return items
    if field_name in _INDEX_FIELDS and isinstance(v, int) and not isinstance(v, bool):
        return _idx(v, base)
    if field_name in _HEX_FIELDS and isinstance(v, str) and _HEX.match(v):
        return "<hex>"
    if field_name in _TIME_FIELDS and isinstance(v, str):
        return "<time>" if _RFC3339.match(v) or re.match(r"^[\d.]+[a-zµ]+", v) else v
    if isinstance(v, str):
        return _norm_text(v, base)
    return v


def _norm_headers(headers: Mapping[str, str], base: int) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, value in headers.items():
        if name == "x-etcd-index" and _UINT.match(value):
            out[name] = _idx(int(value), base)
        elif name in ("x-raft-index", "x-raft-term"):
            out[name] = "<uint>" if _UINT.match(value) else value
        elif name == "x-etcd-cluster-id":
            out[name] = "<hex>" if _HEX.match(value) else value
        elif name == "allow":
            out[name] = sorted(m.strip() for m in value.split(","))
        elif name == "content-type":
            out[name] = value.split(";")[0].strip()
        else:
            out[name] = _norm_text(value, base)
    return out


def normalise(res: Result, base: int, *, mode: Mode = "exact", sort_nodes: bool = True) -> object:
    """The comparable form of ``res``: indexes relative to ``base``, per-process values as shapes.

    Args:
        res: one recorded answer.
        base: the recording's base index.
        mode: ``exact``, ``shape`` (body reduced to keys and value types) or ``status``.
        sort_nodes: sort ``nodes`` arrays by key (the server did not promise an order).
    """
    if res.error is not None:
        return {"error": "transport failure"}
    if mode == "status":
        return {"status": res.status}
    body: object
    if mode == "shape":
        body = _shape(res.body)
    elif isinstance(res.body, str):
        body = _norm_text(res.body, base)
    else:
        body = _norm_json(res.body, base, "", sort_nodes)
    return {"status": res.status, "headers": _norm_headers(res.headers, base), "body": body}


def _diff(
    step: str, where: str, a: object, b: object, out: list[Difference], ttl_slack: int = 1
) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(
                    Difference(step, f"{where}.{k}", a.get(k, "<absent>"), b.get(k, "<absent>"))
                )
            else:
                _diff(step, f"{where}.{k}", a[k], b[k], out, ttl_slack)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff(step, f"{where}[{i}]", x, y, out, ttl_slack)
    elif where.endswith(".ttl") and isinstance(a, int) and isinstance(b, int):
        if abs(a - b) > ttl_slack:
            out.append(Difference(step, where, a, b))
    elif a != b or type(a) is not type(b):
        out.append(Difference(step, where, a, b))


def step_options(script: Sequence[Step]) -> dict[str, tuple[Mode, bool]]:
    """For each recorded step name: its comparison mode and whether ``nodes`` should be sorted."""
    opts: dict[str, tuple[Mode, bool]] = {}
    for step in script:
        req = step.request if isinstance(step, Watch) else step
        if isinstance(req, Request):
            asked_sorted = ("sorted", "true") in req.query
            opts[req.name] = (req.mode, not asked_sorted)
        elif isinstance(req, Bulk):
            opts[req.name] = ("exact", True)
    return opts


def compare(script: Sequence[Step], a: Recording, b: Recording) -> list[Difference]:
    """All differences between two recordings of ``script``, in step order.

    A step missing from one recording is reported as a difference on that step. Remaining
    ``ttl`` values may differ by 1 (rounding) plus the difference, in whole seconds, between the
    times the two answers arrived within their runs (a slower server reads a later ttl).
    """
    out: list[Difference] = []
    for name, (mode, sort_nodes) in step_options(script).items():
        ra, rb = a.results.get(name), b.results.get(name)
        if ra is None or rb is None:
            if ra is not rb:
                out.append(Difference(name, "", ra is not None, rb is not None))
            continue
        na = normalise(ra, a.base, mode=mode, sort_nodes=sort_nodes)
        nb = normalise(rb, b.base, mode=mode, sort_nodes=sort_nodes)
        _diff(name, "", na, nb, out, 1 + math.ceil(abs(ra.at - rb.at)))
    return out


def format_recording(rec: Recording, script: Sequence[Step] = SCRIPT) -> str:
    """A readable dump of a recording's normalised results (for failure messages and goldens)."""
    lines = []
    for name, (mode, sort_nodes) in step_options(script).items():
        res = rec.results.get(name)
        if res is None:
            continue
        norm = normalise(res, rec.base, mode=mode, sort_nodes=sort_nodes)
        lines.append(f"{name}: {json.dumps(norm, sort_keys=True)[:400]}")
    return "\n".join(lines)
