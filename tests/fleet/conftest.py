from __future__ import annotations

import shutil

import pytest

from pycoreos.testing.procs import start_member


@pytest.fixture(scope="module", params=["ours", "real"])
def etcd_url(request, tmp_path_factory):
    """One etcd member per kind for a test module (keys are namespaced per test)."""
    if request.param == "real" and shutil.which("etcd") is None:
        pytest.skip("real etcd not installed")
    m = start_member(request.param, tmp_path_factory.mktemp(f"etcd-{request.param}"))
    try:
        yield m.client_url
    finally:
        m.stop()
