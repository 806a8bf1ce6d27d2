"""What a simulation run must never show: Raft's safety properties, a non-linearizable client
history, members that disagree once healed.

The Raft properties (Ongaro & Ousterhout, "In Search of an Understandable Consensus
Algorithm", Figure 3) are checked on the members' own state, as the run goes:

* **Election safety** (§5.2): at most one leader per term. :meth:`SafetyMonitor.observe_leader`
  is called whenever a member is seen leading a term it was not seen leading before.
* **Leader completeness** (§5.4): a leader's log holds every entry committed before it was
  elected. Checked at that same moment, against every entry any member has applied so far
  (applied implies committed, so the check can only under-report).
* **State machine safety** (§5.4.3): no two members apply different entries at one index.
  :meth:`SafetyMonitor.observe_apply` keeps the first ``(term, data)`` applied at each index
  and compares every later apply (by any member, any incarnation) with it.
* **Log matching** (§5.3): if two logs hold an entry with the same index and term, the logs
  are identical up to it. :func:`check_log_matching` compares the members' logs (storage plus
  unstable tail) pairwise at chosen moments.

And, at the end of a run:

* :func:`check_linearizable`: the client history against
  :class:`~pycoreos.testing.models.v2_keyspace.V2KeyspaceModel`, per key.
* :func:`check_convergence`: once the faults are healed and every member is up, every member
  has applied the same index and holds the same key space.

Everything here is pure: it reads what the harness hands it and returns or records
:class:`Violation` values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from pycoreos._clock import RealClock
from pycoreos.raft.types import Entry
from pycoreos.testing.history import Operation
from pycoreos.testing.linearizability import CheckResult, check
from pycoreos.testing.models.v2_keyspace import V2KeyspaceModel, V2Request, V2Response

__all__ = [
    "ELECTION_SAFETY",
    "LEADER_COMPLETENESS",
    "LOG_MATCHING",
    "STATE_MACHINE_SAFETY",
    "LinearizabilityOutcome",
    "MemberView",
    "SafetyMonitor",
    "Violation",
    "check_convergence",
    "check_linearizable",
    "check_log_matching",
]

ELECTION_SAFETY = "election safety"
LEADER_COMPLETENESS = "leader completeness"
STATE_MACHINE_SAFETY = "state machine safety"
LOG_MATCHING = "log matching"
LINEARIZABILITY = "linearizability"
CONVERGENCE = "convergence"


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken property.

    Attributes:
        kind: which property (``"election safety"``, ``"linearizability"``, ...).
        detail: what was seen, for a human.
        time: the virtual time it was detected at.
    """

    kind: str
    detail: str
    time: float

    def __str__(self) -> str:
        return f"[t={self.time:.6f}] {self.kind}: {self.detail}"


class SafetyMonitor:
    """Records leaders and applied entries as a run goes, and the violations it sees.

    Attributes:
        violations: every violation so far, in detection order.
        leaders: term -> the member seen leading it.
        applied_entries: how many (member, entry) applies were observed.
    """

    def __init__(self) -> None:
        self.violations: list[Violation] = []
        self.leaders: dict[int, str] = {}
        self._applied: dict[int, tuple[int, bytes, str]] = {}  # index -> (term, data, first by)
        self._max_applied = 0
        self.applied_entries = 0

    @property
    def committed_index(self) -> int:
        """The highest index any member applied (a lower bound of the commit index)."""
        return self._max_applied

    def observe_leader(
        self,
        member: str,
        term: int,
        log_term: Callable[[int], int],
        first_index: int,
        last_index: int,
        now: float,
    ) -> None:
        """``member`` leads ``term``; its log has entries ``first_index..last_index``.

        Args:
            log_term: the term of the leader's entry at an index in that range.
        """
        prev = self.leaders.setdefault(term, member)
        if prev != member:
            self.violations.append(
                Violation(ELECTION_SAFETY, f"term {term} has two leaders: {prev} and {member}", now)
            )
        if self._max_applied > last_index:
            self.violations.append(
                Violation(
                    LEADER_COMPLETENESS,
                    f"{member} leads term {term} with last index {last_index} but index "
                    f"{self._max_applied} was already committed",
                    now,
                )
            )
            return
        # Entries before first_index are covered by the leader's snapshot.
        for index in range(max(first_index, 1), self._max_applied + 1):
            rec = self._applied.get(index)
            if rec is not None and log_term(index) != rec[0]:
                self.violations.append(
                    Violation(
                        LEADER_COMPLETENESS,
                        f"{member} leads term {term} with term {log_term(index)} at index "
                        f"{index}, where {rec[2]} applied an entry of term {rec[0]}",
                        now,
                    )
                )
                return

    def observe_apply(self, member: str, entries: Iterable[Entry], now: float) -> None:
        """``member`` applies ``entries`` (only those past its applied index)."""
        applied = self._applied
        for e in entries:
            self.applied_entries += 1
            rec = applied.get(e.index)
            if rec is None:
                applied[e.index] = (e.term, e.data, member)
                if e.index > self._max_applied:
                    self._max_applied = e.index
            elif rec[0] != e.term or rec[1] != e.data:
                self.violations.append(
                    Violation(
                        STATE_MACHINE_SAFETY,
                        f"{member} applied term {e.term} at index {e.index} "
                        f"({e.data[:40]!r}), {rec[2]} applied term {rec[0]} ({rec[1][:40]!r})",
                        now,
                    )
                )


