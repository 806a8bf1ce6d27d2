"""Validator entries, messages and line numbers, as coreos-cloudinit's validate tests."""

from __future__ import annotations

import pytest

from pycoreos.cloudinit.parse import validate

H = "#cloud-config\n"


def entries(text: str) -> list[str]:
    return [str(i) for i in validate(text)]


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("", []),
        ("#!/bin/bash\necho hey", []),
        ('{"ignitionVersion":1}', []),
        ('{"ignition":{"version":"2.0.0"}}', []),
        ("{}", ['line 1: error: must be "#cloud-config" or begin with "#!"']),
        (
            "# cloud-config\nhostname: x",
            ['line 1: error: must be "#cloud-config" or begin with "#!"'],
        ),
        ("#cloud-config   \nhostname: x", []),
        # YAML syntax: libyaml's problem text, Go yaml.v1's line arithmetic.
        (H + "\t", ["line 1: error: found character that cannot start any token"]),
        (H + "a:\na", ["line 3: error: could not find expected ':'"]),
        (H + "#hello\na:\na", ["line 4: error: could not find expected ':'"]),
    ],
)
def test_formats_and_syntax(text: str, want: list[str]) -> None:
    assert entries(text) == want


@pytest.mark.parametrize(
    ("body", "want"),
    [
        ("test:", ['line 2: warning: unrecognized key "test"']),
        ("coreos:\n  flannel:\n    bad:", ['line 4: warning: unrecognized key "bad"']),
        ("coreos:\n  flannel:\n    interface: good", []),
        ("hostname: true\nssh_authorized_keys:\n  - key\nusers:\n  - name: good", []),
        ("users: foo", ['line 2: warning: incorrect type for "users" (want []struct)']),
        (
            "users:\n  - name: a\n    inactive: true\n    lock-passwd: true",
            [
                'line 4: warning: unrecognized key "inactive"',
                'line 5: warning: unrecognized key "lock_passwd"',
            ],
        ),
        (
            "coreos:\n  units:\n    - name: a\n      enable: 1",
            ['line 5: warning: incorrect type for "enable" (want bool)'],
        ),
        (
            "coreos:\n  fleet:\n    verbosity: '2'",
            [
                'line 3: warning: deprecated key "fleet" (fleet is no longer shipped in Container Linux)',
                'line 4: warning: incorrect type for "verbosity" (want int)',
            ],
        ),
        (
            "coreos:\n  etcd:\n    proxy: hi",
            [
                'line 3: warning: deprecated key "etcd" (etcd is no longer shipped in Container Linux)',
                'line 4: warning: deprecated key "proxy" (etcd2 options no longer work for etcd)',
            ],
        ),
        (
            "coreos:\n  etcd2:\n    ca-file: /x\n    proxy: bad",
            [
                'line 3: warning: deprecated key "etcd2" (etcd2 is no longer shipped in Container Linux)',
                'line 4: warning: deprecated key "ca_file" (ca_file obsoleted by trusted_ca_file and client_cert_auth)',
                "line 5: error: invalid value bad",
            ],
        ),
        (
            "users:\n  - name: a\n    coreos-ssh-import-github: someone",
            [
                'line 4: warning: deprecated key "coreos_ssh_import_github" (trying to fetch from a '
                "remote endpoint introduces too many intermittent errors)"
            ],
        ),
    ],
)
def test_structure(body: str, want: list[str]) -> None:
    assert entries(H + body) == want


