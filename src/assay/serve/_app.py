"""The prediction server: an explicit routes table over a :class:`Server` that owns models, log and metrics.

Per model name a *slot* holds the production deployment, an optional fallback (previous version or a declared
simpler model), an optional canary (a share of traffic) and an optional shadow (mirrored, never returned). A
prediction passes, in order: admission (bounded in-flight count; past it 503 + Retry-After at once), version choice
(canary share, circuit breaker → fallback marked ``degraded`` or 503, optional switch to the fallback under
pressure), the version's micro-batcher (queue deadline), the durable prediction log, the response (model version
and request id in headers and body). Promotion loads and checks the new version before swapping; in-flight
requests finish on the version they started on.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import contextlib
import gc
import importlib
import json
import logging
import math
import os
import random
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson
import polars as pl
from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from assay.exceptions import AssayError, RegistryError, SchemaError
from assay.registry._store import check_name
from assay.serve._breaker import HALF_OPEN, STATE_CODE, BreakerConfig
from assay.serve._deploy import Deployment, InvalidOutput, LogSpec, ModelFailure, Payload, Shed
from assay.serve._predlog import SHADOW_SUFFIX, LogUnavailable, PredictionLog
from assay.serve._protocols import (
    MLFLOW_CONTENT_TYPES,
    BadRequest,
    NotJSON,
    UnsupportedMedia,
    frame_from_mlflow,
    frame_from_oip,
    oip_datatype,
    oip_output_metadata,
    oip_outputs,
    records_from_body,
)

__all__ = ["ROUTES", "ServeConfig", "Server", "create_app"]

log = logging.getLogger("assay.serve")


@dataclass
class ServeConfig:
    """Every server option (the CLI maps its flags onto these)."""

    registry: str | None = None
    models: list[str] | None = None  # None: every name in the registry
    token: str | None = None  # admin bearer token; None disables the admin endpoints
    max_batch: int = 64
    max_wait: float = 0.002
    max_inflight: int = 256  # predictions admitted at once (queued + computing); more are shed
    # A refusal at capacity to a client that resent at once after its last one (Retry-After ignored) is sent this
    # long after the request: such a client then costs a few hundred refusals a second instead of thousands.
    shed_hold: float = 0.002
    queue_timeout: float = 2.0  # deadline for a request waiting in a batch queue
    degrade_at: int | None = None  # in-flight count above which requests go to the fallback (when there is one)
    fallback: dict[str, str] = field(default_factory=dict)  # name -> "previous" | "none" | "other[:version]"
    default_fallback: str = "previous"
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    log_mode: str = "durable"  # or "async"
    log_inputs: str = "full"  # or "hash"
    max_body: int = 1 << 20
    watch_seconds: float = 2.0  # poll the registry for alias changes (0: only via admin endpoints)
    drift_seconds: float = 30.0
    window_rows: int = 2000
    wrap: str | None = None  # "module:function" applied to every loaded model (fault injection, tracing)
    extra_versions: int = 2  # other registered versions kept loaded after a request asked for one by number (LRU)


_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class _Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "assay_requests", "Prediction requests by outcome", ["model", "version", "status"], registry=r
        )
        self.latency = Histogram(
            "assay_request_seconds",
            "Latency of the predictions clients were answered (admission to response)",
            ["model", "version"],
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
        # Mirrored requests are no client's: counted in assay_request_seconds they would add a shadow's latency
        # to the client-facing one (and to a canary's, when one version is both). Kept apart, same buckets, so
        # that the shadow can still be compared with production side by side.
        self.shadow_latency = Histogram(
            "assay_shadow_request_seconds",
            "Latency of the predictions mirrored to a shadow version (mirror to prediction; never answered)",
            ["model", "version"],
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
        self.batch = Histogram(
            "assay_batch_rows", "Rows per model batch", ["model", "version"], registry=r, buckets=_BATCH_BUCKETS
        )
        self.breaker = Gauge(
            "assay_breaker_state", "Circuit breaker: 0 closed, 1 half-open, 2 open", ["model", "version"], registry=r
        )
        self.shed = Counter(
            "assay_shed",
            "Requests refused (capacity, deadline, breaker) or not mirrored to a shadow (shadow_breaker)",
            ["model", "reason"],
            registry=r,
        )
        self.degraded = Counter("assay_degraded", "Requests answered by the fallback", ["model", "reason"], registry=r)
        self.log_written = Gauge("assay_log_written", "Prediction records committed", registry=r)
        self.log_dropped = Gauge("assay_log_dropped", "Prediction records that could not be written", registry=r)
        self.inflight = Gauge("assay_inflight", "Predictions admitted and not yet answered", registry=r)
        self.drift = Gauge(
            "assay_drift_psi", "PSI of live inputs vs the training profile", ["model", "version", "feature"], registry=r
        )
        self.drift_alerts = Gauge(
            "assay_drift_alerts", "Features (and predictions) drifting", ["model", "version"], registry=r
        )
        self.live = Gauge(
            "assay_live_metric", "Accuracy/F1/RMSE from feedback", ["model", "version", "metric"], registry=r
        )


class _Tally:
    """One version's answered requests (count, latency histogram) and batch sizes, counted in plain Python on the
    event loop and added to its Prometheus series when they are read (``flush``, before every /metrics answer).

    ``Counter.inc`` and ``Histogram.observe`` take a lock and check the metric each time (a histogram two
    increments and a bucket search more): ~3 us of CPU per request for three numbers; here a bisect and three
    additions. Counted only on the loop thread, so no lock is needed.
    """

    __slots__ = (
        "batch",
        "batch_buckets",
        "batch_rows",
        "batches",
        "latency",
        "latency_buckets",
        "ok",
        "requests",
        "seconds",
    )

    def __init__(self, requests: Any, latency: Any, batch: Any) -> None:
        self.requests, self.latency, self.batch = requests, latency, batch  # the Prometheus series
        self.ok = 0
        self.seconds = 0.0
        self.latency_buckets = [0] * (len(_LATENCY_BUCKETS) + 1)  # the last one is +Inf, as Histogram keeps them
        self.batches = 0
        self.batch_rows = 0
        self.batch_buckets = [0] * (len(_BATCH_BUCKETS) + 1)

    def answered(self, seconds: float) -> None:
        self.ok += 1
        self.seconds += seconds
        # a histogram counts a value in the first bucket whose upper bound is >= it (bisect_left)
        self.latency_buckets[bisect.bisect_left(_LATENCY_BUCKETS, seconds)] += 1

    def batched(self, rows: int) -> None:
        self.batches += 1
        self.batch_rows += rows
        self.batch_buckets[bisect.bisect_left(_BATCH_BUCKETS, rows)] += 1

    def flush(self) -> None:
        if self.ok:
            self.requests.inc(self.ok)
            _add_to_histogram(self.latency, self.latency_buckets, self.seconds)
            self.ok, self.seconds = 0, 0.0
        if self.batches:
            _add_to_histogram(self.batch, self.batch_buckets, self.batch_rows)
            self.batches = self.batch_rows = 0


def _add_to_histogram(child: Any, buckets: list[int], total: float) -> None:
    """Add counted observations to a Histogram series (prometheus_client keeps a value per bucket, not
    cumulative, and the sum; it has no public call to add many observations at once)."""
    for i, n in enumerate(buckets):
        if n:
            child._buckets[i].inc(n)
            buckets[i] = 0
    child._sum.inc(total)


class _Slot:
    def __init__(self, name: str) -> None:
        self.name = name
        self.production: Deployment | None = None
        self.fallback: Deployment | None = None
        self.canary: Deployment | None = None
        self.canary_percent = 0.0
        self.shadow: Deployment | None = None
        self.swap_error: str | None = None
        self.lock = asyncio.Lock()

    def deployments(self) -> list[Deployment]:
        seen: dict[int, Deployment] = {}
        for d in (self.production, self.fallback, self.canary, self.shadow):
            if d is not None:
                seen.setdefault(id(d), d)
        return list(seen.values())

    def version(self, v: int) -> Deployment | None:
        return next((d for d in self.deployments() if d.version == v), None)


class HTTPError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.extra = extra


class _RequestIds:
    """Request ids in the UUID version 7 layout (RFC 9562) as 32 hex digits: a millisecond timestamp, then 74
    random bits drawn from the OS 4 KiB at a time.

    Time-ordered, so the prediction log's primary-key index grows at its end: with random (version 4) ids every
    insert lands at a random place in an index that keeps growing, which made a SQLite log's insert cost climb
    from ~12 to ~20 us per row over its first 280k rows where ordered ids stay at ~5 us. The random part keeps ids
    unguessable (feedback is keyed by them). Hand-written because Python 3.11's ``uuid`` has no version 7, and
    ``uuid4`` makes one ``getrandom`` system call per id. Built from slices of the random bytes as hex and the
    timestamp's digits, kept while the millisecond lasts (no big-integer arithmetic per id).
    """

    _DIGITS = 19  # 3 hex digits for rand_a, one whose low 2 bits go under the variant, 15 more for rand_b

    def __init__(self) -> None:
        self._hex = ""
        self._at = 0
        self._ms = -1
        self._prefix = ""
        os.register_at_fork(after_in_child=self._forget)  # a forked child must not reuse the parent's bytes

    def _forget(self) -> None:
        self._hex, self._at = "", 0

    def __call__(self) -> str:
        at = self._at
        if at + self._DIGITS > len(self._hex):
            self._hex, at = os.urandom(4000).hex(), 0
        self._at = at + self._DIGITS
        ms = time.time_ns() // 1_000_000
        if ms != self._ms:
            self._ms, self._prefix = ms, f"{ms & 0xFFFFFFFFFFFF:012x}7"  # 48-bit timestamp, version 7
        h = self._hex
        return self._prefix + h[at : at + 3] + _VARIANT[h[at + 3]] + h[at + 4 : at + 19]


# The variant digit (binary 10xx) from a random hex digit's low two bits.
_VARIANT = {f"{d:x}": "89ab"[d & 3] for d in range(16)}


class _JSONBody(Response):
    """A JSON response whose raw headers are built directly (Starlette's ``init_headers`` lower-cases and scans
    every header for each response; these names are already lower case and content-length/-type are never passed
    in ``headers``)."""

    media_type = "application/json"

    def __init__(self, body: bytes, status: int, headers: dict[str, str] | None) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        raw = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
        if headers:
            raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.raw_headers = raw


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return _JSONBody(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS), status, headers)


def _answer(data: dict[str, Any] | bytes, dep: Deployment, rid: str, degraded: str | None) -> Response:
    """A prediction's 200: ``data`` as JSON (or already encoded), with the request id, model name and version (and
    the degraded reason) as headers X-Request-ID, X-Model-Name, X-Model-Version (X-Assay-Degraded); the
    deployment's two are encoded once, when it is made."""
    body = (
        data
        if isinstance(data, bytes)
        else orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    )
    response = _JSONBody(body, 200, None)
    response.raw_headers += [(b"x-request-id", rid.encode("latin-1")), *dep.answer_headers]
    if degraded:
        response.raw_headers.append((b"x-assay-degraded", degraded.encode("latin-1")))
    return response


_NOT_DEGRADED = b'","degraded":false,"degraded_reason":null,"predictions":'


def _records_answer(rows: list[dict[str, Any]], dep: Deployment, rid: str, degraded: str | None) -> bytes:
    """The plain protocol's answer, ``{"model", "model_version", "request_id", "degraded", "degraded_reason",
    "predictions"}``, from the deployment's encoded start (made once) and the encoded rows: orjson encodes only
    the rows, without a dict built per request around them."""
    middle = (
        _NOT_DEGRADED
        if not degraded
        else (b'","degraded":true,"degraded_reason":' + orjson.dumps(degraded) + b',"predictions":')
    )
    return b"".join(
        (
            dep.answer_start,
            rid.encode("ascii"),
            middle,
            orjson.dumps(rows, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS),
            b"}",
        )
    )


