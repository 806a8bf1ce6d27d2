"""Datasources: where user-data and metadata come from (``--from-*`` flags).

Each source answers :meth:`Datasource.available`, :meth:`Datasource.fetch_user_data` and
:meth:`Datasource.fetch_metadata`. :func:`select` polls the given sources until one is
available, with the original's exponential backoff (100 ms doubling, capped at 30 s) under
an overall deadline; sources whose availability cannot change are asked once. Time and
sleeping are injected, so tests never wait.

HTTP goes through an injectable ``HttpGet`` (``url -> bytes | None``, ``None`` for 404),
default :func:`http_get` over urllib with retries.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Protocol

from pycoreos.cloudinit.errors import DatasourceError
from pycoreos.cloudinit.plan import Metadata

HttpGet = Callable[[str], "bytes | None"]


class Datasource(Protocol):
    """One place user-data can come from."""

    name: str
    #: False when availability is fixed (a local file): :func:`select` asks only once.
    may_change: bool

    def available(self) -> bool:
        """Whether the source can be read now."""
        ...

    def fetch_user_data(self) -> bytes:
        """The raw user-data (may be gzipped; empty if there is none)."""
        ...

    def fetch_metadata(self) -> Metadata:
        """Hostname, SSH keys and addresses known to the source."""
        ...


def http_get(
    url: str,
    *,
    timeout: float = 10.0,
    retries: int = 3,
    sleep: Callable[[float], None] = time.sleep,
) -> bytes | None:
    """GET ``url``: the body, ``None`` on 404.

    Raises:
        DatasourceError: after ``retries`` failed attempts (connection errors, 5xx).
    """
    delay = 0.1
    last: Exception | None = None
    for attempt in range(retries):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                body: bytes = resp.read()
                return body
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            last = exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = exc
        if attempt + 1 < retries:
            sleep(delay)
            delay *= 2
    raise DatasourceError(f"unable to fetch {url}: {last}")


def select(
    sources: Sequence[Datasource],
    *,
    timeout: float = 300.0,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> Datasource | None:
    """The first source to report available, or ``None`` when none does before ``timeout``."""
    deadline = monotonic() + timeout
    pending = list(sources)
    delay = 0.1
    while pending:
        for src in list(pending):
            try:
                if src.available():
                    return src
            except DatasourceError:
                pass
            if not src.may_change:
                pending.remove(src)
        if not pending or monotonic() + delay > deadline:
            return None
        sleep(delay)
        delay = min(delay * 2, 30.0)
    return None
