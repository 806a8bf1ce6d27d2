"""Killing a node's whole process tree: through its cgroup, or by freezing the tree."""

from __future__ import annotations

import os
import random
import subprocess
import time
from pathlib import Path

import pytest

from pycoreos.cluster.procs import (
    alive,
    kill_tree,
    make_cgroup,
    proc_start_time,
    remove_cgroup,
    spawn_node,
    wait_gone,
)

pytestmark = pytest.mark.e2e

# A parent with a child, a grandchild that left the session (setsid) and a reparented
# orphan (background subshell whose parent exits): what a node's units look like.
TREE = "setsid sleep {m} & (sleep {m} &) ; sleep {m} & exec sleep {m}"


def _marked(marker: str) -> list[int]:
    out = []
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{e}/cmdline").read_bytes():
                    out.append(int(e))
            except OSError:
                pass
    return out


def _wait_count(marker: str, n: int) -> None:
    deadline = time.monotonic() + 10
    while len(_marked(marker)) < n:
        assert time.monotonic() < deadline, _marked(marker)
        time.sleep(0.02)


def test_start_time_identifies_a_process():
    st = proc_start_time(os.getpid())
    assert st > 0
    assert alive(os.getpid(), st)
    assert not alive(os.getpid(), st + 1)  # a recycled PID is not ours
    assert not alive(0, 0)
    assert proc_start_time(2**22 + 7) == 0


def test_kill_tree_without_cgroup_freezes_then_kills_everything(tmp_path):
    marker = f"3131.{random.Random().randrange(10**6):06d}"
    pid, st = spawn_node(["/bin/sh", "-c", TREE.format(m=marker)], tmp_path / "log", cgroup=None)
    _wait_count(marker, 3)  # the setsid one and the orphan may already be off the tree
    kill_tree(pid, st, None)
    assert wait_gone(pid, st, 5)
    # the orphan of the subshell was re-parented to init: out of reach without a cgroup,
    # which is why nodes run in one; everything still below the node is gone
    leftovers = [p for p in _marked(marker) if p != pid]
    for p in leftovers:
        os.kill(p, 9)
    assert len(leftovers) <= 1


def test_kill_tree_through_the_cgroup_leaves_nothing(tmp_path):
    tag = f"t{os.getpid()}{random.Random().randrange(10**6)}"
    cg = make_cgroup(tag, "node1")
    if cg is None:
        pytest.skip("no writable cgroup v2 hierarchy")
    marker = f"3232.{random.Random().randrange(10**6):06d}"
    try:
        pid, st = spawn_node(["/bin/sh", "-c", TREE.format(m=marker)], tmp_path / "log",
                             cgroup=cg)  # fmt: skip
        _wait_count(marker, 4)
        assert (cg / "cgroup.procs").read_text().split()
        kill_tree(pid, st, cg)
        assert _marked(marker) == []
        assert not cg.exists()
        assert not cg.parent.exists()  # the cluster directory went with its last node
    finally:
        for p in _marked(marker):
            os.kill(p, 9)
        remove_cgroup(cg)


def test_spawned_node_is_detached_and_logs(tmp_path):
    pid, st = spawn_node(["/bin/sh", "-c", "echo hi; exit 3"], tmp_path / "l/log", cgroup=None)
    assert wait_gone(pid, st, 10)
    assert (tmp_path / "l/log").read_text() == "hi\n"
    assert os.getsid(0) != pid  # its own session
    subprocess.run(["true"], check=True)