def _load_wrap(spec: str | None) -> Any:
    if not spec:
        return None
    module, _, func = spec.partition(":")
    return getattr(importlib.import_module(module), func)


# Feedback only grows (the first value for a request id is kept), so live metrics are running counts: a refresh reads
# the feedback stored since the one before, less this margin (seconds) for records committed late, instead of every
# prediction and label ever logged (1.8 s of the GIL per 200k labelled requests, every --drift-seconds).
_LIVE_MARGIN = 600.0


class _LiveCounts:
    """One model's live metrics as counts per version: (true, predicted) label pairs for a classifier; the row
    count and the sums of squared and absolute errors, scaled by the largest error, for a regression."""

    def __init__(self, task: str | None) -> None:
        self.task = task
        self.cursor: float | None = None  # the latest feedback time counted
        self.seen: dict[str, float] = {}  # prediction record ids counted (within the margin), with the feedback time
        self.rows: dict[int, int] = {}
        self.pairs: dict[int, collections.Counter[tuple[str, str]]] = {}
        self.errors: dict[int, list[float]] = {}  # [scale, sum of (error/scale)**2, sum of error/scale]

    def add(self, version: int, predictions: list[Any], truths: list[Any], classes: list[Any]) -> None:
        self.rows[version] = self.rows.get(version, 0) + len(truths)
        if self.task == "regression":
            import numpy as np

            err = np.abs(np.asarray(predictions, dtype=float) - np.asarray(truths, dtype=float))
            acc = self.errors.setdefault(version, [0.0, 0.0, 0.0])
            # (scaled by the largest error: squares of errors above ~1e154 overflow to inf, and one such value in
            # the durable log would leave the version's RMSE undefined for good)
            top = float(err.max()) if err.size else 0.0
            if top > acc[0]:
                if math.isfinite(top):
                    ratio = acc[0] / top
                    acc[1], acc[2] = acc[1] * ratio * ratio, acc[2] * ratio
                acc[0] = top
            if acc[0] > 0 and math.isfinite(acc[0]):
                acc[1] += float(np.sum((err / acc[0]) ** 2))
                acc[2] += float(np.sum(err / acc[0]))
            return
        labels = feedback_labels(truths, [*classes, *predictions])
        self.pairs.setdefault(version, collections.Counter()).update(zip(labels, map(str, predictions), strict=True))

    def forget_before(self, when: float | None) -> None:
        """Drop the ids of records whose feedback is older than the margin: no refresh reads them again."""
        if when is not None and len(self.seen) > 10_000:
            self.seen = {rid: ts for rid, ts in self.seen.items() if ts >= when}

    def entry(self, version: int) -> dict[str, Any]:
        n = self.rows[version]
        entry: dict[str, Any] = {"feedback_rows": n}
        if self.task == "regression":
            scale, squares, absolutes = self.errors.get(version, [0.0, 0.0, 0.0])
            entry["rmse"] = scale * math.sqrt(squares / n) if n else 0.0
            entry["mae"] = scale * (absolutes / n) if n else 0.0  # (scale * absolutes may pass the largest float)
            return entry
        pairs = self.pairs.get(version, collections.Counter())
        true: collections.Counter[str] = collections.Counter()
        predicted: collections.Counter[str] = collections.Counter()
        for (t, p), count in pairs.items():
            true[t] += count
            predicted[p] += count
        # macro F1 as scikit-learn gives it: over the true and predicted labels, 0 where it is undefined
        f1 = [2 * pairs[(c, c)] / (true[c] + predicted[c]) if pairs[(c, c)] else 0.0 for c in true.keys() | predicted]
        entry["accuracy"] = sum(pairs[(c, c)] for c in true) / n if n else 0.0
        entry["f1_macro"] = sum(f1) / len(f1) if f1 else 0.0
        if self.task == "clustering":  # cluster numbers are arbitrary: agreement whatever the true labels are called
            entry["adjusted_rand"] = _adjusted_rand(pairs, true, predicted)
        return entry


def _adjusted_rand(pairs: collections.Counter[tuple[str, str]], true: collections.Counter[str],
                   predicted: collections.Counter[str]) -> float:
    """Adjusted Rand index of two labelings from their contingency counts (as scikit-learn's adjusted_rand_score:
    1 for the same partition under any names, about 0 for an unrelated one; 1 when both are one group)."""
    def pairs_of(counts: Any) -> float:
        return sum(c * (c - 1) / 2 for c in counts)

    n = sum(true.values())
    both, rows, cols = pairs_of(pairs.values()), pairs_of(true.values()), pairs_of(predicted.values())
    total = n * (n - 1) / 2
    expected = rows * cols / total if total else 0.0
    top = (rows + cols) / 2
    if top == expected:  # (a single group on both sides, or a single row)
        return 1.0
    return (both - expected) / (top - expected)


