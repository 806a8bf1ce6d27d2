"""Datasources (VMware through a stand-in rpctool, config-drive, HTTP), kernel cmdline, CLI."""

from __future__ import annotations

import base64
import gzip
import http.server
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycoreos.cli.cloudinit import main
from pycoreos.cloudinit.cmdline import parse as parse_cmdline
from pycoreos.cloudinit.cmdline import plan_cmdline
from pycoreos.cloudinit.datasource import select
from pycoreos.cloudinit.datasource.local import ConfigDrive, FileSource
from pycoreos.cloudinit.datasource.net import Ec2Metadata, ProcCmdline
from pycoreos.cloudinit.datasource.vmware import VmwareGuestinfo, rpc_reader
from pycoreos.cloudinit.errors import DatasourceError
from pycoreos.cloudinit.plan import PlaceDropIn

FAKE_RPCTOOL = """#!{python}
import json, sys
values = json.load(open({store!r}))
cmd = sys.argv[-1]
assert cmd.startswith("info-get guestinfo."), cmd
key = cmd[len("info-get guestinfo."):]
if key not in values:
    print("No value found", file=sys.stderr)
    sys.exit(1)
print(values[key])
"""


def fake_rpctool(tmp_path: Path, values: dict[str, str]) -> Path:
    store = tmp_path / "guestinfo.json"
    store.write_text(json.dumps(values))
    tool = tmp_path / "vmware-rpctool"
    tool.write_text(FAKE_RPCTOOL.format(python=sys.executable, store=str(store)))
    tool.chmod(0o755)
    return tool


def test_vmware_gzip_base64_decoded_and_applied(tmp_path: Path, seed_config: str) -> None:
    # As `gzip -c cloud-config.yml | base64 -w0` produces it.
    data = base64.b64encode(gzip.compress(seed_config.encode())).decode()
    tool = fake_rpctool(
        tmp_path,
        {
            "coreos.config.data": data,
            "coreos.config.data.encoding": "gzip+base64",
            "hostname": "from-vmx",
            "interface.0.name": "ens192",
            "interface.0.role": "private",
            "interface.0.ip.0.address": "10.0.0.5/24",
        },
    )
    src = VmwareGuestinfo(rpc_reader([str(tool)]))
    assert src.available()
    assert src.fetch_user_data().decode() == seed_config
    md = src.fetch_metadata()
    assert (md.hostname, md.private_ipv4, md.public_ipv4) == ("from-vmx", "10.0.0.5", "")

    root = tmp_path / "root"
    rc = main(["--from-vmware-guestinfo", "--vmware-rpc-command", str(tool), "--root", str(root)])
    assert rc == 0
    assert (root / "etc/hostname").read_text() == "coreos\n"  # user-data wins over metadata
    assert (root / "home/toor/.ssh/authorized_keys").exists()
    assert (root / "etc/systemd/network/static.network").exists()
    assert "COREOS_PRIVATE_IPV4=10.0.0.5\n" in (root / "etc/environment").read_text()


def test_vmware_url_fallback_and_bad_encoding(tmp_path: Path) -> None:
    tool = fake_rpctool(
        tmp_path,
        {
            "coreos.config.url": "http://x/ud",
            "coreos.config.data.encoding": "base64",
        },
    )
    src = VmwareGuestinfo(rpc_reader([str(tool)]), get=lambda url: base64.b64encode(b"#!/bin/sh\n"))
    assert src.fetch_user_data() == b"#!/bin/sh\n"
    tool = fake_rpctool(
        tmp_path, {"coreos.config.data": "x", "coreos.config.data.encoding": "rot13"}
    )
    with pytest.raises(DatasourceError, match="Unsupported encoding"):
        VmwareGuestinfo(rpc_reader([str(tool)])).fetch_user_data()
    tool = fake_rpctool(
        tmp_path,
        {
            "interface.0.name": "e",
            "interface.0.role": "dmz",
            "interface.0.ip.0.address": "10.0.0.1/8",
        },
    )
    with pytest.raises(DatasourceError, match="unrecognized role"):
        VmwareGuestinfo(rpc_reader([str(tool)])).fetch_metadata()
    assert not VmwareGuestinfo(rpc_reader([str(tmp_path / "missing")])).available()


def test_configdrive_and_file(tmp_path: Path) -> None:
    latest = tmp_path / "openstack/latest"
    latest.mkdir(parents=True)
    (latest / "user_data").write_text("#cloud-config\n")
    (latest / "meta_data.json").write_text(
        json.dumps({"hostname": "cd", "public_keys": {"mykey": "ssh-rsa AAA"}})
    )
    cd = ConfigDrive(tmp_path)
    assert cd.available()
    assert cd.fetch_user_data() == b"#cloud-config\n"
    md = cd.fetch_metadata()
    assert (md.hostname, dict(md.ssh_public_keys)) == ("cd", {"mykey": "ssh-rsa AAA"})
    missing = FileSource(tmp_path / "nope")
    assert select([missing, cd], sleep=pytest.fail) is cd
    assert select([missing], sleep=pytest.fail) is None


