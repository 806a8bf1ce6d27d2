"""Pure pieces of ``pycoreos etcdctl``: Go flag parsing, urfave arg reordering, help rendering,
Go-compatible JSON and output formats. Expected values come from etcd 3.4's etcdctl."""

from __future__ import annotations

import io

import pytest

from pycoreos.cli.etcdctl import COMMANDS, app_help, command_help, run
from pycoreos.cli.etcdctl_flags import (
    FlagSpec,
    UsageError,
    format_duration,
    parse_duration,
    parse_flags,
    reorder_args,
)
from pycoreos.cli.etcdctl_keys import _split_exec_args
from pycoreos.cli.etcdctl_members import validate_urls
from pycoreos.cli.etcdctl_output import go_json_str, go_quote, go_response_json, print_response_key
from pycoreos.client.v2 import Node, Response

SET_FLAGS = (
    FlagSpec(("ttl",), "int", "ttl", 0),
    FlagSpec(("swap-with-value",), "string", "pv", ""),
    FlagSpec(("recursive", "r"), "bool", "rec"),
)


def parse(args: list[str]) -> tuple[dict[str, object], list[str]]:
    values, rest = parse_flags(SET_FLAGS, reorder_args(SET_FLAGS, args))
    return dict(values), rest


@pytest.mark.parametrize(
    ("args", "ttl", "rest"),
    [
        (["/k", "v"], 0, ["/k", "v"]),
        (["--ttl", "5", "/k", "v"], 5, ["/k", "v"]),
        (["/k", "--ttl", "5", "v"], 5, ["/k", "v"]),  # flags may follow arguments
        (["-ttl=0x10", "/k", "v"], 16, ["/k", "v"]),  # Go base prefixes
        (["--ttl", "010", "/k"], 8, ["/k"]),  # a leading 0 is octal in Go
        (["/k", "--", "-dash"], 0, ["/k", "-dash"]),  # "--" moves in front and is consumed
        (["--ttl", "5", "/k", "--", "--", "x"], 5, ["/k", "--", "x"]),
        (["-r", "/dir", "--", "sh", "-c", "x"], 0, ["/dir", "--", "sh", "-c", "x"]),
    ],
)
def test_go_flag_semantics(args: list[str], ttl: int, rest: list[str]) -> None:
    values, got_rest = parse(args)
    assert (values["ttl"], got_rest) == (ttl, rest)


def test_a_value_may_start_with_a_dash_unless_it_is_a_flag() -> None:
    values, rest = parse(["--swap-with-value", "-old", "/k", "v"])
    assert (values["swap-with-value"], rest) == ("-old", ["/k", "v"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus", "/k"], "flag provided but not defined: -bogus"),
        (["--ttl", "abc", "/k"], 'invalid value "abc" for flag -ttl: parse error'),
        (["--ttl"], "flag needs an argument: -ttl"),
        (["-r=maybe", "/k"], 'invalid boolean value "maybe" for -r: parse error'),
        (["---x"], "bad flag syntax: ---x"),
    ],
)
def test_go_flag_errors(args: list[str], message: str) -> None:
    with pytest.raises(UsageError) as ei:
        parse(args)
    assert str(ei.value) == message


