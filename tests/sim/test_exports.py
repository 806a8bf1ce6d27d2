"""The package's ``__all__`` lists exactly its public names, and each resolves lazily."""

from __future__ import annotations

import subprocess
import sys

import pycoreos.testing.sim as sim


def test_all_names_resolve_to_their_defining_module():
    assert set(sim.__all__) == set(sim._MODULES)
    for name in sim.__all__:
        value = getattr(sim, name)
        module = sim._MODULES[name]
        defined = getattr(__import__(f"pycoreos.testing.sim.{module}", fromlist=[name]), name)
        assert value is defined
    assert dir(sim) == sorted(sim.__all__)


def test_importing_the_disk_alone_does_not_import_the_server():
    code = "import sys, pycoreos.testing.sim.disk\nprint('pycoreos.server.server' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
