"""``pycoreos cloudinit``: ``coreos-cloudinit`` flags, exit codes and messages.

Exit codes: 0 ok; 1 datasource unavailable, fetch/parse/apply failed (parse failures are
forgiven by ``--ignore-failure``), or ``--validate`` found any entry; 2 bad flags.
Go-style single-dash flags (``-from-file=x``) are accepted as well as ``--from-file``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from pycoreos import __version__
from pycoreos.cloudinit import cmdline as cmdline_mod
from pycoreos.cloudinit.apply import Report, apply, gather_facts
from pycoreos.cloudinit.datasource import Datasource, select
from pycoreos.cloudinit.datasource.local import ConfigDrive, FileSource
from pycoreos.cloudinit.datasource.net import Ec2Metadata, ProcCmdline, UrlSource
from pycoreos.cloudinit.datasource.vmware import VmwareGuestinfo, default_rpc_command, rpc_reader
from pycoreos.cloudinit.errors import CloudConfigError, DatasourceError
from pycoreos.cloudinit.parse import UserDataKind, decompress_if_gzip, parse_user_data, validate
from pycoreos.cloudinit.plan import (
    DEFAULT_SSH_KEY_NAME,
    DEFAULT_WORKSPACE,
    Action,
    Metadata,
    plan,
    plan_script,
)
from pycoreos.cloudinit.system import RealSystem, seed_root

# --oem presets (coreos-cloudinit.go oemConfigs), limited to the sources we implement.
OEM_PRESETS: dict[str, dict[str, str | bool]] = {
    "ec2-compat": {
        "from_ec2_metadata": "http://169.254.169.254/",
        "from_configdrive": "/media/configdrive",
    },
    "rackspace-onmetal": {"from_configdrive": "/media/configdrive", "convert_netconf": "debian"},
    "vmware": {"from_vmware_guestinfo": True, "convert_netconf": "vmware"},
}
NETCONF_FORMATS = ("debian", "packet", "vmware")
NO_SOURCE = (
    "Provide at least one of --from-file, --from-configdrive, --from-ec2-metadata, "
    "--from-vmware-guestinfo, --from-url or --from-proc-cmdline"
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pycoreos cloudinit", allow_abbrev=False)

    def flag(name: str, **kw: object) -> None:
        p.add_argument(f"--{name}", f"-{name}", **kw)  # type: ignore[arg-type]

    flag("from-file", metavar="PATH", help="read user-data from a local file")
    flag("from-url", metavar="URL", help="download user-data from a URL")
    flag("from-configdrive", metavar="DIR", help="read an OpenStack config-drive at DIR")
    flag(
        "from-proc-cmdline",
        action="store_true",
        help="fetch user-data from cloud-config-url= on the kernel command line",
    )
    flag("from-vmware-guestinfo", action="store_true", help="read VMware guestinfo")
    flag("from-ec2-metadata", metavar="URL", help="EC2-style metadata service root")
    flag(
        "from-metadata-service",
        action="store_true",
        help="DEPRECATED: EC2 metadata service at http://169.254.169.254/",
    )
    flag("oem", metavar="NAME", help=f"preset flags: {', '.join(OEM_PRESETS)}")
    flag("convert-netconf", metavar="FMT", default="", help="debian, packet or vmware")
    flag("workspace", default=DEFAULT_WORKSPACE, help="scripts and state (under --root)")
    flag("ssh-key-name", default=DEFAULT_SSH_KEY_NAME, help="update-ssh-keys entry name")
    flag("validate", action="store_true", help="only validate the user-data")
    flag("ignore-failure", action="store_true", help="exit 0 even if user-data was bad")
    flag("version", action="store_true", help="print the version and exit")
    flag("root", default="/", help="apply to this directory tree instead of /")
    flag(
        "cmdline",
        metavar="TEXT",
        default=None,
        help="kernel command line to act on (default: /proc/cmdline when --root is /)",
    )
    flag("json", action="store_true", help="--validate entries as JSON lines")
    flag(
        "vmware-rpc-command",
        metavar="CMD",
        default="",
        help="command reading guestinfo (default: vmware-rpctool or vmtoolsd --cmd)",
    )
    flag("datasource-timeout", type=float, default=300.0, help="seconds to wait for a source")
    return p


def _proc_cmdline() -> str:
    try:
        return Path("/proc/cmdline").read_text()
    except OSError:
        return ""


def _sources(args: argparse.Namespace) -> list[Datasource]:
    out: list[Datasource] = []
    if args.from_file:
        out.append(FileSource(Path(args.from_file)))
    if args.from_configdrive:
        out.append(ConfigDrive(Path(args.from_configdrive)))
    if args.from_metadata_service and not args.from_ec2_metadata:
        args.from_ec2_metadata = "http://169.254.169.254/"
    if args.from_ec2_metadata:
        out.append(Ec2Metadata(args.from_ec2_metadata))
    if args.from_vmware_guestinfo:
        command = tuple(args.vmware_rpc_command.split()) or default_rpc_command()
        if command:
            out.append(VmwareGuestinfo(rpc_reader(command)))
    if args.from_url:
        out.append(UrlSource(args.from_url))
    if args.from_proc_cmdline:
        out.append(ProcCmdline(args.cmdline if args.cmdline is not None else _proc_cmdline()))
    return out


def _apply_presets(args: argparse.Namespace) -> str | None:
    if not args.oem:
        return None
    preset = OEM_PRESETS.get(args.oem)
    if preset is None:
        return f"Invalid option to --oem: {args.oem!r}. Supported options: {', '.join(OEM_PRESETS)}"
    for key, value in preset.items():
        if not getattr(args, key):
            setattr(args, key, value)
    return None


def main(argv: list[str]) -> int:
    """Run ``pycoreos cloudinit``; returns the exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.version:
        print(f"coreos-cloudinit (pycoreos) {__version__}")
        return 0
    if (err := _apply_presets(args)) is not None:
        print(err, file=sys.stderr)
        return 2
    if args.convert_netconf and args.convert_netconf not in NETCONF_FORMATS:
        print(
            f"Invalid option to -convert-netconf: '{args.convert_netconf}'. Supported "
            f"options: {NETCONF_FORMATS}",
            file=sys.stderr,
        )
        return 2
    sources = _sources(args)
    if not sources:
        print(NO_SOURCE, file=sys.stderr)
        return 2
    ds = select(sources, timeout=args.datasource_timeout)
    if ds is None:
        print("No datasources available in time", file=sys.stderr)
        return 1
    print(f"Fetching user-data from datasource of type {ds.name!r}", file=sys.stderr)
    try:
        raw = decompress_if_gzip(ds.fetch_user_data())
    except DatasourceError as exc:
        print(f"Failed fetching user-data from datasource: {exc}", file=sys.stderr)
        return 0 if args.ignore_failure else 1
    issues = validate(raw)
    if args.validate:
        for issue in issues:
            print(json.dumps(issue.to_json()) if args.json else str(issue))
        return 1 if issues else 0
    for issue in issues:
        print(issue, file=sys.stderr)
    try:
        metadata = ds.fetch_metadata()
    except DatasourceError as exc:
        print(f"Failed fetching meta-data from datasource: {exc}", file=sys.stderr)
        return 1
    return _run(args, raw, metadata)


