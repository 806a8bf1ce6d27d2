"""Debian's real ``etcdctl`` (v2 mode) prints the same against the kind under test as against etcd.

Each command runs against the member under test and against the real ``reference`` member, in the
same order and under the same key prefix; stdout, stderr and the exit code are compared after
normalising what legitimately differs: indexes (made relative to the first write of the run),
member ids, URLs, expirations and remaining TTLs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass

import pytest

from pycoreos.testing.procs import REAL_ETCDCTL, Member

pytestmark = [pytest.mark.e2e, pytest.mark.compat]


@dataclass(frozen=True)
class Outcome:
    rc: int
    out: str
    err: str


def etcdctl(member: Member, *args: str, timeout: float = 15) -> Outcome:
    env = {**os.environ, "ETCDCTL_API": "2"}
    proc = subprocess.run(
        [REAL_ETCDCTL, "--endpoints", member.client_url, *args],
        capture_output=True, text=True, env=env, timeout=timeout, check=False,
    )  # fmt: skip
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


def _normalise(text: str, base: int) -> str:
    def rel(m: re.Match[str]) -> str:
        return f"{m[1]}<idx{int(m[2]) - base:+d}>"

    text = re.sub(r"https?://127\.0\.0\.1:\d+", "<url>", text)
    # Member ids print with %x (no leading zeros), so their length varies.
    text = re.sub(r"^[0-9a-f]{1,16}(?=: name=)", "<id>", text, flags=re.M)
    text = re.sub(r"(?<=member )[0-9a-f]{1,16}\b", "<id>", text)
    text = re.sub(r"(Index: |Index\":)(\d+)", rel, text)
    text = re.sub(r"(\[)(\d+)(?=\]\s*$)", rel, text, flags=re.M)  # "Error: ... [index]"
    text = re.sub(r"(cleared \[)(\d+)", rel, text)
    text = re.sub(r"(\[)(\d+)(?= != \d+\])", rel, text)
    text = re.sub(r"(\[<idx[+-]\d+> != )(\d+)(?=\])", rel, text)
    text = re.sub(r"(/)(\d{20})\b", rel, text)
    text = re.sub(r"(TTL: |\"ttl\":)\d+", r"\1<ttl>", text)
    return re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+Z", "<time>", text)


def _commands(p: str, first: int) -> list[tuple[str, ...]]:
    # ``first`` is the modifiedIndex of the run's first write, used by watch --after-index.
    return [
        ("get", f"{p}/a"),
        ("-o", "extended", "get", f"{p}/a"),
        ("-o", "json", "get", f"{p}/a"),
        ("mk", f"{p}/b", "2"),
        ("mk", f"{p}/b", "3"),
        ("mkdir", f"{p}/d"),
        ("mkdir", f"{p}/d"),
        ("set", f"{p}/d/x", "1"),
        ("set", f"{p}/d/_hidden", "h"),
        ("setdir", f"{p}/d2"),
        ("ls", "--sort", p),
        ("ls", "--sort", "-r", p),
        ("ls", "--sort", "-r", "-p", p),
        ("ls", f"{p}/nope"),
        ("update", f"{p}/a", "11"),
        ("update", f"{p}/nope", "1"),
        ("set", "--swap-with-value", "11", f"{p}/a", "12"),
        ("set", "--swap-with-value", "wrong", f"{p}/a", "13"),
        ("set", "--swap-with-index", str(first), f"{p}/a", "14"),
        ("set", "--swap-with-index", str(first + 7), f"{p}/a", "15"),
        ("set", "--ttl", "100", f"{p}/t", "v"),
        ("-o", "extended", "get", f"{p}/t"),
        ("updatedir", "--ttl", "100", f"{p}/d2"),
        ("get", f"{p}/d"),
        ("rm", f"{p}/d"),
        ("rmdir", f"{p}/d"),
        ("rm", "-r", f"{p}/d"),
        ("rmdir", f"{p}/d2"),
        ("rm", f"{p}/b"),
        ("rm", f"{p}/b"),
        ("rm", "--with-value", "wrong", f"{p}/a"),
        ("watch", "--after-index", str(first - 1), f"{p}/a"),
        ("watch", "--after-index", str(first), "-r", p),
        ("member", "list"),
        ("cluster-health",),
        ("get", "/"),
        ("set", "/", "x"),
    ]


def _run(member: Member, prefix: str) -> list[tuple[tuple[str, ...], Outcome, str]]:
    first_write = etcdctl(member, "-o", "json", "set", f"{prefix}/a", "1")
    assert first_write.rc == 0, first_write
    base = json.loads(first_write.out)["node"]["modifiedIndex"]
    results: list[tuple[tuple[str, ...], Outcome, str]] = [
        (("set", "a"), first_write, _normalise(first_write.out, base))
    ]
    for args in _commands(prefix, base):
        got = etcdctl(member, *args)
        results.append((args, got, _normalise(f"rc={got.rc}\n{got.out}\n{got.err}", base)))
    return results


def test_etcdctl_prints_the_same(member: Member, reference: Member, kind: str) -> None:
    prefix = f"/ctl-{kind}"
    real = _run(reference, prefix)
    ours = _run(member, prefix)
    diffs = [
        f"$ etcdctl {' '.join(args)}\n--- real\n{r}\n--- {kind}\n{o}"
        for (args, _, r), (_, _, o) in zip(real, ours, strict=True)
        if r != o
    ]
    assert not diffs, "\n\n".join(diffs)
    # The reference run itself did what the commands mean (the comparison is not vacuous).
    by_cmd = {" ".join(args): out for args, out, _ in real}
    assert by_cmd[f"get {prefix}/a"].out == "1\n"
    assert by_cmd[f"mk {prefix}/b 3"].rc != 0
    assert "Key already exists" in by_cmd[f"mk {prefix}/b 3"].err
    assert (
        by_cmd[
            f"watch --after-index {int(json.loads(real[0][1].out)['node']['modifiedIndex']) - 1} {prefix}/a"
        ].out
        == "1\n"
    )
    assert "cluster is healthy" in by_cmd["cluster-health"].out
