"""The etcd v2 key space, checked per key: values, modifiedIndex and the error codes.

Each key is an independent register (P-compositionality); directories, TTLs and watches are out
of scope. The etcd index is global, so per key we can only check what one key shows:

* every write (set, create, update, CAS, delete, CAD) gets a modifiedIndex greater than the
  key's previous one ("ok with modifiedIndex N");
* a successful get returns the current value and exactly the current modifiedIndex;
* CAS/CAD by ``prevIndex`` compare with the current modifiedIndex, by ``prevValue`` with the
  value;
* errors must be explained by the state: 100 Key not found (get/update/CAS/delete/CAD on an
  absent key), 101 Compare failed (CAS/CAD whose condition is false), 105 Key already exists
  (create on a present key). An error's index (X-Etcd-Index), when given, is at least the key's
  modifiedIndex. Any other error code is illegal: map ambiguous failures (timeouts, 300/301
  raft errors) to UNKNOWN before checking.

State: :class:`V2KeyState` ``(value, index, exact)``. ``value`` is None while the key is absent;
``index`` is the modifiedIndex of the last write (0 = never written). A write with an unknown
outcome that took effect has an index nobody saw: the state then holds only a lower bound
(``exact=False``) which the next observation (a get, a CAS by prevIndex) pins. A later write
with index N is legal iff ``N > index`` in both cases.

Imprecision, on purpose: a 101 against an inexact index does not remember "the index is not
prevIndex". It can only accept more histories, never reject a linearizable one.

Pure.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from pycoreos.testing.history import UNKNOWN, Operation, Unknown

__all__ = ["V2KeyState", "V2KeyspaceModel", "V2OpKind", "V2Request", "V2Response"]

KEY_NOT_FOUND = 100
TEST_FAILED = 101
NODE_EXIST = 105


class V2OpKind(enum.StrEnum):
    """v2 key operations (``PUT``/``GET``/``DELETE`` on ``/v2/keys/<key>`` with options)."""

    GET = "get"
    SET = "set"  # PUT
    CREATE = "create"  # PUT prevExist=false
    UPDATE = "update"  # PUT prevExist=true
    CAS = "cas"  # PUT prevValue and/or prevIndex
    DELETE = "delete"  # DELETE
    CAD = "cad"  # DELETE prevValue and/or prevIndex


@dataclass(frozen=True, slots=True, kw_only=True)
class V2Request:
    """A v2 key request."""

    kind: V2OpKind
    key: str
    value: str | None = None
    prev_value: str | None = None
    prev_index: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class V2Response:
    """A v2 answer.

    Attributes:
        error_code: None on success, else the v2 ``errorCode``.
        value: the node's value (get).
        modified_index: the node's modifiedIndex (get; the write's index for writes/deletes).
        index: the error's ``index`` / X-Etcd-Index, if recorded (errors only).
    """

    error_code: int | None = None
    value: str | None = None
    modified_index: int | None = None
    index: int | None = None


@dataclass(frozen=True, slots=True)
class V2KeyState:
    """One key: value (None = absent), last write index, whether that index is exact."""

    value: str | None = None
    index: int = 0
    exact: bool = True


def _index_options(st: V2KeyState, prev_index: int | None) -> list[tuple[bool, V2KeyState]]:
    """Whether ``prev_index`` matches, per possibility, with the state that possibility implies."""
    if prev_index is None:
        return [(True, st)]
    if st.exact:
        return [(st.index == prev_index, st)]
    if prev_index >= st.index:
        return [(True, V2KeyState(st.value, prev_index, True)), (False, st)]
    return [(False, st)]


def _observe(st: V2KeyState, index: int | None) -> V2KeyState | None:
    """The state after seeing the key's modifiedIndex ``index``; None if impossible."""
    if index is None:
        return st
    if st.exact:
        return st if index == st.index else None
    return V2KeyState(st.value, index, True) if index >= st.index else None


