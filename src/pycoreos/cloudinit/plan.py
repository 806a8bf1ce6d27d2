"""CloudConfig + SystemFacts -> the ordered list of :class:`Action` to apply (pure).

Order is ``initialize.Apply`` of coreos-cloudinit:

1. hostname (user-data, else the datasource's metadata hostname),
2. users: create (or only set ``passwd`` for an existing user), then their SSH keys,
3. ``ssh_authorized_keys`` for ``core`` (metadata keys appended),
4. files: ``write_files``, then generated ``/etc/oem-release``, ``/etc/coreos/update.conf``,
   ``/etc/hosts``, ``/run/flannel/options.env``,
5. ``/etc/environment`` with ``COREOS_*_IPV*`` unless ``write_files`` wrote it,
6. units: ``coreos.units``, then the generated etcd/etcd2/fleet/locksmith drop-in units and
   the update units; per unit: file, drop-ins, mask (or unmask if runtime), enable; then one
   daemon-reload, a ``systemd-networkd`` restart if any network unit, then every command.

Invariants:

* :func:`plan` never touches the system; everything it needs is in :class:`SystemFacts`.
* Idempotent: planning again against the facts after an apply yields actions whose
  application changes nothing (contents are computed from the merged existing files).
* Every problem the original would only hit halfway through an apply (bad encodings,
  permissions, ``reboot_strategy``, ``manage_etc_hosts``, unit commands) is collected up
  front and raised as one :class:`~pycoreos.cloudinit.errors.PlanError`, so a plan that
  exists can be applied completely.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from pycoreos.cloudinit import render, schema
from pycoreos.cloudinit.errors import PlanError
from pycoreos.cloudinit.validate import decode_content, go_path_clean

ENVIRONMENT = "/etc/environment"
UPDATE_CONF = "/etc/coreos/update.conf"
DEFAULT_UPDATE_CONF = "/usr/share/coreos/update.conf"
DEFAULT_WORKSPACE = "/var/lib/coreos-cloudinit"
DEFAULT_SSH_KEY_NAME = "coreos-cloudinit"
FACT_FILES = (ENVIRONMENT, UPDATE_CONF, DEFAULT_UPDATE_CONF)

_FROZEN = {"frozen": True, "slots": True, "kw_only": True}


@dataclass(**_FROZEN)
class Metadata:
    """What a datasource knows besides the user-data."""

    hostname: str = ""
    ssh_public_keys: Mapping[str, str] = field(default_factory=dict)
    public_ipv4: str = ""
    private_ipv4: str = ""
    public_ipv6: str = ""
    private_ipv6: str = ""

    def substitutions(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """``$public_ipv4``... values: metadata first, else ``COREOS_*`` from ``env``."""
        env = env or {}
        return {
            "$public_ipv4": self.public_ipv4 or env.get("COREOS_PUBLIC_IPV4", ""),
            "$private_ipv4": self.private_ipv4 or env.get("COREOS_PRIVATE_IPV4", ""),
            "$public_ipv6": self.public_ipv6 or env.get("COREOS_PUBLIC_IPV6", ""),
            "$private_ipv6": self.private_ipv6 or env.get("COREOS_PRIVATE_IPV6", ""),
        }


@dataclass(**_FROZEN)
class SystemFacts:
    """The state of the target the planner depends on.

    Attributes:
        hostname: current hostname (used by ``manage_etc_hosts`` when none is configured).
        existing_users: names of users that already exist.
        files: current contents of :data:`FACT_FILES` that exist (absent: missing file).
        metadata: the datasource's metadata.
        substitutions: the ``$private_ipv4``-style values in effect.
        ssh_key_name: ``update-ssh-keys`` entry name (``--ssh-key-name``).
    """

    hostname: str = ""
    existing_users: frozenset[str] = frozenset()
    files: Mapping[str, bytes] = field(default_factory=dict)
    metadata: Metadata = field(default_factory=Metadata)
    substitutions: Mapping[str, str] = field(default_factory=dict)
    ssh_key_name: str = DEFAULT_SSH_KEY_NAME


# --- actions ---------------------------------------------------------------------------------


@dataclass(**_FROZEN)
class SetHostname:
    """Set the hostname."""

    hostname: str


@dataclass(**_FROZEN)
class CreateUser:
    """Create a user (``useradd`` semantics; missing groups are an error)."""

    user: schema.User


@dataclass(**_FROZEN)
class SetPassword:
    """Set an existing user's password hash (``chpasswd -e``)."""

    name: str
    passwd: str


@dataclass(**_FROZEN)
class AuthorizeKeys:
    """``update-ssh-keys -u user -a key_name``: keys into ``authorized_keys.d/<key_name>``."""

    user: str
    key_name: str
    keys: tuple[str, ...]


@dataclass(**_FROZEN)
class WriteFile:
    """Write ``content`` atomically at ``path`` (absolute, inside the target root)."""

    path: str
    content: bytes
    mode: int = 0o644
    owner: str = ""


@dataclass(**_FROZEN)
class PlaceUnit:
    """Write a unit file to ``/etc`` (or ``/run`` when runtime) ``/systemd/<group>/``."""

    name: str
    runtime: bool
    content: str


