"""Builders shared by the fleet tests."""

from __future__ import annotations

from types import MappingProxyType

from pycoreos.fleet.job import JobState, Unit
from pycoreos.fleet.machine import MachineState
from pycoreos.fleet.unit import FleetUnitFile, parse_unit_file


def mid(n: int) -> str:
    """A deterministic 32-hex machine ID."""
    return f"{n:02x}" * 16


def machine(n: int, **meta: str) -> MachineState:
    return MachineState(id=mid(n), public_ip=f"10.0.0.{n}", metadata=MappingProxyType(meta))


def ufile(xfleet: str = "", body: str = "ExecStart=/bin/true") -> FleetUnitFile:
    text = f"[Unit]\nDescription=test\n\n[Service]\n{body}\n"
    if xfleet:
        text += "\n[X-Fleet]\n" + xfleet + "\n"
    return parse_unit_file(text)


def unit(
    name: str,
    xfleet: str = "",
    state: JobState = JobState.LAUNCHED,
    target: str = "",
    index: int = 0,
) -> Unit:
    return Unit.new(name, ufile(xfleet), state, target, index)