class Server:
    """Models, prediction log and metrics behind the routes table."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.slots: dict[str, _Slot] = {}
        self.metrics = _Metrics()
        self.inflight = 0
        # Requests the HTTP protocol has admitted whose handler has not yet run (see shedding_protocol): counted
        # against capacity with ``inflight``, so that one pass of the loop over many connections admits no more
        # than there is room for (the rest would each be refused later, by their handler, at several times the
        # cost of a refusal from the protocol).
        self.reserved = 0
        self.ready = False
        self.started = time.time()
        self.registry: Any = None
        self.predlog: PredictionLog | None = None
        self._wrap = _load_wrap(config.wrap)
        self._tasks: list[asyncio.Task[Any]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self.drift_cache: dict[str, Any] = {}
        self._tallies: dict[tuple[str, int], _Tally] = {}
        # Requests refused at capacity by the HTTP layer, per served model name, counted in plain Python (as the
        # tallies are) and added to assay_shed at each /metrics read: under overload this runs tens of thousands
        # of times a second, and Counter.inc takes a lock each time.
        self.shed_counts: dict[str, int] = {}
        self.request_id = _RequestIds()
        # Versions loaded because a request named them (not production/fallback/canary/shadow), least recently
        # used first, and the loads in progress (concurrent requests for one version share a single load).
        self.extra: collections.OrderedDict[tuple[str, int], Deployment] = collections.OrderedDict()
        self._loading: dict[tuple[str, int], asyncio.Task[Deployment]] = {}
        # name -> why its production version failed to load while no version of it was served (see _load_slot)
        self.load_errors: dict[str, str] = {}
        # name -> the live metrics' running counts (see live_metrics), updated by one thread at a time
        self._live: dict[str, _LiveCounts] = {}
        self._live_lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------------------------
    async def startup(self) -> None:
        from assay.registry import open_registry
        from assay.registry._store import _mask

        loop = asyncio.get_running_loop()
        self.registry = await loop.run_in_executor(None, open_registry, self.config.registry)
        try:
            # (a durable request waits about as long for its log record as it may wait for its batch)
            self.predlog = PredictionLog(
                self.registry.log_target, mode=self.config.log_mode, write_timeout=max(self.config.queue_timeout, 0.5)
            )
        except Exception as exc:  # no log, no durable answers: say which database and why, not only a traceback
            target = _mask(self.registry.log_target.partition("#")[0])
            log.error("cannot open the prediction log %s: %s; the server does not start without it", target, exc)
            raise
        self.predlog.start(loop)
        names = self.config.models or await loop.run_in_executor(None, self.registry.names)
        for name in names:
            try:
                await self._load_slot(name)
            except Exception as exc:  # one broken model must not keep the others from being served
                if name in self.slots:  # an earlier version serves meanwhile (logged by _load_slot)
                    continue
                log.error("model %s could not be loaded: %s", name, exc)
                if self.config.models:  # asked for explicitly: refuse to start without it
                    raise
        # Objects created at start-up (modules, models) live for the whole run: keep them out of the cyclic GC's
        # scans so a full collection under load does not pause every request for tens of milliseconds.
        gc.collect()
        gc.freeze()
        self.ready = True
        if self.config.watch_seconds > 0:
            self._tasks.append(loop.create_task(self._watch()))
        if self.config.drift_seconds > 0:
            self._tasks.append(loop.create_task(self._drift_loop()))
        if self.slots:
            log.info("serving %s", ", ".join(f"{n} v{s.production.version}" for n, s in self.slots.items()))
        else:  # (a mistyped --registry opens a new, empty registry there)
            log.warning(
                "serving no models: the registry %s holds %s; %s",
                _mask(self.registry.location),  # (without a password in a database URI)
                "none that could be loaded" if names else "no models",
                f"models registered there are served within {self.config.watch_seconds:g}s"
                if self.config.watch_seconds > 0
                else "restart the server (or POST /admin/reload) once one is registered",
            )

    async def shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
        for slot in self.slots.values():
            for dep in slot.deployments():
                await dep.drain(timeout=10)
        for dep in self.extra.values():
            if not any(dep in slot.deployments() for slot in self.slots.values()):
                await dep.drain(timeout=10)
        if self.predlog is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.predlog.close)
        log.info(
            "stopped; %d prediction records written, %d dropped",
            self.predlog.written if self.predlog else 0,
            self.predlog.dropped if self.predlog else 0,
        )

    # -- loading and swapping ---------------------------------------------------------------------------------
    def _load_version(self, name: str, version: int) -> tuple[Any, dict[str, Any] | None, pl.DataFrame]:
        """Worker thread: verify and load one version, and check it predicts one row of plausible input (kept: the
        deployment predicts it again to tell a failing model from an input the model cannot take)."""
        mv = self.registry.get(name, version)
        model = self.registry.load(name, version)
        if self._wrap is not None:
            model = self._wrap(model, name, version)
        row = _example_row(model.input_schema, mv.profile)
        example = pl.DataFrame([row], schema={k: _dtype(v) for k, v in model.input_schema.items()})
        model.predict(example)
        return model, mv.profile, example

    async def _deployment(self, name: str, version: int) -> Deployment:
        model, profile, example = await asyncio.get_running_loop().run_in_executor(
            None, self._load_version, name, version
        )
        dep = Deployment(
            name,
            version,
            model,
            profile=profile,
            max_batch=self.config.max_batch,
            max_wait=self.config.max_wait,
            breaker=self.config.breaker,
            window_rows=self.config.window_rows,
            on_batch=self._on_batch,
            predlog=self.predlog,
            log_inputs=self.config.log_inputs,
            admitting=self._admitting,
            example=example,
        )
        dep.start()
        return dep

    def _on_batch(self, dep: Deployment, n: int, seconds: float) -> None:
        self._tally(dep).batched(n)

    def _tally(self, dep: Deployment) -> _Tally:
        """A version's per-request metrics (200 count, latency, batch rows), made once and kept."""
        key = (dep.name, dep.version)
        tally = self._tallies.get(key)
        if tally is None:
            v = str(dep.version)
            tally = self._tallies[key] = _Tally(
                self.metrics.requests.labels(dep.name, v, "200"),
                self.metrics.latency.labels(dep.name, v),
                self.metrics.batch.labels(dep.name, v),
            )
        return tally

    def flush_metrics(self) -> None:
        """Add what the tallies and the capacity refusals counted since the last call to the Prometheus series."""
        for tally in self._tallies.values():
            tally.flush()
        for name, count in self.shed_counts.items():
            if count:
                self.metrics.shed.labels(name, "capacity").inc(count)
                self.shed_counts[name] = 0

    async def _fallback_for(self, name: str, production: int, skip: tuple[int, ...] = ()) -> Deployment | None:
        spec = self.config.fallback.get(name, self.config.default_fallback)
        loop = asyncio.get_running_loop()
        if spec == "none":
            return None
        if spec == "previous":
            return await self._previous(name, production, skip)
        other, _, ref = spec.partition(":")
        version = await loop.run_in_executor(None, self.registry.resolve, other, ref or None)
        return await self._deployment(other, version)

    async def _fallback_or_none(self, name: str, production: int, skip: tuple[int, ...] = ()) -> Deployment | None:
        """:meth:`_fallback_for`, or None (logged) when the declared fallback cannot be had: a missing or broken
        fallback model must not keep the production version from being served."""
        try:
            return await self._fallback_for(name, production, skip)
        except Exception as exc:
            spec = self.config.fallback.get(name, self.config.default_fallback)
            log.error(
                "model %s: fallback %r unusable (%s); serving v%s without a fallback",
                name,
                spec,
                exc,
                production,
                extra={"model": name, "version": production},
            )
            return None

    async def _previous(self, name: str, version: int, skip: tuple[int, ...] = ()) -> Deployment | None:
        """The version served before ``version`` (the alias history, newest first, then lower numbers) that loads;
        None when none does. Versions in ``skip`` (known not to load) are not tried."""
        loop = asyncio.get_running_loop()
        history = await loop.run_in_executor(None, self.registry.history, name)
        versions = [v.version for v in await loop.run_in_executor(None, self.registry.versions, name)]
        candidates = [h["version"] for h in reversed(history) if not h["undone"] and h["version"] != version]
        candidates += sorted((v for v in versions if v < version), reverse=True)
        slot = self.slots.get(name)
        loaded = {d.version: d for d in slot.deployments() if d.name == name} if slot else {}
        tried = set(skip)
        for v in candidates:
            if v in loaded and v in versions:  # typically the version just replaced: reuse it, already warm
                return loaded[v]
            if v in versions and v not in tried:
                tried.add(v)
                try:
                    return await self._deployment(name, v)
                except Exception as exc:  # a broken old version is no fallback; try an older one
                    log.warning("fallback %s v%s unusable: %s", name, v, exc)
        return None

    async def _load_slot(self, name: str, version: int | None = None, commit: Any = None) -> _Slot:
        """Load (or hot-swap to) ``version`` (default: production) of ``name``; the old one drains.

        ``commit`` (a coroutine function): the registry change that makes ``version`` production, run under the
        slot's lock once the version loaded and before it is swapped in (nothing is swapped when it fails). The
        registry watch resolves production under the same lock, so it never sees the swap before the registry
        says so (it swapped the old version back in, and then the new one again)."""
        loop = asyncio.get_running_loop()
        slot = self.slots.get(name) or _Slot(name)
        async with slot.lock:
            target = (
                version if version is not None else await loop.run_in_executor(None, self.registry.resolve, name, None)
            )
            if slot.production is not None and slot.production.version == target:
                if commit is not None:
                    await commit()
                slot.swap_error = None  # (a version that failed to load before is no longer the one wanted)
                return slot
            try:
                new = await self._deployment(name, target)
            except Exception as exc:
                slot.swap_error = f"version {target} failed to load: {exc}"
                if slot.production is None:
                    # Nothing of this name is served yet (start-up, say after a broken version was promoted while
                    # no server ran): serve the version that was in production before it, as a running server
                    # would have kept doing, rather than nothing.
                    self.load_errors[name] = slot.swap_error
                    substitute = await self._previous(name, target, skip=(target,))
                    if substitute is not None:
                        fallback = await self._fallback_or_none(name, substitute.version, skip=(target,))
                        slot.production, slot.fallback = substitute, None if fallback is substitute else fallback
                        self.slots[name] = slot
                log.error(
                    "model %s: %s; %s %s",
                    name,
                    slot.swap_error,
                    "serving" if slot.production else "keeping",
                    f"v{slot.production.version}" if slot.production else "nothing",
                )
                raise
            if commit is not None:
                try:
                    await commit()
                except BaseException:
                    self._spawn(new.drain())
                    raise
            self.load_errors.pop(name, None)
            old, old_fallback, old_canary = slot.production, slot.fallback, slot.canary
            fallback = await self._fallback_or_none(name, target)
            slot.production, slot.fallback, slot.swap_error = new, fallback, None
            if old_canary is not None and old_canary.version == target:
                # the canary's version is production now: its trial is over (it would otherwise keep a share of
                # the traffic on a second copy of the version, with a breaker of its own)
                slot.canary, slot.canary_percent = None, 0.0
                log.info("model %s: canary v%s ended by its promotion", name, target)
            self.slots[name] = slot
            log.info(
                "model %s now serves v%s (fallback: %s)",
                name,
                target,
                f"{fallback.name} v{fallback.version}" if fallback else "none",
            )
            for dep in (old, old_fallback, old_canary):
                self.retire(slot, dep)
        return slot

    def retire(self, slot: _Slot, dep: Deployment | None) -> None:
        """Drain ``dep``, no longer in one of ``slot``'s roles, unless it still serves: in another role, or as a
        version loaded on request (a canary or shadow may be the very deployment of one)."""
        if dep is not None and dep not in slot.deployments() and all(d is not dep for d in self.extra.values()):
            self._spawn(dep.drain())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _watch(self) -> None:
        """Follow the registry: a promote or rollback made elsewhere (CLI) is served within ``watch_seconds``."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.config.watch_seconds)
            try:
                names = self.config.models or await loop.run_in_executor(None, self.registry.names)
                for name in [n for n in self.slots if n not in names]:  # (every version of it deleted)
                    await self._forget_model(name)
                for name in names:
                    try:
                        version = await loop.run_in_executor(None, self.registry.resolve, name, None)
                    except RegistryError:
                        if name in self.slots:
                            await self._forget_model(name)
                        continue
                    slot = self.slots.get(name)
                    if slot is None or slot.production is None or slot.production.version != version:
                        error = slot.swap_error if slot is not None else self.load_errors.get(name)
                        if error and f"version {version} " in error:
                            continue  # already failed on this version; keep serving the old one (or nothing)
                        with contextlib.suppress(Exception):
                            # (production resolved again under the slot's lock: an admin promote may be moving it)
                            await self._load_slot(name)
                    await self._forget_deleted(name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the registry is briefly unreachable: keep serving what is loaded
                log.warning("registry watch failed: %s", exc)

    async def _forget_model(self, name: str) -> None:
        """A served model none of whose versions is registered any more stops being served (404 from then on, as
        for any name the registry does not have); it answered from memory until the server restarted."""
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.registry.versions, name)
        except RegistryError:  # (only a registry that says so: an unreachable one raises something else)
            pass
        else:
            return
        slot = self.slots.get(name)
        if slot is None:
            return
        async with slot.lock:
            if self.slots.get(name) is not slot:
                return
            del self.slots[name]
            gone = slot.deployments()
            for key in [k for k in self.extra if k[0] == name]:
                gone.append(self.extra.pop(key))
            for dep in dict.fromkeys(gone):
                if all(dep not in other.deployments() for other in self.slots.values()):
                    self._spawn(dep.drain())
        log.warning("model %s: no version of it is registered any more; no longer served", name)

    async def _forget_deleted(self, name: str) -> None:
        """Versions of ``name`` deleted from the registry stop being served: one loaded on request is dropped (a
        request for it is then a 404, as for any version the registry does not have), and a deleted fallback is
        replaced by the one the registry now gives; a deleted canary or shadow version ends. (They went on answering
        until the server restarted.)"""
        slot = self.slots.get(name)
        extra = [key for key in self.extra if key[0] == name]
        fallback = slot.fallback if slot is not None else None
        if fallback is not None and fallback.name != name:  # (another model's: its own name is watched)
            fallback = None
        sides = [d for d in (slot.canary, slot.shadow) if d is not None] if slot is not None else []
        if not extra and fallback is None and not sides:
            return
        loop = asyncio.get_running_loop()
        registered = {mv.version for mv in await loop.run_in_executor(None, self.registry.versions, name)}
        for key in extra:
            if key[1] not in registered and key in self.extra:
                dep = self.extra.pop(key)
                log.info("model %s: version %s was deleted from the registry; no longer served", name, key[1])
                if slot is None or dep not in slot.deployments():
                    self._spawn(dep.drain())
        if slot is not None and fallback is not None and fallback.version not in registered:
            async with slot.lock:
                if slot.fallback is fallback and slot.production is not None:
                    replacement = await self._fallback_or_none(name, slot.production.version)
                    slot.fallback = None if replacement is slot.production else replacement
                    log.info(
                        "model %s: fallback v%s was deleted from the registry; fallback now %s",
                        name,
                        fallback.version,
                        f"v{replacement.version}" if replacement else "none",
                    )
                    self.retire(slot, fallback)
        if slot is not None:
            for role in ("canary", "shadow"):
                dep = getattr(slot, role)
                if dep is not None and dep.version not in registered:
                    setattr(slot, role, None)
                    if role == "canary":
                        slot.canary_percent = 0.0
                    log.info("model %s: %s v%s was deleted from the registry; %s ended", name, role, dep.version, role)
                    self.retire(slot, dep)

    # -- prediction path --------------------------------------------------------------------------------------
    def _slot(self, name: str) -> _Slot:
        slot = self.slots.get(name)
        if (slot is None or slot.production is None) and name in self.load_errors:
            raise HTTPError(503, f"model {name!r} is registered but could not be loaded: {self.load_errors[name]}")
        if slot is None or slot.production is None:
            raise HTTPError(404, f"model {name!r} is not served here (serving: {', '.join(self.slots) or 'none'})")
        return slot

    async def predict(
        self, name: str, frame_fn: Any, body: bytes, version: int | None = None, invalid_status: int = 422
    ) -> tuple[list[dict[str, Any]], Deployment, str, str | None]:
        """Admission → version choice → batcher → log. Returns (rows, deployment, request id, degraded reason).
        ``invalid_status``: the status input the schema refuses gets (MLflow's routes answer it with a 400), so that
        the request counter says what the client was told."""
        start = time.perf_counter()
        self.admit_check(name)
        self.inflight += 1
        rid = self.request_id()
        dep: Deployment | None = None
        probe: Deployment | None = None
        try:
            slot = self._slot(name)
            try:
                frame = frame_fn()
            except BadRequest as exc:
                raise HTTPError(400, str(exc)) from exc
            if version is not None and slot.version(version) is None:
                await self._extra_version(slot, version)
            dep, degraded = self._choose(slot, version)
            # A half-open breaker admits a few probe calls and waits for their outcomes: a probe that ends without
            # one (bad input, shed, the client gone) gives its place back (below), or the breaker would wait forever.
            probe = dep if dep.breaker.state == HALF_OPEN else None
            deadline = time.monotonic() + self.config.queue_timeout
            try:
                # the batch worker writes the log record; in durable mode the answer waits for its commit
                rows, seconds = await dep.submit(frame, deadline, LogSpec(rid, body, start, degraded))
                dep.breaker.record(False, seconds)
                probe = None
            except SchemaError as exc:
                self.metrics.requests.labels(name, str(dep.version), str(invalid_status)).inc()
                raise HTTPError(invalid_status, str(exc)) from exc
            except BadRequest as exc:  # records that cannot form a table (found when the batch is built)
                self.metrics.requests.labels(name, str(dep.version), "400").inc()
                raise HTTPError(400, str(exc)) from exc
            except Shed as exc:
                self.metrics.shed.labels(name, "deadline").inc()
                raise HTTPError(503, f"request {exc}; retry", headers={"Retry-After": "1"}) from exc
            except LogUnavailable as exc:
                self.metrics.requests.labels(name, str(dep.version), "503").inc()
                raise HTTPError(503, str(exc), headers={"Retry-After": "1"}) from exc
            except (ModelFailure, InvalidOutput) as exc:
                dep.breaker.record(True, 0.0)
                probe = None
                log.warning(
                    "model %s v%s failed: %s",
                    name,
                    dep.version,
                    exc,
                    extra={"model": name, "version": dep.version, "request_id": rid},
                )
                self.metrics.breaker.labels(name, str(dep.version)).set(STATE_CODE[dep.breaker.state])
                # a failing canary's request goes to the production version (the canary is on trial), any other's
                # to the fallback
                fb = slot.production if dep is slot.canary and dep is not slot.production else slot.fallback
                if fb is None or fb is dep or version is not None:
                    self.metrics.requests.labels(name, str(dep.version), "500").inc()
                    raise HTTPError(500, f"model {name} v{dep.version} failed: {exc}") from exc
                dep, degraded = fb, "error"
                try:
                    rows, seconds = await fb.submit(frame, deadline, LogSpec(rid, body, start, degraded))
                except LogUnavailable as exc2:
                    self.metrics.requests.labels(name, str(fb.version), "503").inc()
                    raise HTTPError(503, str(exc2), headers={"Retry-After": "1"}) from exc2
                except (ModelFailure, InvalidOutput, Shed) as exc2:
                    self.metrics.requests.labels(name, str(fb.version), "503").inc()
                    raise HTTPError(503, f"model and fallback failed: {exc2}", headers={"Retry-After": "1"}) from exc2
            # (the breaker gauge is set after a failure here and for every version whenever /metrics is read)
            if degraded:
                self.metrics.degraded.labels(name, degraded).inc()
            shadow = slot.shadow
            if shadow is not None and shadow is not dep:
                if shadow.breaker.allow():
                    self._spawn(self._shadow(shadow, frame, body, rid))
                else:  # a failing shadow is not called again until its breaker lets probes through
                    self.metrics.shed.labels(name, "shadow_breaker").inc()
            self._tally(dep).answered(time.perf_counter() - start)
            return rows, dep, rid, degraded
        except HTTPError as exc:  # a refusal carries the request id (and the version that refused) like an answer
            exc.headers.setdefault("X-Request-ID", rid)
            if dep is not None:
                exc.headers.setdefault("X-Model-Name", dep.name)
                exc.headers.setdefault("X-Model-Version", str(dep.version))
            raise
        finally:
            self.inflight -= 1
            if probe is not None:
                probe.breaker.release()

    def _admitting(self) -> bool:
        return self.inflight < self.config.max_inflight

    def at_capacity(self) -> bool:
        """No room for another prediction: those in flight and those admitted by the protocol fill it."""
        return self.inflight + self.reserved >= self.config.max_inflight

    def admit_check(self, name: str) -> None:
        """Shed before reading the body when already at capacity (the cheapest possible refusal)."""
        if self.at_capacity():
            self.metrics.shed.labels(name, "capacity").inc()
            raise HTTPError(
                503,
                f"server at capacity ({self.config.max_inflight} predictions in flight); retry",
                headers={"Retry-After": "1"},
            )

    async def _extra_version(self, slot: _Slot, version: int) -> Deployment:
        """A registered version no alias serves, loaded on request (artifact hashes verified, like every load)."""
        key = (slot.name, version)
        dep = self.extra.get(key)
        if dep is not None:
            self.extra.move_to_end(key)
            return dep
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, self.registry.get, slot.name, version)
        except RegistryError as exc:  # (its message names the model, the version and the versions there are)
            raise HTTPError(404, str(exc)) from exc
        if self.config.extra_versions <= 0:
            raise HTTPError(
                404,
                f"model {slot.name} version {version} is not loaded and this server loads no other versions on request",
            )
        task = self._loading.get(key)
        if task is None:
            task = loop.create_task(self._deployment(slot.name, version))
            self._loading[key] = task
            task.add_done_callback(lambda _: self._loading.pop(key, None))
        try:
            dep = await asyncio.shield(task)
        except Exception as exc:  # only this request fails: what is served stays as it was
            log.warning("model %s version %s failed to load on request: %s", slot.name, version, exc)
            raise HTTPError(409, f"model {slot.name} version {version} failed to load: {exc}") from exc
        if key not in self.extra:
            self.extra[key] = dep
            while len(self.extra) > self.config.extra_versions:
                _, old = self.extra.popitem(last=False)
                owner = self.slots.get(old.name)
                if owner is None or old not in owner.deployments():
                    self._spawn(old.drain())
        return self.extra[key]

    def _choose(self, slot: _Slot, version: int | None) -> tuple[Deployment, str | None]:
        if version is not None:
            dep = slot.version(version) or self.extra.get((slot.name, version))
            if dep is None:
                loaded = ", ".join(str(d.version) for d in slot.deployments())
                raise HTTPError(404, f"model {slot.name} version {version} is not loaded (loaded: {loaded})")
            if not dep.breaker.allow():
                raise HTTPError(
                    503,
                    f"circuit open for {slot.name} v{version} ({dep.breaker.last_reason})",
                    headers={"Retry-After": "1", "X-Model-Name": dep.name, "X-Model-Version": str(dep.version)},
                )
            return dep, None
        dep = slot.production
        assert dep is not None
        fb = slot.fallback
        if fb is not None and self.config.degrade_at is not None and self.inflight > self.config.degrade_at:
            return fb, "pressure"
        canary = slot.canary
        if canary is not None and random.random() * 100 < slot.canary_percent and canary.breaker.allow():
            return canary, None  # (a canary whose breaker is open takes no share until it recovers)
        if dep.breaker.allow():
            return dep, None
        self.metrics.breaker.labels(slot.name, str(dep.version)).set(STATE_CODE[dep.breaker.state])
        if fb is not None and fb is not dep and fb.breaker.allow():
            return fb, "breaker_open"
        self.metrics.shed.labels(slot.name, "breaker").inc()
        raise HTTPError(
            503,
            f"circuit open for {slot.name} v{dep.version} ({dep.breaker.last_reason}) and no fallback is available",
            headers={
                "Retry-After": str(max(1, math.ceil(self.config.breaker.open_seconds))),
                "X-Model-Name": dep.name,
                "X-Model-Version": str(dep.version),
            },
        )

    async def _shadow(self, dep: Deployment, frame: Payload, body: bytes, rid: str) -> None:
        start = time.perf_counter()
        try:
            # logged under the mirrored request's id (+ a suffix): feedback sent for that request then scores the
            # shadow version too (its live accuracy or RMSE, next to production's)
            _, seconds = await dep.submit(
                frame,
                time.monotonic() + self.config.queue_timeout,
                LogSpec(rid + SHADOW_SUFFIX, body, start, shadow=True),
            )
            dep.breaker.record(False, seconds)
            status = "200"
        except (ModelFailure, InvalidOutput):
            dep.breaker.record(True, 0.0)
            self.metrics.requests.labels(dep.name, str(dep.version), "shadow_500").inc()
            return
        except Exception:  # no outcome (input it refuses, shed): a half-open probe place is given back
            dep.breaker.release()
            return
        self.metrics.requests.labels(dep.name, str(dep.version), f"shadow_{status}").inc()
        self.metrics.shadow_latency.labels(dep.name, str(dep.version)).observe(time.perf_counter() - start)

    # -- monitoring -------------------------------------------------------------------------------------------
    def drift(self, name: str) -> dict[str, Any]:
        from assay.registry import drift_report

        slot = self._slot(name)
        out: dict[str, Any] = {"model": name, "versions": {}}
        for dep in slot.deployments():
            if dep.profile is None:
                out["versions"][str(dep.version)] = {
                    "note": "no training profile stored for this version; "
                    "register it with reference data to enable drift"
                }
                continue
            inputs, outputs = dep.window()
            if inputs is None:
                out["versions"][str(dep.version)] = {"rows": 0, "features": {}, "alerts": []}
                continue
            report = drift_report(dep.profile, inputs)
            if outputs is not None and "predictions" in dep.profile:
                pred = drift_report(dep.profile["predictions"], outputs)
                report["prediction"] = next(iter(pred["features"].values()), None)
                if pred["alerts"]:
                    report["alerts"].append("prediction")
            for feature, stats in report.get("features", {}).items():
                self.metrics.drift.labels(name, str(dep.version), feature).set(stats["psi"])
            self.metrics.drift_alerts.labels(name, str(dep.version)).set(len(report["alerts"]))
            out["versions"][str(dep.version)] = report
        return out

    async def _drift_loop(self) -> None:
        """Every ``drift_seconds``: each model's drift report and live metrics, so that the Prometheus gauges of
        both are current for a scrape of /metrics (not only after a GET of the model's /drift or /metrics)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.config.drift_seconds)
            for name in list(self.slots):
                try:
                    await loop.run_in_executor(None, self.live_metrics, name)
                except Exception as exc:
                    log.warning("live metrics of %s failed: %s", name, exc)
                try:
                    report = await loop.run_in_executor(None, self.drift, name)
                except Exception as exc:
                    log.warning("drift check of %s failed: %s", name, exc)
                    continue
                self.drift_cache[name] = report
                for version, rep in report["versions"].items():
                    if rep.get("alerts"):
                        log.warning("drift alert", extra={"model": name, "version": version, "features": rep["alerts"]})

    def live_metrics(self, name: str) -> dict[str, Any]:
        """Accuracy and macro F1 (classification) or RMSE and MAE (regression) per version, from feedback."""
        slot = self._slot(name)
        task = slot.production.model.task if slot.production else None
        classes = (slot.production.model.classes or []) if slot.production else []
        assert self.predlog is not None
        # the output a true value is compared with (an anomaly detector's flag was compared with a "prediction" it
        # does not give: accuracy 0 whatever the feedback)
        label = {"anomaly": "anomaly", "clustering": "cluster"}.get(task or "", "prediction")
        with self._live_lock:
            live = self._live.get(name)
            if live is None or live.task != task:
                live = self._live[name] = _LiveCounts(task)
            # Only the feedback stored since the last refresh (less a margin, for records committed late: a shadow's,
            # another server's) is read; what was counted before is known by its record id.
            since = None if live.cursor is None else live.cursor - _LIVE_MARGIN
            for rid, ts, version, outputs, truth in self.predlog.joined_since(name, since):
                if rid in live.seen:
                    continue
                live.seen[rid] = ts
                live.cursor = ts if live.cursor is None else max(live.cursor, ts)
                outputs, truth = json.loads(outputs), json.loads(truth)
                truths = truth if isinstance(truth, list) else [truth]
                # (feedback is checked when it is sent; a value stored before that check, or one a regression cannot
                # read, is left out here rather than failing every version's metrics)
                if len(truths) != len(outputs) or _feedback_problem(truths, len(outputs), task) is not None:
                    continue
                live.add(version, [r.get(label) for r in outputs], truths, classes)
            live.forget_before(None if live.cursor is None else live.cursor - _LIVE_MARGIN)
            result: dict[str, Any] = {"model": name, "task": task, "versions": {}}
            for version in sorted(live.rows):
                entry = live.entry(version)
                for metric, value in entry.items():
                    self.metrics.live.labels(name, str(version), metric).set(value)
                result["versions"][str(version)] = entry
        return result

    def status(self, name: str) -> dict[str, Any]:
        slot = self._slot(name)

        def desc(d: Deployment | None) -> dict[str, Any] | None:
            if d is None:
                return None
            return {
                "name": d.name,
                "version": d.version,
                "breaker": d.breaker.snapshot(),
                "queued": d.pending,
                "window_rows": d.window_count,
            }

        return {
            "model": name,
            "production": desc(slot.production),
            "fallback": desc(slot.fallback),
            "canary": desc(slot.canary),
            "canary_percent": slot.canary_percent,
            "shadow": desc(slot.shadow),
            "last_swap_error": slot.swap_error,
            "inflight": self.inflight,
        }


def _dtype(name: str) -> pl.DataType:
    from assay._fitted import dtype_from_str

    return dtype_from_str(name)


def _example_row(schema: dict[str, str], profile: dict[str, Any] | None) -> dict[str, Any]:
    """A plausible input row (profile medians / most common categories, else zeros) for the load check."""
    cols = (profile or {}).get("columns", {})
    row: dict[str, Any] = {}
    for name, dtype in schema.items():
        ref = cols.get(name)
        if ref and ref["kind"] == "numeric":
            value: Any = ref["quantiles"][len(ref["quantiles"]) // 2]
            if "days" in ref:  # a date column, profiled in days since 1970: its median as the training data wrote it
                value = ref.get("example")
        elif ref and ref["kind"] == "categorical":
            value = next((k for k in ref["freq"] if k != "__other__"), None)
        else:
            dt = _dtype(dtype)
            value = 0 if dt.is_numeric() else (False if dt == pl.Boolean else None)
        if value is not None and _dtype(dtype).is_integer():
            value = round(value)
        row[name] = value
    return row


def feedback_labels(values: list[Any], known: list[Any]) -> list[str]:
    """True labels as the model's own labels (``known``: its classes and predictions) write them, so that a label
    sent as another JSON type is the same class: ``0.0`` or ``"0"`` for class ``0``, ``true`` or ``1`` for class
    ``1`` of a 0/1 target, ``1`` for class ``True``. Other values are kept as their text (a class the model does not
    know counts as a miss).

    >>> feedback_labels([0.0, "2", True, 7, "Adelie"], [0, 1, 2, "Adelie"])
    ['0', '2', '1', '7', 'Adelie']
    """
    by_text: dict[str, str] = {}
    by_number: dict[float, str] = {}
    for label in known:
        text = str(label)
        by_text.setdefault(text, text)
        number = _as_number(label)
        if number is not None:
            by_number.setdefault(number, text)
    out = []
    for value in values:
        text = str(value)
        if text not in by_text:
            number = _as_number(value)
            text = by_number.get(number, text) if number is not None else text
        out.append(by_text.get(text, text))
    return out


def _as_number(value: Any) -> float | None:
    """The number a label stands for (bools as 0/1, numeric text), or None."""
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return 1.0 if lowered == "true" else 0.0
        try:
            number = float(lowered)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _feedback_problem(value: Any, rows: int, task: str | None) -> str | None:
    """What is wrong with a feedback value for a request that predicted ``rows`` rows (None: nothing): one true
    value per predicted row (a list for a multi-row request), numbers for a regression model, single values (text,
    numbers or flags) for a classifier."""
    values = value if isinstance(value, list) else [value]
    if len(values) != rows:
        return (
            f"the request predicted {rows} row(s) and the feedback gives {len(values)} value(s); "
            f'send "values": [one true value per row, in the request\'s order]'
        )
    for i, v in enumerate(values):
        at = f" (row {i})" if rows > 1 else ""
        if task == "regression":
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                return f"a regression model's true value is a finite number; got {v!r}{at}"
        elif v is None or isinstance(v, list | dict):
            return f"a true value is one label (text, number or flag); got {v!r}{at}"
    return None


# ---------------------------------------------------------------------------------------------------------------
# HTTP layer
# ---------------------------------------------------------------------------------------------------------------
_RAISE_LIMIT = " (assay serve --max-body-kb); send the rows in several requests"


async def _body(request: Request, limit: int) -> bytes:
    # The raw header list scanned directly: request.headers would build (and lower-case) a Headers object first.
    length = next((v.decode("latin-1") for k, v in request.scope["headers"] if k == b"content-length"), None)
    if length is not None:
        try:
            if int(length) > limit:
                raise HTTPError(413, f"request body of {length} bytes exceeds the limit of {limit} bytes{_RAISE_LIMIT}")
        except ValueError as exc:
            raise HTTPError(400, "invalid Content-Length header") from exc
    body = getattr(request, "_body", None)
    if body is not None:  # already read (Starlette keeps it here)
        return body
    # The ASGI messages read directly: Starlette's request.stream() is an async generator around the same loop.
    chunks, size = [], 0
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HTTPError(413, f"request body exceeds the limit of {limit} bytes{_RAISE_LIMIT}")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    request._body = body  # so that request.body() and request.stream() still give it
    return body


class Handlers:
    """Endpoint functions; each takes the Starlette request and returns a response."""

    def __init__(self, server: Server) -> None:
        self.s = server

    def _name(self, request: Request) -> str:
        return request.path_params["name"]

    def _version(self, request: Request) -> int | None:
        raw = request.path_params.get("version")
        if raw is None:
            return None
        if not (str(raw).isascii() and str(raw).isdigit()):  # (not "²", which isdigit() also takes)
            raise HTTPError(400, f"version must be a whole number, got {raw!r}")
        return int(raw)

    # plain protocol
    async def predict(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.s.admit_check(name)
        try:
            return await self.predict_body(name, await _body(request, self.s.config.max_body))
        except HTTPError as exc:
            raise _media_refusal(exc, request.scope["headers"], name) from exc

    async def predict_body(self, name: str, body: bytes) -> Response:
        """The plain protocol's answer to ``body`` (also called straight from the HTTP protocol: see
        ``shedding_protocol``)."""
        rows, dep, rid, degraded = await self.s.predict(name, lambda: records_from_body(body), body)
        return _answer(_records_answer(rows, dep, rid, degraded), dep, rid, degraded)

    # MLflow
    async def invocations(self, request: Request) -> Response:
        name = request.path_params.get("name")
        if name is None:
            if len(self.s.slots) != 1:
                return _json(
                    {
                        "error_code": "BAD_REQUEST",
                        "message": (
                            f"this server serves {len(self.s.slots)} models ({', '.join(self.s.slots)}); "
                            f"post to /models/<name>/invocations"
                        ),
                    },
                    400,
                    headers={"X-Request-ID": _OTHER_IDS()},
                )
            name = next(iter(self.s.slots))
        try:
            body = await _body(request, self.s.config.max_body)
        except HTTPError as exc:  # in MLflow's error shape, as its other refusals here
            code = "REQUEST_LIMIT_EXCEEDED" if exc.status == 413 else "BAD_REQUEST"
            return _json({"error_code": code, "message": exc.message}, exc.status,
                         headers={"X-Request-ID": _OTHER_IDS()})
        content_type = request.headers.get("content-type", "")
        try:
            frame = frame_from_mlflow(body, content_type)
        except UnsupportedMedia:
            return Response(
                f"This predictor only supports the following content types: Types: "
                f"{MLFLOW_CONTENT_TYPES}. Got '{content_type}'.",
                status_code=415,
                media_type="text/plain",
                headers={"X-Request-ID": _OTHER_IDS()},
            )
        except BadRequest as exc:
            return _json(
                {"error_code": "BAD_REQUEST", "message": str(exc)}, 400, headers={"X-Request-ID": _OTHER_IDS()}
            )
        try:
            rows, dep, rid, degraded = await self.s.predict(name, lambda: frame, body, invalid_status=400)
        except HTTPError as exc:
            if exc.status in (400, 422):  # MLflow answers every invalid input with a 400 of this shape
                return _json({"error_code": "BAD_REQUEST", "message": exc.message}, 400, headers=exc.headers)
            raise
        predictions = [r.get("prediction", r) for r in rows] if rows and "prediction" in rows[0] else rows
        return _answer(
            {"predictions": predictions, "model_version": dep.version, "request_id": rid, "degraded": bool(degraded)},
            dep,
            rid,
            degraded,
        )

    async def mlflow_ping(self, request: Request) -> Response:
        # (what MLflow's scoring server answers, so that tools probing an MLflow endpoint find this one healthy)
        if not self.s.ready:
            return _json({"error": "no model is served yet"}, 503)
        return Response("\n", media_type="application/json")

    # Open Inference Protocol v2
    async def oip_server(self, request: Request) -> Response:
        from assay import __version__

        return _json({"name": "assay", "version": __version__, "extensions": ["binary_tensor_data"]})

    async def oip_live(self, request: Request) -> Response:
        return _json({"live": True})

    async def oip_ready(self, request: Request) -> Response:
        return _json({"ready": self.s.ready}, 200 if self.s.ready else 503)

    async def oip_model(self, request: Request) -> Response:
        slot = self.s._slot(self._name(request))
        version = self._version(request)
        dep = slot.production if version is None else slot.version(version) or self.s.extra.get((slot.name, version))
        score = True  # (an anomaly detector's score: assay's detectors all give one)
        if dep is not None:
            task, classes, schema, served = dep.model.task, dep.model.classes, dep.model.input_schema, dep.version
            score = hasattr(getattr(dep.model, "estimator", None), "score_samples")
            manifest = dep.model.manifest
        else:  # registered but not loaded: described from its manifest, without loading it
            mv = await self._registered(slot.name, version)
            task, classes, schema, served = (
                mv.manifest.get("task"),
                mv.manifest.get("classes"),
                mv.manifest.get("input_schema") or {},
                mv.version,
            )
            manifest = mv.manifest
        # (named and typed as the answers are: it said "prediction" FP64 for a clustering's "cluster" and an
        # anomaly detector's "anomaly" and "score", and BYTES for a classifier's 0/1/2, answered as INT64)
        ids = (schema.get(manifest.get("user")) or next(iter(schema.values()), None), manifest.get("item_type"))
        if task == "recommendation" and ids[1] is None and dep is not None:  # saved before item_type was kept
            kind = getattr(getattr(dep.model.estimator, "item_ids_", None), "dtype", None)
            ids = (ids[0], {"i": "Int64", "u": "UInt64", "f": "Float64", "b": "Boolean"}.get(getattr(kind, "kind", "")))
        outputs = oip_output_metadata(task, classes, score, ids)
        return _json(
            {
                "name": slot.name,
                "versions": [str(v) for v in await self._requestable(slot)],
                "platform": "assay",
                "inputs": [{"name": k, "datatype": oip_datatype(v), "shape": [-1]} for k, v in schema.items()],
                "outputs": outputs,
            },
            headers={"X-Model-Version": str(served)},
        )

    async def _requestable(self, slot: _Slot) -> list[int]:
        """The versions a client may ask for by number (OIP metadata's ``versions``): every registered one when
        versions are loaded on request (--extra-versions), else the ones loaded now."""
        loaded = {d.version for d in slot.deployments()} | {v for (n, v) in self.s.extra if n == slot.name}
        if self.s.config.extra_versions > 0:
            try:
                registered = await asyncio.get_running_loop().run_in_executor(None, self.s.registry.versions, slot.name)
            except Exception as exc:  # the registry is unreachable now: what is loaded can still be asked for
                log.warning("model %s: cannot list its registered versions: %s", slot.name, exc)
            else:
                loaded |= {mv.version for mv in registered}
        return sorted(loaded)

    async def _registered(self, name: str, version: int | None) -> Any:
        try:
            return await asyncio.get_running_loop().run_in_executor(None, self.s.registry.get, name, version)
        except RegistryError as exc:  # (its message names the model, the version and the versions there are)
            raise HTTPError(404, str(exc)) from exc

    async def oip_model_ready(self, request: Request) -> Response:
        slot = self.s._slot(self._name(request))
        version = self._version(request)
        dep = slot.production if version is None else slot.version(version) or self.s.extra.get((slot.name, version))
        if dep is None:
            mv = await self._registered(slot.name, version)
            hint = "an infer request loads it" if self.s.config.extra_versions > 0 else "promote it to serve it"
            raise HTTPError(503, f"model {slot.name} version {mv.version} is registered but not loaded; {hint}")
        return _json({"name": slot.name, "ready": True}, headers={"X-Model-Version": str(dep.version)})

    async def oip_infer(self, request: Request) -> Response:
        self.s.admit_check(self._name(request))
        body = await _body(request, self.s.config.max_body)
        parsed: dict[str, Any] = {}

        def frame() -> pl.DataFrame:
            f, req = frame_from_oip(body, request.headers.get("inference-header-content-length"))
            parsed.update(req)
            return f

        rows, dep, rid, degraded = await self.s.predict(self._name(request), frame, body, self._version(request))
        requested = [o.get("name") for o in parsed.get("outputs") or [] if isinstance(o, dict)]
        try:
            outputs = oip_outputs(rows, requested)
        except BadRequest as exc:  # (known once predicted: the outputs are the version's, a canary's may differ)
            headers = {"X-Request-ID": rid, "X-Model-Name": dep.name, "X-Model-Version": str(dep.version)}
            raise HTTPError(400, str(exc), headers=headers) from exc
        out = {
            "model_name": dep.name,
            "model_version": str(dep.version),
            "outputs": outputs,
            "parameters": {"request_id": rid, "degraded": bool(degraded)},
        }
        if isinstance(parsed.get("id"), str):
            out["id"] = parsed["id"]
        return _answer(out, dep, rid, degraded)

    # feedback and monitoring
    async def feedback(self, request: Request) -> Response:
        name = self._name(request)
        slot = self.s._slot(name)
        body = await _body(request, self.s.config.max_body)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise HTTPError(400, f"body is not valid JSON: {exc}") from exc
        items = data if isinstance(data, list) else [data]
        if not items or not all(
            isinstance(i, dict) and isinstance(i.get("request_id"), str) and ("value" in i or "values" in i)
            for i in items
        ):
            raise HTTPError(
                400,
                'feedback is {"request_id": "...", "value": true_value} (or "values": [...] for a '
                "multi-row request), or a list of those",
            )
        loop = asyncio.get_running_loop()
        task = slot.production.model.task if slot.production else None
        known, problems, unknown = [], [], 0
        predlog = self.s.predlog
        found = await loop.run_in_executor(None, predlog.predictions, [i["request_id"] for i in items])
        missing = [i["request_id"] for i in items if i["request_id"] not in found]
        if missing and predlog.mode == "async":
            # (answered before its record was written: feedback sent at once found no prediction, a 404)
            await loop.run_in_executor(None, predlog.flush)
            found.update(await loop.run_in_executor(None, predlog.predictions, missing))
        for item in items:
            pred = found.get(item["request_id"])
            if pred is None or pred["model"] != name:
                unknown += 1
                continue
            value = item.get("values", item.get("value"))
            problem = _feedback_problem(value, pred["rows"], task)
            rid = item["request_id"]
            if rid.endswith(SHADOW_SUFFIX):  # (stored under it, it scored nothing)
                mirrored = rid[: -len(SHADOW_SUFFIX)]
                problem = f"{rid} is a shadow's record; send the feedback for {mirrored} (it scores both)"
            if problem is not None:
                problems.append({"request_id": item["request_id"], "error": problem})
            known.append((item["request_id"], value))
        if problems:
            # Nothing is stored: a value stored now could never be corrected (the first value for an id is kept),
            # and one the live metrics cannot use would be left out of them without a word.
            raise HTTPError(
                422,
                f"{len(problems)} feedback item(s) cannot be used; nothing was stored: {problems[0]['error']}",
                invalid=problems[:20],
            )
        inserted = await loop.run_in_executor(
            None, self.s.predlog.add_feedback_many, [(request_id, name, value) for request_id, value in known]
        )
        stored = sum(inserted)
        duplicates = len(inserted) - stored
        status = 404 if unknown and not (stored or duplicates) else 200
        return _json({"stored": stored, "duplicates": duplicates, "unknown_request_ids": unknown}, status)

    async def live_metrics(self, request: Request) -> Response:
        name = self._name(request)
        self.s._slot(name)
        return _json(await asyncio.get_running_loop().run_in_executor(None, self.s.live_metrics, name))

    async def drift(self, request: Request) -> Response:
        name = self._name(request)
        self.s._slot(name)
        return _json(await asyncio.get_running_loop().run_in_executor(None, self.s.drift, name))

    async def status(self, request: Request) -> Response:
        return _json(self.s.status(self._name(request)))

    async def models(self, request: Request) -> Response:
        # (models of the registry none of whose versions could be loaded, and why)
        unavailable = {n: e for n, e in self.s.load_errors.items() if n not in self.s.slots}
        return _json({"models": [self.s.status(n) for n in self.s.slots], "unavailable": unavailable})

    async def metrics(self, request: Request) -> Response:
        s = self.s
        s.flush_metrics()
        if s.predlog is not None:
            s.metrics.log_written.set(s.predlog.written)
            s.metrics.log_dropped.set(s.predlog.dropped)
        s.metrics.inflight.set(s.inflight)
        for slot in s.slots.values():
            for d in slot.deployments():
                s.metrics.breaker.labels(d.name, str(d.version)).set(STATE_CODE[d.breaker.current()])
        return Response(generate_latest(s.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def noop(self, request: Request) -> Response:
        """The same HTTP path without a model: the ceiling a prediction endpoint can reach (benchmarks)."""
        return await self.noop_body(await _body(request, self.s.config.max_body))

    async def noop_body(self, body: bytes) -> Response:
        return _json({"ok": True, "bytes": len(body)})

    # admin (bearer token)
    def _admin(self, request: Request) -> None:
        token = self.s.config.token
        if not token:
            raise HTTPError(403, "admin endpoints are disabled: start the server with --token (or $ASSAY_TOKEN)")
        given = request.headers.get("authorization", "")
        import hmac

        scheme, _, credentials = given.strip().partition(" ")
        # (the scheme's case is the client's: RFC 9110 makes it case-insensitive, and "bearer" was refused as a
        # wrong token)
        if scheme.lower() != "bearer" or not hmac.compare_digest(credentials.strip().encode(), token.encode()):
            msg = "admin endpoints need 'Authorization: Bearer <token>'"
            if scheme.lower() == "bearer":
                msg += " with the server's token (--token or $ASSAY_TOKEN); the token given is not it"
            raise HTTPError(401, msg, headers={"WWW-Authenticate": "Bearer"})

    async def _admin_body(self, request: Request) -> dict[str, Any]:
        body = await _body(request, self.s.config.max_body)
        if not body.strip():
            return {}
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise HTTPError(400, f"body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise HTTPError(400, "body must be a JSON object")
        return data

    async def _registered_version(self, name: str, version: Any) -> int:
        """The version number an admin body's ``version`` (a number or an alias) names: 400 for another kind of
        value, 404 for one the registry does not have."""
        if isinstance(version, bool) or not isinstance(version, int | str):
            raise HTTPError(400, f"version must be a version number or an alias name, got {json.dumps(version)}")
        try:
            return await asyncio.get_running_loop().run_in_executor(None, self.s.registry.resolve, name, version)
        except RegistryError as exc:
            raise HTTPError(404, str(exc)) from exc

    async def _side_version(self, slot: _Slot, version: Any, role: str) -> Deployment:
        """The deployment of ``version`` for a canary or shadow: the one already loaded for it (production,
        fallback or a version loaded on request: one breaker and one set of metrics per version), else loaded."""
        number = await self._registered_version(slot.name, version)
        dep = slot.version(number) or self.s.extra.get((slot.name, number))
        if dep is not None:
            return dep
        try:
            return await self.s._deployment(slot.name, number)
        except Exception as exc:
            raise HTTPError(409, f"{role} version {number} failed to load: {exc}") from exc

    async def admin_promote(self, request: Request) -> Response:
        self._admin(request)
        name, data = self._name(request), await self._admin_body(request)
        loop = asyncio.get_running_loop()
        if data.get("version") is None:
            try:
                version = await loop.run_in_executor(None, self.s.registry.resolve, name, None)
            except RegistryError as exc:
                raise HTTPError(404, str(exc)) from exc
        else:
            version = await self._registered_version(name, data["version"])
        alias = data.get("alias", "production")
        try:
            check_name(alias, "alias")
        except RegistryError as exc:
            raise HTTPError(400, str(exc)) from exc
        if alias != "production":
            # Another alias (staging, say) is not what this server serves: the version is checked as it would be
            # loaded, and only the registry changes (production keeps serving).
            try:
                await loop.run_in_executor(None, self.s.registry.verify, name, version)
            except AssayError as exc:
                msg = f"version {version} of {name} cannot be loaded ({exc}); {alias} not moved"
                raise HTTPError(409, msg) from exc
            await loop.run_in_executor(None, self.s.registry.promote, name, version, alias)
            return _json(self.s.status(name))
        loaded = False

        async def commit() -> None:
            nonlocal loaded
            loaded = True
            await loop.run_in_executor(None, self.s.registry.promote, name, version, alias)

        try:
            # load and check first: a broken version never goes live; the alias moves before the swap
            await self.s._load_slot(name, version, commit=commit)
        except Exception as exc:
            if loaded:  # the registry refused the change: nothing was swapped
                raise
            current = self.s.slots.get(name)
            serving = current.production.version if current and current.production else None
            raise HTTPError(
                409, f"version {version} of {name} failed to load ({exc}); still serving v{serving}", serving=serving
            ) from exc
        return _json(self.s.status(name))

    async def admin_rollback(self, request: Request) -> Response:
        self._admin(request)
        name, data = self._name(request), await self._admin_body(request)
        loop = asyncio.get_running_loop()
        alias = data.get("alias", "production")
        try:
            check_name(alias, "alias")
        except RegistryError as exc:
            raise HTTPError(400, str(exc)) from exc
        registry = self.s.registry
        try:
            version = await loop.run_in_executor(None, partial(registry.rollback, name, alias, dry_run=True))
        except RegistryError as exc:
            raise HTTPError(409, str(exc)) from exc
        # The version rolled back to is checked (production: loaded, then served once the alias moved, as for a
        # promote) before the alias moves: a broken one leaves the registry and what is served as they were.
        loaded, moved = False, version

        async def commit() -> None:
            nonlocal loaded, moved
            loaded = True
            try:
                moved = await loop.run_in_executor(None, registry.rollback, name, alias)
            except RegistryError as exc:  # (changed meanwhile by another writer)
                raise HTTPError(409, str(exc)) from exc

        try:
            if alias == "production":
                await self.s._load_slot(name, version, commit=commit)
            else:  # (not what this server serves: only the registry changes)
                await loop.run_in_executor(None, registry.verify, name, version)
        except Exception as exc:
            if loaded:
                raise
            current = self.s.slots.get(name)
            serving = current.production.version if current and current.production else None
            msg = f"version {version} of {name} failed to load ({exc}); {alias} not rolled back, serving v{serving}"
            raise HTTPError(409, msg, serving=serving) from exc
        if alias != "production":
            await commit()
        elif moved != version:  # another writer moved it in between: serve what it says
            await self.s._load_slot(name, moved)
        return _json(self.s.status(name))

    async def admin_reload(self, request: Request) -> Response:
        self._admin(request)
        loop = asyncio.get_running_loop()
        names = self.s.config.models or await loop.run_in_executor(None, self.s.registry.names)
        errors = {}
        for name in names:
            try:
                await self.s._load_slot(name)
            except Exception as exc:
                errors[name] = str(exc)
        return _json({"models": [self.s.status(n) for n in self.s.slots], "errors": errors}, 409 if errors else 200)

    async def admin_canary(self, request: Request) -> Response:
        self._admin(request)
        name, data = self._name(request), await self._admin_body(request)
        slot = self.s._slot(name)
        percent = data.get("percent", 10)
        if isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 <= percent <= 100:
            raise HTTPError(400, "percent must be a number from 0 to 100")
        version = data.get("version")
        if version is None or percent == 0:
            old, slot.canary, slot.canary_percent = slot.canary, None, 0.0
        else:
            dep = await self._side_version(slot, version, "canary")
            old, slot.canary, slot.canary_percent = slot.canary, dep, float(percent)
        self.s.retire(slot, old)
        return _json(self.s.status(name))

    async def admin_shadow(self, request: Request) -> Response:
        self._admin(request)
        name, data = self._name(request), await self._admin_body(request)
        slot = self.s._slot(name)
        version = data.get("version")
        if version is None:
            old, slot.shadow = slot.shadow, None
        else:
            dep = await self._side_version(slot, version, "shadow")
            old, slot.shadow = slot.shadow, dep
        self.s.retire(slot, old)
        return _json(self.s.status(name))


_RECORDS_BODY = {"content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}}
_MLFLOW_BODY = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "dataframe_split": {"type": "object"},
                    "dataframe_records": {"type": "array", "items": {"type": "object"}},
                    "instances": {"type": "array"},
                    "inputs": {},
                },
            }
        },
        "text/csv": {"schema": {"type": "string"}},
    }
}
_OIP_BODY = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["inputs"],
                "properties": {
                    "id": {"type": "string"},
                    "inputs": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string"},
                                "shape": {"type": "array", "items": {"type": "integer"}},
                                "datatype": {"type": "string"},
                                "data": {"type": "array"},
                            },
                        },
                    },
                    "outputs": {"type": "array", "items": {"type": "object"}},
                },
            }
        }
    }
}
_FEEDBACK_BODY = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["request_id"],
                "properties": {"request_id": {"type": "string"}, "value": {}},
            }
        }
    }
}
_ADMIN_BODY = {"content": {"application/json": {"schema": {"type": "object"}}}}

