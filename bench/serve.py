"""Serving benchmark: single-row predictions from 16 and 64 concurrent clients, localhost only, bounded in time.

Targets, each a real server process on 127.0.0.1:
  - assay: `python -m assay serve` over a registry holding an iris classifier, POST /models/iris/predict
    (micro-batching, breaker, durable prediction log: the full production path);
  - baseline: a hand-written FastAPI endpoint calling a scikit-learn Pipeline (StandardScaler + LogisticRegression)
    on a one-row pandas DataFrame per request (the common pattern);
  - noop: assay's own POST /noop in the same server (same HTTP stack, no model): the ceiling. Both it and the
    predict route are answered by the same path: uvicorn's httptools protocol as subclassed by assay
    (`shedding_protocol`) parses the request, collects the body and starts one task that runs the handler
    (`Handlers.noop_body` / `Handlers.predict_body`) and writes its answer in one write; neither goes through the
    ASGI layers (uvicorn's request-response cycle, proxy-headers middleware, Starlette request/response, FastAPI).
    The prediction then adds what only it does: admission, request id, version choice and breaker, the batcher
    and its worker thread (model, split of the outputs, the prediction log's records and their commit), metrics
    and the answer with its headers;
  - MLflow `models serve` (same scikit-learn pipeline, /invocations with dataframe_records): MLflow is not part of
    assay's lock; give a bench-only interpreter that has it in $MLFLOW_PYTHON, e.g.
      uv venv /tmp/mlflow-venv && uv pip install --python /tmp/mlflow-venv/bin/python mlflow scikit-learn pandas
      MLFLOW_PYTHON=/tmp/mlflow-venv/bin/python .venv/bin/python bench/serve.py
    otherwise it is skipped with a note. Last measured with MLflow 3.17.2 (one whole run while other jobs shared
    the 2 cores, load average 3.0 -> 4.8, which also slowed assay to 8.1k req/s): MLflow 152 req/s at 16 clients (p99
    280 ms, 6.9 ms of server CPU per request), 154 at 64; assay 53.3x and 65.0x its throughput.
Then overload: assay with --max-inflight 16 (server pinned to CPU 0, load generator to CPU 1); p99 of accepted
requests vs the unloaded p99, and how fast the excess is shed (503). Two ways: an open loop offering 3x the measured
capacity (the issue's 3x overload; sends are scheduled whatever the answers, and the share of late sends is
printed), and a closed-loop retry storm (48 clients that resend at once on a 503, ignoring Retry-After: several
times capacity, printed). Both for two models: the iris model above, whose capacity on one CPU (20k+ req/s) is more
than the one-CPU Python generator can offer three times over (the late sends say by how much it fell short), and a
LightGBM model on 30 inputs (breast cancer, trained by assay here), a few thousand req/s, which it can offer at a
true 3x.

Latest (2026-11-25, a quiet 2-CPU machine, load average 0.7 -> 1.8; MLflow 3.17.2 in its own environment): 16 clients
  assay 14796 req/s (p99 2.42 ms), no-op 75482, baseline 455, MLflow 252 -> 32.5x the baseline, 58.7x MLflow, 0.20
  of the no-op; server CPU per request assay 55 us, no-op 13 us, baseline 2213 us, MLflow 4093 us. 64 clients: 55.3x
  the baseline, 106.0x MLflow, 0.31 of the no-op. Overload, LightGBM (unloaded 4267 req/s, p99 9.42 ms): open loop
  at a true 3x (0.0% of sends late) accepted p99 1.22x unloaded (runs 1.22, 1.13, 1.29), shed p99 2.07 ms; retry
  storm (4.3x offered) 1.22x, shed p99 4.41 ms. Iris: retry storm (1.8x offered) 1.25x, shed p99 3.12 ms; "3x" open
  loop 2.22x with 60.8% of its sends late (the one-CPU generator cannot offer 3x of 16k req/s), shed p99 3.41 ms.
  The server's routes gained HEAD answers, registry-deletion handling and stricter OIP checks since the run below;
  the predict and no-op paths are the same and so are the numbers, within the noise.

Before, on a quiet 2-CPU machine after the overload change of 3159749 (load average 0.6 -> 2.3; MLflow installed
  in its own environment): throughput part: 16 clients assay 14810 req/s (p99 3.09 ms), no-op 77606, baseline 435,
  MLflow 247 -> 34.1x the baseline, 60.0x MLflow, 0.19 of the no-op; server CPU per request assay 55 us, no-op 13 us,
  baseline 2316 us, MLflow 4184 us. 64 clients: 57.2x the baseline, 104.7x MLflow, 0.29 of the no-op. Overload part,
  LightGBM only, three runs of the new code interleaved with two of the code before it (b61caf4): open loop at a
  true 3x: accepted p99 1.06x, 1.26x, 1.21x unloaded (before: 1.31x, 1.46x), shed p99 1.75-1.95 ms (before
  1.83-1.92); retry storm (3.9x offered): 1.09x, 1.24x, 1.27x (before: 1.11x, 1.19x), shed p99 4.29-4.47 ms (before
  4.23-4.29). Both goals met on a quiet machine, before and after; the gain the A/B above measured under load shows
  here as slightly lower open-loop ratios.
Whole run before (another 2-CPU machine, nothing else running, load average 0.0 -> 2.2; MLflow 3.17.2 installed):
  16 clients: assay 17540 req/s (p99 2.23 ms), no-op 68212, baseline 481, MLflow 217 -> 36.5x the baseline, 80.7x
  MLflow, 0.26 of the no-op; server CPU per request assay 54 us, no-op 14 us, baseline 2084 us, MLflow 4799 us.
  64 clients: 47.2x the baseline, 96.7x MLflow, 0.33 of the no-op. Overload, LightGBM (unloaded 4116 req/s, p99
  9.62 ms, 239 us of server CPU per request): open loop at a true 3x (0.6% of sends late): accepted p99 2.55x
  unloaded (runs 2.71, 2.55, 2.28): NOT within 2x on this machine; shed p99 3.46 ms; accepted 1478 req/s while
  10.9k sheds a second were answered. Retry storm (3.5x offered): 1.59x, shed p99 5.23 ms. Iris retry storm (1.6x
  offered): 1.91x, shed p99 3.79 ms; iris "3x" open loop (every send late): 3.14x.
Before (load average 1.9 -> 2.1, after the overload section gained the LightGBM model):
  16 clients: assay 23964 req/s (p99 2.04 ms), no-op 88196, baseline 744 -> 32.2x the baseline, 0.27 of the no-op;
  server CPU per request assay 39 us, no-op 11 us, baseline 1347 us. 64 clients: 50.5x, 0.66 of the no-op.
  Overload, LightGBM (unloaded 5976 req/s, p99 7.05 ms, 164 us of server CPU per request): open loop at 3x (0.2% of
  sends late): accepted p99 10.23 ms = 1.45x unloaded (runs 1.24, 1.57, 1.45), shed p99 1.58 ms: both goals met;
  accepted 3405 req/s (the 14.5k sheds a second take ~40% of the CPU: ~18 us each, most of it the kernel's receive
  and send); retry storm (15x offered): accepted p99 4.18x, shed p99 1.96 ms. Overload, iris (unloaded 26838 req/s,
  p99 1.67 ms): the "3x" open loop had 29% of its sends late (not a true 3x): accepted p99 5.50x, shed p99 1.92 ms;
  retry storm (2.8x offered): 4.49x, shed p99 0.97 ms. An earlier overload-only run of the LightGBM model (load
  average 1.4 -> 2.2) gave 1.67x (runs 1.67, 2.28, 1.55) with shed p99 1.4-1.6 ms.
A second whole run right after (load average 1.4 -> 2.0): 16 clients assay 26160 req/s (p99 1.81 ms), 36.6x the
  baseline, 0.28 of the no-op (93564 req/s), server CPU 36 vs 10 us; 64 clients 54.0x, 0.41. LightGBM at a true 3x
  (0.1% late): accepted p99 1.16x unloaded (runs 1.28, 1.01, 1.16), shed p99 1.52 ms; its retry storm (14.9x
  offered) 3.37x. Iris "3x" (66.7% of sends late): 5.00x; its retry storm (2.8x) 3.57x.
With refusals held for 2 ms when a client resends within 1 ms of its last one (--shed-hold-ms; A/B first, 2 rounds
  each, LightGBM on one CPU, load average 0.1 -> 1.8: retry storm accepted p99 4.49 | 3.28x -> 1.30 | 1.19x unloaded,
  accepted 890 | 884 -> 3122 | 3673 req/s, sheds 80k -> 16k a second, shed p99 2.0-2.2 -> 3.8-4.0 ms; open loop at
  3x 2.41 | 1.34x -> 1.64 | 1.47x, within the noise), a whole run (load average 0.9 -> 1.9): 16 clients 33.3x the
  baseline, 0.28 of the no-op, p99 1.92 ms; LightGBM retry storm (3.8x offered) accepted p99 0.97x unloaded, shed
  p99 3.83 ms; LightGBM open loop at a true 3x 1.69x (runs 1.30, 1.74, 1.69), shed p99 2.50 ms; iris retry storm
  (1.7x offered) 1.81x, shed p99 3.03 ms; iris "3x" (every send late: not 3x) 2.86x.

The load generator runs in its own process: one keep-alive HTTP/1.1 connection per client, a bare asyncio.Protocol on
uvloop that parses only the status line and Content-Length (8-11 us of CPU per request in the last runs, printed per
run as "client CPU"), so that on this 2-core machine it takes as little as possible from the server it measures.
"server CPU" is the CPU time of the server process and its children (all threads) per answered request: unlike req/s
it does not depend on how much of the machine the server got, and it is the fairer basis for the ratios when other
work shares the cores. Each setting runs RUNS times for SECONDS; medians are printed with the ratios.
Run: .venv/bin/python bench/serve.py (BENCH_RUNS, BENCH_SECONDS: runs per setting and their length; BENCH_PARTS=overload
runs only the overload part, BENCH_PARTS=throughput only the rest; BENCH_OVERLOAD=lgbm or iris only that model's
overload runs)

Overload, where the accepted requests' tail comes from (LightGBM at 3x, server on one CPU; py-spy on the server): the
event-loop thread is ~90% busy, ~60% of it in the kernel's read and write of requests it refuses (each refusal is
almost all system calls), while the batch worker is idle most of the time (the model ~5% of the CPU). An accepted
request needs ~5 passes of the loop (read; handler: parse and submit; batcher; worker hand-back; answer) and under
the flood each pass also reads and refuses every connection's waiting request (~1 ms). With 16 in flight, accepted
latency = 16 / accepted throughput (Little's law), and accepted throughput falls to 50-60% of the unloaded one (the
refusals' share of the CPU), so the accepted p99 ratio sits near 2 and crosses it whenever the machine is busier.
Kept (interleaved A/B, 6 rounds each, LightGBM, this 2-CPU machine shared with other jobs, load average 3.5 -> 5.3,
benchmark processes at nice -10): (1) requests read in one pass while there was room all passed the protocol's
check and each became a task whose handler refused it a pass later, at several times the cost of the protocol's
refusal; now those admitted count at once (Server.reserved) and the rest are refused by the protocol; (2) a batch
from the worker answers its requests in the pass that takes it back, not a pass later from the batcher. Open loop at
3x: accepted p50 7.9 -> 6.8 ms, accepted 1762 -> 1916 req/s, accepted p99 27.3 -> 22.2 ms, ratio to unloaded 2.09
-> 1.78 (rounds 1.94 | 2.23 | 2.53 | 1.70 | 2.37 | 1.96 -> 1.71 | 1.90 | 0.39 | 1.35 | 2.29 | 1.86); retry storm
ratio 1.81 -> 1.34. A second such A/B of the final code (6 rounds, load average 2.5 -> 3.6): open-loop ratio 1.86 ->
1.64 (rounds 1.84 | 2.05 | 1.87 | 3.04 | 1.39 | 1.16 -> 1.48 | 1.23 | 1.45 | 2.19 | 1.80 | 1.98), accepted p50 7.0 ->
6.3 ms, accepted 2004 -> 2102 req/s, accepted p99 21.2 -> 20.9 ms; retry storm ratio 1.84 -> 1.37. A modest gain in
the middle of the distribution, the tail within the noise of a shared machine. Throughput unchanged within noise
(2 rounds each, load average 2.9 -> 4.4): 16 clients 13874 | 13277 -> 12355 | 14244 req/s, server CPU 51 | 53 ->
54 | 54 us per request, p99 5.5 | 6.6 -> 7.2 | 4.9 ms.
Tried and not kept (same A/B harness): sys.setswitchinterval 0.5 or 1 ms (3 rounds: ratio 1.01 -> 2.70 and 1.47);
the loop blocking up to 2 ms for the worker while a batch runs at capacity on one CPU (4 rounds: ratio 1.81 with it
against 1.54 without); starting the handler within the protocol's read, up to its first wait (6 rounds: ratio 1.24
-> 1.69, accepted 2432 -> 2183 req/s: worse); --log-mode async (a probe: accepted p50 unchanged, so the log
writer's hop is not the cause); the LightGBM batches run on the loop (inline_below 5 ms instead of 1 ms, 4 rounds,
load average 2.2 -> 4.3): accepted p50 7.3 -> 6.1 ms but p99 32.6 -> 57.8 ms, shed p99 10.0 -> 26.6 ms (the loop
stalls for each batch). --max-inflight 8 against 16 at the same 10k req/s offered: accepted p99 24.6 -> 16.5
ms but accepted 2074 -> 1171 req/s: an in-flight bound that shrinks under overload would meet the ratio by giving
up accepted throughput (not done).
Whole run after these (3 x 4 s medians, nice -10, load average 2.7 -> 3.6; MLflow not installed, skipped): 16 clients
assay 15859 req/s (p99 3.48 ms), no-op 60279, baseline 467 -> 34.0x the baseline, 0.26 of the no-op, server CPU 50
vs 2094 us; 64 clients 47.2x. Overload, LightGBM (unloaded 3645 req/s, p99 10.26 ms): open loop at a true 3x (5.3%
of sends late) accepted p99 2.36x unloaded (runs 2.07, 2.78, 2.36): NOT within 2x; shed p99 9.99 ms (NOT within 5);
accepted 1842 req/s while 9.1k sheds a second; retry storm (4.2x offered) 1.33x, shed p99 7.27 ms. Iris (unloaded
12717 req/s, p99 7.48 ms): retry storm (1.7x) 1.09x, shed p99 6.75 ms; "3x" open loop (98.5% of sends late) 1.62x.

Last measured after the HTTP-protocol path above (2 cores, shared with other jobs; defaults: 3 x 4 s medians; MLflow
not installed, skipped), run1 (load average 3.2 -> 1.9) | run2 (3.0 -> 3.6) | run3 (2.1 -> 1.9):
  16 clients: assay 19827 | 18978 | 25074 req/s (p99 4.75 | 4.76 | 1.79 ms), no-op 96066 | 52227 | 76550, baseline
              744 | 582 | 671 -> assay/baseline 26.7x | 32.6x | 37.4x, assay/no-op 0.21 | 0.36 | 0.33; server CPU
              per request assay 37 | 36 | 37 us, no-op 10 | 10 | 11 us, baseline 1351 | 1430 | 1434 us
  64 clients: assay 40278 | 26158 | 29792 req/s (p99 6.9 | 11.0 | 8.4 ms), no-op 99415 | 50698 | 72114 -> 53.0x |
              47.8x | 44.5x, assay/no-op 0.41 | 0.52 | 0.41; server CPU assay 24 | 26 | 27 us, no-op 10 | 10 | 10 us
  overload (server pinned to one CPU): unloaded 26836 | 13136 | 21526 req/s, p99 2.5 | 8.3 | 5.1 ms; retry storm
  (2.9x | 2.7x | 1.6x offered): accepted p99 7.3 | 13.4 | 12.2 ms = 2.95x | 1.61x | 2.38x unloaded, shed p99 0.9 |
  6.3 | 5.4 ms; open loop "3x": accepted p99 9.1 | 19.0 | 8.3 ms = 3.68x | 2.28x | 1.63x unloaded, shed p99 2.0 |
  8.2 | 2.0 ms, with 20.8% | 97.1% | 12.2% of sends late: one Python generator on one CPU can hardly offer 3x a
  capacity of 21-27k req/s (65-80k req/s), so the offered load is below 3x. Neither overload goal is met reliably
  (accepted p99 <= 2x unloaded in one run of three; shed p99 <= 5 ms in four settings of six). An interleaved A/B of
  the overload runs, old and new code, 3 rounds (load average 1.8 -> 2.3), was dominated by noise (the old code's
  unloaded capacity ranged 10.3-17.5k req/s between rounds): open-loop accepted p99 ratio old 2.95 | 1.84 | 5.09,
  new 3.15 | 3.60 | 1.93; storm old 2.77 | 1.24 | 2.50, new 2.01 | 4.69 | 1.43; no change can be claimed either way.
Old and new code interleaved in one harness (same load generator, 3 rounds x 4 s, load average 2.0 -> 2.5): at 16
clients assay 19650 -> 26663 req/s, server CPU 48.2 -> 34.6 us per request (event-loop thread 33-35 -> 20-22 us,
worker ~17 us unchanged), p99 2.8 -> 2.4 ms; the no-op 46774 -> 95620 req/s, 20.8 -> 10.2 us. At 64 clients assay
23552 -> 29928 req/s, 37.3 -> 24.6 us; no-op 20.2 -> 10.1 us. So a prediction costs ~28% less CPU and is served
~35% faster, but the no-op lost the same ~10 us of HTTP machinery and now costs half what it did: assay/no-op fell
from 0.42 to 0.28 at 16 clients (0.21-0.36 in the bench runs above; 0.41-0.52 at 64). The goal of 0.70 is NOT met,
and further from it: the ratio now compares the prediction's own work (~25 us of CPU) with a no-op of ~10 us.
The cuts, each measured A/B (interleaved; in process with a fake transport where the server's run-to-run noise
hides them):
  - the plain predict route and /noop answered from the HTTP protocol (see noop above): as in the previous
    paragraph;
  - the ASGI scope (a dict and a copy of the app state per request) built only for requests that go the ASGI way;
    capacity refusals counted in plain Python and added to assay_shed at each /metrics read: in process a refusal
    4.1 -> 3.5 us, a no-op 7.3 -> 7.05 us;
  - one keep-alive timer per connection (set again when it fires early) instead of one made and cancelled per
    request: a refusal 3.55 -> 2.9 us, a no-op 7.3 -> 6.8 us.
Tried and not kept (this round):
  - smaller batches so that the loop reads the next batch while the worker computes one (--max-batch 8, or
    --max-wait-ms 0): the worker's CPU per request rose 17 -> 27-34 us (its fixed cost per batch is ~100-160 us in
    the server) and req/s fell (25k -> 14-19k);
  - sys.setswitchinterval 0.5 or 1 ms (so the log writer thread gets the GIL sooner from a loop busy shedding, one
    CPU): accepted p99 under overload unchanged within noise;
  - with one CPU, committing a batch's records on the event loop instead of the log writer thread: accepted p99
    under overload 16.5 -> 41 ms (SQLite's WAL checkpoints then stall the loop);
  - the log table WITHOUT ROWID: the same INSERT CPU per 16-row batch in isolation (66 us).
Where the CPU goes now (per-thread CPU from /proc, timers in the worker, 16 clients): the event-loop thread ~20-22 us
per prediction against ~10-12 us for the no-op (all of which is on its loop; about half of both is the kernel's
send and receive); the batch worker ~16.5 us per request at ~16 per batch: the batch itself 8 us (records to frame,
the model's input check and call, the split into rows), building the log records 1.9 us (SHA-256 of the body, the
outputs as JSON) and the multi-row INSERT with its commit 5 us. At 16 clients the clients move in step (one batch
of all 16), so the loop and the worker take turns: a round costs 16 x (loop + worker) and throughput follows it.
For assay/no-op >= 0.7 a prediction would now have to cost ~1.4x the no-op, ~15 us in all, less than the worker
alone spends on the model and the durable log. Under overload the accepted requests' p99 is set by how many
passes of the event loop an accepted request needs (read, batcher, log commit on the writer thread, answer) while
each pass also refuses up to one request per connection, most of whose cost is the kernel's receive and send.
Earlier rounds (same bench, before the protocol path): 16 clients assay 11-14.3k req/s, 67-73 us of server CPU per
request, no-op 29-32k req/s at 30-31 us, assay/no-op 0.34-0.45 (0.55-0.67 at 64 clients); before that 85-86 us.
Their cuts: the answer's head and body in one write; per-request Prometheus series counted in plain Python; the
batcher waiting for as many requests as its last batches held; a worker thread of its own, encoded answer prefixes,
cheaper request ids, one timestamp per batch, the breaker's fast path; one self-committing multi-row INSERT per
batch. Tried then and reverted: a fast batch and its log commit on the event loop with two CPUs (mean batch 14.5 ->
9.7 rows, CPU per request 95 us).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "4"))
PARTS = set(os.environ.get("BENCH_PARTS", "throughput,overload").split(","))
OVERLOAD_MODELS = set(os.environ.get("BENCH_OVERLOAD", "iris,lgbm").split(","))
ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
FEATURES = list(ROW)


# -- load generator (separate process) ------------------------------------------------------------------------
# The generator shares the machine with the server, so each request must cost it as little CPU as possible or the
# numbers measure the client: a bare asyncio.Protocol on uvloop (parsing only the status line and Content-Length)
# instead of asyncio streams. Its own CPU time and the server's are recorded for every run.
def _request(host: str, path: str, body: bytes) -> bytes:
    """One keep-alive HTTP/1.1 POST, built once and resent by a worker."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request outstanding."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"content-length:")
        length = 0
        if at >= 0:
            line_end = head.find(b"\r\n", at)
            length = int(head[at + 15 : line_end if line_end >= 0 else len(head)])
        if len(self.buffer) < end + 4 + length:
            return
        status = int(head[9:12])
        del self.buffer[: end + 4 + length]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("server closed the connection"))

    async def round_trip(self, request: bytes) -> tuple[int, float]:
        """Send ``request``, wait for the whole response; return (status, seconds)."""
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        start = time.perf_counter()
        self.transport.write(request)
        status = await self.waiter
        return status, time.perf_counter() - start


