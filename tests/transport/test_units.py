"""Pure pieces: backoff, URL parsing, options, statistics, exported names."""

from __future__ import annotations

import math
import random

import pytest

import pycoreos.transport as transport_pkg
from pycoreos.errors import BrokenError, ConfigError
from pycoreos.transport import FrameError, HandshakeRejectedError, RejectCode, TransportOptions
from pycoreos.transport.config import PeerAddress, backoff_delay, parse_peer_urls
from pycoreos.transport.stats import PeerStats


def test_backoff_grows_stays_in_bounds_and_is_seeded() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(n, rng, 0.1, 2.0) for n in range(12)]
    assert all(0.1 <= d <= 2.0 for d in delays)
    assert 0.1 <= delays[0] <= 0.2
    assert 0.2 <= delays[1] <= 0.4
    assert delays[-1] == 2.0  # capped
    again = random.Random(7)
    assert delays == [backoff_delay(n, again, 0.1, 2.0) for n in range(12)]
    other = random.Random(8)
    assert delays != [backoff_delay(n, other, 0.1, 2.0) for n in range(12)]


def test_backoff_huge_attempt_does_not_overflow() -> None:
    assert backoff_delay(10_000, random.Random(1), 0.1, 2.0) == 2.0


def test_parse_peer_urls() -> None:
    assert parse_peer_urls(["http://127.0.0.1:2380", "https://node1:7001"]) == (
        PeerAddress("127.0.0.1", 2380, False),
        PeerAddress("node1", 7001, True),
    )
    assert str(PeerAddress("h", 1, True)) == "https://h:1"


def test_parse_peer_urls_lists_every_problem() -> None:
    with pytest.raises(ConfigError) as info:
        parse_peer_urls(["unix:///x", "http://nohost", "http://h:99999", "http://ok:1"])
    assert len(info.value.problems) == 3
    with pytest.raises(ConfigError):
        parse_peer_urls([])


def test_options_validation() -> None:
    with pytest.raises(ConfigError) as info:
        TransportOptions(queue_size=0, backoff_min=3.0, backoff_max=2.0, dial_timeout=0)
    assert len(info.value.problems) == 3


def _etcd_succ(samples_ms: list[float]) -> tuple[float, float, float]:
    # Straight from the definition: mean and population standard deviation.
    mean = sum(samples_ms) / len(samples_ms)
    var = sum(x * x for x in samples_ms) / len(samples_ms) - mean * mean
    return mean, math.sqrt(max(var, 0.0)), samples_ms[-1]


def test_peer_stats_match_etcd_follower_stats() -> None:
    st = PeerStats()
    fresh = st.as_dict()
    assert fresh["latency"] == {  # etcd shows minimum 2**63 until the first success
        "current": 0.0,
        "average": 0.0,
        "standardDeviation": 0.0,
        "minimum": float(1 << 63),
        "maximum": 0.0,
    }
    samples = [0.0012, 0.0030, 0.0007, 0.0101]
    for s in samples:
        st.record_success(s)
    st.record_failure()
    st.record_failure(2)
    mean, sd, current = _etcd_succ([s * 1000 for s in samples])
    lat = st.as_dict()["latency"]
    assert isinstance(lat, dict)
    assert lat["average"] == pytest.approx(mean)
    assert lat["standardDeviation"] == pytest.approx(sd)
    assert lat["current"] == pytest.approx(current)
    assert lat["minimum"] == pytest.approx(0.7)
    assert lat["maximum"] == pytest.approx(10.1)
    assert st.as_dict()["counts"] == {"fail": 3, "success": 4}


def test_equal_samples_give_zero_deviation() -> None:
    st = PeerStats()
    for _ in range(10):
        st.record_success(0.1)
    assert st.stddev == 0.0


def test_errors_are_broken_errors() -> None:
    assert issubclass(FrameError, BrokenError)
    err = HandshakeRejectedError(RejectCode.MEMBER_REMOVED, "removed member")
    assert isinstance(err, BrokenError)
    assert "removed member" in str(err)


def test_exported_names() -> None:
    public = {
        name
        for name in dir(transport_pkg)
        if not name.startswith("_")
        and not isinstance(getattr(transport_pkg, name), type(transport_pkg))
        and name != "annotations"
    }
    assert public == set(transport_pkg.__all__)
    for name in transport_pkg.__all__:
        assert getattr(transport_pkg, name).__doc__
