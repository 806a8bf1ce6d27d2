"""Apply one committed v2 request to the store (etcd's ``applierV2store``).

This is the only place where replicated requests become store operations, so every member
applies the same entries identically. It is synchronous and does no I/O.

Dispatch (etcd ``apply_v2.go``):
- POST → create an in-order key; DELETE → compare-and-delete if prevValue/prevIndex>0, else
  delete; QGET → get; SYNC → delete keys expired at the leader's time.
- PUT → with prevExist: true → update (or CAS if prevValue/prevIndex), false → create;
  else prevValue/prevIndex>0 → CAS; a member attribute path → membership update;
  the cluster version key → version; else set.
"""

from __future__ import annotations

import json
import re

from pycoreos.server.membership import MEMBERS_PREFIX, VERSION_KEY, Cluster
from pycoreos.server.requests import V2Request
from pycoreos.v2store.event import Event
from pycoreos.v2store.store import Store, TTLOptionSet

_ATTR_RE = re.compile(r"^" + re.escape(MEMBERS_PREFIX) + r"/([0-9a-f]+)/attributes$")


def ttl_options(req: V2Request) -> TTLOptionSet:
    """The request's expiration (absolute, chosen by the receiving member) and refresh flag."""
    expire = req.expiration / 1e9 if req.expiration else None
    return TTLOptionSet(expire_time=expire, refresh=bool(req.refresh))


def apply_v2(store: Store, cluster: Cluster, req: V2Request) -> Event | None:
    """Apply ``req``; returns the event (None for internal requests).

    Raises:
        V2Error: the store refused the operation (the error is the request's answer; the
            store is unchanged).
    """
    method = req.method
    if method == "PUT":
        return _put(store, cluster, req)
    if method == "POST":
        return store.create(req.path, req.dir, req.val, True, ttl_options(req))
    if method == "DELETE":
        if req.prev_index > 0 or req.prev_value:
            return store.compare_and_delete(req.path, req.prev_value, req.prev_index)
        return store.delete(req.path, req.dir, req.recursive)
    if method == "QGET":
        return store.get(req.path, req.recursive, req.sorted)
    if method == "SYNC":
        store.delete_expired_keys(req.time / 1e9)
        return None
    raise ValueError(f"apply: unknown v2 method {method!r}")


def _put(store: Store, cluster: Cluster, req: V2Request) -> Event | None:
    opts = ttl_options(req)
    if req.prev_exist is not None:
        if req.prev_exist:
            if req.prev_index == 0 and req.prev_value == "":
                return store.update(req.path, req.val, opts)
            return store.compare_and_swap(req.path, req.prev_value, req.prev_index, req.val, opts)
        return store.create(req.path, req.dir, req.val, False, opts)
    if req.prev_index > 0 or req.prev_value:
        return store.compare_and_swap(req.path, req.prev_value, req.prev_index, req.val, opts)
    m = _ATTR_RE.match(req.path)
    if m is not None:
        attrs = json.loads(req.val)
        cluster.update_attributes(
            int(m.group(1), 16), attrs.get("name", ""), attrs.get("clientURLs") or []
        )
        store.set(req.path, False, req.val, TTLOptionSet(expire_time=None))
        return None
    if req.path == VERSION_KEY:
        cluster.version = req.val
        store.set(req.path, False, req.val, TTLOptionSet(expire_time=None))
        return None
    return store.set(req.path, req.dir, req.val, opts)
