"""Store operation counters (etcd ``store/stats.go``), served as ``/v2/stats/store``.

Field order is the JSON order of etcd's ``Stats`` struct. Write counters change on every member
that applies the write; get counters are member-local. ``watchers`` is refreshed from the watcher
hub when the JSON is produced.
"""

from __future__ import annotations

import msgspec


class Stats(msgspec.Struct, rename="camel", kw_only=True):
    """Success/failure counters per store operation, plus expiries and live watchers."""

    gets_success: int = 0
    gets_fail: int = 0
    sets_success: int = 0
    sets_fail: int = 0
    delete_success: int = 0
    delete_fail: int = 0
    update_success: int = 0
    update_fail: int = 0
    create_success: int = 0
    create_fail: int = 0
    compare_and_swap_success: int = 0
    compare_and_swap_fail: int = 0
    compare_and_delete_success: int = 0
    compare_and_delete_fail: int = 0
    expire_count: int = 0
    watchers: int = 0

    def total_reads(self) -> int:
        """Successful plus failed gets."""
        return self.gets_success + self.gets_fail

    def total_transactions(self) -> int:
        """All write operations, successful or not (etcd's ``TotalTranscations``)."""
        return (
            self.sets_success
            + self.sets_fail
            + self.delete_success
            + self.delete_fail
            + self.compare_and_swap_success
            + self.compare_and_swap_fail
            + self.compare_and_delete_success
            + self.compare_and_delete_fail
            + self.update_success
            + self.update_fail
        )

    def to_json(self) -> bytes:
        """``{"getsSuccess":N,...,"watchers":N}`` in etcd's field order."""
        return msgspec.json.encode(self)
