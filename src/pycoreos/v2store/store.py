"""The etcd v2 key space: a pure, synchronous port of etcd ``store/store.go``.

The store is a tree of ``Node``s under ``/`` plus one global counter, the etcd index, that
every successful write (set/create/update/CAS/delete/CAD/expire, refreshes included) advances
by exactly one and records as one ``Event`` in the history. Failed operations change nothing
except the stats counters (and, as in etcd, intermediate directories created before a failure
on the final component). Errors are ``V2Error``s carrying the index at the time of the error.

Time is injected: the clock only feeds the ``ttl`` shown in node views. Expiry happens only in
``delete_expired_keys(cutoff)``, which the server calls with the leader's time through Raft, so
every member expires the same keys at the same index.

Namespaces (etcd creates ``/0`` for membership and ``/1`` for user keys) are permanent
directories; writes to them or to ``/`` fail with 107 Root is read only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import msgspec

from pycoreos._clock import Clock
from pycoreos.v2store import node as _node
from pycoreos.v2store._gojson import clean_path, split_path
from pycoreos.v2store.errors import (
    ECODE_KEY_NOT_FOUND,
    ECODE_NODE_EXIST,
    ECODE_NOT_FILE,
    ECODE_ROOT_RONLY,
    ECODE_TEST_FAILED,
    V2Error,
)
from pycoreos.v2store.event import (
    COMPARE_AND_DELETE,
    COMPARE_AND_SWAP,
    CREATE,
    DELETE,
    EXPIRE,
    GET,
    SET,
    UPDATE,
    Event,
    NodeExtern,
)
from pycoreos.v2store.node import Node, find_node, make_dirs
from pycoreos.v2store.snapshot import (
    HistoryRecord,
    StoreState,
    decode_state,
    encode_state,
    node_to_record,
    record_to_node,
)
from pycoreos.v2store.stats import Stats
from pycoreos.v2store.ttl_key_heap import TTLKeyHeap
from pycoreos.v2store.watcher import Watcher
from pycoreos.v2store.watcher_hub import WatcherHub

DEFAULT_VERSION = 2
# 2000-01-01T00:00:00Z: earlier expiry times (e.g. a zero time that went through JavaScript)
# are treated as permanent by create/set, as etcd's internalCreate does.
MIN_EXPIRE_TIME = 946684800.0


@dataclass(frozen=True, slots=True)
class TTLOptionSet:
    """Expiry options of a write.

    Attributes:
        expire_time: absolute expiry time in Unix seconds, or ``None`` for a permanent node.
        refresh: refresh the TTL only: keep the value and do not notify watchers.
    """

    expire_time: float | None = None
    refresh: bool = False


PERMANENT = TTLOptionSet()


def _compare_fail_cause(n: Node, which: int, prev_value: str, prev_index: int) -> str:
    if which == _node.COMPARE_INDEX_NOT_MATCH:
        return f"[{prev_index} != {n.modified_index}]"
    if which == _node.COMPARE_VALUE_NOT_MATCH:
        return f"[{prev_value} != {n.value}]"
    return f"[{prev_value} != {n.value}] [{prev_index} != {n.modified_index}]"


class Store:
    """The v2 key space with its watchers, TTL heap, event history and stats.

    Args:
        clock: source of ``wall()`` time for the ``ttl`` field of node views.
        namespaces: permanent read-only top-level directories to create (``"/0"``, ``"/1"``).
    """

    def __init__(self, clock: Clock, namespaces: Sequence[str] = ()) -> None:
        self._clock = clock
        self._namespaces = tuple(namespaces)
        self._readonly = frozenset((*self._namespaces, "/"))
        self._index = 0
        self._version = DEFAULT_VERSION
        self._root = Node("/", 0, None, None, is_dir=True)
        for ns in self._namespaces:
            child = Node(ns, 0, self._root, None, is_dir=True)
            assert self._root.children is not None
            self._root.children[child.name] = child
        self._ttl_heap = TTLKeyHeap()
        self._hub = WatcherHub()
        self.stats = Stats()

    # -- queries -------------------------------------------------------------------------

    def index(self) -> int:
        """The current etcd index (index of the latest write)."""
        return self._index

    def version(self) -> int:
        """The store format version (2)."""
        return self._version

    def has_ttl_keys(self) -> bool:
        """Whether any node has an expiry time (the server then proposes expiry syncs)."""
        return len(self._ttl_heap) != 0

    @property
    def watcher_count(self) -> int:
        """Number of registered watchers."""
        return self._hub.count

    def count_auth_probe(self) -> None:
        """Count the failed ``/2/enabled`` read etcd's v2 auth check makes on every keys request.

        etcd 3.4 looks up whether v2 auth is enabled in the store before serving each keys
        request; the key does not exist, so ``getsFail`` grows by one per request. Clients
        watching ``/v2/stats/store`` see that, so we count it too.
        """
        self.stats.gets_fail += 1

    def json_stats(self) -> bytes:
        """The ``/v2/stats/store`` body, with ``watchers`` refreshed."""
        self.stats.watchers = self._hub.count
        return self.stats.to_json()

    def get(self, node_path: str, recursive: bool = False, sorted: bool = False) -> Event:
        """Read a node: a ``get`` event whose node lists a directory's non-hidden children.

        Child directories carry their own children only when ``recursive``; ``sorted`` orders
        every listing by key. The event's key is ``node_path`` as given.

        Raises:
            V2Error: 100 if missing, 104 if the path crosses a key.
        """
        try:
            n = self._internal_get(node_path)
        except V2Error:
            self.stats.gets_fail += 1
            raise
        self.stats.gets_success += 1
        view = n.get_view(node_path, recursive, sorted, self._clock.wall())
        return Event(action=GET, node=view, etcd_index=self._index)

    # -- writes --------------------------------------------------------------------------

    def create(
        self,
        node_path: str,
        dir: bool,
        value: str,
        unique: bool,
        expire: TTLOptionSet = PERMANENT,
    ) -> Event:
        """Create a key or directory that must not exist (``create`` event).

        With ``unique`` the node is created under ``node_path`` with the name ``%020d`` of the
        next index (in-order keys). Missing parent directories are created.

        Raises:
            V2Error: 105 if it exists, 104 if a parent is a key, 107 on a read-only path.
        """
        try:
            e = self._internal_create(
                node_path, dir, value, unique, False, expire.expire_time, CREATE
            )
        except V2Error:
            self.stats.create_fail += 1
            raise
        self.stats.create_success += 1
        self._hub.notify(e)
        return e

    def set(self, node_path: str, dir: bool, value: str, expire: TTLOptionSet = PERMANENT) -> Event:
        """Create or replace a key (``set`` event; replacing resets ``createdIndex``).

        With ``expire.refresh`` the existing value is kept and watchers are not notified.

        Raises:
            V2Error: 102 if the node is a directory, 104 if a parent is a key, 107 on a
                read-only path, 100 for a refresh of a missing key.
        """
        try:
            e = self._set(node_path, dir, value, expire)
        except V2Error:
            self.stats.sets_fail += 1
            raise
        self.stats.sets_success += 1
        return e

    def _set(self, node_path: str, dir: bool, value: str, expire: TTLOptionSet) -> Event:
        n: Node | None = None
        try:
            n = self._internal_get(node_path)
        except V2Error as err:
            if err.code != ECODE_KEY_NOT_FOUND or expire.refresh:
                raise
        if expire.refresh and n is not None:
            value = n.value
        e = self._internal_create(node_path, dir, value, False, True, expire.expire_time, SET)
        if expire.refresh:
            e = msgspec.structs.replace(e, refresh=True)
        self._publish(e)
        return e

    def update(self, node_path: str, new_value: str, expire: TTLOptionSet = PERMANENT) -> Event:
        """Change an existing node's value and TTL (``update`` event, keeps ``createdIndex``).

        A directory can only have its TTL changed (``new_value`` must be empty); as in etcd its
        stored ``modifiedIndex`` is left as is. A write without an expiry makes the node
        permanent.

        Raises:
            V2Error: 100 if missing, 102 for a value on a directory, 107 on a read-only path.
        """
        try:
            e = self._update(node_path, new_value, expire)
        except V2Error:
            self.stats.update_fail += 1
            raise
        self.stats.update_success += 1
        return e

    def _update(self, node_path: str, new_value: str, expire: TTLOptionSet) -> Event:
        node_path = clean_path("/" + node_path)
        if node_path in self._readonly:
            raise V2Error(ECODE_ROOT_RONLY, "/", self._index)
        next_index = self._index + 1
        n = self._internal_get(node_path)
        if n.is_dir and new_value:
            raise V2Error(ECODE_NOT_FILE, node_path, self._index)
        if expire.refresh:
            new_value = n.value
        now = self._clock.wall()
        prev = n.repr(False, False, now)
        n.write(new_value, next_index)
        n.update_ttl(expire.expire_time, self._ttl_heap)
        expiration, ttl = n.expiration_and_ttl(now)
        e = Event(
            action=UPDATE,
            node=NodeExtern(
                key=node_path,
                value=None if n.is_dir else new_value,
                dir=n.is_dir,
                expiration=expiration,
                ttl=ttl,
                modified_index=next_index,
                created_index=n.created_index,
            ),
            prev_node=prev,
            etcd_index=next_index,
            refresh=expire.refresh,
        )
        self._index = next_index
        self._publish(e)
        return e

    def compare_and_swap(
        self,
        node_path: str,
        prev_value: str,
        prev_index: int,
        value: str,
        expire: TTLOptionSet = PERMANENT,
    ) -> Event:
        """Write ``value`` if the key's value/modifiedIndex match (``compareAndSwap`` event).

        An empty ``prev_value`` or zero ``prev_index`` is not compared.

        Raises:
            V2Error: 101 with cause ``[prev != current]`` (value, index, or both), 100 if
                missing, 102 on a directory, 107 on a read-only path.
        """
        try:
            e = self._compare_and_swap(node_path, prev_value, prev_index, value, expire)
        except V2Error:
            self.stats.compare_and_swap_fail += 1
            raise
        self.stats.compare_and_swap_success += 1
        return e

    def _compare_and_swap(
        self, node_path: str, prev_value: str, prev_index: int, value: str, expire: TTLOptionSet
    ) -> Event:
        node_path = clean_path("/" + node_path)
        if node_path in self._readonly:
            raise V2Error(ECODE_ROOT_RONLY, "/", self._index)
        n = self._internal_get(node_path)
        if n.is_dir:
            raise V2Error(ECODE_NOT_FILE, node_path, self._index)
        ok, which = n.compare(prev_value, prev_index)
        if not ok:
            cause = _compare_fail_cause(n, which, prev_value, prev_index)
            raise V2Error(ECODE_TEST_FAILED, cause, self._index)
        if expire.refresh:
            value = n.value
        self._index += 1
        now = self._clock.wall()
        prev = n.repr(False, False, now)
        n.write(value, self._index)
        n.update_ttl(expire.expire_time, self._ttl_heap)
        expiration, ttl = n.expiration_and_ttl(now)
        e = Event(
            action=COMPARE_AND_SWAP,
            node=NodeExtern(
                key=node_path,
                value=value,
                expiration=expiration,
                ttl=ttl,
                modified_index=self._index,
                created_index=n.created_index,
            ),
            prev_node=prev,
            etcd_index=self._index,
            refresh=expire.refresh,
        )
        self._publish(e)
        return e

    def delete(self, node_path: str, dir: bool = False, recursive: bool = False) -> Event:
        """Delete a key, or a directory with ``dir`` (empty) or ``recursive`` (any).

        Watchers on every removed node are notified, then those on the path and its ancestors.

        Raises:
            V2Error: 100 if missing, 102 for a directory without ``dir``, 108 for a non-empty
                directory without ``recursive``, 107 on a read-only path.
        """
        try:
            e = self._delete(node_path, dir, recursive)
        except V2Error:
            self.stats.delete_fail += 1
            raise
        self.stats.delete_success += 1
        return e

    def _delete(self, node_path: str, dir: bool, recursive: bool) -> Event:
        node_path = clean_path("/" + node_path)
        if node_path in self._readonly:
            raise V2Error(ECODE_ROOT_RONLY, "/", self._index)
        if recursive:
            dir = True
        n = self._internal_get(node_path)
        next_index = self._index + 1
        e = Event(
            action=DELETE,
            node=NodeExtern(
                key=node_path,
                dir=n.is_dir,
                modified_index=next_index,
                created_index=n.created_index,
            ),
            prev_node=n.repr(False, False, self._clock.wall()),
            etcd_index=next_index,
        )
        n.remove(dir, recursive, self._deleted_callback(e), self._ttl_heap, self._index)
        self._index = next_index
        self._hub.notify(e)
        return e

    def compare_and_delete(self, node_path: str, prev_value: str, prev_index: int) -> Event:
        """Delete a key if its value/modifiedIndex match (``compareAndDelete`` event).

        As in etcd there is no read-only check: ``/`` and namespaces fail with 102.

        Raises:
            V2Error: 101 with the compare cause, 100 if missing, 102 on a directory.
        """
        try:
            e = self._compare_and_delete(node_path, prev_value, prev_index)
        except V2Error as err:
            # etcd's deferred counter checks a shadowed ``err``: a failed *comparison* (101)
            # is counted as a success there. Copied so /v2/stats/store moves identically.
            if err.code == ECODE_TEST_FAILED:
                self.stats.compare_and_delete_success += 1
            else:
                self.stats.compare_and_delete_fail += 1
            raise
        self.stats.compare_and_delete_success += 1
        return e

    def _compare_and_delete(self, node_path: str, prev_value: str, prev_index: int) -> Event:
        node_path = clean_path("/" + node_path)
        n = self._internal_get(node_path)
        if n.is_dir:
            raise V2Error(ECODE_NOT_FILE, node_path, self._index)
        ok, which = n.compare(prev_value, prev_index)
        if not ok:
            cause = _compare_fail_cause(n, which, prev_value, prev_index)
            raise V2Error(ECODE_TEST_FAILED, cause, self._index)
        self._index += 1
        e = Event(
            action=COMPARE_AND_DELETE,
            node=NodeExtern(
                key=node_path, modified_index=self._index, created_index=n.created_index
            ),
            prev_node=n.repr(False, False, self._clock.wall()),
            etcd_index=self._index,
        )
        n.remove(False, False, self._deleted_callback(e), self._ttl_heap, self._index)
        self._hub.notify(e)
        return e

    def delete_expired_keys(self, cutoff: float) -> list[Event]:
        """Expire every node whose expiry time is <= ``cutoff``, earliest first.

        Each expiry is an ``expire`` event at a new index (a directory takes its subtree with
        it) and is delivered to watchers like a delete.

        Returns:
            The expire events, in order.
        """
        events: list[Event] = []
        while True:
            n = self._ttl_heap.top()
            if n is None or n.expire_time is None or n.expire_time > cutoff:
                break
            self._index += 1
            e = Event(
                action=EXPIRE,
                node=NodeExtern(
                    key=n.path,
                    dir=n.is_dir,
                    modified_index=self._index,
                    created_index=n.created_index,
                ),
                prev_node=n.repr(False, False, self._clock.wall()),
                etcd_index=self._index,
            )
            self._ttl_heap.pop()
            n.remove(True, True, self._deleted_callback(e), self._ttl_heap, self._index)
            self.stats.expire_count += 1
            self._hub.notify(e)
            events.append(e)
        return events

    # -- watches -------------------------------------------------------------------------

    def watch(
        self, key: str, recursive: bool = False, stream: bool = False, since_index: int = 0
    ) -> Watcher:
        """Watch ``key`` (and its subtree if ``recursive``) from ``since_index``.

        ``since_index`` 0 means the next write. If history holds a matching event at or after
        ``since_index``, the returned watcher already has it queued (with ``etcd_index`` = the
        current index) and is not registered.

        Raises:
            V2Error: 401 if ``since_index`` is older than the 1000-event history, with cause
                ``the requested history has been cleared [<oldest>/<since>]``.
        """
        key = clean_path("/" + key)
        if since_index == 0:
            since_index = self._index + 1
        return self._hub.watch(key, recursive, stream, since_index, self._index)

    # -- internals -----------------------------------------------------------------------

    def _publish(self, e: Event) -> None:
        if e.refresh:
            self._hub.add(e)
        else:
            self._hub.notify(e)

    def _deleted_callback(self, e: Event) -> Callable[[str], None]:
        # Watchers on every removed node get the event (deleted=True forces delivery).
        return lambda path: self._hub.notify_watchers(e, path, True)

    def _internal_get(self, node_path: str) -> Node:
        return find_node(self._root, clean_path("/" + node_path), self._index)

    def _internal_create(
        self,
        node_path: str,
        dir: bool,
        value: str,
        unique: bool,
        replace: bool,
        expire_time: float | None,
        action: str,
    ) -> Event:
        curr_index, next_index = self._index, self._index + 1
        if unique:
            node_path += f"/{next_index:020d}"
        node_path = clean_path("/" + node_path)
        if node_path in self._readonly:
            raise V2Error(ECODE_ROOT_RONLY, "/", curr_index)
        if expire_time is not None and expire_time < MIN_EXPIRE_TIME:
            expire_time = None
        dir_name, node_name = split_path(node_path)
        try:
            d = make_dirs(self._root, dir_name, self._index)
        except V2Error:
            # etcd counts a set failure here whatever the action (a Create is counted twice).
            self.stats.sets_fail += 1
            raise
        assert d.children is not None
        now = self._clock.wall()
        prev: NodeExtern | None = None
        n = d.children.get(node_name)
        if n is not None:
            if not replace:
                raise V2Error(ECODE_NODE_EXIST, node_path, curr_index)
            if n.is_dir:
                raise V2Error(ECODE_NOT_FILE, node_path, curr_index)
            prev = n.repr(False, False, now)
            n.remove(False, False, None, self._ttl_heap, curr_index)
        n = Node(node_path, next_index, d, expire_time, value=value, is_dir=dir)
        d.children[node_name] = n
        expiration, ttl = None, 0
        if expire_time is not None:
            self._ttl_heap.push(n)
            expiration, ttl = n.expiration_and_ttl(now)
        self._index = next_index
        return Event(
            action=action,
            node=NodeExtern(
                key=node_path,
                value=None if dir else value,
                dir=dir,
                expiration=expiration,
                ttl=ttl,
                modified_index=next_index,
                created_index=next_index,
            ),
            prev_node=prev,
            etcd_index=next_index,
        )

    # -- snapshots -----------------------------------------------------------------------

    def save(self) -> bytes:
        """Serialize the tree, index, event history and stats (not watchers).

        Equal stores give identical bytes.
        """
        history = self._hub.history
        state = StoreState(
            version=self._version,
            index=self._index,
            root=node_to_record(self._root),
            history=HistoryRecord(
                capacity=history.capacity,
                start_index=history.start_index,
                last_index=history.last_index,
                events=list(history.events),
            ),
            stats=msgspec.structs.replace(self.stats),
        )
        return encode_state(state)

    def recovery(self, data: bytes) -> None:
        """Replace this store's state with ``data`` from ``save``; live watches are ended.

        Ending them (their queued events are still delivered) keeps the watch guarantee: a
        watcher never skips the events the snapshot jumped over; its client re-watches.

        Nodes already past their expiry time stay until the next ``delete_expired_keys``.

        Raises:
            msgspec.DecodeError, msgspec.ValidationError: ``data`` is not a saved store.
        """
        state = decode_state(data)
        self._version = state.version
        self._index = state.index
        self._root = record_to_node(state.root, None)
        self._ttl_heap = TTLKeyHeap()
        self._requeue_ttl(self._root)
        self._hub.history.load(
            state.history.events, state.history.start_index, state.history.last_index
        )
        self.stats = state.stats
        self._hub.clear_watchers()

    def _requeue_ttl(self, n: Node) -> None:
        if n.children is not None:
            for child in n.children.values():
                self._requeue_ttl(child)
        if n.expire_time is not None:
            self._ttl_heap.push(n)

    def clone(self) -> Store:
        """An independent copy with the same state and namespaces, without watchers."""
        other = Store(self._clock, self._namespaces)
        other.recovery(self.save())
        return other
