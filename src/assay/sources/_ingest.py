"""The micro-batch ingest loop behind ``assay ingest``: source → (model) → sink, at-least-once, nothing lost.

For a stream: fetch a micro-batch (``batch_size`` messages or ``batch_seconds``), decode it, set the malformed
messages aside in the quarantine, optionally score it with a model, write it durably to the sink, and only then
acknowledge it. A crash anywhere before the ack replays the batch, and the sink's dedupe on ``_id`` stores each
message once. For a bounded source (SQL, HTTP, files) the batches come from ``source.batches()``, and a SQL source
with ``?watermark=`` saves its watermark after each written batch.

``model`` is a fitted model, or an object whose ``current()`` gives the model for the next batch (a registered
model followed as its alias moves: :class:`~assay.cli._common.FollowedModel`).

The loop stops after ``max_messages``, after ``duration`` seconds, when the source has been idle for ``idle``
seconds, or when ``stop`` is set (``assay ingest`` sets it on Ctrl-C / SIGTERM) — always between batches, so no
batch is lost or half-written.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import polars as pl

from assay.exceptions import SpecError
from assay.sources._base import mask_uri
from assay.sources._credentials import masked_logger
from assay.sources._sinks import Quarantine, Sink
from assay.sources._streams import ID_COLUMN

__all__ = ["IngestStats", "ingest"]

log = masked_logger(__name__)


@dataclass
class IngestStats:
    """What one ingest run did; ``line()`` is the summary ``assay ingest`` prints."""

    messages: int = 0
    written: int = 0
    duplicates: int = 0
    quarantined: int = 0
    batches: int = 0
    lag: int | None = None
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    reason: str = ""

    @property
    def seconds(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        lag = "?" if self.lag is None else f"{self.lag:,}"
        return (f"{self.messages:,} messages in {self.seconds:.1f} s ({self.rate:,.0f}/s): {self.written:,} written, "
                f"{self.duplicates:,} duplicates skipped, {self.quarantined:,} quarantined, lag {lag}")


def _current(model: Any) -> Any:
    """The model to score the next batch with: ``model`` itself, or what its ``current()`` gives."""
    current = getattr(model, "current", None)
    return current() if callable(current) else model


def _score(model: Any, frame: pl.DataFrame) -> pl.DataFrame:
    """Append the model's predictions as columns (input columns kept; a clashing name gets a ``pred_`` prefix)."""
    if frame.height == 0:
        return frame
    preds = model.predict(frame)
    if preds.height != frame.height:
        msg = f"model returned {preds.height} predictions for {frame.height} rows"
        raise SpecError(msg)
    preds = preds.rename({c: f"pred_{c}" for c in preds.columns if c in frame.columns})
    return frame.hstack(preds)


def _score_or_set_aside(model: Any, frame: pl.DataFrame) -> tuple[pl.DataFrame, list[tuple[str, str, bytes]]]:
    """Score the batch; when the model refuses its input, find the rows it refuses (each checked alone), score the
    others and return the refused ones as ``(id, reason, payload)`` for the quarantine. A refusal no single row
    explains is raised as it came."""
    from assay.exceptions import SchemaError

    try:
        return _score(model, frame), []
    except SchemaError as exc:
        refused: list[tuple[int, str]] = []
        for i in range(frame.height):
            try:
                model.validate(frame.slice(i, 1).drop(ID_COLUMN, strict=False))
            except SchemaError as row_exc:
                refused.append((i, f"model input: {row_exc}"))
        if not refused:
            raise
        log.warning("%d of %d message(s) refused by the model (e.g. %s): quarantined, the others scored",
                    len(refused), frame.height, exc)
    rows = frame.to_dicts()
    bad = [(str(rows[i].get(ID_COLUMN, i)), reason,
            orjson.dumps({k: v for k, v in rows[i].items() if k != ID_COLUMN}, default=str)) for i, reason in refused]
    refused_rows = {i for i, _ in refused}
    keep = pl.Series([i not in refused_rows for i in range(frame.height)], dtype=pl.Boolean)
    kept = frame.filter(keep)
    # The refused values made their columns text in this batch ("abc" among numbers); the rows kept were read by
    # the model as its input types, and are written so, not as text that would change the dataset's column type.
    checked = model.validate(kept.drop(ID_COLUMN, strict=False))
    kept = kept.with_columns(checked.get_column(c) for c in checked.columns if c in kept.columns)
    return _score(model, kept), bad


