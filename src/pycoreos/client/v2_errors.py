"""Errors raised by the v2 client (:mod:`pycoreos.client.v2`).

Tree::

    StackError
    └── ClientError
        ├── EtcdError               keys-API error body {errorCode, message, cause, index}
        ├── MembersAPIError         members-API error body {"message": ...} or unexpected status
        ├── InvalidResponseError    not etcd JSON (wrong endpoint, proxy page, truncated body)
        ├── EndpointError           one endpoint failed (refused, header timeout, no leader, 5xx)
        ├── ClusterUnavailableError every endpoint failed; ``errors`` holds each EndpointError
        ├── UnknownOutcomeError     a write may or may not have been applied; never retried
        ├── DeadlineExceededError   the per-operation total timeout ran out
        └── WatchTimeoutError       a watch with ``timeout=`` saw no event in time

The ``str()`` of each error is the text etcd's Go client (``go.etcd.io/etcd/client``) prints, so
``etcdctl`` can show it verbatim: ``100: Key not found (/foo) [7]``,
``client: etcd cluster is unavailable or misconfigured; error #0: dial tcp ...: connection
refused\\n``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pycoreos.errors import StackError

# Verbatim from the Go client (client/client.go, client/keys.go).
CLUSTER_UNAVAILABLE = "client: etcd cluster is unavailable or misconfigured"
INVALID_JSON = (
    "client: response is invalid json. The endpoint is probably not valid etcd cluster endpoint."
)
NO_ENDPOINTS = "client: no endpoints available"

# Keys-API error codes (etcd error/error.go) that callers commonly branch on.
KEY_NOT_FOUND = 100
TEST_FAILED = 101
NOT_FILE = 102
NOT_DIR = 104
NODE_EXIST = 105
ROOT_RONLY = 107
DIR_NOT_EMPTY = 108
UNAUTHORIZED = 110
RAFT_INTERNAL = 300
LEADER_ELECT = 301
EVENT_INDEX_CLEARED = 401


class ClientError(StackError):
    """Root of the v2 client's errors."""


class EtcdError(ClientError):
    """An error answered by the keys API.

    Attributes:
        code: etcd ``errorCode`` (100 key not found, 101 compare failed, ...).
        message: etcd's fixed message for the code.
        cause: the detail (usually the key), may be empty.
        index: the etcd index when the error happened.
    """

    def __init__(self, code: int, message: str, cause: str = "", index: int = 0) -> None:
        self.code = code
        self.message = message
        self.cause = cause
        self.index = index
        super().__init__(f"{code}: {message} ({cause}) [{index}]")


class MembersAPIError(ClientError):
    """The members API refused a request (``{"message": ...}`` body) or answered ``status``."""

    def __init__(self, message: str, status: int = 0) -> None:
        self.message = message
        self.status = status
        super().__init__(message)


class InvalidResponseError(ClientError):
    """The answer is not what an etcd member sends (bad JSON, missing fields)."""

    def __init__(self, message: str = INVALID_JSON) -> None:
        super().__init__(message)


class EndpointError(ClientError):
    """One endpoint could not serve a request; the client moves on to the next one.

    Attributes:
        endpoint: the endpoint URL.
        sent: True if the request may have reached the server (so a write may have applied).
        timed_out: True if the failure was the per-request timeout.
        connection: True for socket-level failures (dial, read reset), False for timeouts
            waiting for an answer and for bad answers (etcdctl's ``isConnectionError``).
    """

    def __init__(
        self,
        endpoint: str,
        message: str,
        *,
        sent: bool,
        timed_out: bool = False,
        connection: bool | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.sent = sent
        self.timed_out = timed_out
        self.connection = (not sent) if connection is None else connection
        super().__init__(message)


def _cluster_text(errors: Sequence[EndpointError]) -> str:
    # Go: s += fmt.Sprintf("; error #%d: %s\n", i, e) -- the newline is part of the message.
    return CLUSTER_UNAVAILABLE + "".join(f"; error #{i}: {e}\n" for i, e in enumerate(errors))


class ClusterUnavailableError(ClientError):
    """Every endpoint failed; ``errors`` has one :class:`EndpointError` per attempt, in order."""

    def __init__(self, errors: Sequence[EndpointError]) -> None:
        self.errors = tuple(errors)
        super().__init__(_cluster_text(self.errors))

    def detail(self) -> str:
        """The per-endpoint lines (Go ``ClusterError.Detail``), each ending in a newline."""
        return "".join(f"error #{i}: {e}\n" for i, e in enumerate(self.errors))

    @property
    def connection_only(self) -> bool:
        """True if every failure was a connection failure (etcdctl's ``isConnectionError``)."""
        return all(e.connection for e in self.errors)


class UnknownOutcomeError(ClusterUnavailableError):
    """A non-idempotent request failed after it may have reached the server.

    The write may or may not have been applied, so the client does not retry it elsewhere;
    the caller must read the state back (or treat the operation as indeterminate, as a
    linearizability checker does). ``errors`` ends with the failure that made the outcome
    unknown, so the text matches what etcdctl prints for an unavailable cluster.
    """


class DeadlineExceededError(ClientError):
    """The client's ``total_timeout`` for one operation ran out (Go ``context deadline
    exceeded``); for a write the outcome is unknown."""

    def __init__(self) -> None:
        super().__init__("context deadline exceeded")


class WatchTimeoutError(ClientError):
    """``Client.watch(..., timeout=t)`` saw no event within ``t`` seconds."""
