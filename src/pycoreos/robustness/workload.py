"""Concurrent v2 clients and watchers against a running cluster, recording everything.

Clients (one thread each, seeded) run a mix of quorum reads, local reads, set, create, update,
compare-and-swap by value and by index, delete and compare-and-delete on a few keys under
``/torture``. Every linearizable operation goes through a
:class:`~pycoreos.testing.history.HistoryRecorder` (invoke and complete times on the monotonic
clock, outcome ok / definite failure / unknown). Local (non-quorum) reads are not linearizable
in v2 and are kept apart, for the per-member monotonicity check only.

Invariants:

* A client has one request in flight. After an unknown outcome it continues under a *new*
  client id (as Jepsen retires a process after ``:info``): the unknown operation stays open
  forever in the history, and a client id's operations must not overlap.
* Values are unique (``c<client>-<n>``), so a read names the write it observed.
* Nothing is retried: a lost answer is recorded as unknown and the next operation is new.

Watchers long-poll ``/v2/keys/torture?wait=true&recursive=true&waitIndex=N`` on one member each,
continue from ``modifiedIndex + 1`` and record every event; on ``401 EventIndexCleared`` they
record a gap and continue from the index the error names (etcd's documented recovery).
"""

from __future__ import annotations

import random
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pycoreos._clock import RealClock
from pycoreos.robustness.client import RawAnswer, V2Conn, outcome, request_params
from pycoreos.testing.history import UNKNOWN, HistoryRecorder, Operation, Unknown
from pycoreos.testing.models.v2_keyspace import V2OpKind, V2Request, V2Response

__all__ = [
    "IndexObservation",
    "LocalRead",
    "WatchEvent",
    "WatchGap",
    "Workload",
    "WorkloadConfig",
]

PREFIX = "/torture"

# Operation mix (weights): mostly quorum reads and writes that race on few keys.
_MIX: tuple[tuple[str, int], ...] = (
    ("qget", 25),
    ("get", 8),
    ("set", 20),
    ("cas_value", 15),
    ("cas_index", 10),
    ("create", 5),
    ("update", 5),
    ("delete", 5),
    ("cad_value", 5),
)


@dataclass(frozen=True, slots=True)
class WorkloadConfig:
    """Sizing of a workload (reliability.md §8: 50-200 ops/s, ~10 keys, 6-8 clients).

    Attributes:
        clients: concurrent client threads.
        keys: number of keys (``/torture/k0`` ...).
        rate: operations per second per client (exponential gaps).
        timeout: per-request timeout; an expired request is an unknown outcome.
        watchers: watcher threads (spread over the members).
        drop_rate: probability that a client drops its connection right after sending a
            write (T15); the outcome is then unknown.
    """

    clients: int = 6
    keys: int = 10
    rate: float = 10.0
    timeout: float = 2.0
    watchers: int = 2
    drop_rate: float = 0.0


@dataclass(frozen=True, slots=True)
class IndexObservation:
    """``X-Etcd-Index`` seen on a linearizable operation's answer, with its call/return."""

    call: float
    returned: float
    index: int