class V2KeyspaceModel:
    """The :class:`~pycoreos.testing.linearizability.Model` of one v2 key (see module doc)."""

    def init(self) -> V2KeyState:
        """Absent, never written."""
        return V2KeyState()

    def step(
        self, state: V2KeyState, input_: V2Request, output: V2Response | Unknown
    ) -> list[V2KeyState]:
        """See the module rules."""
        if input_.kind is V2OpKind.GET:
            return self._get(state, output)
        present = state.value is not None
        # Each option: (condition holds, state it implies). The condition says whether the
        # write applies; new_value is what it writes (None = delete).
        new_value = input_.value
        miss_code = KEY_NOT_FOUND
        match input_.kind:
            case V2OpKind.SET:
                options = [(True, state)]
            case V2OpKind.CREATE:
                options, miss_code = [(not present, state)], NODE_EXIST
            case V2OpKind.UPDATE:
                options = [(present, state)]
            case V2OpKind.DELETE:
                options, new_value = [(present, state)], None
            case V2OpKind.CAS | V2OpKind.CAD:
                if input_.kind is V2OpKind.CAD:
                    new_value = None
                if not present:
                    options = [(False, state)]
                else:
                    pv = input_.prev_value
                    options = [
                        (ok and (pv is None or state.value == pv), st)
                        for ok, st in _index_options(state, input_.prev_index)
                    ]
                    miss_code = TEST_FAILED
        return _write(options, new_value, miss_code, output)

    @staticmethod
    def _get(state: V2KeyState, output: V2Response | Unknown) -> list[V2KeyState]:
        if output is UNKNOWN:
            return [state]
        if output.error_code is None:
            if state.value is None or output.value != state.value:
                return []
            seen = _observe(state, output.modified_index)
            return [] if seen is None else [seen]
        if output.error_code == KEY_NOT_FOUND and state.value is None:
            return [state] if output.index is None or output.index >= state.index else []
        return []

    def partition(
        self, ops: Sequence[Operation[V2Request, V2Response]]
    ) -> list[list[Operation[V2Request, V2Response]]]:
        """One sub-history per key; unknown gets observed nothing and are dropped."""
        parts: dict[str, list[Operation[V2Request, V2Response]]] = {}
        for op in ops:
            if op.input.kind is V2OpKind.GET and op.output is UNKNOWN:
                continue
            parts.setdefault(op.input.key, []).append(op)
        return [parts[k] for k in sorted(parts)]

    def describe_operation(self, input_: V2Request, output: V2Response | Unknown) -> str:
        """E.g. ``cas(/a, 'x', prevIndex=7) -> ok@9`` or ``get(/a) -> 'x'@9``."""
        args = [input_.key]
        if input_.value is not None:
            args.append(repr(input_.value))
        if input_.prev_value is not None:
            args.append(f"prevValue={input_.prev_value!r}")
        if input_.prev_index is not None:
            args.append(f"prevIndex={input_.prev_index}")
        if output is UNKNOWN:
            res = "unknown"
        elif output.error_code is not None:
            res = f"error {output.error_code}" + (
                "" if output.index is None else f"@{output.index}"
            )
        elif input_.kind is V2OpKind.GET:
            res = f"{output.value!r}@{output.modified_index}"
        else:
            res = f"ok@{output.modified_index}"
        return f"{input_.kind.value}({', '.join(args)}) -> {res}"

    def describe_state(self, state: V2KeyState) -> str:
        """E.g. ``'x'@9``, ``absent@12`` or ``'x'@>=10`` for an index not yet seen."""
        shown = "absent" if state.value is None else repr(state.value)
        return f"{shown}@{'' if state.exact else '>='}{state.index}"


def _write(
    options: list[tuple[bool, V2KeyState]],
    new_value: str | None,
    miss_code: int,
    output: V2Response | Unknown,
) -> list[V2KeyState]:
    """Successor states of a (conditional) write given its answer."""
    out: list[V2KeyState] = []
    for applies, st in options:
        if output is UNKNOWN:
            # May not have happened; if it did, its index is only known to be > st.index.
            out.append(st)
            if applies:
                out.append(V2KeyState(new_value, st.index + 1, False))
        elif output.error_code is None:
            n = output.modified_index
            if applies and n is None:  # index not recorded: known only to be newer
                out.append(V2KeyState(new_value, st.index + 1, False))
            elif applies and n is not None and n > st.index:
                out.append(V2KeyState(new_value, n, True))
        elif (
            not applies
            and output.error_code == miss_code
            and (output.index is None or output.index >= st.index)
        ):
            out.append(st)
    return out