def test_select_backs_off_until_available() -> None:
    now = [0.0]
    sleeps: list[float] = []

    class Flaky:
        name, may_change, calls = "flaky", True, 0

        def available(self) -> bool:
            self.calls += 1
            return self.calls >= 4

    def sleep(s: float) -> None:
        sleeps.append(s)
        now[0] += s

    src = Flaky()
    assert select([src], sleep=sleep, monotonic=lambda: now[0]) is src  # type: ignore[list-item]
    assert sleeps == [0.1, 0.2, 0.4]
    never = Flaky()
    never.calls = -(10**9)
    assert select([never], timeout=1.0, sleep=sleep, monotonic=lambda: now[0]) is None  # type: ignore[list-item]


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "2009-04-04/meta-data/public-keys/0").mkdir(parents=True)
    (tmp_path / "2009-04-04/user-data").write_text("#cloud-config\nhostname: web\n")
    (tmp_path / "2009-04-04/meta-data/public-keys/index").write_text("0=k0\n")
    (tmp_path / "2009-04-04/meta-data/public-keys/0/openssh-key").write_text("ssh-rsa K0\n")
    (tmp_path / "2009-04-04/meta-data/local-ipv4").write_text("10.9.9.9")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):  # type: ignore[no-untyped-def]
            super().__init__(*a, directory=str(tmp_path), **kw)

        def translate_path(self, path: str) -> str:
            p = Path(super().translate_path(path))
            return str(p / "index") if p.is_dir() and (p / "index").exists() else str(p)

        def log_message(self, *a: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_ec2_metadata_and_proc_cmdline_over_http(http_root: str, tmp_path: Path) -> None:
    ec2 = Ec2Metadata(http_root)
    md = ec2.fetch_metadata()
    assert md.ssh_public_keys == {"k0": "ssh-rsa K0"}
    assert md.private_ipv4 == "10.9.9.9"
    url = http_root + "2009-04-04/user-data"
    pc = ProcCmdline(f"ro cloud-config-url cloud_config_url={url} quiet")
    assert pc.available()
    assert pc.fetch_user_data() == b"#cloud-config\nhostname: web\n"
    root = tmp_path / "r"
    assert main(["--from-ec2-metadata", http_root, "--root", str(root)]) == 0
    assert (root / "etc/hostname").read_text() == "web\n"
    assert (
        root / "home/core/.ssh/authorized_keys.d/coreos-cloudinit"
    ).read_text() == "ssh-rsa K0\n"


def test_kernel_cmdline() -> None:
    cmd = parse_cmdline(
        "BOOT=x coreos.autologin=ttyS0 coreos.autologin=tty1 coreos.oem.id=qemu "
        'sshkey="ssh-ed25519 AAAA me@x" coreos.config.url=http://a/b'
    )
    assert cmd.autologin == ("ttyS0", "tty1")
    assert (cmd.oem_id, cmd.config_url, cmd.ssh_keys) == (
        "qemu",
        "http://a/b",
        ("ssh-ed25519 AAAA me@x",),
    )
    units = [a.unit for a in plan_cmdline(cmd) if isinstance(a, PlaceDropIn)]
    assert units == ["serial-getty@ttyS0.service", "getty@tty1.service"]
    all_ttys = plan_cmdline(parse_cmdline("coreos.autologin"))
    assert [a.unit for a in all_ttys if isinstance(a, PlaceDropIn)] == [
        "getty@.service",
        "serial-getty@.service",
    ]
    assert parse_cmdline("quiet").autologin is None
    assert plan_cmdline(parse_cmdline("quiet")) == []


def test_cli_validate_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("#cloud-config\ncoreos:\n  update:\n    reboot-strategy: best-effort\nfoo: 1\n")
    assert main(["--from-file", str(bad), "--validate"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        'line 5: warning: unrecognized key "foo"',
        "line 4: error: invalid value best-effort",
    ]
    assert main(["-from-file=" + str(bad), "-validate", "-json"]) == 1
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    assert first == {"kind": "warning", "line": 5, "message": 'unrecognized key "foo"', "column": 1}
    good = tmp_path / "good.yml"
    good.write_text("#cloud-config\nhostname: x\n")
    assert main(["--from-file", str(good), "--validate"]) == 0
    assert main(["--from-file", str(good), "--oem", "nosuch"]) == 2
    assert main(["--from-file", str(good), "--convert-netconf", "nosuch"]) == 2
    assert main(["--root", str(tmp_path)]) == 2
    assert main(["--from-file", str(tmp_path / "missing")]) == 1


def test_cli_apply_failures_and_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    bad = tmp_path / "bad.yml"
    bad.write_text("#cloud-config\ncoreos:\n  update:\n    reboot-strategy: best-effort\n")
    assert main(["--from-file", str(bad), "--root", str(root)]) == 1
    assert "RebootStrategy" in capsys.readouterr().err
    ign = tmp_path / "ign.json"
    ign.write_text('{"ignition": {"version": "2.2.0"}}')
    assert main(["--from-file", str(ign), "--root", str(root)]) == 0
    assert "Detected an Ignition config. Exiting..." in capsys.readouterr().out
    junk = tmp_path / "junk"
    junk.write_text("hello")
    assert main(["--from-file", str(junk), "--root", str(root)]) == 1
    assert main(["--from-file", str(junk), "--root", str(root), "--ignore-failure"]) == 0
    script = tmp_path / "s.sh"
    script.write_bytes(gzip.compress(b"#!/bin/bash\necho hi\n"))
    assert main(["--from-file", str(script), "--root", str(root)]) == 0
    saved = list((root / "var/lib/coreos-cloudinit/scripts").iterdir())
    assert sorted(p.name for p in saved)[-1] == "unit-name"
    out = capsys.readouterr().out
    assert "ran script /var/lib/coreos-cloudinit/scripts/" in out
