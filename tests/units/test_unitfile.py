"""Unit-file syntax: parsing, errors with locations, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycoreos.units.errors import UnitFileError
from pycoreos.units.unitfile import UnitFile, UnitOption, parse_unit, serialize_unit

SAMPLE = """\
# comment
; another comment
[Unit]
Description=Hello  world
After=a.service
After=b.service

[Service]
ExecStart=/bin/sh -c \\
  # a comment inside the continuation is skipped
  'echo hi'
Environment="A=1 2" B=3
X-Unknown=kept # not a comment
Empty=
"""


def test_parse_keeps_order_repeats_and_unknown_keys() -> None:
    uf = parse_unit(SAMPLE, file="hello.service")
    assert [(o.section, o.name, o.value) for o in uf.options] == [
        ("Unit", "Description", "Hello  world"),
        ("Unit", "After", "a.service"),
        ("Unit", "After", "b.service"),
        ("Service", "ExecStart", "/bin/sh -c  'echo hi'"),
        ("Service", "Environment", '"A=1 2" B=3'),
        ("Service", "X-Unknown", "kept # not a comment"),
        ("Service", "Empty", ""),
    ]
    assert uf.get("Unit", "After") == ["a.service", "b.service"]
    assert uf.options[3].line == 9
    assert uf.options[3].file == "hello.service"


def test_continuation_at_eof_and_escaped_backslash() -> None:
    uf = parse_unit("[S]\nA=x \\\\\nB=y \\")
    assert uf.get("S", "A") == ["x \\\\"]  # even run: not a continuation
    assert uf.get("S", "B") == ["y"]


@pytest.mark.parametrize(
    ("text", "line", "key", "reason"),
    [
        ("[Unit]\nDescription\n", 2, "Description", "missing '='"),
        ("Description=x\n", 1, "Description", "outside of section"),
        ("[Unit\nA=b\n", 1, "", "invalid section header"),
        ("[Unit]\n\n[]\n", 3, "", "invalid section header"),
        ("[Unit]\nbad key=1\n", 2, "", "invalid key"),
    ],
)
def test_syntax_errors_name_file_and_line(text: str, line: int, key: str, reason: str) -> None:
    with pytest.raises(UnitFileError) as ei:
        parse_unit(text, file="/etc/x.service")
    e = ei.value
    assert (e.file, e.line, e.key) == ("/etc/x.service", line, key)
    assert reason in e.reason
    assert str(e).startswith(f"units: /etc/x.service:{line}:")


def test_serialize_groups_sections_and_roundtrips() -> None:
    uf = parse_unit(SAMPLE)
    text = serialize_unit(uf)
    assert text.startswith("[Unit]\nDescription=Hello  world\nAfter=a.service\n")
    assert "\n\n[Service]\nExecStart=" in text
    assert parse_unit(text) == uf


def test_serialize_keeps_interleaved_sections_in_order() -> None:
    opts = (UnitOption("A", "k", "1"), UnitOption("B", "k", "2"), UnitOption("A", "k", "3"))
    assert serialize_unit(opts) == "[A]\nk=1\n\n[B]\nk=2\n\n[A]\nk=3\n"
    assert parse_unit(serialize_unit(opts)).options == opts


def test_serialize_keeps_empty_sections() -> None:
    uf = parse_unit("[Unit]\nA=1\n[Install]\n")
    assert serialize_unit(uf) == "[Unit]\nA=1\n\n[Install]\n"


@pytest.mark.parametrize("value", [" lead", "trail ", "a\nb", "odd\\"])
def test_serialize_refuses_unrepresentable_values(value: str) -> None:
    with pytest.raises(ValueError, match=r"not representable|odd backslash"):
        serialize_unit([UnitOption("S", "k", value)])


_key = st.from_regex(r"[A-Za-z][A-Za-z0-9_\-]{0,8}", fullmatch=True)
_sec = st.sampled_from(["Unit", "Service", "Install", "X-Fleet"])
_val = st.text(
    st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters="\n\r\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029",
    ),
    max_size=20,
).map(lambda s: s.strip().rstrip("\\"))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_sec, _key, _val), max_size=12))
def test_roundtrip_property(items: list[tuple[str, str, str]]) -> None:
    uf = UnitFile(tuple(UnitOption(s, k, v) for s, k, v in items))
    assert parse_unit(serialize_unit(uf)) == uf


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_only_unitfileerror_escapes_the_parser(text: str) -> None:
    err: UnitFileError | None = None
    try:
        parse_unit(text, file="fuzz")
    except UnitFileError as e:
        err = e
    assert err is None or err.file == "fuzz"