# method, path, handler, summary, request body schema (OpenAPI) — read top to bottom to see the whole API.
ROUTES: list[tuple[str, str, str, str, dict[str, Any] | None]] = [
    ("POST", "/models/{name}/predict", "predict", "Predict JSON records", _RECORDS_BODY),
    ("POST", "/invocations", "invocations", "MLflow scoring protocol (single served model)", _MLFLOW_BODY),
    ("POST", "/models/{name}/invocations", "invocations", "MLflow scoring protocol", _MLFLOW_BODY),
    ("GET", "/ping", "mlflow_ping", "MLflow scoring server health check (200 once models are served)", None),
    ("GET", "/health", "mlflow_ping", "MLflow scoring server health check (as /ping)", None),
    ("GET", "/v2", "oip_server", "OIP server metadata", None),
    ("GET", "/v2/health/live", "oip_live", "OIP liveness", None),
    ("GET", "/v2/health/ready", "oip_ready", "OIP readiness", None),
    ("GET", "/v2/models/{name}", "oip_model", "OIP model metadata", None),
    ("GET", "/v2/models/{name}/versions/{version}", "oip_model", "OIP model version metadata", None),
    ("GET", "/v2/models/{name}/ready", "oip_model_ready", "OIP model readiness", None),
    ("GET", "/v2/models/{name}/versions/{version}/ready", "oip_model_ready", "OIP version readiness", None),
    ("POST", "/v2/models/{name}/infer", "oip_infer", "OIP inference", _OIP_BODY),
    ("POST", "/v2/models/{name}/versions/{version}/infer", "oip_infer", "OIP inference on one version", _OIP_BODY),
    ("POST", "/models/{name}/feedback", "feedback", "True value for a request id (idempotent)", _FEEDBACK_BODY),
    ("GET", "/models/{name}/metrics", "live_metrics", "Live accuracy/F1 or RMSE per version", None),
    ("GET", "/models/{name}/drift", "drift", "Input and prediction drift per version", None),
    ("GET", "/models/{name}/status", "status", "Versions, breaker states, canary, shadow", None),
    ("GET", "/models/{name}", "status", "A served model's status (as /models/{name}/status)", None),
    ("GET", "/models", "models", "Every served model's status", None),
    ("GET", "/metrics", "metrics", "Prometheus metrics", None),
    ("POST", "/noop", "noop", "HTTP path without a model (benchmark ceiling)", _RECORDS_BODY),
    ("POST", "/admin/models/{name}/promote", "admin_promote", "Load, check and promote a version", _ADMIN_BODY),
    ("POST", "/admin/models/{name}/rollback", "admin_rollback", "Roll production back and serve it", _ADMIN_BODY),
    ("POST", "/admin/models/{name}/canary", "admin_canary", "Send a share of traffic to a version", _ADMIN_BODY),
    ("POST", "/admin/models/{name}/shadow", "admin_shadow", "Mirror traffic to a version", _ADMIN_BODY),
    ("POST", "/admin/reload", "admin_reload", "Re-read the registry and serve production versions", _ADMIN_BODY),
]


