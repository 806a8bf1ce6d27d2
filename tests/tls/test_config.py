"""TLS and discovery flags become typed config, with clear startup errors and warnings."""

from __future__ import annotations

import pytest

from pycoreos.errors import ConfigError
from pycoreos.server.config import load_config

from .conftest import Pki


def _https_args(pki: Pki) -> list[str]:
    return [
        "--name", "m1",
        "--listen-client-urls", "https://127.0.0.1:1", "--advertise-client-urls",
        "https://127.0.0.1:1", "--listen-peer-urls", "https://127.0.0.1:2",
        "--initial-advertise-peer-urls", "https://127.0.0.1:2",
    ]  # fmt: skip


def test_flags_and_env_fill_both_tls_infos(pki: Pki) -> None:
    cfg = load_config(
        [*_https_args(pki), "--cert-file", pki.f("m1.crt"), "--key-file", pki.f("m1.key"),
         "--client-cert-auth", "--trusted-ca-file", pki.f("ca.crt")],
        {"ETCD_PEER_CERT_FILE": pki.f("m1-peer.crt"), "ETCD_PEER_KEY_FILE": pki.f("m1-peer.key"),
         "ETCD_PEER_CLIENT_CERT_AUTH": "true", "ETCD_PEER_TRUSTED_CA_FILE": pki.f("ca.crt")},
    )  # fmt: skip
    assert cfg.client_tls.cert_file == pki.f("m1.crt")
    assert cfg.client_tls.client_cert_auth
    assert cfg.peer_tls.key_file == pki.f("m1-peer.key")
    assert cfg.peer_tls.client_cert_auth
    assert cfg.warnings == ()


def test_legacy_ca_file_means_trusted_ca_and_client_cert_auth(pki: Pki) -> None:
    cfg = load_config(["--peer-ca-file", pki.f("ca.crt")], {})
    assert cfg.peer_tls.trusted_ca_file == pki.f("ca.crt")
    assert cfg.peer_tls.client_cert_auth


def test_https_without_certificates_refuses_to_start(pki: Pki) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(_https_args(pki), {})
    assert e.value.problems == [
        "TLS key/cert (--cert-file, --key-file) must be provided for client url "
        "https://127.0.0.1:1 with HTTPS scheme",
        "TLS key/cert (--peer-cert-file, --peer-key-file) must be provided for peer url "
        "https://127.0.0.1:2 with HTTPS scheme",
    ]


def test_mismatched_key_and_auto_tls_both_reported(pki: Pki) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(
            [*_https_args(pki), "--cert-file", pki.f("m1.crt"), "--key-file", pki.f("m2.key"),
             "--peer-auto-tls"], {}
        )  # fmt: skip
    assert len(e.value.problems) == 1
    assert "does not match --cert-file" in e.value.problems[0]


def test_insecure_choices_are_warnings(pki: Pki) -> None:
    cfg = load_config(
        ["--listen-client-urls", "http://0.0.0.0:1", "--advertise-client-urls",
         "http://10.0.0.1:1", "--listen-peer-urls", "https://127.0.0.1:2",
         "--peer-auto-tls", "--cert-file", pki.f("m1.crt"), "--key-file", pki.f("m1.key")], {}
    )  # fmt: skip
    assert cfg.warnings == (
        "the scheme of client url http://0.0.0.0:1 is HTTP while client key/cert files are "
        "presented; ignored key/cert files",
        "client url http://0.0.0.0:1 serves plain HTTP on a non-loopback address: traffic is "
        "neither encrypted nor authenticated",
        "--peer-auto-tls: using a self-signed certificate; peer connections are encrypted but "
        "not authenticated",
    )
    assert cfg.peer_tls.auto_tls


def test_plain_http_on_loopback_is_not_warned_about() -> None:
    cfg = load_config(["--listen-client-urls", "http://127.0.0.1:1,http://localhost:3"], {})
    assert cfg.warnings == ()


def test_discovery_replaces_the_initial_cluster() -> None:
    cfg = load_config(
        ["--name", "m2", "--initial-advertise-peer-urls", "http://127.0.0.1:7",
         "--discovery", "http://127.0.0.1:9/abc", "--discovery-fallback", "exit"], {}
    )  # fmt: skip
    assert cfg.discovery == "http://127.0.0.1:9/abc"
    assert cfg.discovery_fallback == "exit"
    assert cfg.initial_cluster == (("m2", "http://127.0.0.1:7"),)
    assert load_config([], {}).discovery_fallback == "proxy"  # etcd's default


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--discovery", "http://d/x", "--initial-cluster", "default=http://localhost:2380"],
         'multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", '
         '"discovery" or "discovery-srv"'),
        (["--discovery-fallback", "retry"], 'invalid value "retry" for flag -discovery-fallback'),
        (["--discovery", "ftp://d/x"], "--discovery: invalid URL 'ftp://d/x'"),
        (["--client-cert-auth=maybe"], "invalid boolean value 'maybe' for -client-cert-auth"),
    ],
)  # fmt: skip
def test_discovery_and_switch_errors(args: list[str], problem: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(args, {})
    assert problem in e.value.problems