async def _connect(host: str, port: int) -> _Connection:
    _, conn = await asyncio.get_running_loop().create_connection(_Connection, host, port)
    return conn


async def _client(host: str, port: int, path: str, body: bytes, stop_at: float, out: list) -> None:
    conn = await _connect(host, port)
    request = _request(host, path, body)
    try:
        while time.perf_counter() < stop_at:
            out.append(await conn.round_trip(request))
    finally:
        conn.transport.close()


async def _paced(host: str, port: int, path: str, body: bytes, stop_at: float, out: list, ticket, late: list) -> None:
    """Open-loop worker: sends at the scheduled times handed out by ``ticket``.

    Each worker has one connection, so a send is late when the previous answer on it came back after the next
    scheduled time (or the generator itself lagged); how often that happens is reported, since a late send makes
    the offered load lower than claimed.
    """
    conn = await _connect(host, port)
    request = _request(host, path, body)
    try:
        while True:
            due = ticket()
            if due >= stop_at:
                return
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.001:
                late.append(-delay)
            out.append(await conn.round_trip(request))
    finally:
        conn.transport.close()


def _load(args: tuple[str, int, str, bytes, int, float, float, int | None], queue: mp.Queue) -> None:
    import uvloop

    host, port, path, body, clients, seconds, rate, cpu = args
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})

    late: list = []

    async def main() -> list:
        out: list = []
        stop_at = time.perf_counter() + seconds
        if rate <= 0:  # closed loop: each client sends its next request when the previous one is answered
            await asyncio.gather(*[_client(host, port, path, body, stop_at, out) for _ in range(clients)])
            return out
        start, count = time.perf_counter(), [0]

        def ticket() -> float:
            count[0] += 1
            return start + count[0] / rate

        await asyncio.gather(*[_paced(host, port, path, body, stop_at, out, ticket, late) for _ in range(clients)])
        return out

    cpu_start = time.process_time()
    out = uvloop.run(main())
    queue.put((out, time.process_time() - cpu_start, len(late)))


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of process ``pid`` so far (all its threads)."""
    if pid is None:
        return float("nan")
    import psutil

    proc = psutil.Process(pid)
    total = 0.0
    for p in (proc, *proc.children(recursive=True)):  # MLflow serves from child processes
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def run_load(
    port: int,
    path: str,
    body: bytes,
    clients: int,
    seconds: float,
    rate: float = 0.0,
    cpu: int | None = None,
    server_pid: int | None = None,
) -> dict:
    queue: mp.Queue = mp.get_context("spawn").Queue()
    proc = mp.get_context("spawn").Process(
        target=_load, args=(("127.0.0.1", port, path, body, clients, seconds, rate, cpu), queue)
    )
    proc.start()
    server_start = _cpu_seconds(server_pid)
    results, client_cpu, late = queue.get(timeout=seconds + 60)
    server_cpu = _cpu_seconds(server_pid) - server_start  # includes the generator's start-up wait: a bound
    proc.join(30)
    ok = np.array([t for s, t in results if s == 200])
    shed = np.array([t for s, t in results if s == 503])
    other = sum(1 for s, _ in results if s not in (200, 503))
    return {
        "rps": len(ok) / seconds,
        "p50": _pct(ok, 50),
        "p99": _pct(ok, 99),
        "shed": len(shed),
        "shed_p99": _pct(shed, 99),
        "other": other,
        "server_us": server_cpu / max(len(results), 1) * 1e6,
        "client_us": client_cpu / max(len(results), 1) * 1e6,
        "late": late / max(len(results), 1),
    }


def _pct(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q) * 1000) if values.size else float("nan")


# -- servers --------------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(port: int, path: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server on port {port} exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"server on port {port} did not start")


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


BASELINE = textwrap.dedent("""
    import pickle, sys
    import pandas as pd
    from fastapi import FastAPI, Request

    with open(sys.argv[1], "rb") as fh:
        pipe = pickle.load(fh)
    app = FastAPI()

    @app.post("/predict")
    async def predict(request: Request):
        records = await request.json()
        frame = pd.DataFrame(records)
        labels = pipe.predict(frame)
        proba = pipe.predict_proba(frame)
        return {"predictions": [
            {"prediction": str(l), **{f"proba_{c}": float(p) for c, p in zip(pipe.classes_, row)}}
            for l, row in zip(labels, proba)]}

    if __name__ == "__main__":
        import uvicorn
        uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
