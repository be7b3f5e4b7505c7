"""The batcher's one-frame-per-batch path (no server): a batch built from several requests' JSON records must read
exactly as each request would on its own, and a batch the model refuses is answered request by request."""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import polars as pl
import pytest
from kit import FEATURES, iris_artifact

from assay._fitted import Model
from assay.exceptions import SchemaError
from assay.serve._app import _RequestIds
from assay.serve._deploy import Deployment, LogSpec, Shed, _loop_cost, _one_frame, _thread_clock
from assay.serve._predlog import PredictionLog
from assay.serve._protocols import BadRequest, records_frame

ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def test_records_of_one_shape_become_the_stacked_frames():
    a, b = [ROW, {**ROW, "sepal_length": 6.3}], [{**ROW, "petal_width": 2.1}]
    whole = _one_frame([a, b])
    assert whole is not None
    assert whole.equals(pl.concat([records_frame(a), records_frame(b)]))


def test_records_whose_values_differ_in_type_are_not_stacked():
    # Alone, an int column reads as Int64 and a string one as String; stacked they would be read differently.
    assert _one_frame([[ROW], [{**ROW, "sepal_length": 5}]]) is None
    assert _one_frame([[ROW], [{**ROW, "sepal_length": "5.1"}]]) is None
    assert _one_frame([[ROW], [{k: v for k, v in ROW.items() if k != "petal_width"}]]) is None  # missing column
    assert _one_frame([[ROW], records_frame([ROW])]) is None  # records and a frame


def test_rows_that_cannot_form_a_table_are_refused_naming_the_column_and_the_row():
    with pytest.raises(BadRequest, match=r"column 'sepal_length': row 1 holds a list \(\[1,2\]\) where row 0 holds "
                                         r"one value; each column takes one value per row"):
        records_frame([ROW, {**ROW, "sepal_length": [1, 2]}])
    with pytest.raises(BadRequest, match=r"column 'petal_width': row 2 holds an object \(\{\"a\":1\}\) where row 0 "
                                         r"holds a list"):
        records_frame([{**ROW, "petal_width": [1]}, {**ROW, "petal_width": None}, {**ROW, "petal_width": {"a": 1}}])
    # A whole number past 64 bits in a column that also holds text: Polars' own message named no column or row.
    with pytest.raises(BadRequest, match=r"column 'sepal_length': row 1 holds 9223372036854775808, a whole number "
                                         r"past the 64-bit range \(send it as a decimal number, 9\.22337e\+18\)$"):
        records_frame([{**ROW, "sepal_length": ""}, {**ROW, "sepal_length": 2**63}])


def test_a_refused_batch_is_answered_request_by_request(tmp_path):
    model = Model.load(iris_artifact(tmp_path))
    dep = Deployment("iris", 1, model)
    good, bad_type, missing, no_table = ([ROW], [{**ROW, "sepal_length": "abc"}], [{"sepal_width": 1.0}],
                                         [ROW, {**ROW, "sepal_length": [1, 2]}])
    results, _ = dep._run([good, bad_type, good, missing, no_table])
    assert [type(r) for r in results] == [list, SchemaError, list, SchemaError, BadRequest]
    assert "sepal_length" in str(results[1])
    assert "Float64" in str(results[1])
    alone, _ = dep._run([good])
    assert results[0] == results[2] == alone[0]
    assert set(alone[0][0]) == {"prediction", "proba_setosa", "proba_versicolor", "proba_virginica"}
    inputs, outputs = dep.window()  # the drift window holds the inputs cast to the training types
    assert inputs is not None
    assert outputs is not None
    assert inputs.columns == FEATURES
    assert all(t == pl.Float64 for t in inputs.dtypes)
    assert inputs.height == outputs.height == 3


def test_request_ids_are_unique_hex():
    ids = _RequestIds()
    drawn = [ids() for _ in range(1000)]  # crosses a refill of the random pool
    assert len(set(drawn)) == 1000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in drawn)
    parsed = [uuid.UUID(hex=i) for i in drawn]
    assert {(u.version, u.variant) for u in parsed} == {(7, uuid.RFC_4122)}
    stamps = [int(i[:12], 16) for i in drawn]  # milliseconds since the epoch, in order of issue
    assert stamps == sorted(stamps)
    assert abs(stamps[-1] / 1000 - time.time()) < 60


class _Recording:
    """A model that notes which thread each batch ran on and does ``work`` before predicting."""

    def __init__(self, model: Model, threads: list[str], work: Callable[[], None]) -> None:
        self.model, self.threads, self.work = model, threads, work
        self.input_schema = model.input_schema

    def validate(self, frame: pl.DataFrame) -> pl.DataFrame:
        return self.model.validate(frame)

    def predict(self, frame: pl.DataFrame) -> pl.DataFrame:
        self.threads.append(threading.current_thread().name)
        self.work()
        return self.model.predict(frame)


