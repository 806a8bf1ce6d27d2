"""Sequential models for the linearizability checker (:mod:`pycoreos.testing.linearizability`).

* :mod:`.cas_register`: read/write/cas registers (the Jepsen etcd histories), one per key.
"""

from pycoreos.testing.models.cas_register import (
    CasRegisterModel,
    RegisterOp,
    RegisterOpKind,
    RegisterResult,
)

__all__ = [
    "CasRegisterModel",
    "RegisterOp",
    "RegisterOpKind",
    "RegisterResult",
]
