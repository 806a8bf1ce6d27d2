"""fleetctl's unit lifecycle commands: submit, load, start, stop, unload, destroy, restart.

Strategy for many units (``fleetctl start *.service`` with hundreds of files):

1. Submit every unit first, several requests in flight (``_WORKERS`` threads; each API
   call is one short request on its own connection).
2. Read the registry's unit list once, then set every desired state (again in parallel).
3. Wait for all of them together: one ``GET /units`` per poll, whatever the number of
   units, printing ``Unit X launched on ID/IP`` as each arrives, and on a terminal a single
   progress line on stderr.

Blocking (fleetctl's ``--block-attempts``): ``0`` waits forever; ``N`` gives up after ``N``
attempts of fleetctl's 500 ms each (we poll more often, the budget is the same), printing
``Error waiting for units: timed out waiting for unit X to report state S`` per unit not
there, exit 1. ``--no-block`` returns once the desired states are written. Global units
never block (their state is per machine): ``Triggered global unit X start``.

``restart`` is rolling, one unit at a time: ``loaded``, wait, ``launched``, wait. A global
unit is restarted machine by machine through each machine's own API
(``POST /fleet/v1/_local/restart/<unit>``, which waits for the job), since the cluster
state of a global unit never leaves ``launched``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from pycoreos.cli.fleetctl_client import ApiClient, APIError
from pycoreos.cli.fleetctl_output import UNIT_FILE_FIELDS, machine_label

__all__ = ["cmd_lifecycle", "wait_for_states"]

_POLL = 0.2
_ATTEMPT = 0.5  # fleetctl's defaultSleepTime: what one --block-attempts attempt is worth
_WORKERS = 8
_T = TypeVar("_T")
_R = TypeVar("_R")


class UsageError(Exception):
    """Bad command line (exit 2)."""


def _parallel(fn: Callable[[_T], _R], items: Iterable[_T]) -> list[_R]:
    """``fn`` over ``items`` with a few requests in flight; results in order; first error
    raised (after every call finished, so nothing is left half-sent)."""
    items = list(items)
    if len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(min(_WORKERS, len(items))) as ex:
        return list(ex.map(fn, items))


def _options_of_file(path: Path) -> list[dict[str, str]]:
    from pycoreos.fleet.unit import parse_unit_file

    uf = parse_unit_file(path.read_text(), name=path.name)
    return [{"section": o.section, "name": o.name, "value": o.value} for o in uf.options]


def _hash(options: list[dict[str, str]]) -> str:
    from pycoreos.fleet.api.schema import options_from_json

    return options_from_json(options).hash_hex


def is_global(u: dict[str, Any]) -> bool:
    """Whether an API unit entity has ``Global=true``."""
    return bool(UNIT_FILE_FIELDS["global"][1](u, {}, False) == "true")


def _ensure(c: ApiClient, arg: str, replace: bool) -> str:
    """Submit ``arg`` if needed (registry, local file, registry template, local template)."""
    from pycoreos.fleet.unit import UnitNameInfo, default_unit_name

    path = Path(arg)
    name = default_unit_name(path.name)
    existing = c.unit(name)
    local = path if path.is_file() else None
    if existing is not None:
        if local is not None and _hash(_options_of_file(local)) != _hash(existing["options"]):
            if not replace:
                print(
                    f"WARNING: Unit {name} in registry differs from local unit file {arg}. "
                    "Add --replace to override.",
                    file=sys.stderr,
                )
                return name
            c.create_unit(name, _options_of_file(local), existing["desiredState"])
        return name
    if local is not None:
        options = _options_of_file(local)
    else:
        info = UnitNameInfo.parse(name)
        tmpl = info.template if info and info.is_instance else ""
        treg = c.unit(tmpl) if tmpl else None
        if treg is not None:
            options = treg["options"]
        elif tmpl and (path.parent / tmpl).is_file():
            options = _options_of_file(path.parent / tmpl)
        else:
            raise APIError(0, f"unable to find unit {name}: no such file and no template")
    c.create_unit(name, options, "inactive")
    return name


class _Progress:
    """One self-rewriting line on a terminal's stderr; nothing elsewhere."""

    def __init__(self, total: int, want: str) -> None:
        self.total = total
        self.want = want
        self.on = total > 1 and sys.stderr.isatty()

    def show(self, pending: int) -> None:
        if self.on:
            done = self.total - pending
            sys.stderr.write(f"\r{done}/{self.total} units {self.want}...")
            sys.stderr.flush()

    def clear(self) -> None:
        if self.on:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def wait_for_states(c: ApiClient, names: list[str], want: str, attempts: int, verb: str) -> int:
    """Wait until every unit reports ``want`` (``"none"``: is gone); 0, or 1 on timeout."""
    pending = dict.fromkeys(names)
    deadline = time.monotonic() + attempts * _ATTEMPT if attempts > 0 else None
    machines: dict[str, dict[str, Any]] = {}
    progress = _Progress(len(pending), want if want != "none" else "destroyed")
    polls = 0
    while pending:
        try:
            units = {u["name"]: u for u in c.units()}
        except APIError:  # fleetctl keeps trying through transient errors too
            units = None
        for name in list(pending) if units is not None else ():
            u = units.get(name) if units is not None else None
            if want == "none":
                if u is None:
                    progress.clear()
                    print(f"Destroyed {name}")
                    del pending[name]
                continue
            if u is None or is_global(u) or u.get("currentState") != want:
                continue
            progress.clear()
            if want == "inactive":
                print(f"Unit {name} inactive")
            else:
                mid = u.get("machineID", "")
                if mid not in machines:
                    machines = {m["id"]: m for m in c.machines()}
                ip = machines.get(mid, {}).get("primaryIP", "")
                print(f"Unit {name} {verb} on {machine_label(mid, ip, False)}")
            sys.stdout.flush()
            del pending[name]
        polls += 1
        if not pending:
            break
        if deadline is not None and time.monotonic() >= deadline and polls >= attempts:
            progress.clear()
            for name in pending:
                print(
                    f"Error waiting for units: timed out waiting for unit {name} "
                    f"to report state {want}",
                    file=sys.stderr,
                )
            return 1
        progress.show(len(pending))
        time.sleep(_POLL)
    progress.clear()
    return 0


