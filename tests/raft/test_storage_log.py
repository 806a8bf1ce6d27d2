"""MemoryStorage, RaftLog and Unstable (etcd-io/raft storage_test.go, log_test.go,
log_unstable_test.go)."""

from __future__ import annotations

import pytest

from pycoreos.raft import (
    CompactedError,
    ConfState,
    Entry,
    MemoryStorage,
    RaftInvariantError,
    Snapshot,
    SnapshotMetadata,
    SnapshotOutOfDateError,
    UnavailableError,
)
from pycoreos.raft.log import RaftLog
from pycoreos.raft.log_unstable import Unstable
from pycoreos.raft.storage import entry_size


def e(index: int, term: int) -> Entry:
    return Entry(term=term, index=index)


def storage(*ents: Entry) -> MemoryStorage:
    """A storage whose dummy entry is ents[0] (as etcd tests set ms.ents directly)."""
    st = MemoryStorage()
    first = ents[0]
    st.apply_snapshot(Snapshot(metadata=SnapshotMetadata(index=first.index, term=first.term)))
    st.append(list(ents[1:]))
    return st


BASE = (e(3, 3), e(4, 4), e(5, 5))


@pytest.mark.parametrize(
    ("i", "want"), [(2, CompactedError), (3, 3), (4, 4), (5, 5), (6, UnavailableError)]
)
def test_storage_term(i: int, want: int | type[Exception]):
    st = storage(*BASE)
    if isinstance(want, int):
        assert st.term(i) == want
    else:
        with pytest.raises(want):
            st.term(i)


def test_storage_entries():
    ents = (e(3, 3), e(4, 4), e(5, 5), e(6, 6))
    st = storage(*ents)
    big = 1 << 40
    with pytest.raises(CompactedError):
        st.entries(2, 6, big)
    with pytest.raises(CompactedError):
        st.entries(3, 4, big)
    assert st.entries(4, 5, big) == (e(4, 4),)
    assert st.entries(4, 6, big) == (e(4, 4), e(5, 5))
    assert st.entries(4, 7, big) == (e(4, 4), e(5, 5), e(6, 6))
    assert st.entries(4, 7, 0) == (e(4, 4),)  # at least one entry
    two = entry_size(ents[1]) + entry_size(ents[2])
    assert st.entries(4, 7, two) == (e(4, 4), e(5, 5))
    assert st.entries(4, 7, two + entry_size(ents[3]) - 1) == (e(4, 4), e(5, 5))
    assert st.entries(4, 7, two + entry_size(ents[3])) == (e(4, 4), e(5, 5), e(6, 6))


def test_storage_first_last_index_and_compact():
    st = storage(*BASE)
    assert (st.first_index(), st.last_index()) == (4, 5)
    st.append([e(6, 5)])
    assert st.last_index() == 6
    with pytest.raises(CompactedError):
        st.compact(3)
    st.compact(4)
    assert (st.first_index(), st.term(4)) == (5, 4)
    st.compact(6)
    assert (st.first_index(), st.last_index()) == (7, 6)
    with pytest.raises(RaftInvariantError):
        st.compact(7)


def test_storage_create_and_apply_snapshot():
    cs = ConfState(voters=(1, 2, 3))
    st = storage(*BASE)
    snap = st.create_snapshot(4, cs, b"data")
    assert (snap.metadata.index, snap.metadata.term, snap.metadata.conf_state) == (4, 4, cs)
    with pytest.raises(SnapshotOutOfDateError):
        st.create_snapshot(4, cs, b"data")
    st2 = MemoryStorage()
    st2.apply_snapshot(
        Snapshot(data=b"d", metadata=SnapshotMetadata(conf_state=cs, index=4, term=4))
    )
    assert (st2.first_index(), st2.last_index()) == (5, 4)
    assert st2.initial_state()[1] == cs
    with pytest.raises(SnapshotOutOfDateError):
        st2.apply_snapshot(Snapshot(metadata=SnapshotMetadata(index=3, term=3)))


@pytest.mark.parametrize(
    ("ents", "want"),
    [
        ([e(3, 3), e(4, 4), e(5, 5)], [e(4, 4), e(5, 5)]),
        ([e(3, 3), e(4, 6), e(5, 6)], [e(4, 6), e(5, 6)]),
        ([e(3, 3), e(4, 4), e(5, 5), e(6, 5)], [e(4, 4), e(5, 5), e(6, 5)]),
        ([e(2, 3), e(3, 3), e(4, 5)], [e(4, 5)]),  # truncate compacted incoming
        ([e(4, 5)], [e(4, 5)]),  # truncate existing
        ([e(6, 5)], [e(4, 4), e(5, 5), e(6, 5)]),  # direct append
    ],
)
def test_storage_append(ents: list[Entry], want: list[Entry]):
    st = storage(*BASE)
    st.append(ents)
    assert st.entries(st.first_index(), st.last_index() + 1, 1 << 40) == tuple(want)