# Request ids for responses no prediction made (refusals before one, other routes): every response has one.
_OTHER_IDS = _RequestIds()


def _refusal(exc: HTTPError | AssayError) -> Response:
    """The JSON answer to a refusal raised by a handler (with a request id of its own if it has none)."""
    if isinstance(exc, HTTPError):
        exc.headers.setdefault("X-Request-ID", _OTHER_IDS())
        return _json({"error": exc.message, **exc.extra}, exc.status, headers=exc.headers)
    return _json({"error": str(exc)}, 400, headers={"X-Request-ID": _OTHER_IDS()})


# Bodies the plain protocol reads as JSON: no Content-Type, JSON's, or curl's default for -d (form-urlencoded).
_JSON_TYPES = ("", "application/json", "text/json", "application/x-www-form-urlencoded")


def _media_refusal(exc: HTTPError, headers: list[tuple[bytes, bytes]], name: str) -> HTTPError:
    """A body that is not JSON (a 400) and was declared as another type (CSV, XML, …) is a 415 naming what the
    plain protocol reads and where CSV goes; anything else is left as it is. Checked only on that refusal, so an
    answered request pays nothing for it."""
    if exc.status != 400 or not isinstance(exc.__cause__, NotJSON):
        return exc
    raw = next((v for k, v in headers if k.lower() == b"content-type"), b"")
    mime = raw.decode("latin-1").split(";", 1)[0].strip().lower()
    if mime in _JSON_TYPES or mime.endswith("+json"):
        return exc
    return HTTPError(
        415,
        f"POST /models/{name}/predict reads JSON records (Content-Type: application/json); got {mime!r}"
        f"{f'. For CSV, POST to /models/{name}/invocations' if mime == 'text/csv' else ''}",
        headers=exc.headers,
    )


