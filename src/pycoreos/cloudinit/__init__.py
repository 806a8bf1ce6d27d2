"""cloud-config: parse, validate, plan and apply (``coreos-cloudinit`` rebuilt).

``parse(text) -> (CloudConfig, [ValidationIssue])`` never raises on user content;
``plan(cfg, facts) -> [Action]`` is pure; ``apply(actions, system) -> Report`` executes them
against a :class:`System` (``RealSystem(root=Path)``), handing units to a :class:`UnitSink`.
A node calls :func:`apply_config`. Design notes: ``docs/design/cloudinit.md``.
"""

from pycoreos.cloudinit.apply import Report, Step, apply, apply_config, gather_facts
from pycoreos.cloudinit.errors import (
    ApplyError,
    CloudConfigError,
    DatasourceError,
    PlanError,
    UserDataError,
)
from pycoreos.cloudinit.parse import UserData, UserDataKind, parse, parse_user_data, validate
from pycoreos.cloudinit.plan import Action, Metadata, SystemFacts, plan, plan_script
from pycoreos.cloudinit.schema import CloudConfig
from pycoreos.cloudinit.system import RealSystem, RootUnitSink, System, UnitSink, seed_root
from pycoreos.cloudinit.validate import Severity, ValidationIssue

__all__ = [
    "Action",
    "ApplyError",
    "CloudConfig",
    "CloudConfigError",
    "DatasourceError",
    "Metadata",
    "PlanError",
    "RealSystem",
    "Report",
    "RootUnitSink",
    "Severity",
    "Step",
    "System",
    "SystemFacts",
    "UnitSink",
    "UserData",
    "UserDataError",
    "UserDataKind",
    "ValidationIssue",
    "apply",
    "apply_config",
    "gather_facts",
    "parse",
    "parse_user_data",
    "plan",
    "plan_script",
    "seed_root",
    "validate",
]
