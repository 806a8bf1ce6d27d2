"""Helpers for the multi-member e2e tests: raw v2 calls, leader discovery, convergence."""

from __future__ import annotations

import hashlib
import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field

from pycoreos.testing.procs import Member

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def call(
    member: Member,
    method: str,
    path: str,
    params: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, dict[str, str], object]:
    """One request; returns (status, lower-case headers, parsed JSON or text)."""
    conn = http.client.HTTPConnection("127.0.0.1", member.client_port, timeout=timeout)
    try:
        body = urllib.parse.urlencode(params or {})
        if method in ("PUT", "POST"):
            conn.request(method, path, body, FORM)
        else:
            conn.request(method, path + ("?" + body if body else ""))
        resp = conn.getresponse()
        raw = resp.read()
        headers = {k.lower(): v for k, v in resp.getheaders()}
        try:
            return resp.status, headers, json.loads(raw)
        except ValueError:
            return resp.status, headers, raw.decode(errors="replace")
    finally:
        conn.close()


def self_stats(member: Member) -> dict[str, object] | None:
    try:
        status, _, body = call(member, "GET", "/v2/stats/self", timeout=1)
    except OSError:
        return None
    return body if status == 200 and isinstance(body, dict) else None


def leader_of(members: Sequence[Member], timeout: float = 10.0) -> Member:
    """The member that reports itself leader (waits for one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in members:
            st = self_stats(m)
            if st is not None and st.get("state") == "StateLeader":
                return m
        time.sleep(0.05)
    raise TimeoutError("no leader")


def store_digest(member: Member) -> tuple[int, str]:
    """(X-Etcd-Index, sha256 of the sorted recursive listing) as this member sees it."""
    status, headers, body = call(
        member, "GET", "/v2/keys/", {"recursive": "true", "sorted": "true"}
    )
    assert status == 200, body
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return int(headers["x-etcd-index"]), digest


def wait_converged(members: Sequence[Member], timeout: float = 15.0) -> tuple[int, str]:
    """Wait until every member reports the same index and store digest."""
    deadline = time.monotonic() + timeout
    last: list[tuple[int, str]] = []
    while time.monotonic() < deadline:
        try:
            last = [store_digest(m) for m in members]
        except OSError:
            last = []
        if last and all(d == last[0] for d in last):
            return last[0]
        time.sleep(0.1)
    raise AssertionError(f"members did not converge: {last}")


@dataclass
class WriteLoad:
    """N client threads writing distinct keys round-robin over the members' endpoints.

    A client whose connection fails moves to the next member and writes a *new* key: a write
    whose answer was lost is never retried blindly (its outcome is unknown).
    """

    members: Sequence[Member]
    clients: int = 16
    prefix: str = "/load"
    acked: list[tuple[str, str]] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        for c in range(self.clients):
            t = threading.Thread(target=self._run, args=(c,), daemon=True)
            self._threads.append(t)
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=20)

    def acked_count(self) -> int:
        with self._lock:
            return len(self.acked)

    def _run(self, client: int) -> None:
        target = client % len(self.members)
        i = 0
        while not self._stop.is_set():
            key, value = f"{self.prefix}/c{client}/k{i}", f"v{client}-{i}"
            i += 1
            try:
                status, _, _ = call(
                    self.members[target], "PUT", "/v2/keys" + key, {"value": value}, timeout=5
                )
            except OSError:
                with self._lock:
                    self.unknown.append((key, value))
                target = (target + 1) % len(self.members)
                time.sleep(0.05)
                continue
            with self._lock:
                if status in (200, 201):
                    self.acked.append((key, value))
                else:
                    self.unknown.append((key, value))  # e.g. 500 timeout: unknown outcome
            if status >= 500:
                target = (target + 1) % len(self.members)
