"""v2 key-space errors: ``V2Error`` and etcd's code tables, copied verbatim as data.

Port of etcd-io/etcd ``error/error.go`` (release-2.3) = ``etcdserver/api/v2error/error.go``
(release-3.4). Codes, messages and the HTTP status map are wire contract: keep them byte-exact.
Only the codes listed in ``CODE_TO_HTTP`` map specially; every other code is HTTP 400.
"""

from __future__ import annotations

from typing import Final

import msgspec

from pycoreos.errors import StackError
from pycoreos.v2store._gojson import go_json_escape

# Command related errors.
ECODE_KEY_NOT_FOUND: Final = 100
ECODE_TEST_FAILED: Final = 101
ECODE_NOT_FILE: Final = 102
ECODE_NO_MORE_PEER: Final = 103
ECODE_NOT_DIR: Final = 104
ECODE_NODE_EXIST: Final = 105
ECODE_KEY_IS_PRESERVED: Final = 106
ECODE_ROOT_RONLY: Final = 107
ECODE_DIR_NOT_EMPTY: Final = 108
ECODE_EXISTING_PEER_ADDR: Final = 109
ECODE_UNAUTHORIZED: Final = 110

# Post form related errors.
ECODE_VALUE_REQUIRED: Final = 200
ECODE_PREV_VALUE_REQUIRED: Final = 201
ECODE_TTL_NAN: Final = 202
ECODE_INDEX_NAN: Final = 203
ECODE_VALUE_OR_TTL_REQUIRED: Final = 204
ECODE_TIMEOUT_NAN: Final = 205
ECODE_NAME_REQUIRED: Final = 206
ECODE_INDEX_OR_VALUE_REQUIRED: Final = 207
ECODE_INDEX_VALUE_MUTEX: Final = 208
ECODE_INVALID_FIELD: Final = 209
ECODE_INVALID_FORM: Final = 210
ECODE_REFRESH_VALUE: Final = 211
ECODE_REFRESH_TTL_REQUIRED: Final = 212

# Raft related errors.
ECODE_RAFT_INTERNAL: Final = 300
ECODE_LEADER_ELECT: Final = 301

# etcd related errors.
ECODE_WATCHER_CLEARED: Final = 400
ECODE_EVENT_INDEX_CLEARED: Final = 401
ECODE_STANDBY_INTERNAL: Final = 402
ECODE_INVALID_ACTIVE_SIZE: Final = 403
ECODE_INVALID_REMOVE_DELAY: Final = 404

# Client related errors.
ECODE_CLIENT_INTERNAL: Final = 500

CODE_MESSAGES: Final[dict[int, str]] = {
    ECODE_KEY_NOT_FOUND: "Key not found",
    ECODE_TEST_FAILED: "Compare failed",
    ECODE_NOT_FILE: "Not a file",
    ECODE_NO_MORE_PEER: "Reached the max number of peers in the cluster",
    ECODE_NOT_DIR: "Not a directory",
    ECODE_NODE_EXIST: "Key already exists",
    ECODE_KEY_IS_PRESERVED: "The prefix of given key is a keyword in etcd",
    ECODE_ROOT_RONLY: "Root is read only",
    ECODE_DIR_NOT_EMPTY: "Directory not empty",
    ECODE_EXISTING_PEER_ADDR: "Peer address has existed",
    ECODE_UNAUTHORIZED: "The request requires user authentication",
    ECODE_VALUE_REQUIRED: "Value is Required in POST form",
    ECODE_PREV_VALUE_REQUIRED: "PrevValue is Required in POST form",
    ECODE_TTL_NAN: "The given TTL in POST form is not a number",
    ECODE_INDEX_NAN: "The given index in POST form is not a number",
    ECODE_VALUE_OR_TTL_REQUIRED: "Value or TTL is required in POST form",
    ECODE_TIMEOUT_NAN: "The given timeout in POST form is not a number",
    ECODE_NAME_REQUIRED: "Name is required in POST form",
    ECODE_INDEX_OR_VALUE_REQUIRED: "Index or value is required",
    ECODE_INDEX_VALUE_MUTEX: "Index and value cannot both be specified",
    ECODE_INVALID_FIELD: "Invalid field",
    ECODE_INVALID_FORM: "Invalid POST form",
    ECODE_REFRESH_VALUE: "Value provided on refresh",
    ECODE_REFRESH_TTL_REQUIRED: "A TTL must be provided on refresh",
    ECODE_RAFT_INTERNAL: "Raft Internal Error",
    ECODE_LEADER_ELECT: "During Leader Election",
    ECODE_WATCHER_CLEARED: "watcher is cleared due to etcd recovery",
    ECODE_EVENT_INDEX_CLEARED: "The event in requested index is outdated and cleared",
    ECODE_STANDBY_INTERNAL: "Standby Internal Error",
    ECODE_INVALID_ACTIVE_SIZE: "Invalid active size",
    ECODE_INVALID_REMOVE_DELAY: "Standby remove delay",
    ECODE_CLIENT_INTERNAL: "Client Internal Error",
}

CODE_TO_HTTP: Final[dict[int, int]] = {
    ECODE_KEY_NOT_FOUND: 404,
    ECODE_NOT_FILE: 403,
    ECODE_DIR_NOT_EMPTY: 403,
    ECODE_UNAUTHORIZED: 401,
    ECODE_TEST_FAILED: 412,
    ECODE_NODE_EXIST: 412,
    ECODE_RAFT_INTERNAL: 500,
    ECODE_LEADER_ELECT: 500,
}


class _ErrorBody(msgspec.Struct, omit_defaults=True, rename="camel", kw_only=True):
    # Field order and omitempty follow the Go struct tags: errorCode, message, cause?, index.
    # Only ``cause`` has a default, so only it can be omitted (Go prints index 0).
    error_code: int
    message: str
    cause: str = ""
    index: int


_encoder = msgspec.json.Encoder()


class V2Error(StackError):
    """An etcd v2 key-space error, as the store raises it and the HTTP layer renders it.

    Attributes:
        code: the etcd error code (``ECODE_*``).
        cause: the detail (usually the offending path); may be empty.
        index: the store's etcd index when the error happened (``X-Etcd-Index``).
    """

    def __init__(self, code: int, cause: str = "", index: int = 0) -> None:
        self.code = code
        self.cause = cause
        self.index = index
        super().__init__(f"{self.message} ({cause})")

    @property
    def message(self) -> str:
        """The fixed English text for ``code`` (empty for an unknown code, as in Go)."""
        return CODE_MESSAGES.get(self.code, "")

    @property
    def status_code(self) -> int:
        """The HTTP status for this error: the ``CODE_TO_HTTP`` entry, else 400."""
        return CODE_TO_HTTP.get(self.code, 400)

    def to_json(self, trim_prefix: str = "") -> bytes:
        """Encode as etcd does: ``{"errorCode":N,"message":"...","cause":"...","index":N}``.

        Args:
            trim_prefix: removed from the start of ``cause`` (etcd's ``trimErrorPrefix`` strips
                the ``/1`` key namespace).

        Returns:
            The JSON bytes without a trailing newline (etcd's ``WriteTo`` appends ``"\\n"``).
        """
        cause = self.cause
        if trim_prefix and cause.startswith(trim_prefix):
            cause = cause[len(trim_prefix) :]
        body = _ErrorBody(error_code=self.code, message=self.message, cause=cause, index=self.index)
        return go_json_escape(_encoder.encode(body))