@pytest.mark.parametrize(
    ("body", "want"),
    [
        ("coreos:\n  units:\n    - command: start\n    - name: stop", []),
        ("coreos:\n  units:\n    - command: lol", ["line 4: error: invalid value lol"]),
        ("coreos:\n  update:\n    reboot_strategy: off", []),
        ("coreos:\n  update:\n    reboot-strategy: false", ["line 4: error: invalid value false"]),
        (
            "coreos:\n  update:\n    reboot-strategy: best-effort",
            ["line 4: error: invalid value best-effort"],
        ),
        ("write_files:\n  - permissions: 0744\n  - permissions: '744'\n  - permissions: 744", []),
        ("write_files:\n  - permissions: 0999", ["line 3: error: invalid value 0999"]),
        ("write_files:\n  - permissions: '10644'", ["line 3: error: invalid value 10644"]),
        ("coreos:\n  locksmith:\n    window-start: Thu 04:00\n    window-length: 1h", []),
        (
            "coreos:\n  locksmith:\n    window_start: 25:00\n    window_length: 1 hour",
            ["line 4: error: invalid value 25:00", "line 5: error: invalid value 1 hour"],
        ),
    ],
)
def test_validity(body: str, want: list[str]) -> None:
    assert entries(H + body) == want


@pytest.mark.parametrize(
    ("body", "want"),
    [
        ("write_files:\n  - encoding: base64\n    content: aGVsbG8K", []),
        ("write_files:\n  - content: !!binary aGVsbG8K", []),
        (
            "write_files:\n  - encoding: base64\n    content: !!binary aGVsbG8K",
            ['line 4: error: content cannot be decoded as "base64"'],
        ),
        ("write_files:\n  - encoding: base64\n    content: !!binary YUdWc2JHOEsK", []),
        (
            "write_files:\n  - encoding: gzip\n    content: !!binary H4sIAOC3tVQAA8tIzcnJ5wIAIDA6NgYAAAA=",
            [],
        ),
        (
            "write_files:\n  - encoding: gzip+base64\n    content: H4sIAOC3tVQAA8tIzcnJ5wIAIDA6NgYAAAA=",
            [],
        ),
        (
            "write_files:\n  - encoding: custom\n    content: hello",
            [
                'line 4: error: content cannot be decoded as "custom"',
                "line 3: error: invalid value custom",
            ],
        ),
        ("write_files:\n  - path: /valid\n  - path: /tmp/usr/valid", []),
        (
            "write_files:\n  - path: /usr/invalid",
            ["line 3: error: file cannot be written to a read-only filesystem"],
        ),
        (
            "write-files:\n  - path: /tmp/../usr/invalid",
            ["line 3: error: file cannot be written to a read-only filesystem"],
        ),
        (
            "coreos:\n  write-files:\n    - path: /hyphen",
            [
                'line 3: warning: unrecognized key "write_files"',
                "line 3: info: write_files doesn't belong under coreos",
            ],
        ),
        (
            "coreos:\n  etcd:\n    discovery: https://discovery.etcd.io/0000",
            [
                'line 3: warning: deprecated key "etcd" (etcd is no longer shipped in Container Linux)'
            ],
        ),
        (
            "coreos:\n  etcd:\n    discovery: disco",
            [
                "line 4: warning: discovery URL is not valid",
                'line 3: warning: deprecated key "etcd" (etcd is no longer shipped in Container Linux)',
            ],
        ),
    ],
)
def test_files_and_discovery(body: str, want: list[str]) -> None:
    assert entries(H + body) == want


def test_seed_config_validates_without_entries(seed_config: str) -> None:
    # The original gives no entries for it: "ssh-authorized-keys" normalises to a known key,
    # and the second users[] entry (no name) is structurally fine.
    assert validate(seed_config) == []


def test_issue_carries_column_and_json() -> None:
    (issue,) = validate(H + "coreos:\n  units:\n    - command: lol\n")
    assert (issue.line, issue.column) == (4, 7)
    assert issue.to_json() == {
        "kind": "error",
        "line": 4,
        "message": "invalid value lol",
        "column": 7,
    }


def test_validator_never_raises_on_garbage() -> None:
    import random

    rng = random.Random(8)
    alphabet = "#cloud-config\n :-[]{}!&*|>'\"\t0123abc_"
    for _ in range(300):
        text = H + "".join(rng.choice(alphabet) for _ in range(rng.randrange(60)))
        for issue in validate(text):
            assert issue.line >= 0


def test_exports_match_public_names() -> None:
    import types

    import pycoreos.cloudinit as pkg

    public = {
        n
        for n, v in vars(pkg).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType)
    }
    assert set(pkg.__all__) == public