def _wrap(fn: Any) -> Any:
    async def endpoint(request: Request) -> Response:
        try:
            return await fn(request)
        except (HTTPError, AssayError) as exc:
            return _refusal(exc)

    endpoint.__name__ = fn.__name__
    endpoint.__doc__ = fn.__doc__
    return endpoint


# The prediction routes (and the no-op ceiling, which must take the same path to be a fair ceiling) are dispatched
# straight from the outermost assay layer to their handlers: Starlette's router, FastAPI's per-request dependency
# solving and its exception middlewares cost more CPU than the whole model call for a one-row prediction. Their
# patterns come from ROUTES, so FastAPI still lists them (OpenAPI, /docs) and serves them if this layer is removed.
_HOT_HANDLERS = ("predict", "invocations", "oip_infer", "noop")
_PREDICTION_HANDLERS = ("predict", "invocations", "oip_infer")


def _with_request_id(send: Any) -> Any:
    """``send`` that adds an X-Request-ID header to a response that has none (health, metrics, admin, 404s)."""

    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers") or [])
            if not any(k.lower() == b"x-request-id" for k, _ in headers):
                message = {**message, "headers": [*headers, (b"x-request-id", _OTHER_IDS().encode("latin-1"))]}
        await send(message)

    return wrapped


def _hot_routes() -> list[tuple[re.Pattern[str], str]]:
    return [
        (re.compile("^" + re.sub(r"{(\w+)}", r"(?P<\1>[^/]+)", path) + "$"), handler)
        for method, path, handler, _, _ in ROUTES
        if method == "POST" and handler in _HOT_HANDLERS
    ]


