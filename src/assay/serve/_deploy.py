"""One served model version (a *deployment*): its micro-batcher, circuit breaker and live input window.

Requests for a version queue up; one batcher task takes whatever is queued (up to ``max_batch`` rows, waiting at
most ``max_wait`` for more while other requests are still arriving or while it holds fewer than the last batches
did) and runs the batch in a worker thread, so
the event loop keeps accepting and shedding while the model computes (a model that keeps answering in well under a
millisecond runs on the loop itself, see ``inline_below``, unless the worker commits the batch's records to a
durable SQLite log: see ``_run_logged``). A request is a Polars frame or, for the plain JSON protocol, its checked
records: records of the same columns and value types are made into one frame for the whole batch, which costs about
what one request's frame would. The batch is predicted as one frame (the model checks its input); only when that is
refused is each request checked on its own, so a bad request gets its own 4xx and never fails its neighbours. A
request whose deadline passes while it waits is shed, not computed.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import queue
import resource
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import polars as pl

from assay._fitted import columns_frame
from assay.exceptions import SchemaError
from assay.serve._breaker import BreakerConfig, CircuitBreaker
from assay.serve._predlog import LogUnavailable, prediction_record
from assay.serve._protocols import BadRequest, records_frame

__all__ = ["Deployment", "InputFailure", "InvalidOutput", "LogSpec", "ModelFailure", "Shed"]


class Shed(Exception):
    """The request waited past its deadline (or the deployment is closing)."""


class ModelFailure(Exception):
    """The model raised while predicting a batch."""


class InvalidOutput(Exception):
    """The model returned NaN or infinite values."""


class InputFailure(SchemaError):
    """The model raised on this request's input alone while it predicts a reference row: the caller's error (4xx),
    not the model's, so it neither fails the batch's other requests nor counts against the circuit breaker."""


Payload = pl.DataFrame | list[dict[str, Any]]  # a frame, or checked JSON records (see records_from_body)


def payload_rows(payload: Payload) -> int:
    return len(payload) if isinstance(payload, list) else payload.height


def _frame(payload: Payload) -> pl.DataFrame:
    return records_frame(payload) if isinstance(payload, list) else payload


def _one_frame(payloads: list[Payload]) -> pl.DataFrame | None:
    """The whole batch as one frame, when that is exactly the requests' own frames stacked; else None."""
    if len(payloads) == 1:
        return _frame(payloads[0])
    first = payloads[0]
    if isinstance(first, list):
        if not all(isinstance(p, list) for p in payloads):
            return None
        # Same column names in the same order and the same Python value types in every record: the frame of all
        # records has the dtypes each request's frame would have, so one request cannot change how another reads.
        columns = list(first[0])
        types = list(map(type, first[0].values()))
        records = [r for p in payloads for r in p]  # type: ignore[union-attr]
        if not all(list(r) == columns and list(map(type, r.values())) == types for r in records):
            return None
        return records_frame(records)
    schema = first.schema
    if not all(isinstance(p, pl.DataFrame) and p.schema == schema for p in payloads):
        return None
    return pl.concat(payloads, how="vertical")  # type: ignore[arg-type]


def _python_values(values: np.ndarray) -> list[Any]:
    """Plain Python values (numbers, str, bool) as ``DataFrame.to_dicts`` gives them."""
    out = values.tolist()
    if values.dtype == object:  # labels kept as objects may hold NumPy scalars
        out = [v.item() if isinstance(v, np.generic) else v for v in out]
    return out


def _output_frame(first: pl.Series | tuple[str, np.ndarray]) -> pl.DataFrame:
    if isinstance(first, pl.Series):
        return first.to_frame()
    name, values = first
    return columns_frame({name: values})


def _settle(fut: asyncio.Future[Any], result: Any, error: Exception | None, items: list[_Item]) -> None:
    if fut.done():  # the batcher was cancelled meanwhile (drain)
        return
    if error is not None:
        fut.set_exception(error)
        return
    # The requests get their results here, in the pass of the loop that takes the batch back, rather than from the
    # batcher once this future has woken it in the next pass: one pass less before each answer, and under overload
    # a pass of the loop is one over every connection with a request to refuse (~1 ms).
    results, seconds, _ = result
    _deliver(items, results, seconds)
    fut.set_result(result)


