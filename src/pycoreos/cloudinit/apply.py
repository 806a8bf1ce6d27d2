"""Execute a plan against a :class:`~pycoreos.cloudinit.system.System`; report what changed.

:func:`apply` runs the actions in order and stops at the first failure (as the original
does), raising :class:`~pycoreos.cloudinit.errors.ApplyError` that carries the partial
:class:`Report`. ``DaemonReload`` is skipped when no unit file or drop-in changed, so a
re-apply of the same config changes nothing on disk; unit commands are always issued
(cloud-config runs on every boot and ``start`` of a running unit is a no-op).

:func:`apply_config` is the entry point a node calls: gather facts, plan, apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import assert_never

from pycoreos.cloudinit import plan as planmod
from pycoreos.cloudinit import schema
from pycoreos.cloudinit.errors import ApplyError
from pycoreos.cloudinit.plan import (
    Action,
    AuthorizeKeys,
    CreateUser,
    DaemonReload,
    EnableUnit,
    MaskUnit,
    Metadata,
    PlaceDropIn,
    PlaceUnit,
    RunScript,
    SetHostname,
    SetPassword,
    SystemFacts,
    UnitCommand,
    UnmaskUnit,
    WriteFile,
)
from pycoreos.cloudinit.system import System


@dataclass(frozen=True, slots=True)
class Step:
    """One applied action: whether it changed the system, and a log-style line."""

    action: Action
    changed: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Report:
    """Everything :func:`apply` did, in order."""

    steps: tuple[Step, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def changed(self) -> bool:
        """True if any step changed the system."""
        return any(s.changed for s in self.steps)

    def of(self, kind: type) -> list[Step]:
        """Steps whose action is an instance of ``kind``."""
        return [s for s in self.steps if isinstance(s.action, kind)]

    def lines(self) -> list[str]:
        """Human-readable log, one line per step (``changed``/``unchanged`` marked)."""
        return [f"{'*' if s.changed else ' '} {s.detail}" for s in self.steps] + [
            f"  note: {n}" for n in self.notes
        ]


def _run(action: Action, system: System, units_changed: bool) -> tuple[bool, str]:
    sink = system.units
    match action:
        case SetHostname(hostname=h):
            return system.set_hostname(h), f"set hostname to {h}"
        case CreateUser(user=u):
            system.create_user(u)
            return True, f"created user '{u.name}'"
        case SetPassword(name=n, passwd=p):
            return system.set_password(n, p), f"set '{n}' user's password"
        case AuthorizeKeys(user=u, key_name=k, keys=keys):
            return (
                system.authorize_ssh_keys(u, k, keys),
                f"authorized {len(keys)} SSH keys for user '{u}' as {k}",
            )
        case WriteFile(path=p, content=c, mode=m, owner=o):
            return system.write_file(p, c, m, o), f"wrote file {p} ({m:04o}{' ' + o if o else ''})"
        case PlaceUnit(name=n, runtime=r, content=c):
            return sink.place_unit(n, r, c), f"placed unit {n}{' (runtime)' if r else ''}"
        case PlaceDropIn(unit=u, runtime=r, name=n, content=c):
            return sink.place_drop_in(u, r, n, c), f"placed drop-in {u}.d/{n}"
        case MaskUnit(name=n, runtime=r):
            return sink.mask(n, r), f"masked unit {n}"
        case UnmaskUnit(name=n, runtime=r):
            return sink.unmask(n, r), f"ensured runtime unit {n} is unmasked"
        case EnableUnit(name=n, runtime=r):
            return sink.enable(n, r), f"enabled unit {n}{' (runtime)' if r else ''}"
        case DaemonReload():
            if not units_changed:
                return False, "daemon-reload skipped (no unit file changed)"
            sink.daemon_reload()
            return True, "daemon-reload"
        case UnitCommand(name=n, command=c):
            return False, f"{c} {n}: {sink.run_command(n, c)}"
        case RunScript(unit=u, path=p):
            res = sink.start_transient(
                u,
                ["/bin/bash", p],
                "Unit generated and executed by coreos-cloudinit on behalf of user",
            )
            return True, f"ran script {p} as {u}: {res}"
        case _:
            assert_never(action)


def apply(actions: Sequence[Action], system: System) -> Report:
    """Apply ``actions`` in order.

    Raises:
        ApplyError: the first failing action; ``exc.action`` is it and ``exc.report`` the
            steps done before it.
    """
    steps: list[Step] = []
    units_changed = False
    for action in actions:
        try:
            changed, detail = _run(action, system, units_changed)
        except ApplyError as exc:
            exc.action = action
            exc.report = Report(tuple(steps), _notes(system))
            raise
        except OSError as exc:
            err = ApplyError(f"{type(action).__name__}: {exc}", action)
            err.report = Report(tuple(steps), _notes(system))
            raise err from exc
        if changed and isinstance(action, PlaceUnit | PlaceDropIn | MaskUnit | UnmaskUnit):
            units_changed = True
        steps.append(Step(action, changed, detail))
    return Report(tuple(steps), _notes(system))


def _notes(system: System) -> tuple[str, ...]:
    notes = getattr(system, "notes", ())
    return tuple(str(n) for n in notes)


def gather_facts(
    system: System,
    cfg: schema.CloudConfig,
    *,
    metadata: Metadata | None = None,
    env: Mapping[str, str] | None = None,
    ssh_key_name: str = planmod.DEFAULT_SSH_KEY_NAME,
) -> SystemFacts:
    """Read what :func:`~pycoreos.cloudinit.plan.plan` needs from ``system``."""
    md = metadata or Metadata()
    files = {p: data for p in planmod.FACT_FILES if (data := system.read_file(p)) is not None}
    return SystemFacts(
        hostname=system.hostname(),
        existing_users=frozenset(
            u.name for u in cfg.users if u.name and system.user_exists(u.name)
        ),
        files=files,
        metadata=md,
        substitutions=md.substitutions(env),
        ssh_key_name=ssh_key_name,
    )


def apply_config(
    cfg: schema.CloudConfig,
    system: System,
    *,
    metadata: Metadata | None = None,
    env: Mapping[str, str] | None = None,
    ssh_key_name: str = planmod.DEFAULT_SSH_KEY_NAME,
) -> Report:
    """Gather facts, plan and apply ``cfg``: what a node does at boot.

    Raises:
        PlanError: values that cannot be applied (nothing was changed).
        ApplyError: an action failed (earlier actions were applied).
    """
    facts = gather_facts(system, cfg, metadata=metadata, env=env, ssh_key_name=ssh_key_name)
    return apply(planmod.plan(cfg, facts), system)
