"""Watcher registry and event fan-out (etcd ``store/watcher_hub.go``).

Watchers are registered by exact cleaned key. An event on ``/a/b/c`` is offered to watchers on
``/``, ``/a``, ``/a/b`` and ``/a/b/c`` in that order (and, for deletes and expiries, first to the
watchers on every removed node, via ``notify_watchers(..., deleted=True)``; like etcd, a stream
watcher on a deleted path is thus offered the event twice). A recursive watcher is not offered
events on hidden descendants (a path component starting with ``_`` below the watched key).
Every event, including refreshes, enters the history; refreshes are never offered to watchers.
"""

from __future__ import annotations

from msgspec import structs

from pycoreos.v2store._gojson import clean_path
from pycoreos.v2store.errors import V2Error
from pycoreos.v2store.event import Event
from pycoreos.v2store.event_history import DEFAULT_CAPACITY, EventHistory
from pycoreos.v2store.watcher import Watcher


def is_hidden(watch_path: str, key_path: str) -> bool:
    """Whether ``key_path`` is hidden from a watcher at ``watch_path`` (a ``_`` component below)."""
    # When a directory is deleted the watch path can be deeper than the event key.
    if len(watch_path) > len(key_path):
        return False
    after = clean_path("/" + key_path[len(watch_path) :])
    return "/_" in after


class WatcherHub:
    """All live watchers, by key, plus the event history.

    Attributes:
        count: number of registered watchers (``watchers`` in the store stats).
        history: the last events across the store.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        # dict-as-ordered-set: notification order is registration order, removal is O(1).
        self._watchers: dict[str, dict[Watcher, None]] = {}
        self.count = 0
        self.history = EventHistory(capacity)

    def watch(
        self, key: str, recursive: bool, stream: bool, index: int, store_index: int
    ) -> Watcher:
        """Start a watch; an event already in history at/after ``index`` is queued at once.

        A watcher served from history is not registered (as in etcd, even a stream watch then
        receives only that one event).

        Raises:
            V2Error: 401 when ``index`` is older than the history window (index = store index).
        """
        try:
            event = self.history.scan(key, recursive, index)
        except V2Error as err:
            err.index = store_index
            raise
        if event is not None:
            w = Watcher(key, recursive, stream, index, store_index)
            w.event_queue.append(structs.replace(event, etcd_index=store_index))
            return w
        w = Watcher(key, recursive, stream, index, store_index, self._unregister)
        self._watchers.setdefault(key, {})[w] = None
        self.count += 1
        return w

    def _unregister(self, w: Watcher) -> None:
        group = self._watchers.get(w.key)
        if group is not None and group.pop(w, 0) is None:
            self.count -= 1
            if not group:
                del self._watchers[w.key]

    def clear_watchers(self) -> None:
        """End every live watch (their queued events stay readable), as after a recovery.

        A store replaced by a snapshot skipped the events between the old state and the
        snapshot; a live watcher kept across that jump would silently miss them. Ending the
        watch (etcd 2's "watcher is cleared due to etcd recovery") makes the client re-watch
        from its last index: it then gets the events from history, or a 401 telling it to
        re-read, never a gap.
        """
        watchers = [w for group in self._watchers.values() for w in group]
        for w in watchers:
            w._drop()
            if w.on_event is not None:
                w.on_event()

    def add(self, event: Event) -> None:
        """Record ``event`` in history without offering it to watchers (refresh events)."""
        self.history.add(event)

    def notify(self, event: Event) -> None:
        """Record ``event`` and offer it to the watchers on its key and every ancestor."""
        self.history.add(event)
        key = event.node.key
        curr = "/"
        for segment in key.split("/"):
            if segment:
                curr = curr + segment if curr == "/" else curr + "/" + segment
            self.notify_watchers(event, curr, False)

    def notify_watchers(self, event: Event, node_path: str, deleted: bool) -> None:
        """Offer ``event`` to the watchers registered at ``node_path``.

        Args:
            event: the event.
            node_path: the registration key to notify.
            deleted: ``node_path`` itself was removed by the event (forces delivery).
        """
        group = self._watchers.get(node_path)
        if not group:
            return
        key = event.node.key
        original = key == node_path
        if not original and is_hidden(node_path, key):
            return
        for w in list(group):
            if w.notify(event, original, deleted) and not w.stream:
                w._drop()  # a one-shot watch is done after its event
