"""Unit names, escaping and specifiers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycoreos.units.names import SpecifierContext, escape, expand_specifiers, parse_name, unescape


def test_parse_template_and_instance() -> None:
    inst = parse_name("web@8080.service")
    assert (inst.prefix, inst.instance, inst.suffix) == ("web", "8080", "service")
    assert inst.is_instance
    assert inst.template == "web@.service"
    tmpl = parse_name("web@.service")
    assert tmpl.is_template
    assert not tmpl.is_instance
    plain = parse_name("a.target")
    assert plain.instance is None
    assert plain.template is None


@pytest.mark.parametrize("bad", ["", "noext", "a.bogus", "a b.service", "x" * 300 + ".service"])
def test_invalid_names(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_name(bad)


def test_escape_like_systemd_escape() -> None:
    assert escape("/dev/sda") == "-dev-sda"
    assert escape("a b") == "a\\x20b"
    assert escape(".hidden") == "\\x2ehidden"
    assert escape("ü") == "\\xc3\\xbc"
    assert unescape("-dev-sda") == "/dev/sda"


@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="-"), max_size=20))
def test_escape_roundtrips(s: str) -> None:
    assert unescape(escape(s)) == s


def test_specifiers() -> None:
    u = parse_name("my\\x2dapp@a-b.service")
    ctx = SpecifierContext(hostname="h1", machine_id="m" * 32, boot_id="b" * 32)
    got = expand_specifiers("%n %N %p %P %i %I %H %m %b %% %f", u, ctx)
    assert got == (
        "my\\x2dapp@a-b.service my\\x2dapp@a-b my\\x2dapp my-app a-b a/b h1 "
        + "m" * 32
        + " "
        + "b" * 32
        + " % /a/b"
    )


@pytest.mark.parametrize("bad", ["%z", "end%"])
def test_unknown_specifier(bad: str) -> None:
    with pytest.raises(ValueError, match=r"specifier|lone"):
        expand_specifiers(bad, parse_name("a.service"), SpecifierContext())
