"""WaitRegistry: request id -> future, resolved when the request's entry is applied.

Only the member that proposed a request waits for it; other members apply the entry and find
no waiter. Every waiter also has a deadline so a proposal lost with a leader change is answered
(with a timeout error) instead of hanging. Used only on the event loop thread.
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

from pycoreos.server.errors import RequestTimeoutError, ServerError

T = TypeVar("T")


class WaitRegistry(Generic[T]):
    """Futures keyed by request id, each failing with a timeout after ``timeout`` seconds."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._waiters: dict[int, tuple[asyncio.Future[T], asyncio.TimerHandle]] = {}

    def register(self, request_id: int) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        handle = loop.call_later(self._timeout, self._expire, request_id)
        self._waiters[request_id] = (fut, handle)
        return fut

    def _expire(self, request_id: int) -> None:
        entry = self._waiters.pop(request_id, None)
        if entry is not None and not entry[0].done():
            entry[0].set_exception(RequestTimeoutError())

    def trigger(self, request_id: int, result: T) -> None:
        entry = self._waiters.pop(request_id, None)
        if entry is not None:
            entry[1].cancel()
            if not entry[0].done():
                entry[0].set_result(result)

    def fail(self, request_id: int, exc: BaseException) -> None:
        entry = self._waiters.pop(request_id, None)
        if entry is not None:
            entry[1].cancel()
            if not entry[0].done():
                entry[0].set_exception(exc)

    def fail_all(self, exc: ServerError) -> None:
        for rid in list(self._waiters):
            self.fail(rid, exc)

    def __contains__(self, request_id: int) -> bool:
        return request_id in self._waiters

    def __len__(self) -> int:
        return len(self._waiters)