def test_storage_append_gap_is_invariant_error():
    st = storage(*BASE)
    with pytest.raises(RaftInvariantError):
        st.append([e(7, 5)])


def log_with(*ents: Entry) -> RaftLog:
    st = MemoryStorage()
    st.append(list(ents))
    return RaftLog(st)


@pytest.mark.parametrize(
    ("ents", "want"),
    [
        ([], 0),
        ([e(1, 1), e(2, 2), e(3, 3)], 0),
        ([e(2, 2), e(3, 3)], 0),
        ([e(3, 3)], 0),
        ([e(1, 1), e(2, 2), e(3, 3), e(4, 4), e(5, 4)], 4),
        ([e(4, 4), e(5, 4)], 4),
        ([e(1, 4), e(2, 4)], 1),
        ([e(2, 1), e(3, 4), e(4, 4)], 2),
        ([e(3, 1), e(4, 2), e(5, 4), e(6, 4)], 3),
    ],
)
def test_find_conflict(ents: list[Entry], want: int):
    log = log_with(e(1, 1), e(2, 2), e(3, 3))
    assert log.find_conflict(ents) == want


@pytest.mark.parametrize(
    ("index", "term", "want"),
    [(10, 3, 10), (8, 3, 8), (6, 2, 3), (6, 1, 2), (5, 0, 0), (1, 9, 1)],
)
def test_find_conflict_by_term(index: int, term: int, want: int):
    log = log_with(e(1, 1), e(2, 1), e(3, 2), e(4, 3), e(5, 3), e(6, 3), e(7, 3), e(8, 3))
    assert log.find_conflict_by_term(index, term) == want


@pytest.mark.parametrize(
    ("lasti", "term", "want"),
    [
        (2, 4, True),
        (3, 4, True),
        (4, 4, True),
        (2, 2, False),
        (3, 2, False),
        (4, 2, False),
        (2, 3, False),
        (3, 3, True),
        (4, 3, True),
    ],
)
def test_is_up_to_date(lasti: int, term: int, want: bool):
    log = log_with(e(1, 1), e(2, 2), e(3, 3))
    assert log.is_up_to_date(lasti, term) is want


def test_maybe_append_refuses_to_truncate_committed():
    log = log_with(e(1, 1), e(2, 2), e(3, 3))
    log.commit_to(2)
    with pytest.raises(RaftInvariantError):
        log.maybe_append(1, 1, 3, [e(2, 4)])


def test_maybe_append_cases():
    log = log_with(e(1, 1), e(2, 2), e(3, 3))
    assert log.maybe_append(3, 2, 3, [e(4, 4)]) is None  # log term mismatch
    assert log.maybe_append(3, 3, 3, [e(4, 4)]) == 4
    assert log.committed == 3
    log = log_with(e(1, 1), e(2, 2), e(3, 3))
    assert log.maybe_append(2, 2, 2, [e(3, 4)]) == 3  # truncate the uncommitted tail
    assert log.all_entries() == (e(1, 1), e(2, 2), e(3, 4))
    assert log.committed == 2
    assert log.maybe_append(1, 1, 9, []) == 1  # commit is capped by the last new entry


def test_commit_to_past_last_index_is_invariant_error():
    log = log_with(e(1, 1))
    with pytest.raises(RaftInvariantError):
        log.commit_to(5)


def test_unstable_stable_to_ignores_replaced_entries():
    u = Unstable(5)
    u.truncate_and_append([e(5, 1), e(6, 1)])
    u.stable_to(6, 2)  # term mismatch: the entry was replaced meanwhile
    assert u.offset == 5
    u.stable_to(5, 1)
    assert (u.offset, u.entries) == (6, [e(6, 1)])
    u.truncate_and_append([e(5, 2)])  # truncate before offset
    assert (u.offset, u.entries) == (5, [e(5, 2)])
    u.truncate_and_append([e(6, 2), e(7, 2)])
    u.truncate_and_append([e(7, 3)])  # truncate in the middle
    assert u.entries == [e(5, 2), e(6, 2), e(7, 3)]


def test_unstable_snapshot_terms():
    u = Unstable(0)
    u.restore(Snapshot(metadata=SnapshotMetadata(index=4, term=2)))
    assert u.maybe_first_index() == 5
    assert u.maybe_last_index() == 4
    assert u.maybe_term(4) == 2
    assert u.maybe_term(3) is None
    u.stable_snap_to(3)
    assert u.snapshot is not None
    u.stable_snap_to(4)
    assert u.snapshot is None
