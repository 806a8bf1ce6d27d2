"""Segment file naming and selection: ``%016x-%016x.wal`` = (sequence, first index).

A segment named ``(seq, index)`` holds entries with index >= ``index`` (raft may rewrite lower
indexes later, in later segments). Sequence numbers are consecutive from the first kept segment;
a gap means a lost file. Pure functions over names.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "is_valid_sequence",
    "parse_segment_name",
    "search_index",
    "segment_name",
    "segment_names",
]

SUFFIX = ".wal"


def segment_name(seq: int, index: int) -> str:
    """The file name of segment ``seq`` whose first entry has index ``index``."""
    return f"{seq:016x}-{index:016x}{SUFFIX}"


def parse_segment_name(name: str) -> tuple[int, int]:
    """Return ``(seq, index)`` of a segment name.

    Raises:
        ValueError: ``name`` is not a segment name.
    """
    if len(name) != 37 or not name.endswith(SUFFIX) or name[16] != "-":
        raise ValueError(f"bad wal name {name!r}")
    return int(name[:16], 16), int(name[17:33], 16)


def segment_names(names: Iterable[str]) -> list[str]:
    """The valid segment names among ``names``, sorted (by sequence, since names are fixed-width)."""
    out: list[str] = []
    for n in names:
        try:
            parse_segment_name(n)
        except ValueError:
            continue
        out.append(n)
    return sorted(out)


def search_index(names: list[str], index: int) -> int | None:
    """Position of the last segment whose first index is <= ``index`` (None if there is none)."""
    for i in range(len(names) - 1, -1, -1):
        if parse_segment_name(names[i])[1] <= index:
            return i
    return None


def is_valid_sequence(names: list[str]) -> str | None:
    """None if the sequence numbers are consecutive, else the first name that breaks them."""
    prev: int | None = None
    for n in names:
        seq = parse_segment_name(n)[0]
        if prev is not None and seq != prev + 1:
            return n
        prev = seq
    return None
