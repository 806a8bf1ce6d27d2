"""Errors of the unit manager.

Tree::

    StackError
    └── UnitError                      units: anything about units
        ├── UnitFileError              bad input: a unit file or drop-in (file, line, key)
        ├── NoSuchUnitError            no unit file by that name (load state not-found)
        ├── UnitMaskedError            the unit is masked
        ├── UnitLoadError              the unit exists but failed to load (carries the UnitFileError)
        ├── JobError                   a job could not be queued (not applicable, cyclic order)
        └── ManagerUnavailableError    the CLI cannot reach a node's unit manager

``UnitFileError`` is the "remote" error of h11's split: it is about text the user wrote, and
it is the only error the parser raises on any input (a property test asserts this).
Misuse of the API by our own code raises ``ValueError``/``TypeError`` instead.
"""

from __future__ import annotations

from pycoreos.errors import StackError


class UnitError(StackError):
    """Root of the unit manager's errors."""


class UnitFileError(UnitError):
    """A unit file (or drop-in) is invalid. Names the file, line and key when known.

    Attributes:
        file: path or name of the file that holds the problem.
        line: 1-based line number, or 0 when the problem has no single line (e.g. a missing key).
        key: the option name (``"ExecStart"``), or ``""`` for pure syntax errors.
        reason: the problem, without the location.
    """

    def __init__(self, reason: str, *, file: str, line: int = 0, key: str = "") -> None:
        self.file = file
        self.line = line
        self.key = key
        self.reason = reason
        where = f"{file}:{line}" if line else file
        what = f" {key}=" if key else ""
        super().__init__(f"units: {where}:{what} {reason}")


class NoSuchUnitError(UnitError):
    """No unit file with this name exists in any unit directory."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"Unit {name} not found.")


class UnitMaskedError(UnitError):
    """The unit is masked (its file is a link to /dev/null) and cannot be started."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"Unit {name} is masked.")


class UnitLoadError(UnitError):
    """The unit's files exist but are invalid; ``cause`` has file, line and key."""

    def __init__(self, name: str, cause: UnitFileError) -> None:
        self.name = name
        self.cause = cause
        super().__init__(f"Unit {name} failed to load: {cause}")


class JobError(UnitError):
    """A job was refused (e.g. reload without ExecReload, cyclic ordering)."""


class ManagerUnavailableError(UnitError):
    """The node's unit manager cannot be reached (daemon not running, socket missing)."""
