"""The root of every pycoreos error, and the cross-cutting bases.

Tree (each package draws its own subtree in its ``errors.py``)::

    StackError
    ├── ConfigError          bad flags / env / config files (all problems collected)
    ├── ClosedError          you closed it
    ├── BrokenError          the other side or the disk did
    ├── raft.RaftError
    ├── wal.WalError
    ├── v2store.V2Error
    └── server.ServerError
"""

from __future__ import annotations


class StackError(Exception):
    """Root of all pycoreos errors."""


class ConfigError(StackError):
    """Invalid configuration; ``problems`` lists every problem found, not only the first."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class ClosedError(StackError):
    """The object was closed by its owner and can no longer be used."""


class BrokenError(StackError):
    """The peer, the disk or another outside party failed."""
