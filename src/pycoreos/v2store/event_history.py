"""The window of the last events across the whole store (etcd ``store/event_history.go``).

Invariant: stored events have consecutive indexes (every successful write, refresh and expiry
adds exactly one event, and only they advance the store index), so the event for index ``i`` is
at offset ``i - start_index``. ``start_index``/``last_index`` are the indexes of the oldest and
newest stored events (0 while empty). Refresh events are stored but never returned by ``scan``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from itertools import islice

from pycoreos.v2store._gojson import clean_path
from pycoreos.v2store.errors import ECODE_EVENT_INDEX_CLEARED, V2Error
from pycoreos.v2store.event import DELETE, EXPIRE, Event

DEFAULT_CAPACITY = 1000


class EventHistory:
    """A bounded FIFO of events; the oldest falls out when a new one comes in at capacity."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self.events: deque[Event] = deque(maxlen=capacity)
        self.start_index = 0
        self.last_index = 0

    def add(self, event: Event) -> Event:
        """Append ``event`` and return it."""
        self.events.append(event)
        self.last_index = event.index
        self.start_index = self.events[0].index
        return event

    def load(self, events: Iterable[Event], start_index: int, last_index: int) -> None:
        """Replace the contents (used by store recovery)."""
        self.events = deque(events, maxlen=self.capacity)
        self.start_index = start_index
        self.last_index = last_index

    def scan(self, key: str, recursive: bool, index: int) -> Event | None:
        """The first stored event at or after ``index`` that affects ``key``, else ``None``.

        An event affects ``key`` if it is on ``key``; or, when ``recursive``, on a path below
        ``key``; or it deleted/expired a directory whose path is a string prefix of ``key``.
        Hidden keys are *not* filtered here (etcd's replay delivers them).

        Raises:
            V2Error: 401 if ``index`` is older than the oldest stored event; the cause is
                ``the requested history has been cleared [<start>/<index>]`` and the error
                index is 0 (the caller sets the store index).
        """
        if index < self.start_index:
            raise V2Error(
                ECODE_EVENT_INDEX_CLEARED,
                f"the requested history has been cleared [{self.start_index}/{index}]",
                0,
            )
        if index > self.last_index:
            return None
        prefix = ""
        if recursive:
            prefix = clean_path(key)
            if not prefix.endswith("/"):
                prefix += "/"
        for e in islice(self.events, index - self.start_index, None):
            if e.refresh:
                continue
            ekey = e.node.key
            if ekey == key or (recursive and ekey.startswith(prefix)):
                return e
            prev = e.prev_node
            if (
                prev is not None
                and prev.dir
                and e.action in (DELETE, EXPIRE)
                and key.startswith(prev.key)
            ):
                return e
        return None
