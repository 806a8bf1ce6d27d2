"""The Raft peer transport: framed binary streams between members, on the peer URLs.

Public surface: :class:`PeerTransport` (the member wires ``send``/``on_message`` to
``EtcdServer.send_messages``/``receive``), its :class:`TransportOptions`, the per-peer
:class:`PeerState` and :class:`PeerStats`, and the error types. The wire format is in
:mod:`pycoreos.transport.codec`; design notes in ``docs/design/transport.md``.
"""

from __future__ import annotations

from pycoreos.transport.config import TransportOptions
from pycoreos.transport.errors import (
    FrameError,
    HandshakeRejectedError,
    RejectCode,
    TransportError,
)
from pycoreos.transport.peer import PeerState
from pycoreos.transport.stats import PeerStats
from pycoreos.transport.transport import PeerTransport

__all__ = [
    "FrameError",
    "HandshakeRejectedError",
    "PeerState",
    "PeerStats",
    "PeerTransport",
    "RejectCode",
    "TransportError",
    "TransportOptions",
]
