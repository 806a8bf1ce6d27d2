"""One v2 watch (etcd ``store/watcher.go``), as a synchronous queue with a wake-up hook.

Lifecycle: created by ``Store.watch``; either it already holds the replayed event from history
(and is not registered with the hub), or it is registered and receives matching events from
later writes. A non-stream watcher is unregistered after its first event. A watcher whose
queue already holds ``EVENT_QUEUE_CAPACITY`` events when another one arrives is unregistered
and marked ``removed`` (etcd drops slow watchers); queued events stay readable. ``remove()``
is the client going away. The asyncio driver sets ``on_event`` to learn that ``next_event``
has something new or that the watcher was dropped; the hook runs inside the store call, so it
must only schedule work, never call back into the store.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from pycoreos.v2store.event import Event

EVENT_QUEUE_CAPACITY = 100


class Watcher:
    """A watch on a key (or a subtree when ``recursive``), fed by the store's watcher hub.

    Attributes:
        key: the watched (cleaned) path.
        recursive: also receive events below the key (except hidden descendants).
        stream: keep receiving after the first event.
        since_index: only events with index >= this are delivered.
        start_index: the store index when the watch started (report as ``X-Etcd-Index``).
        removed: the watcher no longer receives events (dropped, satisfied or removed).
        event_queue: delivered events not yet taken with ``next_event``.
        on_event: called after an event is queued or the watcher is dropped for overflow.
    """

    def __init__(
        self,
        key: str,
        recursive: bool,
        stream: bool,
        since_index: int,
        start_index: int,
        unregister: Callable[[Watcher], None] | None = None,
    ) -> None:
        self.key = key
        self.recursive = recursive
        self.stream = stream
        self.since_index = since_index
        self.start_index = start_index
        self.removed = False
        self.event_queue: deque[Event] = deque()
        self.on_event: Callable[[], None] | None = None
        self._unregister = unregister

    def next_event(self) -> Event | None:
        """Take the oldest queued event, or ``None`` if none is waiting."""
        if self.event_queue:
            return self.event_queue.popleft()
        return None

    def remove(self) -> None:
        """Stop watching (client gone); idempotent. Queued events are discarded."""
        self.event_queue.clear()
        self._drop()

    def _drop(self) -> None:
        if self.removed:
            return
        self.removed = True
        if self._unregister is not None:
            self._unregister(self)

    def notify(self, event: Event, original_path: bool, deleted: bool) -> bool:
        """Offer ``event``; returns whether this watcher was interested in it.

        Interested: the event is on the watched key, or the watcher is recursive, or the
        watched key was deleted with a directory above it; and the event is not older than
        ``since_index``. An interested watcher with a full queue is dropped instead.
        """
        if (self.recursive or original_path or deleted) and event.index >= self.since_index:
            if len(self.event_queue) >= EVENT_QUEUE_CAPACITY:
                self._drop()
            else:
                self.event_queue.append(event)
            if self.on_event is not None:
                self.on_event()
            return True
        return False
