"""The labelled Jepsen etcd histories (porcupine's test data): every verdict must match."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pycoreos.testing.history import parse_jepsen_log
from pycoreos.testing.linearizability import CheckResult, check
from pycoreos.testing.models.cas_register import CasRegisterModel

# shared/ sits beside the checkout (in CI too): ../shared from the project root.
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "histories" / "jepsen-etcd"
LABELS = (
    dict(line.split() for line in (DATA / "labels.txt").read_text().splitlines() if line.strip())
    if (DATA / "labels.txt").exists()
    else {}
)
EXPECTED = {
    "linearizable": CheckResult.LINEARIZABLE,
    "not-linearizable": CheckResult.NOT_LINEARIZABLE,
}

pytestmark = pytest.mark.skipif(not LABELS, reason=f"{DATA} not available")


def test_all_labelled_histories_are_present():
    assert len(LABELS) == len(list(DATA.glob("etcd_*.log")))
    assert set(LABELS.values()) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(LABELS))
def test_verdict(name: str):
    ops = parse_jepsen_log((DATA / name).read_text())
    started = time.perf_counter()
    report = check(CasRegisterModel(), ops, explain=False)
    elapsed = time.perf_counter() - started
    assert report.result is EXPECTED[LABELS[name]]
    assert elapsed < 20, f"{name} took {elapsed:.1f}s"


@pytest.mark.parametrize("name", ["etcd_000.log", "etcd_040.log", "etcd_062.log"])
def test_failing_prefix_is_minimal(name: str):
    """The reported prefix fails, and one event less is linearizable."""
    from pycoreos.testing.linearizability import _prefix

    ops = parse_jepsen_log((DATA / name).read_text())
    model = CasRegisterModel()
    report = check(model, ops)
    f = report.failure
    assert f is not None
    [part] = model.partition(ops)
    assert not check(model, _prefix(part, f.prefix_events)).ok
    assert check(model, _prefix(part, f.prefix_events - 1)).ok
