"""A v3-style key/value store with revisions: put, get, delete and txn, checked as a whole.

The store revision is global (every write transaction bumps it by one), so this model is NOT
partitioned per key: one history is one partition, as in etcd's robustness model. That keeps
the checks exact: the header revision of every answer, each key's mod/create revision and
version.

Semantics (etcd mvcc, simplified: no leases, ranges, compaction or watches):

* the store starts empty at revision 1;
* a request is a transaction: if every :class:`Compare` holds, run ``success`` else ``failure``,
  in order, each op seeing the writes before it;
* the revision goes up by one if the transaction changed anything (a put always does, a delete
  only when the key existed); every write in it is stamped with that revision;
* the answer's ``revision`` is the store revision after the request (the response header).

Unknown outcomes fork into "applied" and "not applied" (etcd's ``NonDeterministicModel``); a
known answer must equal the deterministic one exactly. Map definite failures of a read-only
request to "drop it" and ambiguous failures of writes to UNKNOWN before checking.

Pure.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from pycoreos.testing.history import UNKNOWN, Operation, Unknown

__all__ = [
    "Compare",
    "CompareTarget",
    "KeyValue",
    "KvOp",
    "KvOpKind",
    "KvRequest",
    "KvResponse",
    "KvResult",
    "KvRevisionsModel",
    "KvState",
    "apply",
]


class KvOpKind(enum.StrEnum):
    """Operations inside a transaction."""

    GET = "get"
    PUT = "put"
    DELETE = "delete"


class CompareTarget(enum.StrEnum):
    """What a :class:`Compare` looks at (etcd ``Compare.target``)."""

    VALUE = "value"
    MOD = "mod"
    CREATE = "create"
    VERSION = "version"


@dataclass(frozen=True, slots=True)
class KvOp:
    """One op of a transaction; ``value`` only for put."""

    kind: KvOpKind
    key: str
    value: str | None = None


@dataclass(frozen=True, slots=True)
class Compare:
    """``target(key) == expected``; an absent key has value None and revisions/version 0."""

    key: str
    target: CompareTarget
    expected: str | int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class KvRequest:
    """A transaction. Use :meth:`put`, :meth:`get`, :meth:`delete` for single ops."""

    compares: tuple[Compare, ...] = ()
    success: tuple[KvOp, ...] = ()
    failure: tuple[KvOp, ...] = ()

    @staticmethod
    def put(key: str, value: str) -> KvRequest:
        """A plain put."""
        return KvRequest(success=(KvOp(KvOpKind.PUT, key, value),))

    @staticmethod
    def get(key: str) -> KvRequest:
        """A plain (linearizable) get."""
        return KvRequest(success=(KvOp(KvOpKind.GET, key),))

    @staticmethod
    def delete(key: str) -> KvRequest:
        """A plain delete."""
        return KvRequest(success=(KvOp(KvOpKind.DELETE, key),))

    @property
    def read_only(self) -> bool:
        """True when no branch writes."""
        return all(op.kind is KvOpKind.GET for op in (*self.success, *self.failure))


@dataclass(frozen=True, slots=True)
class KvResult:
    """Result of one op: get -> value (None if absent) and mod_revision (0 if absent);
    put -> nothing; delete -> ``deleted`` count."""

    value: str | None = None
    mod_revision: int = 0
    deleted: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class KvResponse:
    """The answer: header revision, whether the compares held, one result per op run."""

    revision: int
    succeeded: bool = True
    results: tuple[KvResult, ...] = ()


@dataclass(frozen=True, slots=True)
class KeyValue:
    """A live key's record."""

    value: str
    create_revision: int
    mod_revision: int
    version: int


@dataclass(frozen=True, slots=True)
class KvState:
    """Store revision and the live keys, sorted by key (hashable)."""

    revision: int = 1
    kvs: tuple[tuple[str, KeyValue], ...] = ()


def _compare(kvs: dict[str, KeyValue], c: Compare) -> bool:
    kv = kvs.get(c.key)
    match c.target:
        case CompareTarget.VALUE:
            actual: str | int | None = None if kv is None else kv.value
        case CompareTarget.MOD:
            actual = 0 if kv is None else kv.mod_revision
        case CompareTarget.CREATE:
            actual = 0 if kv is None else kv.create_revision
        case CompareTarget.VERSION:
            actual = 0 if kv is None else kv.version
    return actual == c.expected


