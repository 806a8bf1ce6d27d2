"""Errors of the cloud-config package.

Tree::

    StackError
    └── CloudConfigError            bad user-data or a config that cannot be applied
        ├── UserDataError           user-data that is not cloud-config/script/Ignition/empty
        ├── PlanError               values the planner refuses (all problems collected)
        ├── ApplyError              an action failed against the System (carries the action)
        └── DatasourceError         a datasource could not be read (unavailable, fetch failed)

Invariant: :func:`pycoreos.cloudinit.parse` never raises for anything the user wrote; problems
come back as ``ValidationIssue`` values. These exceptions are for the later steps, where the
original ``coreos-cloudinit`` also fails (apply errors, unreachable datasources).
"""

from __future__ import annotations

from pycoreos.errors import StackError


class CloudConfigError(StackError):
    """Root of cloud-config errors; ``problems`` lists every problem found."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class UserDataError(CloudConfigError):
    """User-data in no recognised format (``Unrecognized user-data format``)."""


class PlanError(CloudConfigError):
    """The config parsed, but some values cannot be turned into actions."""


class ApplyError(CloudConfigError):
    """An action failed while applying.

    ``action`` is the failing action and ``report`` the steps applied before it (both set
    by :func:`pycoreos.cloudinit.apply.apply`; ``None`` when raised elsewhere).
    """

    def __init__(self, problems: list[str] | str, action: object | None = None) -> None:
        super().__init__(problems)
        self.action = action
        self.report: object | None = None


class DatasourceError(CloudConfigError):
    """A datasource was unavailable or its user-data/metadata could not be fetched."""