class _Front:
    """Pure ASGI layer in front of the FastAPI router: admission (shedding) and dispatch of the hot routes.

    Past capacity, a prediction request is refused here, before routing or reading its body (the handlers check
    capacity too; this only makes the refusal as cheap as it can be so that a flood of excess requests takes little
    from the accepted ones). Under capacity, a prediction goes directly to its handler (see ``_hot_routes``).
    """

    def __init__(self, app: Any, server: Server, handlers: Handlers) -> None:
        self.app = app
        self.server = server
        self.handlers = handlers
        self.routes = [
            (pattern, _wrap(getattr(handlers, name)), name in _PREDICTION_HANDLERS) for pattern, name in _hot_routes()
        ]
        body = orjson.dumps(
            {"error": f"server at capacity ({server.config.max_inflight} predictions in flight); retry"}
        )
        self.shed_start = {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"1"),
            ],
        }
        self.shed_body = {"type": "http.response.body", "body": body}

    def shed_name(self, path: str) -> str | None:
        """For a POST to ``path``: the model name to count a refusal under when it must be shed now, else None."""
        if not self.server.at_capacity():
            return None
        for pattern, _, prediction in self.routes:
            match = pattern.match(path)
            if match is not None:
                return (match.groupdict().get("name") or "_") if prediction else None
        return None

    def count_shed(self, name: str) -> None:
        counts = self.server.shed_counts
        if name in counts:
            counts[name] += 1
        elif name in self.server.slots:  # kept only for served names: a path is any string a client sends
            counts[name] = 1
        else:
            self.server.metrics.shed.labels(name, "capacity").inc()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            await self.app(scope, receive, _with_request_id(send))
            return
        path = scope["path"]
        for pattern, endpoint, prediction in self.routes:
            match = pattern.match(path)
            if match is None:
                continue
            params = match.groupdict()
            server = self.server
            if prediction and server.at_capacity():
                await self._shed(params.get("name") or "_", send)
                return
            scope["path_params"] = params
            try:
                response = await endpoint(Request(scope, receive))
            except Exception:  # what Starlette's ServerErrorMiddleware would do for these routes
                log.exception("unhandled error in POST %s", path)
                response = _json({"error": "internal server error"}, 500, headers={"X-Request-ID": _OTHER_IDS()})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, _with_request_id(send))

    async def _shed(self, name: str, send: Any) -> None:
        self.count_shed(name)
        # the same messages every time, built once (the server does not keep them), but for the request id
        await send(
            {
                **self.shed_start,
                "headers": [*self.shed_start["headers"], (b"x-request-id", _OTHER_IDS().encode("latin-1"))],
            }
        )
        await send(self.shed_body)


class _HeadWithBody:
    """The connection's transport as one request's response cycle sees it: the response head (status line and
    headers, the cycle's first write) is held and goes out with the first body write, in one ``send``.

    uvicorn writes the head when the app sends ``http.response.start`` and the body on ``http.response.body``:
    two system calls per answer on the event loop thread, which were a large share of its time for the small
    JSON answers of this server. Everything else is the transport's own.
    """

    __slots__ = ("_head", "_started", "_transport")

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self._head: bytes | None = None
        self._started = False

    def write(self, data: bytes) -> None:
        if not self._started:
            self._started = True
            self._head = data
            return
        head = self._head
        if head is not None:
            self._head = None
            data = head + data
        self._transport.write(data)

    def close(self) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head)
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


# A request that arrives within this long (seconds) of its connection's last refusal is a retry sent at once,
# Retry-After ignored; its refusal is held for ``ServeConfig.shed_hold``.
RETRY_AT_ONCE = 0.001


class _Answering:
    """Stands in for uvicorn's request-response cycle while a request dispatched straight from the HTTP protocol
    (see ``shedding_protocol``) is answered: the attributes the protocol reads and sets on its current cycle. A
    request behind it on the connection waits (pipelined) as behind any unfinished cycle, a graceful shutdown
    asks it to close the connection after its answer, and a lost connection marks it disconnected."""

    __slots__ = ("disconnected", "keep_alive", "reserved", "response_complete")

    def __init__(self, keep_alive: bool) -> None:
        self.response_complete = False
        self.disconnected = False
        self.keep_alive = keep_alive
        self.reserved = False  # holds a place of Server.reserved until its handler starts

    @property
    def message_event(self) -> _Answering:
        return self  # the protocol sets its cycle's message event when the connection is lost

    def set(self) -> None:
        pass


# The plain predict route's URL with a model name that needs no percent-decoding (any other form, or a query
# string, goes the ASGI way), matched on the raw URL bytes.
_DIRECT_PREDICT = re.compile(rb"/models/([A-Za-z0-9._~-]+)/predict")