@dataclass(frozen=True, slots=True)
class LocalRead:
    """A successful non-quorum GET: which client read which member at which store index."""

    client: int
    port: int
    call: float
    index: int


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One event a watcher received."""

    watcher: int
    port: int
    index: int
    action: str
    key: str
    value: str | None
    received: float


@dataclass(frozen=True, slots=True)
class WatchGap:
    """Events in ``(after, resumed_at)`` may be missing: the watcher got EventIndexCleared."""

    watcher: int
    after: int
    resumed_at: int


@dataclass
class _Stats:
    ok: int = 0
    failed: int = 0
    unknown: int = 0
    local_reads: int = 0


@dataclass
class Workload:
    """Clients and watchers over the members whose client ports ``ports()`` returns
    (over https with ``ssl_context``)."""

    ports: Callable[[], list[int]]
    seed: int
    config: WorkloadConfig = field(default_factory=WorkloadConfig)
    ssl_context: ssl.SSLContext | None = None
    recorder: HistoryRecorder[V2Request, V2Response] = field(
        default_factory=lambda: HistoryRecorder[V2Request, V2Response](RealClock())
    )
    local_reads: list[LocalRead] = field(default_factory=list)
    events: list[WatchEvent] = field(default_factory=list)
    gaps: list[WatchGap] = field(default_factory=list)
    indexes: list[IndexObservation] = field(default_factory=list)
    stats: _Stats = field(default_factory=_Stats)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next_id: int = 0

    def start(self) -> None:
        """Start every client and watcher thread."""
        self._next_id = self.config.clients
        for c in range(self.config.clients):
            self._spawn(self._client, c)
        for w in range(self.config.watchers):
            self._spawn(self._watcher, w)

    def stop(self) -> None:
        """Stop and join every thread (each finishes its request in flight first)."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=self.config.timeout * 3 + 5)

    def history(self) -> list[Operation[V2Request, V2Response]]:
        """Every recorded linearizable operation so far."""
        return self.recorder.operations()

    def _spawn(self, fn: Callable[[int], None], arg: int) -> None:
        t = threading.Thread(target=fn, args=(arg,), daemon=True, name=f"{fn.__name__}-{arg}")
        self._threads.append(t)
        t.start()

    def _conn(self, port: int) -> V2Conn:
        return V2Conn(port, self.config.timeout, self.ssl_context)

    def _fresh_id(self) -> int:
        with self._lock:
            self._next_id += 1
            return self._next_id

    # -- clients ----------------------------------------------------------------------------
    def _client(self, c: int) -> None:
        rng = random.Random(self.seed * 7919 + c)
        cid = c
        target = c
        seen: dict[str, tuple[str | None, int]] = {}  # key -> (value, modifiedIndex) last seen
        names = [n for n, _ in _MIX]
        weights = [w for _, w in _MIX]
        n = 0
        while not self._stop.wait(rng.expovariate(self.config.rate)):
            ports = self.ports()
            if not ports:
                continue
            port = ports[target % len(ports)]
            key = f"{PREFIX}/k{rng.randrange(self.config.keys)}"
            kind = rng.choices(names, weights)[0]
            n += 1
            value = f"c{c}-{n}"
            if kind == "get":
                self._local_read(cid, port, key)
                continue
            req = self._request(kind, key, value, seen.get(key))
            out = self.run_one(cid, port, req, rng)
            if out is UNKNOWN:
                cid = self._fresh_id()
                target += 1  # try another member next: this one may be down or cut off
            elif out.error_code is None:
                if req.kind is V2OpKind.GET:
                    seen[key] = (out.value, out.modified_index or 0)
                elif req.kind in (V2OpKind.DELETE, V2OpKind.CAD):
                    seen.pop(key, None)
                else:
                    seen[key] = (req.value, out.modified_index or 0)

    @staticmethod
    def _request(kind: str, key: str, value: str, last: tuple[str | None, int] | None) -> V2Request:
        prev_value = last[0] if last is not None else None
        prev_index = last[1] if last is not None else 1
        match kind:
            case "qget":
                return V2Request(kind=V2OpKind.GET, key=key)
            case "set":
                return V2Request(kind=V2OpKind.SET, key=key, value=value)
            case "create":
                return V2Request(kind=V2OpKind.CREATE, key=key, value=value)
            case "update":
                return V2Request(kind=V2OpKind.UPDATE, key=key, value=value)
            case "cas_value":
                return V2Request(
                    kind=V2OpKind.CAS, key=key, value=value, prev_value=prev_value or "none"
                )
            case "cas_index":
                return V2Request(kind=V2OpKind.CAS, key=key, value=value, prev_index=prev_index)
            case "delete":
                return V2Request(kind=V2OpKind.DELETE, key=key)
            case _:
                return V2Request(kind=V2OpKind.CAD, key=key, prev_value=prev_value or "none")

    def run_one(
        self, cid: int, port: int, req: V2Request, rng: random.Random | None = None
    ) -> V2Response | Unknown:
        """Send one linearizable request as client ``cid`` and record it."""
        method, path, params = request_params(req)
        drop = (
            rng is not None
            and req.kind is not V2OpKind.GET
            and self.config.drop_rate > 0
            and rng.random() < self.config.drop_rate
        )
        with self.recorder.record(cid, req) as pending:
            ans: RawAnswer | None = None
            try:
                ans = self._conn(port).send(method, path, params, drop_after_send=drop)
            except Exception:  # any transport failure: outcome unknown
                ans = None
            out = UNKNOWN if ans is None else outcome(req, ans)
            if out is not UNKNOWN:
                pending.set(out)
            call = pending.call
        idx = None if ans is None or out is UNKNOWN else ans.header_int("x-etcd-index")
        with self._lock:
            if idx is not None:
                self.indexes.append(IndexObservation(call, time.monotonic(), idx))
            if out is UNKNOWN:
                self.stats.unknown += 1
            elif out.error_code is None:
                self.stats.ok += 1
            else:
                self.stats.failed += 1
        return out

    def _local_read(self, cid: int, port: int, key: str) -> None:
        t0 = time.monotonic()
        try:
            ans = self._conn(port).send("GET", "/v2/keys" + key)
        except Exception:  # a failed local read observed nothing
            return
        idx = ans.header_int("x-etcd-index")
        if ans.status in (200, 404) and idx is not None:
            with self._lock:
                self.stats.local_reads += 1
                self.local_reads.append(LocalRead(cid, port, t0, idx))

    # -- watchers ---------------------------------------------------------------------------
    def _watcher(self, w: int) -> None:
        wait_index = 1
        while not self._stop.is_set():
            ports = self.ports()
            if not ports:
                time.sleep(0.1)
                continue
            port = ports[w % len(ports)]
            params = {"wait": "true", "recursive": "true", "waitIndex": str(wait_index)}
            try:
                ans = self._conn(port).send("GET", "/v2/keys" + PREFIX, params)
            except Exception:  # no event (timeout, member down): ask again
                time.sleep(0.05)
                continue
            body = ans.body
            if ans.status == 200 and isinstance(body, dict):
                node = body.get("node")
                action = body.get("action")
                if isinstance(node, dict) and isinstance(action, str):
                    idx = node.get("modifiedIndex")
                    key = node.get("key")
                    val = node.get("value")
                    if isinstance(idx, int) and isinstance(key, str):
                        with self._lock:
                            self.events.append(
                                WatchEvent(
                                    w,
                                    port,
                                    idx,
                                    action,
                                    key,
                                    val if isinstance(val, str) else None,
                                    time.monotonic(),
                                )
                            )
                        wait_index = idx + 1
                        continue
            if isinstance(body, dict) and body.get("errorCode") == 401:
                idx = body.get("index")
                if isinstance(idx, int):
                    with self._lock:
                        self.gaps.append(WatchGap(w, wait_index - 1, idx + 1))
                    wait_index = idx + 1
                    continue
            time.sleep(0.05)
