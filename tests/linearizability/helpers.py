"""Builders for hand-made histories."""

from __future__ import annotations

import math

from pycoreos.testing.history import UNKNOWN, Operation, Unknown
from pycoreos.testing.models.cas_register import RegisterOp, RegisterOpKind, RegisterResult

RegOp = Operation[RegisterOp, RegisterResult]


def read(client: int, call: float, ret: float, value: int | None, key: str = "") -> RegOp:
    return Operation(
        client_id=client,
        input=RegisterOp(kind=RegisterOpKind.READ, key=key),
        call=call,
        output=RegisterResult(value=value),
        return_time=ret,
    )


def write(
    client: int, call: float, ret: float, value: int, *, ok: bool | None = True, key: str = ""
) -> RegOp:
    out: RegisterResult | Unknown = UNKNOWN if ok is None else RegisterResult(ok=ok)
    return Operation(
        client_id=client,
        input=RegisterOp(kind=RegisterOpKind.WRITE, value=value, key=key),
        call=call,
        output=out,
        return_time=math.inf if ok is None else ret,
    )


def cas(client: int, call: float, ret: float, old: int, new: int, ok: bool | None) -> RegOp:
    out: RegisterResult | Unknown = UNKNOWN if ok is None else RegisterResult(ok=ok)
    return Operation(
        client_id=client,
        input=RegisterOp(kind=RegisterOpKind.CAS, value=old, new=new),
        call=call,
        output=out,
        return_time=math.inf if ok is None else ret,
    )
