"""The member side of discovery: join a cluster from a discovery URL (blocking, as etcd's).

A thin driver over :mod:`pycoreos.discovery.protocol`: it only performs the HTTP requests
(the v2 keys API, directly or through a discovery service) and retries. It runs before the
member serves anything, so it blocks the caller like etcd's ``v2discovery.JoinCluster``.

Retries: a connection failure or a 5xx answer is retried after ``retry_base * 2**n`` seconds,
at most ``retries`` times in one join (etcd: 1 s base, 8 retries, about 4 minutes in all);
then :class:`TooManyRetriesError`. Every other failure is final.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlencode

from pycoreos.discovery.errors import (
    BadDiscoveryEndpointError,
    DiscoveryError,
    DuplicateIdError,
    SizeNotFoundError,
    TooManyRetriesError,
)
from pycoreos.discovery.protocol import (
    MAX_RETRIES,
    RegisteredNode,
    add_watched,
    check_cluster,
    member_nodes,
    nodes_to_cluster,
    parse_size,
    parse_token_url,
    retry_delay,
)

log = logging.getLogger("pycoreos.discovery")

_T = TypeVar("_T")

_KEY_NOT_FOUND, _NODE_EXIST = 100, 105


class _RetryableError(Exception):
    """The service could not be reached or answered 5xx."""


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    index: int  # X-Etcd-Index
    body: Mapping[str, object]


def _node(raw: object) -> RegisteredNode:
    d = raw if isinstance(raw, dict) else {}
    return RegisteredNode(
        str(d.get("key", "")), str(d.get("value") or ""), int(d.get("createdIndex", 0))
    )


@dataclass
class DiscoveryClient:
    """Talks to one discovery URL (``http(s)://host/<token>``).

    Attributes:
        url: the discovery URL.
        proxy: an HTTP proxy for every request (``--discovery-proxy``); empty for none.
        retries: retry budget for one :meth:`join_cluster`.
        retry_base: first retry delay in seconds.
        timeout: per-request timeout, except watches (which wait for other members).
        sleep: how to wait between retries (injected by tests).
    """

    url: str
    proxy: str = ""
    retries: int = MAX_RETRIES
    retry_base: float = 1.0
    timeout: float = 5.0
    sleep: Callable[[float], None] = time.sleep
    _used: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._token = parse_token_url(self.url)
        handlers: list[urllib.request.BaseHandler] = []
        if self.proxy:
            handlers.append(urllib.request.ProxyHandler({"http": self.proxy, "https": self.proxy}))
        else:
            handlers.append(urllib.request.ProxyHandler({}))  # ignore *_proxy env, as etcd
        self._opener = urllib.request.build_opener(*handlers)

    # ------------------------------------------------------------------ HTTP
    def _request(
        self, path: str, *, method: str = "GET", query: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None, wait: bool = False,
    ) -> _Answer:  # fmt: skip
        url = self._token.url + path + ("?" + urlencode(query) if query else "")
        data = urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with self._opener.open(req, timeout=None if wait else self.timeout) as resp:
                status, headers, raw = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            status, headers, raw = e.code, e.headers, e.read()
        except (OSError, ValueError) as e:  # URLError, refused, reset, timeout, bad status
            raise _RetryableError(f"{url}: {getattr(e, 'reason', e)}") from e
        if status >= 500:
            raise _RetryableError(f"{url}: HTTP {status}")
        try:
            body = json.loads(raw)
        except ValueError:
            raise BadDiscoveryEndpointError(f"{url} answered {status} with no JSON") from None
        if not isinstance(body, dict):
            raise BadDiscoveryEndpointError(f"{url} answered {status} with no JSON object")
        return _Answer(status, int(headers.get("X-Etcd-Index") or 0), body)

    def _retrying(self, what: str, op: Callable[[], _T]) -> _T:
        while True:
            try:
                return op()
            except _RetryableError as e:
                if self._used >= self.retries:
                    raise TooManyRetriesError(str(e)) from e
                delay = retry_delay(self._used, self.retry_base)
                self._used += 1
                log.error("discovery: %s: %s; retrying in %gs", what, e, delay)
                self.sleep(delay)

    # ------------------------------------------------------------------ steps
    def _size(self) -> int:
        ans = self._request("/_config/size")
        if ans.status == 404 or ans.body.get("errorCode") == _KEY_NOT_FOUND:
            raise SizeNotFoundError(f"{self.url}: the token does not exist or was deleted")
        return parse_size(str(_node(ans.body.get("node")).value))

    def _list(self) -> tuple[list[RegisteredNode], int]:
        ans = self._request("")
        node = ans.body.get("node")
        children = node.get("nodes") if isinstance(node, dict) else None
        return [_node(c) for c in children or []], ans.index

    def _check(self, self_name: str) -> tuple[list[RegisteredNode], int, int]:
        size = self._size()
        children, index = self._list()
        return check_cluster(children, size, self_name), size, index

    def _register(self, self_name: str, config: str) -> None:
        ans = self._request(
            "/" + self_name, method="PUT", query={"prevExist": "false"}, form={"value": config}
        )
        if ans.body.get("errorCode") == _NODE_EXIST:
            raise DuplicateIdError(self_name)
        if "errorCode" in ans.body:
            raise DiscoveryError(str(ans.body.get("message")))
        created = _node(ans.body.get("node")).created_index
        # Make sure the registration is visible where we read (etcd's createSelf watch).
        self._request("/" + self_name, query={"wait": "true", "waitIndex": str(created)}, wait=True)

    def _wait(self, known: list[RegisteredNode], size: int, index: int) -> list[RegisteredNode]:
        while len(known) < size:
            log.info("found %d peer(s), waiting for %d more", len(known), size - len(known))
            query = {"wait": "true", "recursive": "true", "waitIndex": str(index + 1)}
            ans = self._request("", query=query, wait=True)
            if "errorCode" in ans.body:  # e.g. 401 event index cleared: re-list
                known, _, index = self._check_list(size)
                continue
            node = ans.body.get("node")
            mod = node.get("modifiedIndex", index + 1) if isinstance(node, dict) else index + 1
            index = int(mod)
            if ans.body.get("action") in ("create", "set"):
                event = _node(node)
                log.info("found peer %s in the cluster", event.name)
                known = add_watched(known, event, size)
        return known

    def _check_list(self, size: int) -> tuple[list[RegisteredNode], int, int]:
        children, index = self._list()
        return member_nodes(children)[:size], size, index

    # ------------------------------------------------------------------ API
    def join_cluster(self, member_id: int, config: str) -> list[tuple[str, str]]:
        """Register this member and wait for the whole cluster.

        Args:
            member_id: this member's id (its key under the token, in hex).
            config: its ``name=peerURL[,name=peerURL]`` entry.

        Returns:
            The ``--initial-cluster`` (name, peer URL) pairs, registration order.

        Raises:
            FullClusterError: ``size`` members registered first (fallback decision).
            DiscoveryError: any other failure (token gone, bad size, duplicate id/name,
                unreachable service after the retries, not a discovery endpoint).
        """
        self_name = f"{member_id:x}"
        # Fast path: do not even register on a full token.
        self._retrying("checking the cluster", lambda: self._check(self_name))
        self._retrying("registering", lambda: self._register(self_name, config))
        known, size, index = self._retrying(
            "checking the cluster", lambda: self._check(self_name)
        )
        for n in known:
            log.info("found %s %s in the cluster", "self" if n.name == self_name else "peer",
                     n.name)  # fmt: skip
        all_ = self._retrying("waiting for peers", lambda: self._wait(known, size, index))
        return nodes_to_cluster(all_, size)

    def get_cluster(self) -> list[tuple[str, str]]:
        """The cluster registered under the token (etcd's ``GetCluster``, for the proxy).

        Raises:
            DiscoveryError: as :meth:`join_cluster`, plus when fewer than ``size`` registered.
        """

        def read() -> list[tuple[str, str]]:
            size = self._size()
            children, _ = self._list()
            return nodes_to_cluster(member_nodes(children)[:size], size)

        return self._retrying("reading the cluster", read)
