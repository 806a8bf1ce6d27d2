"""fleet's error tree.

``FleetError`` is the root. ``ValidationError`` is bad input from outside (a unit file, a
unit name, an API body): it carries fleet's own message verbatim, and the API edge maps it to
400. ``RegistryError`` wraps a failed registry operation; ``ConflictError`` is a conditional
write that lost (someone else decided first), which callers treat as "re-read and retry",
never as a failure of the cluster.
"""

from __future__ import annotations

from pycoreos.errors import StackError

__all__ = [
    "ConflictError",
    "FleetError",
    "NotFoundError",
    "RegistryError",
    "RegistryUnavailableError",
    "ValidationError",
]


class FleetError(StackError):
    """Root of fleet errors."""


class ValidationError(FleetError):
    """Bad user input: a unit name, unit file, option set or desired state.

    The message is fleet's, verbatim (``unrecognized requirement in [X-Fleet] section:
    "Foo"``), because clients and scripts match on it.
    """


class NotFoundError(FleetError):
    """The named unit or machine does not exist."""


class RegistryError(FleetError):
    """A registry (etcd) operation failed."""


class RegistryUnavailableError(RegistryError):
    """etcd could not be reached or did not answer in time; the outcome may be unknown."""


class ConflictError(RegistryError):
    """A conditional write lost: the key changed since it was read (prevIndex/prevExist)."""
