"""Benchmark configuration: which workload, against what, how hard and for how long.

Pure code. :class:`BenchConfig` is the frozen, validated form of the command line; the wrk
driver and the compare tool take nothing else. :data:`WORKLOADS` maps each workload name to
the HTTP request shape the Lua script sends, so a new mode (the v3 JSON gateway
``/v3/kv/put``/``/v3/kv/range``, for instance) is one table entry plus, if its key travels
in the body rather than the path, one more Lua script named in its :class:`WorkloadSpec`.

Invariants (checked by :meth:`BenchConfig.validate`):

* exactly one of ``total`` / ``duration`` is set, ``duration`` in whole seconds (wrk's unit);
* ``clients >= 1``, and with ``total`` there are at least as many requests as clients;
* the key space fits in ``key_size`` zero-padded decimal digits;
* ``conns <= clients`` (HTTP/1.1 has no multiplexing, so each client owns a connection and
  ``conns`` is accepted only for etcd flag compatibility).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pycoreos.errors import ConfigError


class Workload(enum.StrEnum):
    """Benchmark modes (the first word after ``pycoreos benchmark``)."""

    V2_PUT = "v2-put"
    V2_GET = "v2-get"
    V2_QUORUM_GET = "v2-quorum-get"


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkloadSpec:
    """How one workload looks on the wire.

    Attributes:
        method: HTTP method.
        prefix: URL path before the key.
        suffix: appended after the key (query string).
        writes: requests carry a ``value=`` form body.
        preload: the key space must exist before the run (reads of missing keys are 404s,
            which wrk counts as errors).
        script: the Lua script (package data in ``pycoreos.bench``) that drives wrk.
    """

    method: str
    prefix: str
    suffix: str = ""
    writes: bool = False
    preload: bool = False
    script: str = "v2.lua"


#: Keys live under one directory so a run never touches anything else in the store.
KEY_DIR = "/v2/keys/pycoreos-bench/"

WORKLOADS: dict[Workload, WorkloadSpec] = {
    Workload.V2_PUT: WorkloadSpec(method="PUT", prefix=KEY_DIR, writes=True),
    Workload.V2_GET: WorkloadSpec(method="GET", prefix=KEY_DIR, preload=True),
    Workload.V2_QUORUM_GET: WorkloadSpec(
        method="GET", prefix=KEY_DIR, suffix="?quorum=true", preload=True
    ),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchConfig:
    """A validated benchmark run.

    Attributes:
        workload: what to send.
        endpoints: client URLs; clients are spread over them round-robin, one wrk process
            per endpoint.
        clients: concurrent clients = open connections, each with one request in flight.
        conns: accepted for etcd flag compatibility (see the module docstring).
        total: stop after this many responses (``None``: run for ``duration``).
        duration: run for this many seconds (``None``: run until ``total``).
        key_size: key length in characters (zero-padded decimal index).
        val_size: value length in bytes.
        key_space_size: keys are drawn from this many distinct keys.
        sequential_keys: walk the key space in order instead of at random.
        threads: wrk threads in total (0: choose, see :func:`pycoreos.bench.wrk.plan`).
        seed: seed of the Lua PRNG (key choice, value bytes).
        timeout: wrk's per-request timeout in seconds; slower responses count as errors.
        max_duration: with ``total``, give up after this many seconds.
    """

    workload: Workload
    endpoints: tuple[str, ...] = ("http://127.0.0.1:2379",)
    clients: int = 1
    conns: int = 1
    total: int | None = None
    duration: int | None = None
    key_size: int = 8
    val_size: int = 8
    key_space_size: int = 1
    sequential_keys: bool = False
    threads: int = 0
    seed: int = 1
    timeout: int = 10
    max_duration: int = 600

    def __post_init__(self) -> None:
        self.validate()

    @property
    def spec(self) -> WorkloadSpec:
        """The wire shape of :attr:`workload`."""
        return WORKLOADS[self.workload]

    def validate(self) -> None:
        """Raise :class:`ConfigError` listing every problem (called on construction)."""
        problems: list[str] = []
        if (self.total is None) == (self.duration is None):
            problems.append("give exactly one of --total and --duration")
        if self.total is not None and self.total < self.clients:
            problems.append(f"--total ({self.total}) must be at least --clients ({self.clients})")
        if self.duration is not None and self.duration < 1:
            problems.append("--duration must be a whole number of seconds >= 1")
        if self.clients < 1:
            problems.append("--clients must be >= 1")
        if not 1 <= self.conns <= max(self.clients, 1):
            problems.append("--conns must be between 1 and --clients")
        if not self.endpoints:
            problems.append("--endpoints is empty")
        problems += [
            f"endpoint {url!r} is not an http(s) URL"
            for url in self.endpoints
            if not url.startswith(("http://", "https://"))
        ]
        if len(self.endpoints) > self.clients:
            problems.append("need at least one client per endpoint")
        if self.key_space_size < 1:
            problems.append("--key-space-size must be >= 1")
        elif len(str(self.key_space_size - 1)) > self.key_size:
            problems.append(
                f"--key-size {self.key_size} is too short for --key-space-size "
                f"{self.key_space_size} (keys are zero-padded decimal)"
            )
        if self.val_size < 0:
            problems.append("--val-size must be >= 0")
        if self.threads < 0:
            problems.append("--threads must be >= 0")
        if self.timeout < 1:
            problems.append("--timeout must be >= 1 second")
        if problems:
            raise ConfigError(problems)