def shedding_protocol(front: _Front) -> type:
    """uvicorn's httptools HTTP/1.1 protocol that sheds past capacity before a request becomes an ASGI task, and
    answers the plain predict route and the no-op straight from the protocol.

    Under overload most requests are refused, so the refusal's cost decides how much CPU is left for the accepted
    ones. Refused in the ASGI layer, each still costs a task, a request-response cycle, header checks and two send
    calls (~25 us of CPU, about what the no-op endpoint costs); refused here, it is one regex match and one
    prebuilt write. The body is read and dropped and the connection stays open (keep-alive), as with the ASGI
    refusal. Requests this layer cannot answer in order (a pipelined request behind one still running, an
    ``Expect: 100-continue``, an upgrade) go the usual way and are refused by the ASGI layer if still at capacity.

    Accepted requests to ``POST /models/{name}/predict`` and ``POST /noop`` (in those same conditions) skip the
    ASGI layers too: their body is collected here and one task runs the handler (``Handlers.predict_body`` /
    ``noop_body``, the same ones the ASGI routes call) and writes its answer, head and body in one write. That
    leaves out, per request, uvicorn's request-response cycle (its event, the ASGI receive and send messages and
    their checks), the proxy-headers middleware, the request object, the route match and the response object's
    send calls. Both routes take this path, so the no-op stays the ceiling of the same stack. The other routes
    (and these in the other cases) go through FastAPI as before.
    """
    import httptools
    from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

    body = front.shed_body["body"]
    tail = b"content-type: application/json\r\ncontent-length: " + str(len(body)).encode() + b"\r\nretry-after: 1\r\n"
    keep, close = tail + b"\r\n" + body, tail + b"connection: close\r\n\r\n" + body
    new_id = front.server.request_id  # a refusal carries its own request id, as every response does
    server, handlers = front.server, front.handlers
    limit = server.config.max_body
    hold = server.config.shed_hold

    def release(cycle: _Answering) -> None:
        """Give back the request's place among ``Server.reserved`` (its handler now counts it in flight)."""
        if cycle.reserved:
            cycle.reserved = False
            server.reserved -= 1

    class SheddingProtocol(HttpToolsProtocol):
        shedding = 0  # 0: not shedding; 1: shedding, keep the connection; 2: shedding, then close it
        refused_at = -1.0  # loop time of this connection's last refusal
        direct: str | None = None  # the request being read is answered from here: "noop" or the model's name
        direct_body: list[bytes]
        direct_size = 0

        def on_message_begin(self) -> None:
            # uvicorn builds the request's ASGI scope here (a dict and a copy of the app state); only requests that
            # go the ASGI way need it, so it is built in on_headers_complete, for them (see _scope).
            self.url = b""
            self.expect_100_continue = False
            self.headers = []

        # The keep-alive timeout: uvicorn arms a timer when a request is answered and cancels it when the next one
        # arrives, a timer made and cancelled per request. Here one timer per connection stays armed and, when it
        # fires, closes the connection only if it has been idle (no request since the last answer) for the whole
        # timeout; otherwise it is set again for the rest (the same closing time as uvicorn's).
        idle_since: float | None = None  # loop time of the last answer while no request is being read or answered

        def _unset_keepalive_if_required(self) -> None:
            self.idle_since = None  # data arrived (or the connection was lost)

        def on_response_complete(self) -> None:
            self.server_state.total_requests += 1
            if self.transport.is_closing():
                return
            self.idle_since = None
            self.flow.resume_reading()
            if self.pipeline:
                cycle, app = self.pipeline.pop()
                self._start_asgi_task(cycle, app)
                return
            self.idle_since = now = self.loop.time()
            if self.timeout_keep_alive_task is None:
                self.timeout_keep_alive_task = self.loop.call_at(now + self.timeout_keep_alive, self._keep_alive_due)

        def _keep_alive_due(self) -> None:
            self.timeout_keep_alive_task = None
            since = self.idle_since
            if since is None:
                return  # a request is in progress: its answer sets the timer again
            due = since + self.timeout_keep_alive
            if due > self.loop.time():
                self.timeout_keep_alive_task = self.loop.call_at(due, self._keep_alive_due)
            else:
                self.timeout_keep_alive_handler()

        def _scope(self) -> None:
            url, headers, expect = self.url, self.headers, self.expect_100_continue
            super().on_message_begin()
            self.url, self.expect_100_continue = url, expect
            self.headers = self.scope["headers"] = headers

        def on_headers_complete(self) -> None:
            parser = self.parser
            method = parser.get_method()
            if (
                method == b"POST"
                and not self.expect_100_continue
                and not self.pipeline
                and (self.cycle is None or self.cycle.response_complete)
                and not parser.should_upgrade()
            ):
                url = self.url
                if url == b"/noop":
                    direct: str | None = "noop"
                else:
                    match = _DIRECT_PREDICT.fullmatch(url)
                    direct = None if match is None else match.group(1).decode("ascii")
                if direct is None:
                    name = front.shed_name(httptools.parse_url(url).path.decode("ascii", "replace"))
                elif direct != "noop" and server.at_capacity():
                    name = direct
                else:
                    name = None
                if name is not None:
                    front.count_shed(name)
                    self.shedding = 1 if parser.should_keep_alive() else 2
                    return
                if direct is not None:
                    self.direct, self.direct_body, self.direct_size = direct, [], 0
                    self.cycle = _Answering(parser.get_http_version() != "1.0" and parser.should_keep_alive())
                    return
            self._scope()
            super().on_headers_complete()
            cycle = self.cycle
            # (A HEAD answer has no body write to carry its head; a 100 Continue must go out before the body.)
            if (
                cycle is not None
                and cycle.transport is self.transport
                and method != b"HEAD"
                and not self.expect_100_continue
            ):
                cycle.transport = _HeadWithBody(self.transport)

        def on_body(self, body: bytes) -> None:
            if self.direct is not None:
                self.direct_size += len(body)
                if self.direct_size <= limit:  # past the limit the body is dropped (and refused with a 413)
                    self.direct_body.append(body)
            elif not self.shedding:
                super().on_body(body)

        def on_message_complete(self) -> None:
            direct = self.direct
            if direct is not None:
                self.direct = None
                refusal = None
                if self.direct_size > limit:  # (this request's headers: a pipelined one may replace them soon)
                    length = next((v.decode("latin-1") for k, v in self.headers if k == b"content-length"), None)
                    refusal = HTTPError(
                        413,
                        f"request body {f'of {length} bytes ' if length else ''}exceeds the limit of {limit} bytes"
                        f"{_RAISE_LIMIT}",
                    )
                cycle = self.cycle
                if direct != "noop":
                    cycle.reserved = True
                    server.reserved += 1
                task = self.loop.create_task(self._answer(cycle, direct, b"".join(self.direct_body), refusal,
                                                          self.headers))
                task.add_done_callback(self.tasks.discard)
                if direct != "noop":
                    task.add_done_callback(lambda _: release(cycle))  # (a task cancelled before it started)
                self.tasks.add(task)  # a graceful shutdown waits for it, as for the ASGI tasks
                return
            if not self.shedding:
                super().on_message_complete()
                return
            refusal = _Answering(self.shedding == 1)
            self.shedding = 0
            now = self.loop.time()
            if hold > 0 and now - self.refused_at < RETRY_AT_ONCE:
                # A client that sent again at once after a refusal: this one is held, as an unfinished response (a
                # request pipelined behind it waits its turn, a graceful shutdown makes it close the connection, a
                # lost connection cancels it). Other refusals go out at once.
                self.cycle = refusal
                self.loop.call_later(hold, self._refuse, refusal)
            else:
                self._refuse(refusal)

        def _refuse(self, refusal: _Answering) -> None:
            refusal.response_complete = True
            if refusal.disconnected or self.transport.is_closing():
                return
            out = [STATUS_LINE[503]]
            for name, value in self.server_state.default_headers:  # date and server, as on every response
                out += [name, b": ", value, b"\r\n"]
            out += [b"x-request-id: ", new_id().encode("ascii"), b"\r\n", keep if refusal.keep_alive else close]
            self.transport.write(b"".join(out))
            self.refused_at = self.loop.time()
            if refusal.keep_alive:
                self.on_response_complete()
            else:
                self.transport.close()

        async def _answer(
            self, cycle: _Answering, direct: str, body: bytes, refusal: HTTPError | None, headers: list[Any]
        ) -> None:
            release(cycle)
            try:
                if refusal is not None:
                    raise refusal
                if direct == "noop":
                    response = await handlers.noop_body(body)
                else:
                    response = await handlers.predict_body(direct, body)
            except HTTPError as exc:  # (``headers``: this request's, kept aside from a pipelined one's)
                response = _refusal(exc if direct == "noop" else _media_refusal(exc, headers, direct))
            except AssayError as exc:
                response = _refusal(exc)
            except Exception:  # what Starlette's ServerErrorMiddleware would do
                log.exception(
                    "unhandled error in POST %s", "/noop" if direct == "noop" else f"/models/{direct}/predict"
                )
                response = _json({"error": "internal server error"}, 500, headers={"X-Request-ID": _OTHER_IDS()})
            cycle.response_complete = True
            if cycle.disconnected:
                return
            out = [STATUS_LINE[response.status_code]]
            for name, value in self.server_state.default_headers:
                out += [name, b": ", value, b"\r\n"]
            for name, value in response.raw_headers:
                out += [name, b": ", value, b"\r\n"]
            if not cycle.keep_alive:
                out.append(b"connection: close\r\n")
            out += [b"\r\n", response.body]
            self.transport.write(b"".join(out))
            if not cycle.keep_alive:
                self.transport.close()
            self.on_response_complete()

    return SheddingProtocol


class _App(FastAPI):
    """FastAPI behind assay's front layer: admission and hot routes are decided before FastAPI's own middlewares."""

    front: Any = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.front(scope, receive, send)


def create_app(config: ServeConfig | None = None) -> FastAPI:
    """The ASGI app (FastAPI for the OpenAPI schema; handlers read bodies themselves with orjson for speed)."""
    config = config or ServeConfig()
    server = Server(config)
    handlers = Handlers(server)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        await server.startup()
        try:
            yield
        finally:
            await server.shutdown()

    from assay import __version__

    app = _App(
        title="assay prediction service", version=__version__, lifespan=lifespan, docs_url="/docs", redoc_url=None
    )
    app.state.server = server
    for method, path, handler, summary, body in ROUTES:
        params = [
            {
                "name": p,
                "in": "path",
                "required": True,
                "schema": {"type": "integer"} if p == "version" else {"type": "string"},
            }
            for p in re.findall(r"{(\w+)}", path)
        ]
        extra: dict[str, Any] = {"parameters": params} if params else {}
        if body is not None:
            extra["requestBody"] = body
        app.add_api_route(
            path,
            _wrap(getattr(handlers, handler)),
            methods=[method],
            summary=summary,
            openapi_extra=extra or None,
            response_class=Response,
            name=f"{handler}:{path}",
        )
        if method == "GET":  # (HEAD too, as HTTP asks of every GET: health probes send it; the server drops the body)
            app.add_api_route(
                path,
                _wrap(getattr(handlers, handler)),
                methods=["HEAD"],
                response_class=Response,
                name=f"{handler}:{path}:head",
                include_in_schema=False,
            )
    app.add_exception_handler(StarletteHTTPException, _routing_error)
    app.front = _Front(super(_App, app).__call__, server, handlers)
    return app


async def _routing_error(request: Request, exc: Any) -> Response:
    """An unknown path (404) or method (405) in the same shape as every other error, ``{"error": "..."}``: the
    shape the Open Inference Protocol gives errors, which its clients (tritonclient) read (FastAPI's is
    ``{"detail": ...}``)."""
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404:
        detail = f"no route {request.method} {request.url.path}; the routes are listed at /docs"
    return _json({"error": detail}, exc.status_code, headers=dict(exc.headers or {}))


class JsonFormatter(logging.Formatter):
    """One JSON object per log line (time, level, logger, message and any ``extra`` fields)."""

    _SKIP = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "color_message"}

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update({k: v for k, v in record.__dict__.items() if k not in self._SKIP})
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return orjson.dumps(data, default=str).decode()


def configure_logging(level: str = "info") -> None:
    """JSON lines on stderr for assay's and uvicorn's loggers, and for Python warnings (a library's
    ``RuntimeWarning`` would otherwise be two lines of plain text among the JSON)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.captureWarnings(True)
    for name in ("assay", "uvicorn", "uvicorn.error", "py.warnings"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
