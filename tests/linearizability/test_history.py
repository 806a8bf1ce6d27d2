"""The recorder and the Jepsen-log parser."""

from __future__ import annotations

import asyncio
import math
import threading

import pytest

from pycoreos._clock import ManualClock
from pycoreos.testing.history import (
    UNKNOWN,
    HistoryError,
    HistoryRecorder,
    Operation,
    check_client_order,
    parse_jepsen_log,
)
from pycoreos.testing.models.cas_register import RegisterOp, RegisterOpKind, RegisterResult


def test_recorder_records_call_and_return_times():
    clock = ManualClock(monotonic=10.0)
    rec: HistoryRecorder[str, str] = HistoryRecorder(clock)
    with rec.record(1, "get a") as pending:
        clock.advance(2.0)
        pending.set("x")
    [op] = rec.operations()
    assert op == Operation(client_id=1, input="get a", call=10.0, output="x", return_time=12.0)


def test_recorder_exception_means_unknown_outcome():
    clock = ManualClock()
    rec: HistoryRecorder[str, str] = HistoryRecorder(clock)
    with pytest.raises(TimeoutError), rec.record(1, "put a"):
        raise TimeoutError
    [op] = rec.operations()
    assert op.output is UNKNOWN
    assert op.unknown
    assert op.return_time == math.inf


def test_recorder_reports_calls_still_in_flight_as_unknown():
    rec: HistoryRecorder[str, str] = HistoryRecorder(ManualClock())
    rec.begin(3, "put b")
    [op] = rec.operations()
    assert (op.client_id, op.output, op.return_time) == (3, UNKNOWN, math.inf)


def test_recorder_refuses_two_calls_in_flight_for_one_client():
    rec: HistoryRecorder[str, str] = HistoryRecorder(ManualClock())
    rec.begin(1, "a")
    with pytest.raises(HistoryError, match="in flight"):
        rec.begin(1, "b")
    rec.begin(2, "c")  # other clients are fine


def test_recorder_from_threads():
    rec: HistoryRecorder[int, int] = HistoryRecorder(ManualClock())

    def client(cid: int) -> None:
        for i in range(50):
            with rec.record(cid, i) as p:
                p.set(i * 2)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ops = rec.operations()
    assert len(ops) == 200
    assert all(op.output == op.input * 2 for op in ops)


async def test_recorder_from_asyncio_tasks():
    rec: HistoryRecorder[int, int] = HistoryRecorder(ManualClock())

    async def client(cid: int) -> None:
        for i in range(10):
            with rec.record(cid, i) as p:
                await asyncio.sleep(0)
                p.set(i)

    async with asyncio.TaskGroup() as tg:
        for c in range(3):
            tg.create_task(client(c))
    assert len(rec.operations()) == 30


def test_check_client_order_rejects_overlap():
    a = Operation(client_id=1, input="a", call=0.0, output="x", return_time=5.0)
    b = Operation(client_id=1, input="b", call=3.0, output="y", return_time=6.0)
    c = Operation(client_id=2, input="c", call=3.0, output="y", return_time=6.0)
    check_client_order([a, c])
    with pytest.raises(HistoryError, match="overlap"):
        check_client_order([a, b])
    backwards = Operation(client_id=1, input="a", call=5.0, output="x", return_time=1.0)
    with pytest.raises(HistoryError, match="before its call"):
        check_client_order([backwards])


LOG = """\
INFO  jepsen.util - 0\t:invoke\t:read\tnil
INFO  jepsen.util - 1\t:invoke\t:write\t4
INFO  jepsen.util - 0\t:ok\t:read\tnil
INFO  jepsen.util - :nemesis\t:info\t:start\tnil
INFO  jepsen.util - 2\t:invoke\t:cas\t[4 1]
INFO  jepsen.util - 1\t:info\t:write\t:timed-out
INFO  jepsen.util - 2\t:fail\t:cas\t[4 1]
INFO  jepsen.util - 0\t:invoke\t:read\tnil
INFO  jepsen.util - 0\t:fail\t:read\t:timed-out
INFO  jepsen.util - 3\t:invoke\t:cas\t[0 2]
some unrelated line
INFO  jepsen.util - 4  :invoke  :read  nil
INFO  jepsen.util - 4  :ok  :read  3
"""


def test_parse_jepsen_log():
    ops = parse_jepsen_log(LOG)
    by_call = {op.call: op for op in ops}
    assert len(ops) == 6
    r = by_call[1.0]
    assert r.input == RegisterOp(kind=RegisterOpKind.READ)
    assert (r.output, r.return_time) == (RegisterResult(value=None), 3.0)
    w = by_call[2.0]  # :info -> unknown, may happen any time after the call
    assert w.input == RegisterOp(kind=RegisterOpKind.WRITE, value=4)
    assert (w.output, w.return_time) == (UNKNOWN, math.inf)
    c = by_call[5.0]
    assert c.input == RegisterOp(kind=RegisterOpKind.CAS, value=4, new=1)
    assert (c.output, c.return_time) == (RegisterResult(ok=False), 7.0)
    assert by_call[8.0].output is UNKNOWN  # timed-out read
    assert by_call[10.0].output is UNKNOWN  # never completed
    assert by_call[10.0].return_time == math.inf
    assert by_call[12.0].output == RegisterResult(value=3)  # spaces instead of tabs


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("INFO  jepsen.util - 0 :ok :read 3", "without invocation"),
        (
            "INFO  jepsen.util - 0 :invoke :read nil\nINFO  jepsen.util - 0 :invoke :read nil",
            "open",
        ),
        ("INFO  jepsen.util - 0 :invoke :write x", "number"),
        ("INFO  jepsen.util - 0 :invoke :cas [1]", "cas arguments"),
        ("INFO  jepsen.util - 0 :invoke :append 1", "unknown operation"),
        ("INFO  jepsen.util - 0 :invoke :read nil\nINFO  jepsen.util - 0 :ok :write 1", ":read"),
        ("INFO  jepsen.util - 0 :invoke :read nil\nINFO  jepsen.util - 0 :done :read 1", "event"),
    ],
)
def test_parse_jepsen_log_rejects_malformed_lines(text: str, message: str):
    with pytest.raises(HistoryError, match=message):
        parse_jepsen_log(text)