def test_durations_parse_and_print_like_go() -> None:
    assert parse_duration("1m30s") == 90.0
    assert parse_duration("500ms") == 0.5
    assert parse_duration("1.5h") == 5400.0
    assert parse_duration("0") == 0.0
    for bad in ("", "5", "1x", "s"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert [format_duration(x) for x in (2.0, 5.0, 90.0, 0.25, 3600.0)] == [
        "2s",
        "5s",
        "1m30s",
        "250ms",
        "1h0m0s",
    ]


def test_exec_watch_argument_split() -> None:
    assert _split_exec_args(["/k", "--", "sh", "-c", "x"]) == ("/k", ["sh", "-c", "x"])
    # Without "--" left in place, etcdctl takes the *last* argument as the key.
    assert _split_exec_args(["sh", "-c", "x", "/k"]) == ("/k", ["sh", "-c", "x"])


def test_command_help_matches_etcdctl_layout() -> None:
    rm = next(c for c in COMMANDS if c.name == "rm")
    assert command_help(rm) == (
        "NAME:\n   etcdctl rm - remove a key or a directory\n\n"
        "USAGE:\n   etcdctl rm [command options] <key>\n\n"
        "OPTIONS:\n"
        "   --dir               removes the key if it is an empty directory or a key-value pair\n"
        "   --recursive, -r     removes the key and all child keys(if it is a directory)\n"
        "   --with-value value  previous value\n"
        "   --with-index value  previous index (default: 0)\n"
        "   \n"
    )
    rmdir = next(c for c in COMMANDS if c.name == "rmdir")
    assert command_help(rmdir).endswith("USAGE:\n   etcdctl rmdir <key>\n")
    assert (
        "   --output simple, -o simple       output response in the given format (simple, "
        '`extended` or `json`) (default: "simple")\n' in app_help()
    )
    assert "   --timeout value                  connection timeout per request (default: 2s)\n" in (
        app_help()
    )


def test_go_json_escaping() -> None:
    s = 'q" b\\ <a>&\b\f\x01\t\n\u2028é'
    assert (
        go_json_str(s) == '"q\\" b\\\\ \\u003ca\\u003e\\u0026\\u0008\\u000c\\u0001\\t\\n\\u2028é"'
    )
    assert go_quote('a "b"\n\x01é') == '"a \\"b\\"\\n\\x01é"'


def test_response_json_field_order_and_omissions() -> None:
    r = Response(
        action="delete",
        node=Node(key="/d", dir=True, created_index=3, modified_index=9),
        prev_node=Node(key="/d", dir=True, created_index=3, modified_index=3,
                       expiration="2030-01-01T00:00:00Z", ttl=7),
        etcd_index=9,
    )  # fmt: skip
    assert go_response_json(r) == (
        '{"action":"delete","node":{"key":"/d","dir":true,"value":"","nodes":null,'
        '"createdIndex":3,"modifiedIndex":9},"prevNode":{"key":"/d","dir":true,"value":"",'
        '"nodes":null,"createdIndex":3,"modifiedIndex":3,"expiration":"2030-01-01T00:00:00Z",'
        '"ttl":7}}'
    )


@pytest.mark.parametrize(
    ("fmt", "action", "expected"),
    [
        ("simple", "set", "v\n"),
        ("simple", "delete", "PrevNode.Value: old\n"),
        ("simple", "compareAndDelete", "\n"),  # etcdctl prints node.value, empty for deletes
        ("extended", "set",
         "Key: /k\nCreated-Index: 4\nModified-Index: 5\nPrevNode.Value: old\nTTL: 9\nIndex: 6\n\nv\n"),
        ("extended", "delete",
         "Key: /k\nCreated-Index: 4\nModified-Index: 5\nPrevNode.Value: old\nTTL: 9\nIndex: 6\n"),
    ],
)  # fmt: skip
def test_print_formats(fmt: str, action: str, expected: str) -> None:
    value = None if "elete" in action else "v"
    r = Response(
        action=action,
        node=Node(key="/k", value=value, created_index=4, modified_index=5, ttl=9),
        prev_node=Node(key="/k", value="old"),
        etcd_index=6,
    )
    out, err = io.StringIO(), io.StringIO()
    print_response_key(r, fmt, out, err)
    assert (out.getvalue(), err.getvalue()) == (expected, "")


def test_validate_peer_urls_like_go_types_new_urls() -> None:
    assert validate_urls([" http://b:2380", "http://a:2380"]) == ["http://a:2380", "http://b:2380"]
    for bad, msg in (
        ("foo", "URL scheme must be http, https, unix, or unixs: foo"),
        ("http://host", 'URL address does not have the form "host:port": http://host'),
        ("http://h:1/p", "URL must not contain a path: http://h:1/p"),
    ):
        with pytest.raises(ValueError) as ei:
            validate_urls([bad])
        assert str(ei.value) == msg


def test_run_without_server_paths() -> None:
    def go(*argv: str, stdin: str = "") -> tuple[str, str, int]:
        out, err = io.StringIO(), io.StringIO()
        rc = run(list(argv), env={}, stdin=io.StringIO(stdin), stdout=out, stderr=err)
        return out.getvalue(), err.getvalue(), rc

    assert go("bogus") == ("", "No help topic for 'bogus'\n", 3)
    assert go("member", "list", "x") == ("", "No arguments accepted\n", 1)
    out, err, rc = go("--endpoints", "127.0.0.1:1", "get", "/k")
    assert (out, rc) == ("", 1)
    assert err == 'parse "127.0.0.1:1": first path segment in URL cannot contain colon\n'
    out, err, rc = go("ls", "-x")
    assert out.startswith("Incorrect Usage: flag provided but not defined: -x\n\nNAME:\n")
    assert (err, rc) == ("flag provided but not defined: -x\n", 1)
