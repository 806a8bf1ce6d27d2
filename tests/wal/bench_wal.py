"""Micro-benchmark of WAL.save on the real disk: the group-commit ceiling (not a test).

Usage::

    .venv/bin/python tests/wal/bench_wal.py [--dir DIR] [--seconds S] [--size BYTES]

Prints saves/s and entries/s for 1-entry and 64-entry batches with fsync (what an etcd member
can acknowledge), and the same without fsync (the encoding cost alone).
"""

from __future__ import annotations

import argparse
import tempfile
import time

from pycoreos.raft.types import Entry, HardState
from pycoreos.storage import RealDisk
from pycoreos.wal import WAL


def run(dirpath: str, batch: int, sync: bool, seconds: float, size: int) -> tuple[float, float]:
    w = WAL.create(RealDisk(), dirpath, b"bench")
    payload = b"v" * size
    index = 0
    saves = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        ents = [Entry(1, index + i + 1, data=payload) for i in range(batch)]
        index += batch
        w.save(HardState(1, 1, index), ents, sync=sync)
        saves += 1
    elapsed = time.perf_counter() - start
    w.close()
    return saves / elapsed, saves * batch / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=None, help="parent directory (default: a temp dir)")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--size", type=int, default=256, help="entry payload bytes")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as root:
        print(f"WAL.save on {root}, {args.size}-byte entries, {args.seconds:.1f}s each")
        print(f"{'batch':>6} {'fsync':>6} {'saves/s':>10} {'entries/s':>11}")
        for n, (batch, sync) in enumerate([(1, True), (64, True), (1, False), (64, False)]):
            saves, entries = run(f"{root}/wal{n}", batch, sync, args.seconds, args.size)
            print(f"{batch:>6} {sync!s:>6} {saves:>10.0f} {entries:>11.0f}")


if __name__ == "__main__":
    main()