_WANT = {
    "submit": "inactive",
    "load": "loaded",
    "start": "launched",
    "stop": "loaded",
    "unload": "inactive",
}
_VERB = {"load": "loaded", "start": "launched", "stop": "loaded"}


def cmd_lifecycle(c: ApiClient, a: argparse.Namespace) -> int:
    """submit, load, start, stop, unload, destroy, restart."""
    from pycoreos.fleet.unit import default_unit_name

    if not a.units:
        raise UsageError(f"one unit file must be provided to {a.cmd}")
    if a.cmd == "restart":
        return _restart(c, a)
    if a.cmd in ("submit", "load", "start"):
        # each file once: two concurrent submissions of one unit would race to create it
        names = _parallel(lambda arg: _ensure(c, arg, a.replace), dict.fromkeys(a.units))
    else:
        names = [default_unit_name(Path(arg).name) for arg in a.units]
    names = list(dict.fromkeys(names))  # one entry per unit, first-seen order
    if a.cmd == "submit":
        return 0
    units = {u["name"]: u for u in c.units()}
    if a.cmd == "destroy":
        present = [n for n in names if n in units]
        _parallel(c.destroy, present)
        waiting = [] if a.no_block else present
        for n in names:
            if n not in waiting:
                print(f"Destroyed {n}")
        return wait_for_states(c, waiting, "none", a.block_attempts, "") if waiting else 0
    want = _WANT[a.cmd]
    todo: list[str] = []
    for name in names:
        u = units.get(name)
        if u is None:
            print(f"Unit {name} does not exist.", file=sys.stderr)
            continue
        if a.cmd == "stop" and u["desiredState"] != "launched":
            continue  # stop is only valid from launched
        if a.cmd == "unload" and u["desiredState"] == "inactive":
            continue
        todo.append(name)
    _parallel(lambda n: c.set_state(n, want), todo)
    block: list[str] = []
    for name in todo:
        if is_global(units[name]):
            print(f"Triggered global unit {name} {a.cmd}")
        elif a.no_block:
            print(f"Triggered unit {name} {a.cmd}")
        else:
            block.append(name)
    if not block:
        return 0
    return wait_for_states(c, block, want, a.block_attempts, _VERB.get(a.cmd, ""))


def _restart(c: ApiClient, a: argparse.Namespace) -> int:
    from pycoreos.fleet.unit import default_unit_name

    rc = 0
    for arg in a.units:  # rolling: one unit at a time
        name = default_unit_name(Path(arg).name)
        u = c.unit(name)
        if u is None or u["desiredState"] == "inactive":
            print(f"Error restarting unit {name}: unit is not loaded", file=sys.stderr)
            rc = 1
            continue
        if is_global(u):
            rc |= _restart_global(c, name)
            continue
        if u["desiredState"] == "launched":
            c.set_state(name, "loaded")
            rc |= wait_for_states(c, [name], "loaded", a.block_attempts, "loaded")
        c.set_state(name, "launched")
        if a.no_block:
            print(f"Triggered unit {name} start")
        else:
            rc |= wait_for_states(c, [name], "launched", a.block_attempts, "launched")
    return rc


def _restart_global(c: ApiClient, name: str) -> int:
    """Restart a global unit on each machine running it, one machine after the other."""
    import json

    machines = {m["id"]: m for m in c.machines()}
    where = sorted({s["machineID"] for s in c.states() if s["name"] == name})
    rc = 0
    for mid in where:
        m = machines.get(mid, {})
        label = machine_label(mid, m.get("primaryIP", ""), False)
        ep = m.get("apiEndpoint") or None
        if ep is None:
            print(
                f"Error restarting unit {name} on {label}: the machine publishes no API "
                "endpoint (set api_listen in its fleet.conf)",
                file=sys.stderr,
            )
            rc = 1
            continue
        status, body = c.call("POST", f"/fleet/v1/_local/restart/{name}", endpoint=ep, timeout=90)
        if status != 200:
            try:
                msg = json.loads(body)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                msg = body.decode(errors="replace").strip()
            print(f"Error restarting unit {name} on {label}: {msg}", file=sys.stderr)
            rc = 1
            continue
        print(f"Unit {name} restarted on {label}")
        sys.stdout.flush()
    return rc
