import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycoreos.fleet.errors import ValidationError
from pycoreos.fleet.glob import match
from pycoreos.fleet.unit import (
    FleetUnitFile,
    UnitNameInfo,
    UnitOption,
    default_unit_name,
    parse_multivalue,
    parse_unit_file,
    unit_printf,
    validate_name,
)


def test_serialize_groups_sections_like_go_systemd():
    uf = parse_unit_file("[Unit]\nA=1\n[Service]\nB=2\n[Unit]\nC=3\n")
    assert uf.serialize() == "[Unit]\nA=1\nC=3\n\n[Service]\nB=2\n"
    assert uf.hash == hashlib.sha1(uf.serialize().encode()).digest()
    assert uf.short_hash == uf.hash_hex[:7]


def test_hash_ignores_comments_and_whitespace_but_not_order():
    a = parse_unit_file("# c\n[Unit]\nDescription = x\n\n[Service]\nExecStart=/bin/a\n")
    b = parse_unit_file("[Unit]\nDescription=x\n[Service]\nExecStart=/bin/a\n")
    c = parse_unit_file("[Service]\nExecStart=/bin/a\n[Unit]\nDescription=x\n")
    assert a.hash == b.hash
    assert a.hash != c.hash


def test_parse_error_is_validation_error():
    with pytest.raises(ValidationError, match="unable to parse unit file"):
        parse_unit_file("[Unit\nA=1\n")


@pytest.mark.parametrize(
    ("name", "msg"),
    [
        ("", "unit name cannot be empty"),
        ("foo", 'unit name must contain "."'),
        ("foo.", 'unit name cannot end in "."'),
        ("foo.bar", 'invalid unit type: "bar"'),
        ("fo o.service", "invalid character ' ' in unit name"),
        ("@foo.service", 'unit name cannot start in "@"'),
        ("a" * 300 + ".service", "unit name exceeds maximum length (256)"),
    ],
)
def test_validate_name_messages(name, msg):
    with pytest.raises(ValidationError) as ei:
        validate_name(name)
    assert str(ei.value) == msg


@pytest.mark.parametrize("name", ["foo.service", "foo@.service", "foo@1.socket", "a:b_c-d.timer"])
def test_validate_name_accepts(name):
    validate_name(name)


def test_name_info_and_printf():
    info = UnitNameInfo.parse("web@8080.service")
    assert info is not None
    assert (info.name, info.prefix, info.template, info.instance) == (
        "web@8080",
        "web",
        "web@.service",
        "8080",
    )
    assert info.is_instance
    assert not info.is_template
    assert unit_printf("%n %N %p %i %%", info) == "web@8080.service web@8080 web 8080 %%"
    tmpl = UnitNameInfo.parse("web@.service")
    assert tmpl is not None
    assert tmpl.is_template
    assert UnitNameInfo.parse("noext") is None


def test_default_unit_name():
    assert default_unit_name("foo") == "foo.service"
    assert default_unit_name("foo.socket") == "foo.socket"
    assert default_unit_name("foo.target") == "foo.target.service"  # as fleetctl does


def test_multivalue():
    assert parse_multivalue('"a=b" "c=d"') == ["a=b", "c=d"]
    assert parse_multivalue("a=b c=d") == ["a=b c=d"]
    uf = parse_unit_file('[X-Fleet]\nMachineMetadata="region=us" "disk=ssd"\n')
    assert uf.contents()["X-Fleet"]["MachineMetadata"] == ("region=us", "disk=ssd")


@pytest.mark.parametrize(
    ("pat", "name", "ok"),
    [
        ("foo*", "foo@1.service", True),
        ("foo?.service", "foo1.service", True),
        ("foo?.service", "foo12.service", False),
        ("[a-c]x.service", "bx.service", True),
        ("[^a-c]x.service", "bx.service", False),
        ("[!a-c]x.service", "dx.service", True),
        ("[", "[", False),  # bad pattern matches nothing
        ("*.service", "a/b.service", False),
        ("exact.service", "exact.service", True),
    ],
)
def test_glob_go_semantics(pat, name, ok):
    assert match(pat, name) is ok


_val = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="\\"),
    min_size=1,
    max_size=8,
)
_opt = st.builds(
    UnitOption, st.sampled_from(["Unit", "Service", "X-Fleet", "Install"]),
    st.sampled_from(["A", "B", "ExecStart", "Conflicts"]), _val,
)  # fmt: skip


@given(st.lists(_opt, max_size=12))
def test_serialize_parse_roundtrip_keeps_grouped_order(opts):
    uf = FleetUnitFile.from_options(opts)
    again = parse_unit_file(uf.serialize()) if opts else FleetUnitFile(())
    assert again.serialize() == uf.serialize()
    assert again.hash == uf.hash
