"""The decisions of etcd's v2 discovery protocol, as pure functions.

The member side (``--discovery URL``), per etcd's ``v2discovery``:

1. read ``<token>/_config/size`` (missing: :class:`SizeNotFoundError`; not a positive
   integer: :class:`BadSizeKeyError`);
2. list ``<token>``: registered members are its children other than ``_config``, in
   ``createdIndex`` order; if ``size`` of them registered before this member, the cluster is
   full (:func:`check_cluster`);
3. register ``<token>/<member id hex>`` = ``name=peerURL[,name=peerURL...]`` with
   ``prevExist=false`` (exists: :class:`DuplicateIdError`);
4. wait until ``size`` members registered (:func:`add_watched`);
5. the initial cluster is the first ``size`` values joined with ``,`` (:func:`nodes_to_cluster`).

Only the first ``size`` registrations count: a member that registered late (after the check
in 2 raced with others) sees itself beyond ``size`` and reports the cluster full.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from pycoreos.discovery.errors import (
    BadSizeKeyError,
    DuplicateNameError,
    FullClusterError,
    InvalidURLError,
)

CONFIG_KEY = "_config"
MAX_RETRIES = 8  # etcd's maxExpoentialRetries


@dataclass(frozen=True, slots=True)
class TokenURL:
    """A discovery URL split as etcd does: ``endpoint`` (scheme://host) and ``token`` path."""

    endpoint: str
    token: str  # the URL path, e.g. "/3a9c...": requests go to endpoint + token + "/..."

    @property
    def url(self) -> str:
        """The token directory's URL."""
        return self.endpoint + self.token


def parse_token_url(url: str) -> TokenURL:
    """Split a discovery URL.

    Raises:
        InvalidURLError: not http(s), no host, or no token path.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path in ("", "/"):
        raise InvalidURLError(url)
    endpoint = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
    return TokenURL(endpoint, parts.path.rstrip("/"))


@dataclass(frozen=True, slots=True)
class RegisteredNode:
    """One child of the token directory."""

    key: str
    value: str
    created_index: int

    @property
    def name(self) -> str:
        """The last path element (a member id in hex, or ``_config``)."""
        return self.key.rstrip("/").rsplit("/", 1)[-1]

    @property
    def is_config(self) -> bool:
        """``_config`` itself or anything under it (a recursive watch sees ``_config/size``)."""
        return f"/{CONFIG_KEY}/" in self.key.rstrip("/") + "/"


def parse_size(value: str | None) -> int:
    """The ``_config/size`` value as a positive integer.

    Raises:
        BadSizeKeyError: anything else.
    """
    text = (value or "").strip()
    if not text.isdigit() or int(text) <= 0:
        raise BadSizeKeyError(repr(value))
    return int(text)


def member_nodes(children: Sequence[RegisteredNode]) -> list[RegisteredNode]:
    """The registered members (``_config`` excluded), oldest registration first."""
    nodes = [n for n in children if not n.is_config]
    return sorted(nodes, key=lambda n: n.created_index)


def check_cluster(
    children: Sequence[RegisteredNode], size: int, self_name: str
) -> list[RegisteredNode]:
    """The members that count so far (at most ``size``), or the full-cluster verdict.

    Args:
        children: the token directory's children, in any order.
        size: the expected cluster size.
        self_name: this member's key name (its id in hex).

    Raises:
        FullClusterError: ``size`` members registered before ``self_name`` (or without it).
    """
    nodes = member_nodes(children)
    first = nodes[:size]
    if len(nodes) >= size and all(n.name != self_name for n in first):
        raise FullClusterError()
    return first


def add_watched(
    known: Sequence[RegisteredNode], event: RegisteredNode, size: int
) -> list[RegisteredNode]:
    """Fold one watch event (a new registration) into the members known so far.

    ``_config`` changes and keys already known are ignored; at most ``size`` members are kept.
    """
    if event.is_config or any(n.name == event.name for n in known):
        return list(known)
    return [*known, event][:size]


def nodes_to_cluster(nodes: Sequence[RegisteredNode], size: int) -> list[tuple[str, str]]:
    """The ``--initial-cluster`` pairs from the first ``size`` registrations.

    Raises:
        InvalidURLError: a registered value is not ``name=http(s)://host:port[,...]``.
        DuplicateNameError: two members share a name (fewer than ``size`` distinct names).
    """
    pairs: list[tuple[str, str]] = []
    for node in nodes[:size]:
        for item in filter(None, (p.strip() for p in node.value.split(","))):
            name, eq, url = item.partition("=")
            parts = urlsplit(url)
            if not eq or not name or parts.scheme not in ("http", "https") or not parts.netloc:
                raise InvalidURLError(node.value)
            pairs.append((name, url))
    if len({n for n, _ in pairs}) != size:
        raise DuplicateNameError(",".join(n.value for n in nodes[:size]))
    return pairs


def retry_delay(attempt: int, base: float = 1.0) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): ``base * 2**attempt`` (etcd's)."""
    return base * (1 << attempt)