def test_fast_batches_run_on_the_loop_and_a_slow_one_goes_back_to_the_worker(tmp_path):
    """A model that keeps answering fast is run on the event loop; one slow batch sends it back to the worker
    thread and doubles the run of fast batches needed before it runs on the loop again."""
    model = Model.load(iris_artifact(tmp_path))
    threads: list[str] = []
    slow = {"on": False}

    def sleep_when_slow() -> None:
        if slow["on"]:
            time.sleep(0.25)

    async def run() -> Deployment:
        # A fast batch must stay below inline_below even on a machine busy with other work: 50 ms, against a slow
        # batch of 250 ms (5 ms failed now and then under load).
        dep = Deployment("iris", 1, _Recording(model, threads, sleep_when_slow), inline_below=0.05, inline_after=3)
        dep.start()
        for _ in range(5):
            await dep.submit([ROW], time.monotonic() + 5)
        slow["on"] = True
        await dep.submit([ROW], time.monotonic() + 5)  # runs on the loop, is slow
        await dep.submit([ROW], time.monotonic() + 5)  # so this one goes to the worker (where a sleep is no CPU)
        slow["on"] = False
        for _ in range(7):
            await dep.submit([ROW], time.monotonic() + 5)
        dep.task.cancel()
        return dep

    dep = asyncio.run(run())
    loop, worker = "MainThread", "worker"
    seen = [loop if t == "MainThread" else worker for t in threads]
    assert seen[:5] == [worker] * 3 + [loop] * 2  # three fast batches in the worker, then on the loop
    assert seen[5:7] == [loop, worker]  # the slow one stalled the loop once; the next goes to the worker
    # Now six fast batches are needed. On the worker a batch is judged by the CPU time it took, so the sleeping one
    # counts as fast too (it is tried on the loop again after the run, and would be sent back at once if slow).
    assert seen[7:] == [worker] * 5 + [loop] * 2
    assert dep.inline_after == 6
    assert dep.inline_batches == 5


def test_a_model_busy_on_the_cpu_stays_on_the_worker(tmp_path):
    """Batches on the worker are judged by their CPU time: one that computes for longer than ``inline_below``
    never moves to the event loop."""
    model = Model.load(iris_artifact(tmp_path))
    threads: list[str] = []

    def compute() -> None:
        end = time.thread_time() + 0.004
        while time.thread_time() < end:  # 4 ms of CPU
            pass

    async def run() -> Deployment:
        dep = Deployment("iris", 1, _Recording(model, threads, compute), inline_below=0.002, inline_after=2)
        dep.start()
        for _ in range(6):
            await dep.submit([ROW], time.monotonic() + 5)
        dep.task.cancel()
        return dep

    dep = asyncio.run(run())
    assert len(threads) == 6
    assert all(t != "MainThread" for t in threads)
    assert dep.inline_batches == 0


@pytest.mark.parametrize("cpus", [1, 2])
def test_with_a_durable_sqlite_log_a_fast_model_runs_on_the_worker_when_there_is_a_cpu_for_it(tmp_path, cpus):
    """The worker commits its batches' records itself, so they stay there; on one CPU, where every hand-off to the
    worker is a context switch on the loop's CPU, a fast model runs on the loop and the log writer commits."""
    model = Model.load(iris_artifact(tmp_path))
    threads: list[str] = []
    log = PredictionLog(str(tmp_path / "predictions.sqlite"))

    async def run() -> None:
        log.start(asyncio.get_running_loop())
        dep = Deployment("iris", 1, _Recording(model, threads, lambda: None), predlog=log, inline_below=10.0,
                         inline_after=2)  # every batch counts as fast
        dep.cpus = cpus
        dep.start()
        for i in range(10):
            rows, _ = await dep.submit([ROW], time.monotonic() + 5, LogSpec(f"c{i}", b"[{}]", 0.0))
            assert len(rows) == 1
        dep.task.cancel()

    asyncio.run(run())
    log.close()
    on_loop = [t == "MainThread" for t in threads]
    assert on_loop == ([False] * 10 if cpus > 1 else [False] * 2 + [True] * 8)
    assert log.count("iris") == 10


def test_a_batch_on_the_loop_counts_its_sleeps_but_not_the_time_other_processes_took():
    """On the loop a batch is judged by its CPU time, or by its wall time when the thread slept during it (a model
    waiting on I/O stalls the loop as much as one computing): time the OS gave another process does not count."""
    start = _thread_clock()
    time.sleep(0.02)
    assert _loop_cost(*start) >= 0.02
    if not hasattr(os, "sched_setaffinity") or not hasattr(resource, "RUSAGE_THREAD"):
        return  # elsewhere every batch on the loop is judged by its wall time
    measured: dict[str, float] = {}

    def compute_beside_a_busy_process() -> None:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})  # this thread only
        hog = subprocess.Popen([sys.executable, "-c", f"import os, time\nos.sched_setaffinity(0, {{{cpu}}})\n"
                                "end = time.time() + 3\nwhile time.time() < end: pass"])
        try:
            time.sleep(0.3)  # the busy process is running
            wall, began = time.perf_counter(), _thread_clock()
            end = time.thread_time() + 0.05
            while time.thread_time() < end:  # 50 ms of CPU, sharing the CPU with the busy process
                pass
            measured["cost"], measured["wall"] = _loop_cost(*began), time.perf_counter() - wall
        finally:
            hog.kill()
            hog.wait()

    worker = threading.Thread(target=compute_beside_a_busy_process)
    worker.start()
    worker.join()
    assert measured["wall"] > 1.5 * measured["cost"]  # the busy process had its share of the CPU meanwhile
    assert 0.05 <= measured["cost"] < 0.06


