"""pycoreos.v2store: the etcd v2 key space as a pure, synchronous core.

``Store`` holds the tree, the etcd index, TTLs, the event history, watchers and stats; the
server's apply loop calls its methods in log order and the HTTP layer encodes the returned
``Event``s with ``encode_event`` and errors with ``V2Error.to_json``. No I/O, no clock reads
except through the injected ``Clock``.
"""

from pycoreos.v2store.errors import CODE_MESSAGES, CODE_TO_HTTP, V2Error
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
    encode_event,
    encode_node,
    format_expiration,
)
from pycoreos.v2store.stats import Stats
from pycoreos.v2store.store import PERMANENT, Store, TTLOptionSet
from pycoreos.v2store.watcher import EVENT_QUEUE_CAPACITY, Watcher

__all__ = [
    "CODE_MESSAGES",
    "CODE_TO_HTTP",
    "COMPARE_AND_DELETE",
    "COMPARE_AND_SWAP",
    "CREATE",
    "DELETE",
    "EVENT_QUEUE_CAPACITY",
    "EXPIRE",
    "GET",
    "PERMANENT",
    "SET",
    "UPDATE",
    "Event",
    "NodeExtern",
    "Stats",
    "Store",
    "TTLOptionSet",
    "V2Error",
    "Watcher",
    "encode_event",
    "encode_node",
    "format_expiration",
]
