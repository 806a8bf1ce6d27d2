"""Golden interaction scripts (style.md §6.5.3): tests/raft/testdata/*.txt.

Regenerate with ``PYCOREOS_REWRITE=1 pytest tests/raft/test_interaction.py`` and review the
diff like code.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pycoreos.testing.datadriven import parse, run_file
from pycoreos.testing.raft_interaction import InteractionEnv

TESTDATA = Path(__file__).parent / "testdata"


@pytest.mark.parametrize("path", sorted(TESTDATA.glob("*.txt")), ids=lambda p: p.stem)
def test_interaction(path: Path):
    env = InteractionEnv()
    run_file(path, env.handle)


def test_parser_handles_args_input_and_double_separator():
    text = (
        "# comment\n"
        "cmd 1 voters=(1, 2, 3) flag=true\n"
        "input line\n"
        "----\n"
        "----\n"
        "a\n\nb\n"
        "----\n"
        "----\n"
        "\n"
        "other\n"
        "----\n"
        "ok\n"
    )
    a, b = parse(text)
    assert a.cmd == "cmd"
    assert a.positional() == ["1"]
    assert a.scan_ints("voters") == [1, 2, 3]
    assert a.scan_bool("flag")
    assert a.input == "input line"
    assert a.expected == "a\n\nb\n"
    assert (b.cmd, b.expected) == ("other", "ok\n")
