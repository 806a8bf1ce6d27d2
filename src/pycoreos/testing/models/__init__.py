"""Sequential models for the linearizability checker (:mod:`pycoreos.testing.linearizability`).

* :mod:`.cas_register`: read/write/cas registers (the Jepsen etcd histories), one per key.
* :mod:`.v2_keyspace`: the etcd v2 key space, per key, with modifiedIndex and error codes.
* :mod:`.kv_revisions`: a v3-style key/value store with revisions (put/get/delete/txn).
"""

from pycoreos.testing.models.cas_register import (
    CasRegisterModel,
    RegisterOp,
    RegisterOpKind,
    RegisterResult,
)
from pycoreos.testing.models.kv_revisions import (
    Compare,
    CompareTarget,
    KeyValue,
    KvOp,
    KvOpKind,
    KvRequest,
    KvResponse,
    KvResult,
    KvRevisionsModel,
    KvState,
)
from pycoreos.testing.models.v2_keyspace import (
    V2KeyspaceModel,
    V2KeyState,
    V2OpKind,
    V2Request,
    V2Response,
)

__all__ = [
    "CasRegisterModel",
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
    "RegisterOp",
    "RegisterOpKind",
    "RegisterResult",
    "V2KeyState",
    "V2KeyspaceModel",
    "V2OpKind",
    "V2Request",
    "V2Response",
]