def apply(state: KvState, request: KvRequest) -> tuple[KvState, KvResponse]:
    """The deterministic step: the state after ``request`` and the answer it gets."""
    kvs = dict(state.kvs)
    succeeded = all(_compare(kvs, c) for c in request.compares)
    rev = state.revision + 1  # the stamp for writes, used only if something changes
    changed = False
    results: list[KvResult] = []
    for op in request.success if succeeded else request.failure:
        kv = kvs.get(op.key)
        match op.kind:
            case KvOpKind.GET:
                results.append(KvResult() if kv is None else KvResult(kv.value, kv.mod_revision))
            case KvOpKind.PUT:
                value = "" if op.value is None else op.value
                if kv is None:
                    kvs[op.key] = KeyValue(value, rev, rev, 1)
                else:
                    kvs[op.key] = KeyValue(value, kv.create_revision, rev, kv.version + 1)
                changed = True
                results.append(KvResult())
            case KvOpKind.DELETE:
                if kv is not None:
                    del kvs[op.key]
                    changed = True
                results.append(KvResult(deleted=0 if kv is None else 1))
    if not changed:
        return state, KvResponse(
            revision=state.revision, succeeded=succeeded, results=tuple(results)
        )
    new = KvState(rev, tuple(sorted(kvs.items())))
    return new, KvResponse(revision=rev, succeeded=succeeded, results=tuple(results))


class KvRevisionsModel:
    """The :class:`~pycoreos.testing.linearizability.Model` of the v3-style store."""

    def init(self) -> KvState:
        """Empty, at revision 1."""
        return KvState()

    def step(
        self, state: KvState, input_: KvRequest, output: KvResponse | Unknown
    ) -> list[KvState]:
        """Fork on unknown outcomes; otherwise the answer must match exactly."""
        new, response = apply(state, input_)
        if output is UNKNOWN:
            return [state] if new == state else [state, new]
        return [new] if response == output else []

    def partition(
        self, ops: Sequence[Operation[KvRequest, KvResponse]]
    ) -> list[list[Operation[KvRequest, KvResponse]]]:
        """A single partition (the revision is global); unknown read-only requests dropped."""
        kept = [op for op in ops if not (op.output is UNKNOWN and op.input.read_only)]
        return [kept] if kept else []

    def describe_operation(self, input_: KvRequest, output: KvResponse | Unknown) -> str:
        """E.g. ``put(a, '1') -> rev 2`` or ``txn(mod(a)==2 ? put(a, '3') : get(a)) -> ...``."""

        def ops(seq: tuple[KvOp, ...]) -> str:
            return ", ".join(
                f"{o.kind.value}({o.key}" + ("" if o.value is None else f", {o.value!r}") + ")"
                for o in seq
            )

        if input_.compares or input_.failure:
            conds = " && ".join(
                f"{c.target.value}({c.key})=={c.expected!r}" for c in input_.compares
            )
            req = f"txn({conds} ? {ops(input_.success)} : {ops(input_.failure)})"
        else:
            req = ops(input_.success)
        if output is UNKNOWN:
            return f"{req} -> unknown"
        branch = input_.success if output.succeeded else input_.failure
        res = ", ".join(
            _describe_result(o, r) for o, r in zip(branch, output.results, strict=False)
        )
        ok = "" if output.succeeded else " (failure branch)"
        return f"{req} -> rev {output.revision}{ok}" + (f" [{res}]" if res else "")

    def describe_state(self, state: KvState) -> str:
        """E.g. ``rev 3 {a='1'@2, b='x'@3}``."""
        items = ", ".join(f"{k}={kv.value!r}@{kv.mod_revision}" for k, kv in state.kvs)
        return f"rev {state.revision} {{{items}}}"


def _describe_result(op: KvOp, r: KvResult) -> str:
    match op.kind:
        case KvOpKind.GET:
            return "nil" if r.value is None else f"{r.value!r}@{r.mod_revision}"
        case KvOpKind.PUT:
            return "ok"
        case KvOpKind.DELETE:
            return f"deleted={r.deleted}"
