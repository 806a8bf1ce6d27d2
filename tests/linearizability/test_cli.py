"""``pycoreos check-history``: output format and exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycoreos.cli import check_history
from pycoreos.cli.main import main as pycoreos_main

GOOD = """\
INFO  jepsen.util - 0\t:invoke\t:write\t1
INFO  jepsen.util - 0\t:ok\t:write\t1
INFO  jepsen.util - 1\t:invoke\t:read\tnil
INFO  jepsen.util - 1\t:ok\t:read\t1
"""

BAD = """\
INFO  jepsen.util - 0\t:invoke\t:write\t1
INFO  jepsen.util - 0\t:ok\t:write\t1
INFO  jepsen.util - 2\t:invoke\t:write\t5
INFO  jepsen.util - 1\t:invoke\t:read\tnil
INFO  jepsen.util - 1\t:ok\t:read\t2
INFO  jepsen.util - 0\t:invoke\t:read\tnil
INFO  jepsen.util - 0\t:ok\t:read\t1
"""

BAD_EXPECTED = """\
not linearizable
shortest failing prefix: 3 operations (5 call/return events) of partition 1/1
  client    call  return  operation
       0       1       2  write(1) -> ok
       2       3     inf  write(5) -> unknown
       1       4       5  read() -> 2
longest linearization found: 2 operations, ending in state 1 | 5
cannot be linearized before it returns:
       1       4       5  read() -> 2
"""


def run(tmp_path: Path, text: str, *extra: str) -> int:
    path = tmp_path / "history.log"
    path.write_text(text)
    return check_history.main(["--model", "cas-register", *extra, str(path)])


def test_linearizable_exits_0(tmp_path, capsys):
    assert run(tmp_path, GOOD) == 0
    assert capsys.readouterr().out == "linearizable\n"


def test_not_linearizable_exits_1_with_the_shortest_failing_prefix(tmp_path, capsys):
    assert run(tmp_path, BAD) == 1
    assert capsys.readouterr().out == BAD_EXPECTED


def test_dispatch_through_the_pycoreos_command(tmp_path, capsys):
    path = tmp_path / "h.log"
    path.write_text(GOOD)
    assert pycoreos_main(["check-history", "--model", "cas-register", str(path)]) == 0
    assert capsys.readouterr().out == "linearizable\n"


def test_timeout_exits_3(tmp_path, capsys):
    lines = [f"INFO  jepsen.util - {c}\t:invoke\t:write\t{c}" for c in range(14)]
    lines += [f"INFO  jepsen.util - {c}\t:ok\t:write\t{c}" for c in range(14)]
    lines += [
        "INFO  jepsen.util - 99\t:invoke\t:read\tnil",
        "INFO  jepsen.util - 99\t:ok\t:read\t1000",
    ]
    assert run(tmp_path, "\n".join(lines), "--timeout", "0") == 3
    captured = capsys.readouterr()
    assert captured.out == "unknown\n"
    assert "timed out" in captured.err


def test_malformed_file_exits_2(tmp_path, capsys):
    assert run(tmp_path, "INFO  jepsen.util - 0 :ok :read 3\n") == 2
    assert "line 1: completion without invocation" in capsys.readouterr().err


def test_missing_file_exits_2(tmp_path, capsys):
    assert check_history.main(["--model", "cas-register", str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err


def test_unknown_model_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit) as exc:
        check_history.main(["--model", "queue", str(tmp_path)])
    assert exc.value.code == 2
