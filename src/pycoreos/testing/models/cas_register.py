"""Compare-and-set registers: Jepsen's ``cas-register`` (read, write, cas), one per key.

State: the register's value, ``None`` while absent (the register starts absent).

Rules (knossos ``cas-register``; porcupine's etcd test model):

* read: legal iff it returned the current value; no change.
* write ok: sets the value. A failed write did not take effect.
* cas(from, to) ok: legal iff the value is ``from``; sets ``to``. cas fail: legal iff it is not.
* an UNKNOWN outcome forks: the write/cas may have taken effect or not. An unknown read
  observed nothing and is dropped by :meth:`CasRegisterModel.partition`.

Pure.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from pycoreos.testing.history import UNKNOWN, Operation, Unknown

__all__ = ["CasRegisterModel", "RegisterOp", "RegisterOpKind", "RegisterResult"]


class RegisterOpKind(enum.StrEnum):
    """The three register operations (Jepsen's ``:f``)."""

    READ = "read"
    WRITE = "write"
    CAS = "cas"


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterOp:
    """A register request.

    Attributes:
        kind: read, write or cas.
        value: the written value (write) or the expected one (cas ``from``).
        new: the value a cas sets (``to``).
        key: which register; histories of different keys are checked separately.
    """

    kind: RegisterOpKind
    value: int | None = None
    new: int | None = None
    key: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterResult:
    """A register response: ``ok`` for writes/cas (False = did not take effect); reads: ``value``."""

    ok: bool = True
    value: int | None = None


Value = int | None


class CasRegisterModel:
    """The :class:`~pycoreos.testing.linearizability.Model` of a cas register."""

    def init(self) -> Value:
        """The register starts absent."""
        return None

    def step(
        self, state: Value, input_: RegisterOp, output: RegisterResult | Unknown
    ) -> list[Value]:
        """See the module rules."""
        match input_.kind:
            case RegisterOpKind.READ:
                if output is UNKNOWN or output.value == state:
                    return [state]
                return []
            case RegisterOpKind.WRITE:
                if output is UNKNOWN:
                    return [state, input_.value]
                return [input_.value] if output.ok else [state]
            case RegisterOpKind.CAS:
                matches = state == input_.value
                if output is UNKNOWN:
                    return [state, input_.new] if matches else [state]
                if output.ok:
                    return [input_.new] if matches else []
                return [] if matches else [state]

    def partition(
        self, ops: Sequence[Operation[RegisterOp, RegisterResult]]
    ) -> list[list[Operation[RegisterOp, RegisterResult]]]:
        """One sub-history per key; unknown reads and failed writes (no effect, no observation)
        are dropped."""
        parts: dict[str, list[Operation[RegisterOp, RegisterResult]]] = {}
        for op in ops:
            out = op.output
            if op.input.kind is RegisterOpKind.READ and out is UNKNOWN:
                continue
            if op.input.kind is RegisterOpKind.WRITE and out is not UNKNOWN and not out.ok:
                continue
            parts.setdefault(op.input.key, []).append(op)
        return [parts[k] for k in sorted(parts)]

    def describe_operation(self, input_: RegisterOp, output: RegisterResult | Unknown) -> str:
        """E.g. ``read() -> 3``, ``write(1) -> ok``, ``cas(1, 2) -> fail``."""
        key = f"[{input_.key}]" if input_.key else ""
        if input_.kind is RegisterOpKind.READ:
            got = "unknown" if output is UNKNOWN else _show(output.value)
            return f"read{key}() -> {got}"
        res = "unknown" if output is UNKNOWN else ("ok" if output.ok else "fail")
        if input_.kind is RegisterOpKind.WRITE:
            return f"write{key}({_show(input_.value)}) -> {res}"
        return f"cas{key}({_show(input_.value)}, {_show(input_.new)}) -> {res}"

    def describe_state(self, state: Value) -> str:
        """The value, ``nil`` when absent."""
        return _show(state)


def _show(v: int | None) -> str:
    return "nil" if v is None else str(v)
