"""Transport errors: the peer transport's subtree of :class:`pycoreos.errors.StackError`.

Split as h11 does: everything here describes a failure caused by the *other* side (garbage
bytes, a rejected handshake), so all of it derives from :class:`BrokenError`. Our own misuse
(encoding a negative term, adding a peer with a bad URL) raises ``ValueError`` or
:class:`pycoreos.errors.ConfigError` instead.
"""

from __future__ import annotations

from enum import IntEnum

from pycoreos.errors import BrokenError


class TransportError(BrokenError):
    """Root of the peer transport's errors."""


class FrameError(TransportError):
    """The bytes received are not a valid frame or message (garbage, truncation, too large)."""


class RejectCode(IntEnum):
    """Why the receiving member refused a stream handshake (etcd's HTTP status in comments)."""

    CLUSTER_ID_MISMATCH = 1  # 412 "cluster ID mismatch"
    TO_MISMATCH = 2  # 412 "to field mismatch"
    MEMBER_REMOVED = 3  # 410 "removed member"
    BAD_HANDSHAKE = 4  # 400


class HandshakeRejectedError(TransportError):
    """The remote member refused our stream; ``code`` says why, ``reason`` is its text."""

    def __init__(self, code: RejectCode, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"rafthttp: peer rejected stream ({code.name}): {reason}")


# etcd's errMemberRemoved, reported when a peer answers 410 Gone to our stream.
MEMBER_REMOVED_MESSAGE = "the member has been permanently removed from the cluster"
