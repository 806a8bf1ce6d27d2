"""The store's internal tree node (etcd ``store/node.go``).

A node is a key (``children is None``, holds ``value``) or a directory (``children`` maps a
child name to its node, in insertion order, which is the unsorted listing order). Invariants:
``node.parent.children[node.name] is node`` while the node is attached; a node has a heap entry
iff it is attached and has an ``expire_time``; ``expire_time is None`` means permanent.
"""

from __future__ import annotations

from collections.abc import Callable

from pycoreos.v2store._gojson import join_path
from pycoreos.v2store.errors import (
    ECODE_DIR_NOT_EMPTY,
    ECODE_KEY_NOT_FOUND,
    ECODE_NOT_DIR,
    ECODE_NOT_FILE,
    V2Error,
)
from pycoreos.v2store.event import NodeExtern, format_expiration, remaining_ttl
from pycoreos.v2store.ttl_key_heap import HeapEntry, TTLKeyHeap

# Results of Node.compare, as etcd's Compare* constants.
COMPARE_MATCH = 0
COMPARE_INDEX_NOT_MATCH = 1
COMPARE_VALUE_NOT_MATCH = 2
COMPARE_NOT_MATCH = 3


class Node:
    """A key or directory in the store tree."""

    __slots__ = (
        "children",
        "created_index",
        "expire_time",
        "heap_entry",
        "modified_index",
        "name",
        "parent",
        "path",
        "value",
    )

    def __init__(
        self,
        path: str,
        created_index: int,
        parent: Node | None,
        expire_time: float | None,
        *,
        value: str = "",
        is_dir: bool = False,
    ) -> None:
        self.path = path
        self.name = path[path.rfind("/") + 1 :]
        self.created_index = created_index
        self.modified_index = created_index
        self.parent = parent
        self.expire_time = expire_time
        self.value = value
        self.children: dict[str, Node] | None = {} if is_dir else None
        self.heap_entry: HeapEntry | None = None

    @property
    def is_dir(self) -> bool:
        return self.children is not None

    @property
    def is_hidden(self) -> bool:
        """A hidden node's name starts with ``_``; listings skip it."""
        return self.name.startswith("_")

    @property
    def is_permanent(self) -> bool:
        return self.expire_time is None

    def write(self, value: str, index: int) -> None:
        """Set a key's value and modified index; a no-op on directories (etcd ignores the error)."""
        if self.children is None:
            self.value = value
            self.modified_index = index

    def expiration_and_ttl(self, now: float) -> tuple[str | None, int]:
        if self.expire_time is None:
            return None, 0
        return format_expiration(self.expire_time), remaining_ttl(self.expire_time, now)

    def repr(self, recursive: bool, sort: bool, now: float) -> NodeExtern:
        """The external view; directories list non-hidden children only when ``recursive``."""
        expiration, ttl = self.expiration_and_ttl(now)
        if self.children is None:
            return NodeExtern(
                key=self.path,
                value=self.value,
                expiration=expiration,
                ttl=ttl,
                modified_index=self.modified_index,
                created_index=self.created_index,
            )
        return NodeExtern(
            key=self.path,
            dir=True,
            expiration=expiration,
            ttl=ttl,
            nodes=self.list_children(recursive, sort, now) if recursive else (),
            modified_index=self.modified_index,
            created_index=self.created_index,
        )

    def get_view(self, key: str, recursive: bool, sort: bool, now: float) -> NodeExtern:
        """The view a ``get`` returns: like ``repr`` but always listing a directory's children."""
        expiration, ttl = self.expiration_and_ttl(now)
        return NodeExtern(
            key=key,
            value=self.value if self.children is None else None,
            dir=self.children is not None,
            expiration=expiration,
            ttl=ttl,
            nodes=() if self.children is None else self.list_children(recursive, sort, now),
            modified_index=self.modified_index,
            created_index=self.created_index,
        )

    def list_children(self, recursive: bool, sort: bool, now: float) -> tuple[NodeExtern, ...]:
        """Views of the non-hidden children, sorted by key if ``sort``."""
        assert self.children is not None
        nodes = [c.repr(recursive, sort, now) for c in self.children.values() if not c.is_hidden]
        if sort:
            nodes.sort(key=_by_key)
        return tuple(nodes)

    def update_ttl(self, expire_time: float | None, heap: TTLKeyHeap) -> None:
        """Set the expiry time, keeping the TTL heap in step (``None`` = permanent)."""
        self.expire_time = expire_time
        if expire_time is None:
            heap.remove(self)
        else:
            heap.push(self)

    def compare(self, prev_value: str, prev_index: int) -> tuple[bool, int]:
        """etcd's ``Compare``: empty ``prev_value`` and zero ``prev_index`` always match."""
        index_match = prev_index == 0 or self.modified_index == prev_index
        value_match = prev_value == "" or self.value == prev_value
        if value_match and index_match:
            return True, COMPARE_MATCH
        if index_match:
            return False, COMPARE_VALUE_NOT_MATCH
        if value_match:
            return False, COMPARE_INDEX_NOT_MATCH
        return False, COMPARE_NOT_MATCH

    def _detach(self) -> bool:
        parent = self.parent
        children = parent.children if parent is not None else None
        if children is not None and children.get(self.name) is self:
            del children[self.name]
            return True
        return False

    def remove(
        self,
        dir: bool,
        recursive: bool,
        callback: Callable[[str], None] | None,
        heap: TTLKeyHeap,
        index: int,
    ) -> None:
        """Detach this node (and its subtree), calling ``callback(path)`` for every removed node.

        Children are removed depth first before their directory, as etcd does.

        Raises:
            V2Error: 102 for a directory without ``dir``; 108 for a non-empty directory
                without ``recursive`` (``index`` is reported in the error).
        """
        if self.children is None:
            self._detach()
            if callback is not None:
                callback(self.path)
            if self.expire_time is not None:
                heap.remove(self)
            return
        if not dir:
            raise V2Error(ECODE_NOT_FILE, self.path, index)
        if self.children and not recursive:
            raise V2Error(ECODE_DIR_NOT_EMPTY, self.path, index)
        for child in list(self.children.values()):
            child.remove(True, True, callback, heap, index)
        if self._detach():
            if callback is not None:
                callback(self.path)
            if self.expire_time is not None:
                heap.remove(self)


def find_node(root: Node, node_path: str, index: int) -> Node:
    """The node at the clean absolute ``node_path`` (etcd's ``internalGet`` walk).

    Raises:
        V2Error: 104 (cause: the key crossed) or 100 (cause: the first missing path).
    """
    curr = root
    for name in node_path.split("/")[1:]:
        if not name:
            break
        children = curr.children
        if children is None:
            raise V2Error(ECODE_NOT_DIR, curr.path, index)
        child = children.get(name)
        if child is None:
            raise V2Error(ECODE_KEY_NOT_FOUND, join_path(curr.path, name), index)
        curr = child
    return curr


def make_dirs(root: Node, dir_name: str, index: int) -> Node:
    """Walk ``dir_name`` creating missing directories at ``index + 1`` (etcd's ``checkDir``).

    Raises:
        V2Error: 104 if a component is a key (cause: that key's path).
    """
    curr = root
    for name in dir_name.split("/")[1:]:
        if not name:
            break
        assert curr.children is not None
        child = curr.children.get(name)
        if child is None:
            child = Node(join_path(curr.path, name), index + 1, curr, None, is_dir=True)
            curr.children[name] = child
        elif child.children is None:
            raise V2Error(ECODE_NOT_DIR, child.path, index)
        curr = child
    return curr


def _by_key(n: NodeExtern) -> str:
    return n.key
