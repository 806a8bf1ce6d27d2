"""A throwaway PKI made with ``pycoreos certs`` code: one CA, three members, one client, and a
second, unrelated CA with its own member and client (the "other CA" of the refusal tests)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest

from pycoreos.cli.certs import Plan, generate

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Pki:
    dir: Path
    other: Path  # a second CA's directory (same file names)

    def f(self, name: str) -> str:
        return str(self.dir / name)

    def o(self, name: str) -> str:
        return str(self.other / name)


def _plan() -> Plan:
    hosts = ("127.0.0.1", "localhost")
    return Plan(tuple((f"m{i}", hosts) for i in range(1, 5)), ("client",))


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    base = tmp_path_factory.mktemp("pki")
    now = dt.datetime.now(dt.UTC)
    generate(str(base / "main"), _plan(), now=now)
    generate(str(base / "other"), _plan(), now=now)
    return Pki(base / "main", base / "other")