def ingest(
    source: Any,
    sink: Sink,
    *,
    quarantine: Quarantine | None = None,
    model: Any = None,
    batch_size: int = 10_000,
    batch_seconds: float = 1.0,
    max_messages: int | None = None,
    duration: float | None = None,
    idle: float | None = None,
    stop: threading.Event | None = None,
    on_batch: Callable[[IngestStats], None] | None = None,
) -> IngestStats:
    """Move ``source`` into ``sink`` in micro-batches; see the module docstring. Returns what was done."""
    if batch_size < 1:
        msg = f"batch size must be at least 1, got {batch_size}"
        raise SpecError(msg)
    stop = stop or threading.Event()
    stats = IngestStats()
    deadline = None if duration is None else stats.started + duration
    try:
        if hasattr(source, "fetch_batch"):
            _ingest_stream(source, sink, quarantine, model, batch_size, batch_seconds, max_messages, deadline, idle,
                           stop, stats, on_batch)
        else:
            _ingest_bounded(source, sink, model, batch_size, max_messages, deadline, stop, stats, on_batch)
    finally:
        stats.ended = time.monotonic()
        close = getattr(source, "close", None)
        if close is not None:
            close()
        sink.close()
    log.info("ingest %s -> %s: %s", mask_uri(getattr(source, "uri", "?")), mask_uri(sink.target), stats.line())
    return stats


def _ingest_stream(source: Any, sink: Sink, quarantine: Quarantine | None, model: Any, batch_size: int,
                   batch_seconds: float, max_messages: int | None, deadline: float | None, idle: float | None,
                   stop: threading.Event, stats: IngestStats, on_batch: Callable[[IngestStats], None] | None) -> None:
    last_message = time.monotonic()
    while not stop.is_set():
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            stats.reason = "time limit"
            break
        if max_messages is not None and stats.messages >= max_messages:
            stats.reason = "message limit"
            break
        if idle is not None and now - last_message >= idle:
            stats.reason = "source idle"
            break
        want = batch_size if max_messages is None else min(batch_size, max_messages - stats.messages)
        wait = batch_seconds if deadline is None else max(0.01, min(batch_seconds, deadline - now))
        messages = source.fetch_batch(want, wait)
        if not messages:
            stats.lag = source.lag()
            if on_batch is not None:
                on_batch(stats)
            continue
        frame, bad = source.decode(messages)
        if bad:
            if quarantine is None:
                reason = bad[0][1]
                msg = f"{len(bad)} malformed message(s) from {mask_uri(source.uri)} (e.g. {reason}) and no quarantine"
                raise SpecError(msg)
            stats.quarantined += quarantine.write(bad)
        if model is not None:
            scorer = _current(model)
            if quarantine is None:
                frame = _score(scorer, frame)
            else:
                frame, refused = _score_or_set_aside(scorer, frame)
                if refused:
                    stats.quarantined += quarantine.write(refused)
        # durable before the ack below: a crash in between replays the batch, and the sink dedupes the replay
        new = sink.write(frame, replay=any(m.redelivered for m in messages))
        source.ack(messages)
        stats.messages += len(messages)
        stats.written += new
        stats.duplicates += frame.height - new
        stats.batches += 1
        stats.lag = source.lag()
        if on_batch is not None:
            on_batch(stats)
        last_message = time.monotonic()  # idle means waiting with nothing to do, not a slow write
    if stop.is_set() and not stats.reason:
        stats.reason = "interrupted"


def _ingest_bounded(source: Any, sink: Sink, model: Any, batch_size: int, max_messages: int | None,
                    deadline: float | None, stop: threading.Event, stats: IngestStats,
                    on_batch: Callable[[IngestStats], None] | None) -> None:
    commit = getattr(source, "commit", None)
    stats.reason = "end of source"
    for batch in source.batches(batch_size):
        if max_messages is not None and stats.messages + batch.height > max_messages:
            batch = batch.head(max_messages - stats.messages)
        frame = _score(_current(model), batch) if model is not None else batch
        new = sink.write(frame)
        if commit is not None:
            commit(batch)  # the watermark moves only once the rows are durably in the sink
        stats.messages += batch.height
        stats.written += new
        stats.duplicates += frame.height - new
        stats.batches += 1
        if on_batch is not None:
            on_batch(stats)
        if stop.is_set():
            stats.reason = "interrupted"
            break
        if max_messages is not None and stats.messages >= max_messages:
            stats.reason = "message limit"
            break
        if deadline is not None and time.monotonic() >= deadline:
            stats.reason = "time limit"
            break