@dataclass(**_FROZEN)
class PlaceDropIn:
    """Write ``<unit dir>/<unit>.d/<name>``."""

    unit: str
    runtime: bool
    name: str
    content: str


@dataclass(**_FROZEN)
class MaskUnit:
    """Replace the unit file with a symlink to ``/dev/null`` (destroys an existing file)."""

    name: str
    runtime: bool


@dataclass(**_FROZEN)
class UnmaskUnit:
    """Remove the unit file if it is empty or ``/dev/null`` (runtime units)."""

    name: str
    runtime: bool


@dataclass(**_FROZEN)
class EnableUnit:
    """``EnableUnitFiles([name], runtime, force=true)``."""

    name: str
    runtime: bool


@dataclass(**_FROZEN)
class DaemonReload:
    """One ``daemon-reload`` after unit files changed."""


@dataclass(**_FROZEN)
class UnitCommand:
    """``start``/``stop``/``restart``/... a unit (job mode ``replace``)."""

    name: str
    command: str


@dataclass(**_FROZEN)
class RunScript:
    """Run a saved ``#!`` user-data script as transient unit ``unit``."""

    unit: str
    path: str


Action = (
    SetHostname
    | CreateUser
    | SetPassword
    | AuthorizeKeys
    | WriteFile
    | PlaceUnit
    | PlaceDropIn
    | MaskUnit
    | UnmaskUnit
    | EnableUnit
    | DaemonReload
    | UnitCommand
    | RunScript
)


# --- planning --------------------------------------------------------------------------------


def merge_metadata(cfg: schema.CloudConfig, md: Metadata) -> schema.CloudConfig:
    """``mergeConfig``: metadata hostname if none configured, metadata keys appended."""
    hostname = cfg.hostname or md.hostname
    keys = cfg.ssh_authorized_keys + tuple(
        md.ssh_public_keys[k] for k in sorted(md.ssh_public_keys)
    )
    if hostname == cfg.hostname and keys == cfg.ssh_authorized_keys:
        return cfg
    return schema.CloudConfig(
        ssh_authorized_keys=keys,
        coreos=cfg.coreos,
        write_files=cfg.write_files,
        hostname=hostname,
        users=cfg.users,
        manage_etc_hosts=cfg.manage_etc_hosts,
    )


def plan(cfg: schema.CloudConfig, facts: SystemFacts) -> list[Action]:
    """The actions that apply ``cfg`` to a system described by ``facts``.

    Raises:
        PlanError: every value the apply would fail on, collected.
    """
    cfg = merge_metadata(cfg, facts.metadata)
    problems: list[str] = []
    actions: list[Action] = []
    if cfg.hostname:
        actions.append(SetHostname(hostname=cfg.hostname))
    actions += _plan_users(cfg, facts)
    if cfg.ssh_authorized_keys:
        actions.append(
            AuthorizeKeys(
                user="core", key_name=facts.ssh_key_name, keys=_trim(cfg.ssh_authorized_keys)
            )
        )
    files = _plan_files(cfg, facts, problems)
    actions += files
    actions += _plan_environment(files, facts)
    actions += _plan_units(_all_units(cfg), problems)
    if problems:
        raise PlanError(problems)
    return actions


