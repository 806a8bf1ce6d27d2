"""Per-peer send statistics, shaped like etcd's v2 ``FollowerStats`` (``/v2/stats/leader``).

Pure bookkeeping, no clock: callers pass measured durations. The arithmetic copies etcd's
``FollowerStats.Succ`` (running mean of x and of x², standard deviation from both) so the
numbers read the same way, including ``minimum`` starting at 2**63 until the first sample.

What counts: ``success`` is one measured round trip (a PONG answering the PING that rides
with a heartbeat batch), ``fail`` is one MsgApp that could not be handed to a connection
(queue full, no connection, connection lost), as etcd counts failed MsgApp posts.
"""

from __future__ import annotations

import math

_NO_SAMPLE_MINIMUM = float(1 << 63)  # etcd: Latency.Minimum = 1 << 63 in NewFollowerStats


class PeerStats:
    """Latency (milliseconds) and success/failure counts for one peer."""

    __slots__ = (
        "_avg_square",
        "average",
        "current",
        "fail",
        "maximum",
        "minimum",
        "stddev",
        "success",
    )

    def __init__(self) -> None:
        self.current = 0.0
        self.average = 0.0
        self._avg_square = 0.0
        self.stddev = 0.0
        self.minimum = _NO_SAMPLE_MINIMUM
        self.maximum = 0.0
        self.success = 0
        self.fail = 0

    def record_success(self, seconds: float) -> None:
        """Add one round trip of ``seconds``."""
        n = self.success
        total = n * self.average
        total_square = n * self._avg_square
        self.success = n + 1
        ms = seconds * 1000.0
        self.current = ms
        self.maximum = max(self.maximum, ms)
        self.minimum = min(self.minimum, ms)
        self.average = (total + ms) / self.success
        self._avg_square = (total_square + ms * ms) / self.success
        # Rounding can make the difference slightly negative when all samples are equal.
        self.stddev = math.sqrt(max(0.0, self._avg_square - self.average * self.average))

    def record_failure(self, n: int = 1) -> None:
        """Count ``n`` messages that could not be sent."""
        self.fail += n

    def as_dict(self) -> dict[str, object]:
        """The JSON shape etcd uses for one follower in ``/v2/stats/leader``."""
        return {
            "latency": {
                "current": self.current,
                "average": self.average,
                "standardDeviation": self.stddev,
                "minimum": self.minimum,
                "maximum": self.maximum,
            },
            "counts": {"fail": self.fail, "success": self.success},
        }