def _run(args: argparse.Namespace, raw: bytes, metadata: Metadata) -> int:
    root = Path(args.root)
    failure = False
    ud = parse_user_data(raw, substitutions=metadata.substitutions(os.environ))
    if ud.kind is UserDataKind.IGNITION:
        print("Detected an Ignition config. Exiting...")
        return 0
    if ud.kind is UserDataKind.UNKNOWN:
        print(
            "Failed to parse user-data: Unrecognized user-data format\nContinuing...",
            file=sys.stderr,
        )
        failure = True
    if root.resolve() != Path("/") and seed_root(root):
        print(f"Seeded base accounts under {root}")
    system = RealSystem(root)
    cmdline_text = (
        args.cmdline if args.cmdline is not None else (_proc_cmdline() if system.host else "")
    )
    actions: list[Action] = cmdline_mod.plan_cmdline(cmdline_mod.parse(cmdline_text))
    if args.convert_netconf:
        print(
            f"Note: --convert-netconf={args.convert_netconf} is not implemented; skipped",
            file=sys.stderr,
        )
    try:
        facts = gather_facts(
            system, ud.config, metadata=metadata, env=os.environ, ssh_key_name=args.ssh_key_name
        )
        actions += plan(ud.config, facts)
        if ud.script is not None:
            actions += plan_script(ud.script, args.workspace)
        report = apply(actions, system)
    except CloudConfigError as exc:
        partial = getattr(exc, "report", None)
        if isinstance(partial, Report):
            _print_report(partial)
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    _print_report(report)
    return 1 if failure and not args.ignore_failure else 0


def _print_report(report: Report) -> None:
    for line in report.lines():
        print(line)