def _trim(keys: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(k.strip() for k in keys)


def _plan_users(cfg: schema.CloudConfig, facts: SystemFacts) -> list[Action]:
    out: list[Action] = []
    for user in cfg.users:
        if not user.name:
            continue  # "User object has no 'name' field, skipping"
        if user.name in facts.existing_users:
            if user.passwd:
                out.append(SetPassword(name=user.name, passwd=user.passwd))
        else:
            out.append(CreateUser(user=user))
        if user.ssh_authorized_keys:
            out.append(
                AuthorizeKeys(
                    user=user.name,
                    key_name=facts.ssh_key_name,
                    keys=_trim(user.ssh_authorized_keys),
                )
            )
    return out


def parse_permissions(raw: str) -> int:
    """``File.Permissions``: octal string to mode; empty means 0644.

    Raises:
        ValueError: not an octal number (``Unable to parse file permissions "x" as integer``).
    """
    if raw == "":
        return 0o644
    if not re.fullmatch(r"[+-]?[0-7]+", raw) or int(raw, 8) >= 2**31:
        raise ValueError(f"Unable to parse file permissions {render.go_quote(raw)} as integer")
    return int(raw, 8)


def _plan_files(
    cfg: schema.CloudConfig, facts: SystemFacts, problems: list[str]
) -> list[WriteFile]:
    out: list[WriteFile] = []
    for f in cfg.write_files:
        try:
            content = decode_content(f.content, f.encoding)
        except ValueError as exc:
            problems.append(f"Unable to decode {f.path} ({exc})")
            continue
        try:
            mode = parse_permissions(f.permissions)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        out.append(
            WriteFile(
                path=posixpath.join("/", f.path), content=content, mode=mode & 0o7777, owner=f.owner
            )
        )
    generated: list[tuple[str, str | None]] = [
        ("/etc/oem-release", render.oem_release(cfg.coreos.oem))
    ]
    update = cfg.coreos.update
    if not schema.is_zero(update):
        bad = update.reboot_strategy and not re.search(
            schema.REBOOT_STRATEGY_RE, update.reboot_strategy
        )
        if bad:
            problems.append(
                f"invalid value {render.go_quote(update.reboot_strategy)} for option "
                f'"RebootStrategy" (valid options: {render.go_quote(schema.REBOOT_STRATEGY_RE)})'
            )
        else:
            base = facts.files.get(UPDATE_CONF, facts.files.get(DEFAULT_UPDATE_CONF, b""))
            generated.append((UPDATE_CONF, render.update_conf(update, base.decode())))
    if cfg.manage_etc_hosts:
        try:
            hosts = render.etc_hosts(cfg.manage_etc_hosts, cfg.hostname or facts.hostname)
        except ValueError as exc:
            problems.append(str(exc))
        else:
            generated.append(("/etc/hosts", hosts))
    flannel = render.flannel_options(cfg.coreos.flannel)
    generated.append(("/run/flannel/options.env", flannel or None))
    out += [WriteFile(path=p, content=c.encode()) for p, c in generated if c is not None]
    return out


def _plan_environment(files: list[WriteFile], facts: SystemFacts) -> list[Action]:
    if any(go_path_clean(f.path) == ENVIRONMENT for f in files):
        return []
    names = {
        "$public_ipv4": "COREOS_PUBLIC_IPV4",
        "$private_ipv4": "COREOS_PRIVATE_IPV4",
        "$public_ipv6": "COREOS_PUBLIC_IPV6",
        "$private_ipv6": "COREOS_PRIVATE_IPV6",
    }
    pending = {names[k]: v for k, v in facts.substitutions.items() if k in names and v}
    if not pending:
        return []
    old = facts.files.get(ENVIRONMENT, b"").decode()
    new = render.merge_env_file(old, pending)
    if new == old:
        return []
    return [WriteFile(path=ENVIRONMENT, content=new.encode())]


def _all_units(cfg: schema.CloudConfig) -> list[schema.Unit]:
    units = list(cfg.coreos.units)
    for name, section in (
        ("etcd.service", cfg.coreos.etcd),
        ("etcd2.service", cfg.coreos.etcd2),
        ("fleet.service", cfg.coreos.fleet),
        ("locksmithd.service", cfg.coreos.locksmith),
    ):
        content = render.service_drop_in(section)
        if content:
            drop_in = schema.UnitDropIn(name=render.DROP_IN_NAME, content=content)
            units.append(schema.Unit(name=name, runtime=True, drop_ins=(drop_in,)))
    update = cfg.coreos.update
    if update.reboot_strategy:
        off = update.reboot_strategy == "off"
        units.append(
            schema.Unit(
                name="locksmithd.service",
                runtime=True,
                mask=off,
                command="stop" if off else "restart",
            )
        )
    if update.group or update.server:
        units.append(schema.Unit(name="update-engine.service", command="restart"))
    return units


def _plan_units(units: list[schema.Unit], problems: list[str]) -> list[Action]:
    out: list[Action] = []
    commands: list[Action] = []
    reload = network = False
    for u in units:
        if not u.name:
            continue  # "Skipping unit without name"
        if u.content:
            out.append(PlaceUnit(name=u.name, runtime=u.runtime, content=u.content))
            reload = True
        for d in u.drop_ins:
            if d.name and d.content:
                out.append(
                    PlaceDropIn(unit=u.name, runtime=u.runtime, name=d.name, content=d.content)
                )
                reload = True
        if u.mask:
            out.append(MaskUnit(name=u.name, runtime=u.runtime))
        elif u.runtime:
            out.append(UnmaskUnit(name=u.name, runtime=u.runtime))
        if u.enable and u.group != "network":
            out.append(EnableUnit(name=u.name, runtime=u.runtime))
        if u.group == "network":
            network = True
        elif u.command:
            if not re.search(schema.COMMAND_RE, u.command):
                problems.append(f"invalid unit command {render.go_quote(u.command)} for {u.name}")
            commands.append(UnitCommand(name=u.name, command=u.command))
    if reload:
        out.append(DaemonReload())
    if network:
        out.append(UnitCommand(name="systemd-networkd.service", command="restart"))
    return out + commands


def plan_script(script: schema.Script, workspace: str = DEFAULT_WORKSPACE) -> list[Action]:
    """Actions for ``#!`` user-data: save it under ``<workspace>/scripts`` and run it.

    The script's file name is derived from its content (the original used a random temp
    name), so re-running the same user-data is recognisable and deterministic.
    """
    digest = hashlib.sha256(script.content.encode()).hexdigest()[:16]
    path = posixpath.join(workspace, "scripts", digest)
    unit = f"coreos-cloudinit-{digest}.service"
    return [
        WriteFile(path=path, content=script.content.encode(), mode=0o744),
        WriteFile(path=posixpath.join(workspace, "scripts", "unit-name"), content=unit.encode()),
        RunScript(unit=unit, path=path),
    ]