""")


MLFLOW_SAVE = textwrap.dedent("""
    import sys
    import mlflow.sklearn
    import pandas as pd
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_iris()
    X = pd.DataFrame(data.data, columns=["sepal_length", "sepal_width", "petal_length", "petal_width"])
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, data.target_names[data.target])
    mlflow.sklearn.save_model(pipe, sys.argv[1], input_example=X.head(2))
""")


def main() -> None:
    import pickle

    import pandas as pd
    import polars as pl
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from assay._fitted import Model
    from assay.models import LogisticRegressionGD
    from assay.registry import open_registry

    tmp = Path(tempfile.mkdtemp(prefix="assay-bench-serve-"))
    data = load_iris()
    frame = pl.DataFrame(data.data, schema=FEATURES, orient="row")
    labels = np.asarray(data.target_names)[data.target]
    est = LogisticRegressionGD().fit(frame.to_numpy(), labels)
    model = Model(
        [],
        est,
        task="classification",
        target="species",
        input_schema=dict.fromkeys(FEATURES, "Float64"),
        features=FEATURES,
        classes=[str(c) for c in est.classes_],
    )
    reg = open_registry(tmp / "registry")
    reg.register(model.save(tmp / "model"), "iris", reference=frame)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(
        pd.DataFrame(frame.to_dict(as_series=False)), labels
    )
    (tmp / "pipe.pkl").write_bytes(pickle.dumps(pipe))  # the baseline's own model file, written by this script
    (tmp / "baseline.py").write_text(BASELINE)
    body = json.dumps([ROW]).encode()

    def assay_server(*extra: str, cpu: int | None = None) -> tuple[subprocess.Popen, int]:
        port = _free_port()
        pin = None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu}))
        proc = subprocess.Popen(
            preexec_fn=pin,
            args=[
                sys.executable,
                "-m",
                "assay",
                "serve",
                "--registry",
                str(tmp / "registry"),
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--drift-seconds",
                "0",
                "--watch-seconds",
                "0",
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait(port, "/v2/health/ready", proc)
        return proc, port

    results: dict[str, dict[int, list[dict]]] = {}

    def med(rows: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    def measure(label: str, port: int, path: str, clients: int, pid: int, payload: bytes = body) -> None:
        run_load(port, path, payload, clients, 1.0)  # warm-up
        for _ in range(RUNS):
            results.setdefault(label, {}).setdefault(clients, []).append(
                run_load(port, path, payload, clients, SECONDS, server_pid=pid)
            )

    if "throughput" in PARTS:
        proc, port = assay_server()
        try:
            for clients in (16, 64):
                measure("assay", port, "/models/iris/predict", clients, proc.pid)
                measure("noop", port, "/noop", clients, proc.pid)
        finally:
            _stop(proc)

        bport = _free_port()
        bproc = subprocess.Popen(
            [sys.executable, str(tmp / "baseline.py"), str(tmp / "pipe.pkl"), str(bport)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait(bport, "/docs", bproc)
            for clients in (16, 64):
                measure("fastapi+sklearn+pandas", bport, "/predict", clients, bproc.pid)
        finally:
            _stop(bproc)

    mlflow_python = os.environ.get("MLFLOW_PYTHON")
    mlflow_note = "measured"
    if "throughput" not in PARTS:
        mlflow_note = "skipped: not in BENCH_PARTS"
    elif not mlflow_python or not Path(mlflow_python).exists():
        mlflow_note = "skipped: set MLFLOW_PYTHON to a bench-only interpreter with mlflow (see the docstring)"
    else:
        subprocess.run(
            [mlflow_python, "-c", MLFLOW_SAVE, str(tmp / "mlflow-model")],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        mport = _free_port()
        mproc = subprocess.Popen(
            [
                mlflow_python,
                "-m",
                "mlflow",
                "models",
                "serve",
                "-m",
                str(tmp / "mlflow-model"),
                "-h",
                "127.0.0.1",
                "-p",
                str(mport),
                "--env-manager",
                "local",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PATH": f"{Path(mlflow_python).parent}:{os.environ['PATH']}"},
        )
        try:
            _wait(mport, "/ping", mproc)
            mbody = json.dumps({"dataframe_records": [ROW]}).encode()
            for clients in (16, 64):
                measure("mlflow models serve", mport, "/invocations", clients, mproc.pid, mbody)
        finally:
            _stop(mproc)

    # 3x overload: capacity 16 in flight. Closed loop: 48 clients that retry at once (a flood well past 3x);
    # open loop: requests arrive at 3x the measured capacity whatever the answers (excess ones are not retried).
    # Here the server is pinned to CPU 0 and the load generator to CPU 1 (when there are two), as if the clients
    # were on another machine: otherwise a Python generator flooding the same cores measures itself.
    # Twice: with the iris model above, whose capacity on one CPU (20k+ req/s) is more than one Python generator
    # can offer three times over; and with a LightGBM model on 30 inputs (breast cancer), a few thousand req/s,
    # which the generator can offer at a true 3x.
    pinned = len(os.sched_getaffinity(0)) >= 2
    server_cpu, client_cpu = (0, 1) if pinned else (None, None)

    def overload(name: str, payload: bytes) -> dict[str, list[dict]]:
        proc, port = assay_server("--max-inflight", "16", cpu=server_cpu)
        path = f"/models/{name}/predict"
        try:
            run_load(port, path, payload, 16, 1.0, cpu=client_cpu)
            unloaded = [run_load(port, path, payload, 16, SECONDS, cpu=client_cpu, server_pid=proc.pid)
                        for _ in range(RUNS)]
            capacity = med(unloaded, "rps")
            storm = [run_load(port, path, payload, 48, SECONDS, cpu=client_cpu, server_pid=proc.pid)
                     for _ in range(RUNS)]
            paced = [run_load(port, path, payload, 96, SECONDS, rate=3 * capacity, cpu=client_cpu,
                              server_pid=proc.pid) for _ in range(RUNS)]
        finally:
            _stop(proc)
        return {"unloaded": unloaded, "storm": storm, "paced": paced}

    from sklearn.datasets import load_breast_cancer

    import assay

    overloads = {}
    if "overload" in PARTS and "iris" in OVERLOAD_MODELS:
        overloads["iris logistic regression"] = overload("iris", body)
    if "overload" in PARTS and "lgbm" in OVERLOAD_MODELS:
        cancer = load_breast_cancer()
        inputs = [f"x{i}" for i in range(cancer.data.shape[1])]
        cframe = pl.DataFrame(cancer.data, schema=inputs, orient="row")
        trained = assay.train(cframe.with_columns(pl.Series("diagnosis", cancer.target_names[cancer.target])),
                              target="diagnosis", models=["lgbm"], folds=2, out=str(tmp / "lgbm"), report=False)
        reg.register(trained.model_path, "cancer", reference=cframe)
        overloads["LightGBM, 30 inputs"] = overload(
            "cancer", json.dumps([dict(zip(inputs, cancer.data[0].tolist(), strict=True))]).encode())

    print(f"serving benchmark: {RUNS} runs x {SECONDS:.0f}s per setting, single-row JSON predictions, medians")
    print(
        "server CPU = CPU seconds of the server process(es) per answered request (all threads); client CPU = the "
        "load generator's"
    )
    print(
        f"{'target':<26}{'clients':>8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'server CPU us':>15}"
        f"{'client CPU us':>15}"
    )
    for label, by_clients in results.items():
        for clients, rows in by_clients.items():
            print(
                f"{label:<26}{clients:>8}{med(rows, 'rps'):>10.0f}{med(rows, 'p50'):>9.2f}{med(rows, 'p99'):>9.2f}"
                f"{int(med(rows, 'other')) + int(med(rows, 'shed')):>8}{med(rows, 'server_us'):>15.0f}"
                f"{med(rows, 'client_us'):>15.0f}"
            )
    print(f"mlflow models serve: {mlflow_note}")
    if "mlflow models serve" in results:
        for clients in (16, 64):
            a = med(results["assay"][clients], "rps")
            m = med(results["mlflow models serve"][clients], "rps")
            print(f"{clients} clients: assay/mlflow throughput = {a / m:.2f}x")
    for clients in (16, 64) if "assay" in results else ():
        a = med(results["assay"][clients], "rps")
        b = med(results["fastapi+sklearn+pandas"][clients], "rps")
        n = med(results["noop"][clients], "rps")
        cpu_b = med(results["fastapi+sklearn+pandas"][clients], "server_us")
        cpu_a, cpu_n = med(results["assay"][clients], "server_us"), med(results["noop"][clients], "server_us")
        print(
            f"{clients} clients: assay/baseline throughput = {a / b:.2f}x (goal >= 8), "
            f"assay/noop = {a / n:.2f} (goal >= 0.70); server CPU per request baseline/assay = {cpu_b / cpu_a:.2f}x,"
            f" noop/assay = {cpu_n / cpu_a:.2f}"
        )
    if "assay" in results:
        print(f"assay p99 at 16 clients = {med(results['assay'][16], 'p99'):.2f} ms (goal <= 25)")
    where = "server on CPU 0, clients on CPU 1" if pinned else "server and clients share the CPUs"
    for label, runs in overloads.items():
        unloaded, storm, paced = runs["unloaded"], runs["storm"], runs["paced"]
        capacity, up99 = med(unloaded, "rps"), med(unloaded, "p99")
        print(f"overload, {label} ({where}); unloaded (max-inflight 16, 16 clients): {capacity:.0f} req/s, "
              f"p99 = {up99:.2f} ms, server CPU {med(unloaded, 'server_us'):.0f} us per request")
        offered = (med(storm, "rps") + med(storm, "shed") / SECONDS) / capacity
        op99 = med(storm, "p99")
        print(
            f"  closed-loop flood (48 clients retrying at once, ignoring Retry-After: {offered:.1f}x capacity "
            f"offered): accepted p99 = {op99:.2f} ms -> ratio {op99 / up99:.2f} (goal <= 2); accepted "
            f"{med(storm, 'rps'):.0f} req/s, shed {med(storm, 'shed') / SECONDS:.0f} req/s with p99 "
            f"{med(storm, 'shed_p99'):.2f} ms (goal <= 5)"
        )
        pp99 = med(paced, "p99")
        each = ", ".join(f"{r['p99'] / up99:.2f}" for r in paced)
        print(
            f"  open loop at 3x capacity ({3 * capacity:.0f} req/s offered): accepted p99 = {pp99:.2f} ms -> ratio "
            f"{pp99 / up99:.2f} (goal <= 2; runs: {each}); accepted "
            f"{med(paced, 'rps'):.0f} req/s, shed {med(paced, 'shed') / SECONDS:.0f} req/s with p99 "
            f"{med(paced, 'shed_p99'):.2f} ms (goal <= 5); {med(paced, 'late') * 100:.1f}% of sends late by > 1 ms"
        )

if __name__ == "__main__":
    main()
