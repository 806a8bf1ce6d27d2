"""WaitRegistry: request id -> future, resolved when the request's entry is applied.

Only the member that proposed a request waits for it; other members apply the entry and find
no waiter. Every waiter also has a deadline so a proposal lost with a leader change is answered
(with a timeout error) instead of hanging. Deadlines are swept by one coarse timer (a quarter
of the timeout) rather than one timer per request, which is measurably cheaper at thousands of
requests per second; a request therefore times out between 1x and 1.25x ``timeout``.
Used only on the event loop thread.
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
        self._waiters: dict[int, tuple[asyncio.Future[T], float]] = {}
        self._sweeper: asyncio.TimerHandle | None = None

    def register(self, request_id: int) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._waiters[request_id] = (fut, loop.time() + self._timeout)
        if self._sweeper is None:
            self._sweeper = loop.call_later(self._timeout / 4, self._sweep)
        return fut

    def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        # Waiters are in registration order, so deadlines are ascending.
        expired = []
        for rid, (_, deadline) in self._waiters.items():
            if deadline > now:
                break
            expired.append(rid)
        for rid in expired:
            fut, _ = self._waiters.pop(rid)
            if not fut.done():
                fut.set_exception(RequestTimeoutError())
        self._sweeper = loop.call_later(self._timeout / 4, self._sweep) if self._waiters else None

    def trigger(self, request_id: int, result: T) -> None:
        entry = self._waiters.pop(request_id, None)
        if entry is not None and not entry[0].done():
            entry[0].set_result(result)

    def fail(self, request_id: int, exc: BaseException) -> None:
        entry = self._waiters.pop(request_id, None)
        if entry is not None and not entry[0].done():
            entry[0].set_exception(exc)

    def fail_all(self, exc: ServerError) -> None:
        for rid in list(self._waiters):
            self.fail(rid, exc)
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    def __contains__(self, request_id: int) -> bool:
        return request_id in self._waiters

    def __len__(self) -> int:
        return len(self._waiters)