@pytest.mark.parametrize("admitting", [True, False])
def test_the_batcher_waits_for_more_only_while_the_server_can_admit_them(tmp_path, admitting):
    """With other requests in flight a batch waits up to ``max_wait`` for them, unless the server is at capacity:
    then nothing new can join before answers go out, and the batch runs at once."""
    model = Model.load(iris_artifact(tmp_path))

    async def run() -> float:
        dep = Deployment("iris", 1, model, max_wait=0.5, admitting=lambda: admitting)
        dep.start()
        dep.pending += 1  # another request of this version is in flight (not yet submitted)
        start = time.perf_counter()
        await dep.submit([ROW], time.monotonic() + 5)
        took = time.perf_counter() - start
        dep.pending -= 1
        dep.task.cancel()
        return took

    took = asyncio.run(run())
    if admitting:
        assert took >= 0.45
    else:
        assert took < 0.25


def test_the_batcher_waits_for_as_many_requests_as_its_last_batches_held(tmp_path):
    """Closed-loop clients send again once answered, a few at a time: after a batch of 6 the next one waits (up to
    ``max_wait``) until 6 are queued instead of going with the first; when fewer come it goes at ``max_wait``."""
    model = Model.load(iris_artifact(tmp_path))
    sizes: list[int] = []

    async def run() -> float:
        dep = Deployment("iris", 1, model, max_wait=0.2, on_batch=lambda d, n, s: sizes.append(n))
        dep.start()

        async def one(delay: float) -> None:
            await asyncio.sleep(delay)
            await dep.submit([ROW], time.monotonic() + 5)

        await asyncio.gather(*[one(0) for _ in range(6)])  # together: one batch of 6
        await asyncio.gather(*[one(0.01 * i) for i in range(6)])  # staggered over 50 ms, within max_wait
        start = time.monotonic()
        await asyncio.gather(*[one(0) for _ in range(2)])  # fewer than expected: the wait ends at max_wait
        waited = time.monotonic() - start
        dep.task.cancel()
        return waited

    waited = asyncio.run(run())
    assert sizes == [6, 6, 2]
    assert 0.15 < waited < 2


def test_requests_queued_behind_a_slow_batch_are_refused_at_their_deadline(tmp_path):
    """A request waiting behind a batch the worker is still running gets its 503 (Shed) once its deadline passes,
    not when the slow batch is done: both one queued when the batch left and one that arrived later."""
    model = Model.load(iris_artifact(tmp_path))

    def slow() -> None:
        time.sleep(1.5)

    async def run() -> tuple[list[Any], list[float]]:
        dep = Deployment("iris", 1, _Recording(model, [], slow), max_batch=1, max_wait=0)
        dep.start()
        start = time.monotonic()
        ends: list[float] = []

        async def one(delay: float, wait: float) -> Any:
            await asyncio.sleep(delay)
            try:
                return await dep.submit([ROW], time.monotonic() + wait)
            except Shed as exc:
                return exc
            finally:
                ends.append(time.monotonic() - start)

        results = await asyncio.gather(one(0, 5), one(0, 0.2), one(0.4, 0.2))
        dep.task.cancel()
        return list(results), sorted(ends)

    results, ends = asyncio.run(run())
    assert isinstance(results[0], tuple)  # the slow one is answered
    assert [type(r) for r in results[1:]] == [Shed, Shed]
    assert ends[0] < 0.5  # queued when the batch left: refused at 0.2 s, not at 1.5 s
    assert ends[1] < 1.0  # queued at 0.4 s: refused at 0.6 s
    assert ends[2] >= 1.4


def test_a_batch_from_the_worker_answers_its_requests_in_the_pass_that_takes_it_back(tmp_path):
    """The worker's hand-back gives each request its result at once; the batcher, woken by the same hand-back,
    runs after them (under overload a pass of the loop over every connection with a request to refuse is ~1 ms)."""
    model = Model.load(iris_artifact(tmp_path))

    async def run() -> tuple[list, bool]:
        dep = Deployment("iris", 1, model, inline_after=1 << 30)  # every batch on the worker
        dep.start()
        rows, _ = await dep.submit([ROW], time.monotonic() + 5)
        batcher_behind = dep._in_worker  # the batcher has not yet taken the batch back
        dep.task.cancel()
        return rows, batcher_behind

    rows, batcher_behind = asyncio.run(run())
    assert rows[0]["prediction"] == "setosa"
    assert batcher_behind