def check_log_matching(logs: Mapping[str, Sequence[Entry]], now: float) -> list[Violation]:
    """Log matching (§5.3) between every pair of logs.

    Args:
        logs: member -> its log entries, contiguous by index (the part not compacted).
        now: the virtual time, for the violation.

    Returns:
        One violation per pair of members whose logs break the property.
    """
    out: list[Violation] = []
    by_index = {m: {e.index: e for e in log} for m, log in logs.items()}
    names = sorted(logs)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            la, lb = by_index[a], by_index[b]
            if not la or not lb:
                continue
            lo = max(min(la), min(lb))
            hi = min(max(la), max(lb))
            matched = False
            for index in range(hi, lo - 1, -1):
                ea, eb = la[index], lb[index]
                if matched and ea != eb:
                    out.append(
                        Violation(
                            LOG_MATCHING,
                            f"{a} and {b} agree on a later entry but differ at index {index}: "
                            f"{ea.term}/{ea.data[:40]!r} vs {eb.term}/{eb.data[:40]!r}",
                            now,
                        )
                    )
                    break
                if ea.term == eb.term:
                    if ea != eb:
                        out.append(
                            Violation(
                                LOG_MATCHING,
                                f"{a} and {b} have different entries of term {ea.term} at "
                                f"index {index}",
                                now,
                            )
                        )
                        break
                    matched = True
    return out


@dataclass(frozen=True, slots=True)
class LinearizabilityOutcome:
    """What :func:`check_linearizable` found.

    Attributes:
        result: the checker's verdict.
        partitions: how many keys were checked.
        violation: the explanation when not linearizable.
    """

    result: CheckResult
    partitions: int
    violation: Violation | None


def check_linearizable(
    ops: Sequence[Operation[V2Request, V2Response]], now: float, *, timeout: float = 30.0
) -> LinearizabilityOutcome:
    """Check the client history against the v2 key-space model.

    Args:
        ops: the recorded operations.
        now: the virtual time, for the violation.
        timeout: real seconds the search may take before the verdict is ``UNKNOWN``.
    """
    model = V2KeyspaceModel()
    report = check(model, ops, timeout=timeout, clock=RealClock())
    if report.result is not CheckResult.NOT_LINEARIZABLE:
        return LinearizabilityOutcome(report.result, report.partitions, None)
    lines = ["history not linearizable"]
    f = report.failure
    if f is not None:
        lines.append(f"stuck on: {_describe(model, f.stuck)}")
        lines.append("possible states before it: " + ", ".join(f.states))
        lines.append("linearized before it:")
        lines += [f"  {_describe(model, op)}" for op in f.linearized]
        lines.append(f"shortest failing prefix ({len(f.prefix)} ops):")
        lines += [f"  {_describe(model, op)}" for op in f.prefix]
    violation = Violation(LINEARIZABILITY, "\n".join(lines), now)
    return LinearizabilityOutcome(report.result, report.partitions, violation)


def _describe(model: V2KeyspaceModel, op: Operation[V2Request, V2Response]) -> str:
    ret = "inf" if op.unknown else f"{op.return_time:.6f}"
    what = model.describe_operation(op.input, op.output)
    return f"client {op.client_id} [{op.call:.6f}, {ret}] {what}"


@dataclass(frozen=True, slots=True)
class MemberView:
    """What must agree between members once a run has settled.

    Attributes:
        applied_index: the member's applied Raft index.
        store_index: the v2 store's etcd index.
        keys: every key of the user namespace with ``(value, modifiedIndex, createdIndex)``.
    """

    applied_index: int
    store_index: int
    keys: tuple[tuple[str, str | None, int, int], ...]


def check_convergence(views: Mapping[str, MemberView], now: float) -> list[Violation]:
    """Every member applied the same index and holds the same keys (after healing)."""
    if not views:
        return []
    names = sorted(views)
    ref_name = names[0]
    ref = views[ref_name]
    out = []
    for name in names[1:]:
        v = views[name]
        if v != ref:
            out.append(
                Violation(
                    CONVERGENCE,
                    f"{name} (applied {v.applied_index}, store index {v.store_index}, "
                    f"{len(v.keys)} keys) differs from {ref_name} (applied {ref.applied_index}, "
                    f"store index {ref.store_index}, {len(ref.keys)} keys): "
                    f"{_first_difference(v.keys, ref.keys)}",
                    now,
                )
            )
    return out


def _first_difference(
    a: tuple[tuple[str, str | None, int, int], ...], b: tuple[tuple[str, str | None, int, int], ...]
) -> str:
    for x, y in zip(a, b, strict=False):
        if x != y:
            return f"{x} vs {y}"
    if len(a) != len(b):
        return f"key counts {len(a)} vs {len(b)}"
    return "same keys"