def _deliver(items: list[_Item], results: list[Any], seconds: float) -> None:
    """Each request's result (rows or an exception) to its future, but those the log writer answers."""
    for it, res in zip(items, results, strict=True):
        if res is _HANDED or it.future.done():  # the log writer answers it once its record is committed
            continue
        if isinstance(res, Exception):
            it.future.set_exception(res)
        else:
            it.future.set_result((res, seconds))


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


_RUSAGE_THREAD = getattr(resource, "RUSAGE_THREAD", None)  # Linux


def _thread_clock() -> tuple[float, float, int]:
    """(wall time, this thread's CPU time, its voluntary context switches so far; -1 where not available)."""
    if _RUSAGE_THREAD is None:
        return time.perf_counter(), time.thread_time(), -1
    return time.perf_counter(), time.thread_time(), resource.getrusage(_RUSAGE_THREAD).ru_nvcsw


def _loop_cost(wall: float, cpu: float, switches: int) -> float:
    """How long a batch run on the event loop held it up, from ``_thread_clock()`` taken before it.

    Its CPU time, or its wall time when the thread slept during the batch (waited for I/O, a lock, the GIL). The
    time the OS gave other processes meanwhile (preemption: involuntary switches) is not the model's: on a busy
    machine a fast batch is preempted now and then, and judged by wall time every fast model would keep going back
    to the worker thread, whose two hand-offs per batch cost more than the batch.
    """
    wall_end, cpu_end, switches_end = _thread_clock()
    if switches < 0 or switches_end != switches:
        return wall_end - wall
    return cpu_end - cpu


_HANDED = object()  # a result the prediction log writer delivers (see Deployment._run_logged)


@dataclass(slots=True)
class LogSpec:
    """What the prediction log needs to know about one request besides its outputs."""

    request_id: str
    body: bytes
    start: float  # time.perf_counter() at admission: the logged latency runs from here to the prediction
    degraded: str | None = None
    shadow: bool = False


@dataclass(slots=True)
class _Item:
    payload: Payload
    future: asyncio.Future[Any]
    deadline: float
    log: LogSpec | None = None


