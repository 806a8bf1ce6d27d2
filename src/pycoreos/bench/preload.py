"""Create the key space before a read benchmark.

Reads of missing v2 keys answer 404, which wrk counts as errors, so ``v2-get`` and
``v2-quorum-get`` first PUT every key ``0 .. key_space_size-1`` (same names and value size
as ``v2-put`` writes) on the first endpoint. A few keep-alive connections in threads are
plenty: this is setup, not measurement, and the cluster replicates the keys to every member.
"""

from __future__ import annotations

import http.client
import threading
import urllib.parse

from pycoreos.bench.config import KEY_DIR, BenchConfig
from pycoreos.errors import BrokenError

#: Parallel connections used to preload.
PRELOAD_CONNECTIONS = 8


class PreloadError(BrokenError):
    """The server refused or failed a preload PUT."""


def key_name(index: int, key_size: int) -> str:
    """The key for ``index``: zero-padded decimal, ``key_size`` wide (as ``v2.lua`` makes it)."""
    return f"{index:0{key_size}d}"


def _put_range(url: str, config: BenchConfig, indexes: range, failures: list[str]) -> None:
    parts = urllib.parse.urlsplit(url)
    conn_cls = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = conn_cls(parts.hostname or "127.0.0.1", parts.port, timeout=config.timeout)
    body = urllib.parse.urlencode({"value": "x" * config.val_size})
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    try:
        for i in indexes:
            conn.request("PUT", KEY_DIR + key_name(i, config.key_size), body, headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status not in (200, 201):
                failures.append(f"PUT key {i}: HTTP {resp.status}")
                return
    except OSError as exc:
        failures.append(f"PUT to {url}: {exc}")
    finally:
        conn.close()


def preload(config: BenchConfig) -> None:
    """PUT every key of ``config``'s key space on its first endpoint.

    Raises:
        PreloadError: any PUT failed or was refused.
    """
    url = config.endpoints[0]
    n = config.key_space_size
    workers = min(PRELOAD_CONNECTIONS, n)
    failures: list[str] = []
    threads = [
        threading.Thread(target=_put_range, args=(url, config, range(w, n, workers), failures))
        for w in range(workers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise PreloadError(f"bench: preload failed: {failures[0]}")
