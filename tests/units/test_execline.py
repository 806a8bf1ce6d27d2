"""systemd word splitting, exec prefixes, variable expansion, environment files."""

from __future__ import annotations

import pytest

from pycoreos.units.execline import (
    WordError,
    expand_argv,
    parse_environment,
    parse_environment_file,
    parse_exec,
    split_words,
)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a  b\tc", ["a", "b", "c"]),
        ('"a b" c', ["a b", "c"]),
        ("'a \"b' c", ['a "b', "c"]),
        ('a"b c"d', ["ab cd"]),
        (r"a\sb", ["a b"]),
        (r'"x\ty\n" \x41\101\u00e9', ["x\ty\n", "AAé"]),
        ('""', [""]),
        ("", []),
    ],
)
def test_split_words(text: str, words: list[str]) -> None:
    assert split_words(text) == words


@pytest.mark.parametrize("bad", ['"open', "trail\\", r"\q", r"\x4"])
def test_split_errors(bad: str) -> None:
    with pytest.raises(WordError):
        split_words(bad)


def test_prefixes() -> None:
    (c,) = parse_exec("-@/bin/sh mysh -c 'exit 1'")
    assert c.path == "/bin/sh"
    assert c.argv == ("mysh", "-c", "exit 1")
    assert c.ignore_failure
    assert not c.privileged
    (p,) = parse_exec("+:/bin/echo $X")
    assert p.privileged
    assert p.no_env_expand
    assert p.argv == ("/bin/echo", "$X")
    (d,) = parse_exec("!!/bin/true")
    assert d.privileged


@pytest.mark.parametrize("bad", ["--/bin/x", "-", "@/bin/x", "+!/bin/x"])
def test_bad_prefixes(bad: str) -> None:
    with pytest.raises(WordError):
        parse_exec(bad)


def test_semicolon_separates_commands() -> None:
    cmds = parse_exec(r"/bin/a 1 ; /bin/b \; ';'")
    assert [c.argv for c in cmds] == [("/bin/a", "1"), ("/bin/b", ";", ";")]


def test_variable_expansion() -> None:
    (c,) = parse_exec("/bin/echo $A ${A} x${B}y $$A $MISSING ${MISSING}z pre$A")
    env = {"A": "one two", "B": "-"}
    assert expand_argv(c, env) == (
        "/bin/echo", "one", "two", "one two", "x-y", "$A", "z", "pre$A",
    )  # fmt: skip


def test_environment_assignments() -> None:
    assert parse_environment('"A=1 2" B=3 C=') == [("A", "1 2"), ("B", "3"), ("C", "")]
    with pytest.raises(WordError):
        parse_environment("1BAD=x")


def test_environment_file() -> None:
    text = (
        '# comment\n; also\n\nA=plain value  \n  B = "quoted \\"x\\" $y"\n'
        "C='single $z \\n'\nD=cont\\\ninued\nnot an assignment\n1X=bad\nE=\n"
    )
    assert parse_environment_file(text) == [
        ("A", "plain value"),
        ("B", 'quoted "x" $y'),
        ("C", "single $z \\n"),
        ("D", "continued"),
        ("E", ""),
    ]