class Deployment:
    """A loaded model version with its batcher, breaker and recent inputs/outputs (for drift)."""

    def __init__(self, name: str, version: int, model: Any, *, profile: dict[str, Any] | None = None,
                 max_batch: int = 64, max_wait: float = 0.002, breaker: BreakerConfig | None = None,
                 window_rows: int = 2000, on_batch: Any = None, predlog: Any = None, log_inputs: str = "full",
                 inline_below: float = 0.001, inline_after: int = 16, admitting: Any = None,
                 example: pl.DataFrame | None = None) -> None:
        self.name = name
        self.version = version
        self.model = model
        # Raw X-Model-Name and X-Model-Version headers of this version's answers (the same for every one).
        self.answer_headers = [(b"x-model-name", name.encode("latin-1")), (b"x-model-version", str(version).encode())]
        # The start of its plain-protocol answers, up to the request id (see _app._records_answer).
        self.answer_start = b'{"model":' + orjson.dumps(name) + b',"model_version":' + str(version).encode() + \
            b',"request_id":"'
        self.profile = profile
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.breaker = CircuitBreaker(breaker, name, version)
        self.window_rows = window_rows
        self.on_batch = on_batch
        self.predlog = predlog  # a PredictionLog: requests submitted with a LogSpec are logged from the worker
        self.log_inputs = log_inputs
        # () -> bool: can the server still admit requests? (None: always.) At capacity nothing new can join a
        # batch until answers go out, so the batcher does not wait for more then.
        self.admitting = admitting
        # A row the model is known to predict (checked at load): when a request's input makes the model raise, a
        # prediction of this row tells whether the model itself is failing or only that input (see _isolate).
        self.example = example
        # Requests waiting for a batch; the batcher sleeps on ``_waiter`` (woken by submit) when there are none, or
        # while it waits ``max_wait`` for more. (A deque, not an asyncio.Queue: its put/get wrappers cost ~4 us of
        # CPU per request and the batcher already has a waiter of its own for the second wait.)
        self.queue: deque[_Item] = deque()
        # The worker thread's batches: (future, items) or None to stop. A thread of its own rather than a
        # ThreadPoolExecutor: run_in_executor costs a work item, a concurrent future chained to an asyncio one, a
        # lock and a check of the pool's size per batch; here one put and, when done, one call_soon_threadsafe.
        self._jobs: queue.SimpleQueue[tuple[asyncio.Future[Any], list[_Item]] | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self.task: asyncio.Task[None] | None = None
        self.inputs: deque[pl.DataFrame] = deque()
        self.outputs: deque[pl.Series | tuple[str, np.ndarray]] = deque()
        self.window_count = 0
        self.pending = 0
        self.requests = 0
        self.failures = 0
        self.closing = False
        self._waiter: asyncio.Future[None] | None = None
        # While the worker runs a batch, the requests queued behind it are refused once their deadline passes, not
        # when that batch is done (a 2 s model and a 0.3 s --queue-timeout would give a 503 after 2 s). One timer
        # at a time, never cancelled: armed for the oldest queued request (the queue is in admission order, so in
        # deadline order) when a batch goes to the worker or a request queues behind it, and armed again when it
        # fires only while the worker is still busy; in steady use that is one timer per --queue-timeout.
        self._in_worker = False
        self._expiry: asyncio.TimerHandle | None = None
        self._want = 1  # queued requests for which submit() wakes the batcher from its wait
        self._event_loop: asyncio.AbstractEventLoop | None = None
        # A batch runs on the event loop itself once the model has answered ``inline_after`` batches in a row in
        # under ``inline_below`` seconds: handing a sub-millisecond batch to the worker thread and back costs more
        # (two thread wake-ups, the GIL passed twice, often a wait for it while the loop is busy) than the batch.
        # One slower batch sends the following ones back to the worker, so a model that turns slow blocks the
        # loop once before the loop is free again for accepting and shedding; each such stall doubles the run of
        # fast batches needed before the next inline one, so a model that is slow now and then stalls it rarely.
        # "Fast" is the CPU time of a batch on the worker (see _run_on_worker) and on the loop, where the wall time
        # counts instead when the loop thread slept during the batch (see _loop_cost).
        self.inline_below = inline_below
        self.inline_after = inline_after
        self.cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        self.fast_batches = 0
        self.inline_batches = 0

    def __repr__(self) -> str:
        return f"Deployment({self.name!r}, v{self.version}, breaker={self.breaker.state})"

    def start(self) -> None:
        self._event_loop = loop = asyncio.get_running_loop()
        self.task = loop.create_task(self._loop(), name=f"batcher-{self.name}-v{self.version}")
        self._worker = threading.Thread(target=self._work, args=(loop,), name=f"assay-{self.name}-v{self.version}",
                                        daemon=True)
        self._worker.start()

    def _work(self, loop: asyncio.AbstractEventLoop) -> None:
        """The worker thread: run each batch handed over by the batcher and settle its future on the loop."""
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fut, items = job
            try:
                result, error = self._run_on_worker(items), None
            except Exception as exc:  # handed to the batcher, which fails the batch and keeps serving
                result, error = None, exc
            with contextlib.suppress(RuntimeError):  # the loop is closed (shutdown)
                loop.call_soon_threadsafe(_settle, fut, result, error, items)

    async def submit(self, payload: Payload, deadline: float, log: LogSpec | None = None
                     ) -> tuple[list[dict[str, Any]], float]:
        """Predict ``payload`` (a frame or records) in the next batch; return (rows as dicts, model seconds).

        With ``log`` (and a prediction log), the batch worker writes the request's record; in durable mode the
        result comes only once the record is committed (or :class:`LogUnavailable` when it cannot be).
        """
        fut: asyncio.Future[Any] = (self._event_loop or asyncio.get_running_loop()).create_future()
        self.pending += 1
        try:
            self.queue.append(_Item(payload, fut, deadline, log))
            waiter = self._waiter
            if waiter is not None and len(self.queue) >= self._want:
                _wake(waiter)
            elif self._in_worker and self._expiry is None:
                self._arm_expiry()
            return await fut
        finally:
            self.pending -= 1

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        queue = self.queue
        recent: deque[int] = deque([1], maxlen=8)  # requests in the last batches
        while True:
            if not queue:
                self._want = 1
                self._waiter = loop.create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
                continue
            item = queue.popleft()
            batch = [item]
            rows = payload_rows(item.payload)
            expect = max(recent)
            waited_until = 0.0
            while rows < self.max_batch:
                if not queue:
                    # (No extra pass of the loop to collect more: this task wakes only after every request the
                    # loop read with the first one has run to its submit(); under load a pass is ~1 ms.)
                    # Adaptive: wait a little, while the server can still admit requests (at capacity a wait
                    # could only delay this batch), when more requests are in flight than we hold or when the
                    # last batches were larger than this one: their clients are likely about to send again
                    # (closed-loop clients send the next request once answered), and a batch of all of them
                    # costs less per request than two batches. Waiting costs no CPU; the wait ends at
                    # ``max_wait`` after it began, or once submit() has queued the requests expected. A future
                    # and a timer: asyncio.wait_for would start a task for every request it waits for.
                    short = len(batch) < expect
                    if (self.max_wait <= 0 or (self.pending <= len(batch) and not short)
                            or (self.admitting is not None and not self.admitting())):
                        break
                    now = loop.time()
                    if not waited_until:
                        waited_until = now + self.max_wait
                    elif now >= waited_until:
                        break
                    self._want = expect - len(batch) if short else 1
                    waiter = self._waiter = loop.create_future()
                    timer = loop.call_at(waited_until, _wake, waiter)
                    await waiter
                    timer.cancel()
                    self._waiter = None
                    self._want = 1
                    if not queue:
                        break
                nxt = queue.popleft()
                batch.append(nxt)
                rows += payload_rows(nxt.payload)
            recent.append(len(batch))
            now = time.monotonic()
            live = []
            for it in batch:
                if it.future.done():
                    continue
                if it.deadline < now:
                    it.future.set_exception(Shed("waited past the queue deadline"))
                else:
                    live.append(it)
            if not live:
                continue
            # A batch whose records the worker commits itself stays there (see _run_logged): disk I/O stays off the
            # loop, and that one hand-off each way costs less than a batch on the loop plus the log writer's two.
            inline = self.fast_batches >= self.inline_after and not self._commits_on_worker()
            try:
                if inline:
                    wall, cpu, switches = _thread_clock()
                    results, seconds = self._run_logged(live)
                    cost = _loop_cost(wall, cpu, switches)
                else:
                    done: asyncio.Future[Any] = loop.create_future()
                    self._jobs.put((done, live))
                    # (requests queued behind this batch are refused at their deadline: see _expiry)
                    self._in_worker = True
                    if queue and self._expiry is None:
                        self._arm_expiry()
                    try:
                        results, seconds, cost = await done
                    finally:
                        self._in_worker = False
            except Exception as exc:  # the worker itself failed: fail the batch, keep serving
                results, seconds = [ModelFailure(str(exc))] * len(live), 0.0
                cost = seconds
            self.inline_batches += inline
            if cost < self.inline_below:
                self.fast_batches += 1
            else:
                self.fast_batches = 0
                if inline:  # it stalled the loop: wait twice as long as before trusting it again
                    self.inline_after = min(self.inline_after * 2, 1 << 30)
            _deliver(live, results, seconds)  # (for a batch from the worker, done already by _settle)
            if self.on_batch is not None:
                self.on_batch(self, len(live), seconds)

    def _arm_expiry(self) -> None:
        loop = self._event_loop or asyncio.get_running_loop()
        self._expiry = loop.call_later(max(self.queue[0].deadline - time.monotonic(), 0.0), self._expire_due)

    def _expire_due(self) -> None:
        self._expiry = None
        queue, now = self.queue, time.monotonic()
        while queue and queue[0].deadline <= now:
            item = queue.popleft()
            if not item.future.done():
                item.future.set_exception(Shed("waited past the queue deadline"))
        if queue and self._in_worker:
            self._arm_expiry()

    def _run_on_worker(self, items: list[_Item]) -> tuple[list[Any], float, float]:
        """Worker thread: :meth:`_run_logged`, and the CPU time this thread spent on it.

        Whether a batch could run on the loop is judged by that CPU time, not by the wall time: while the loop is
        busy (say, refusing a flood of excess requests), the worker waits for the GIL at every release (Polars
        releases it), so a model that needs 0.2 ms of CPU takes over a millisecond of wall time here and would never
        be trusted on the loop again, just when the loop can least afford the hand-offs. A model that waits on
        something else (I/O, a sleep) also looks cheap here; it is then tried on the loop, where wall time is what
        is measured, and one slow batch there sends it back and doubles the run needed before the next try.
        """
        cpu = time.thread_time()
        results, seconds = self._run_logged(items, on_worker=True)
        return results, seconds, time.thread_time() - cpu

    def _commits_on_worker(self) -> bool:
        """Does the worker run the batches and commit their records (see ``_run_logged``)? Only with a CPU for it
        beside the loop's: on one CPU each hand-off to the worker is a context switch on the loop's CPU (the loop
        served ~30% fewer requests so in the overload benchmark, which pins the server to one CPU)."""
        predlog = self.predlog
        return predlog is not None and predlog.commits_in_caller and self.cpus > 1

    def _run_logged(self, items: list[_Item], on_worker: bool = False) -> tuple[list[Any], float]:
        """Worker thread (or the loop, for a fast model): predict the batch, then log its records in one call.

        On the worker, with a durable SQLite log, the records are committed here, by this thread, and the results
        go back with the batch: the request is answered after its record is committed as always, without handing
        the records to the log writer thread and waiting for it to wake, take the GIL and wake the loop (a hand-off
        that cost ~15% of the server's CPU per request). Otherwise (or when that write fails: the writer retries)
        they are handed to the log writer in one call, which answers the requests once they are committed.
        Building the records here (hash, JSON) keeps that work off the event loop.
        """
        results, seconds = self._run([it.payload for it in items])
        predlog = self.predlog
        if predlog is None:
            return results, seconds
        now, wall = time.perf_counter(), time.time()  # one timestamp for the batch's records: predicted together
        records, deliveries, handed = [], [], []
        for i, (it, res) in enumerate(zip(items, results, strict=True)):
            spec = it.log
            if spec is None or not isinstance(res, list):
                continue
            records.append(prediction_record(spec.request_id, self.name, self.version, now - spec.start,
                                             payload_rows(it.payload), spec.body, self.log_inputs, res,
                                             spec.degraded, spec.shadow, wall))
            deliveries.append((it.future, (res, seconds)))
            handed.append(i)
        if not records:
            return results, seconds
        if on_worker and predlog.commit_here(records):
            return results, seconds
        queued = predlog.submit_many(records, deliveries)
        durable = predlog.mode == "durable"
        for i in handed:
            if not queued and durable:
                results[i] = LogUnavailable("the prediction log is full; the prediction was not recorded")
            elif queued and durable:
                results[i] = _HANDED
        return results, seconds

    def _run(self, payloads: list[Payload]) -> tuple[list[Any], float]:
        """Worker thread: predict the batch as one frame; if its input is refused, check each request alone."""
        try:
            whole = _one_frame(payloads)
        except Exception:  # some request cannot form a table: found and answered below
            whole = None
        if whole is not None:
            start = time.perf_counter()
            try:
                out = self._predict_whole(whole)
            except Exception as exc:
                seconds = time.perf_counter() - start
                if not isinstance(exc, SchemaError) and self._readable(whole):
                    return self._isolate(list(enumerate(map(_frame, payloads))), [None] * len(payloads), exc,
                                         seconds)
            else:
                seconds = time.perf_counter() - start
                return self._split(out, [(i, payload_rows(p)) for i, p in enumerate(payloads)],
                                   [None] * len(payloads), whole, seconds)
        results: list[Any] = [None] * len(payloads)
        valid: list[tuple[int, pl.DataFrame]] = []
        for i, payload in enumerate(payloads):
            try:
                valid.append((i, self.model.validate(_frame(payload))))
            except (SchemaError, BadRequest) as exc:
                results[i] = exc
            except Exception as exc:  # a frame the schema check cannot even read is the caller's error
                results[i] = SchemaError(str(exc))
        if not valid:
            return results, 0.0
        big = valid[0][1] if len(valid) == 1 else pl.concat([f for _, f in valid], how="vertical_relaxed")
        return self._predict(valid, results, big)

    def _readable(self, frame: pl.DataFrame) -> bool:
        """Does the input pass the model's schema check (so a failure is the model's, not the caller's)?"""
        try:
            self.model.validate(frame)
        except Exception:
            return False
        return True

    def _predict(self, valid: list[tuple[int, pl.DataFrame]], results: list[Any], big: pl.DataFrame
                 ) -> tuple[list[Any], float]:
        start = time.perf_counter()
        try:
            out = self._predict_whole(big)
        except SchemaError as exc:
            for i, _ in valid:
                results[i] = exc
            return results, time.perf_counter() - start
        except Exception as exc:
            return self._isolate(valid, results, exc, time.perf_counter() - start)
        seconds = time.perf_counter() - start
        return self._split(out, [(i, f.height) for i, f in valid], results, big, seconds)

    def _isolate(self, frames: list[tuple[int, pl.DataFrame]], results: list[Any], exc: Exception, seconds: float
                 ) -> tuple[list[Any], float]:
        """The model raised on a batch of readable input: find out whose failure it is.

        Each request is predicted alone (a single request once more), so that one request whose values make the
        model raise (say 1e308 for a forest that works in float32) does not fail the others. A request that
        fails again alone is the model's failure (500 or the fallback, counted by the breaker) when the model
        also fails on its reference row, and the input's (:class:`InputFailure`, a 4xx) when it predicts that
        row: otherwise any client could open the breaker for everyone by sending such values. Runs only after a
        failure; a model that fails now and then must fail twice on the same input to be called the input's.
        """
        failed: list[tuple[int, Exception]] = []
        for i, frame in frames:
            try:
                out = self._predict_whole(frame)
            except Exception as alone:
                failed.append((i, alone))
                continue
            self._split(out, [(i, frame.height)], results, frame, seconds)
        if failed:
            model_ok = False
            if self.example is not None:
                try:
                    self._predict_whole(self.example)
                    model_ok = True
                except Exception:
                    model_ok = False
            for i, alone in failed:
                if isinstance(alone, SchemaError):
                    results[i] = alone
                elif model_ok:
                    results[i] = InputFailure(f"model v{self.version} cannot predict this input "
                                              f"({type(alone).__name__}: {alone}); it predicts other input normally")
                else:
                    results[i] = ModelFailure(f"{type(exc).__name__}: {exc}")
        return results, seconds

    def _predict_whole(self, frame: pl.DataFrame) -> pl.DataFrame | dict[str, np.ndarray]:
        """The model's output for a batch: columns as arrays from an assay Model, else the frame ``predict`` gives."""
        # Looked up on the class: a wrapper that forwards attributes (a fallback or fault-injection wrapper) has its
        # own ``predict``, which must be the one called.
        columns = getattr(type(self.model), "_serve_columns", None)
        out = columns(self.model, frame) if columns is not None else None
        return self.model.predict(frame) if out is None else out

    def _split(self, out: pl.DataFrame | dict[str, np.ndarray], sizes: list[tuple[int, int]], results: list[Any],
               inputs: pl.DataFrame, seconds: float) -> tuple[list[Any], float]:
        """Each request's rows of the batch output (or InvalidOutput when one of them is NaN or infinite)."""
        bad = None
        if isinstance(out, dict):
            # Python values exactly as DataFrame.to_dicts gives them (str, float, int, bool), without the frame.
            names = list(out)
            columns = [_python_values(values) for values in out.values()]
            # One sum of the float outputs' Python values first: a NaN or infinity anywhere makes it non-finite, so
            # a finite sum (the usual case) clears the batch for ~2 us where an isfinite per column costs ~10 us;
            # otherwise (or when finite values overflow the sum) the rows are checked one by one.
            floats = [col for values, col in zip(out.values(), columns, strict=True) if values.dtype.kind == "f"]
            if floats and not math.isfinite(sum(map(sum, floats))):
                for values in out.values():
                    if values.dtype.kind == "f":
                        nonfinite = ~np.isfinite(values)
                        bad = nonfinite if bad is None else bad | nonfinite
            rows = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
            first = (names[0], out[names[0]])
        else:
            numeric = [c for c, t in out.schema.items() if t.is_float()]
            if numeric:
                bad = ~np.isfinite(out.select(numeric).to_numpy()).all(axis=1)
            rows = out.to_dicts()
            first = out.to_series(0)
        if bad is not None and not bad.any():
            bad = None  # one check for the batch: a slice and .any() per request cost ~1.5 us each
        offset = 0
        inputs_fault: bool | None = None
        for i, n in sizes:
            if bad is not None and bad[offset:offset + n].any():
                # As for a model that raises (see _isolate): when the reference row still gets a finite answer,
                # the values of this request (1e306 times a coefficient overflows) are what made it non-finite. A
                # 422 for them, not a failure of the model: otherwise any client could open the breaker for all.
                if inputs_fault is None:
                    inputs_fault = self._finite_on_example()
                results[i] = (
                    InputFailure(f"model v{self.version} gives a NaN or infinite prediction for this input (values "
                                 f"far outside those it was trained on?); it predicts other input normally")
                    if inputs_fault else InvalidOutput(f"model v{self.version} returned NaN or infinite values"))
            else:
                results[i] = rows[offset:offset + n]
            offset += n
        self._remember(inputs, first)
        return results, seconds

    def _finite_on_example(self) -> bool:
        """Does the model give finite outputs for its reference row (see ``example``)?"""
        if self.example is None:
            return False
        try:
            out = self._predict_whole(self.example)
        except Exception:
            return False
        columns = out.values() if isinstance(out, dict) else (out[c].to_numpy() for c in out.columns)
        return all(np.isfinite(v).all() for v in columns if np.asarray(v).dtype.kind == "f")

    def _remember(self, inputs: pl.DataFrame, first: pl.Series | tuple[str, np.ndarray]) -> None:
        """Keep the batch's inputs and first output column for drift (made into frames only when read)."""
        self.inputs.append(inputs)
        self.outputs.append(first)
        self.window_count += inputs.height
        while self.window_count - self.inputs[0].height >= self.window_rows and len(self.inputs) > 1:
            self.window_count -= self.inputs.popleft().height
            self.outputs.popleft()

    def window(self) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
        """Recent inputs (cast to the training types) and predictions (up to ``window_rows``)."""
        if not self.inputs:
            return None, None
        ins, outs = list(self.inputs), list(self.outputs)
        # Batches predicted whole are kept as they came (the model checked them while predicting); the schema check
        # that makes them comparable runs here, off the request path.
        checked = [(self.model.validate(i), _output_frame(o)) for i, o in zip(ins, outs, strict=True)]
        return (pl.concat([i for i, _ in checked], how="vertical_relaxed"),
                pl.concat([o for _, o in checked], how="vertical_relaxed"))

    async def drain(self, timeout: float = 30.0) -> None:
        """Stop taking new work, finish what is queued, then stop the batcher (used after a hot swap)."""
        self.closing = True
        end = time.monotonic() + timeout
        await asyncio.sleep(0.2)  # a request that chose this version just before the swap still gets served
        while (self.pending > 0 or self.queue) and time.monotonic() < end:
            await asyncio.sleep(0.01)
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        self._jobs.put(None)
