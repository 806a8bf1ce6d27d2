"""Errors of the etcd member (server layer), with etcd's exact messages.

Tree::

    ServerError
    ├── StoppedError            etcdserver: server stopped
    ├── RequestTimeoutError     etcdserver: request timed out
    ├── LeaderChangedError      etcdserver: leader changed
    ├── NoLeaderError           etcdserver: no leader
    ├── NotLeaderError          etcdserver: not leader (carries the leader id, if known)
    ├── UnknownMethodError      etcdserver: unknown method
    ├── MemberError             members API failures (status + message), see v2http/members.py
    └── StorageFailedError      the WAL or snapshot could not be written: fail-stop
"""

from __future__ import annotations

from pycoreos.errors import StackError


class ServerError(StackError):
    """Root of the member's errors. ``str(err)`` is etcd's message."""

    message = "etcdserver: internal error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)


class StoppedError(ServerError):
    message = "etcdserver: server stopped"


class RequestTimeoutError(ServerError):
    message = "etcdserver: request timed out"


class LeaderChangedError(ServerError):
    message = "etcdserver: leader changed"


class NoLeaderError(ServerError):
    message = "etcdserver: no leader"


class NotLeaderError(ServerError):
    message = "etcdserver: not leader"

    def __init__(self, leader_id: int = 0) -> None:
        super().__init__()
        self.leader_id = leader_id


class UnknownMethodError(ServerError):
    message = "etcdserver: unknown method"


class MemberError(ServerError):
    """A members-API failure: ``status`` is the HTTP status etcd answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class StorageFailedError(ServerError):
    """Persisting failed; the member stops rather than serve unacknowledgeable state."""

    message = "etcdserver: storage failed"
