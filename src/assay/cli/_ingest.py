"""``assay ingest SOURCE --to SINK``: move a stream (or a table, an API) into a Parquet dataset or a SQL table."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import typer

from assay.cli._common import MODEL_REF_HELP, load_model_ref
from assay.exceptions import SpecError

__all__ = ["parse_duration", "register"]

EXAMPLES = """
Examples:

  assay ingest redis://localhost:6379/orders --to data/orders/ --for 10m

  assay ingest nats://localhost:4222/sensors --to postgresql://localhost/db?table=readings --max-messages 100000

  assay ingest mqtt://localhost/plant/line1 --to scores/ --model assay-out/model

  assay ingest redis://localhost/orders --to scores/ --model models:/churn/production

  assay ingest "postgresql://localhost/shop?table=orders&watermark=updated_at" --to data/orders/
"""

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds in ``30s``, ``5m``, ``1h``, ``250ms`` or a plain number of seconds.

    >>> parse_duration("5m"), parse_duration("250ms"), parse_duration("2")
    (300.0, 0.25, 2.0)
    """
    text = text.strip().lower()
    for unit in sorted(_UNITS, key=len, reverse=True):
        if text.endswith(unit):
            number = text[: -len(unit)]
            break
    else:
        unit, number = "s", text
    try:
        value = float(number) * _UNITS[unit]
    except ValueError:
        msg = f"cannot read duration {text!r}; write e.g. 30s, 5m, 1h or 250ms"
        raise SpecError(msg) from None
    if value <= 0:
        msg = f"duration must be positive, got {text!r}"
        raise SpecError(msg)
    return value


class _Progress:
    """A live one-line status on a terminal (messages/s, lag, quarantined), redrawn at most 4 times a second."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.last = 0.0

    def __call__(self, stats: Any) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.last < 0.25:
            return
        self.last = now
        sys.stderr.write(f"\r\x1b[Kingest: {stats.line()}")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def register(app: typer.Typer) -> None:
    @app.command("ingest", help="Ingest a stream, table or API into a Parquet dataset or SQL table, "
                                "at-least-once with idempotent writes." + EXAMPLES)
    def ingest_command(
        source: str = typer.Argument(..., help="What to read: redis://, nats://, mqtt://, amqp://, tcp://, udp://, "
                                               "a SQL URI, an http(s) API or a file."),
        to: str = typer.Option(..., "--to", help="A directory (Parquet dataset) or a SQL URI with ?table=."),
        max_messages: int | None = typer.Option(None, "--max-messages", min=1, help="Stop after this many messages."),
        for_: str | None = typer.Option(None, "--for", help="Stop after this long (30s, 5m, 1h)."),
        idle: str | None = typer.Option(None, "--idle", help="Stop when nothing arrives for this long (e.g. 5s)."),
        batch_size: int = typer.Option(10_000, "--batch-size", min=1, help="Messages per micro-batch at most."),
        batch_seconds: float = typer.Option(1.0, "--batch-seconds", min=0.01,
                                            help="Seconds to wait for a micro-batch to fill."),
        model: str | None = typer.Option(None, "--model", help="Score each batch with this model. " + MODEL_REF_HELP),
        registry: str | None = typer.Option(None, "--registry",
                                            help="Registry of a models:/ reference (default: $ASSAY_REGISTRY)."),
        watch_seconds: float = typer.Option(30.0, "--watch-seconds", min=0,
                                            help="How often the alias of a models:/NAME or models:/NAME/ALIAS "
                                                 "model is checked; a promotion scores the next batches (0: every "
                                                 "batch)."),
        key: str | None = typer.Option(None, "--key", help="Dedupe/upsert key column (streams: the message id _id)."),
        quarantine: Path | None = typer.Option(None, "--quarantine",
                                               help="Dead-letter NDJSON file (default: DIR.quarantine.ndjson)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No live progress line."),
    ) -> None:
        from assay.sources import open_source
        from assay.sources._base import mask_uri
        from assay.sources._ingest import ingest
        from assay.sources._sinks import Quarantine, open_sink

        src = open_source(source)
        is_stream = hasattr(src, "fetch_batch")
        sink_key = key if key is not None else ("_id" if is_stream else None)
        sink = open_sink(to, key=sink_key)
        if quarantine is None:
            if "://" in to and not to.startswith("file://"):
                table = getattr(sink, "table", "sink")
                quarantine = Path(".assay") / "quarantine" / f"{table}.ndjson"
            else:
                # next to the dataset, not inside it: the directory stays pure Parquet for readers that glob it
                quarantine = Path(to.removeprefix("file://").rstrip("/") + ".quarantine.ndjson")
        fitted = load_model_ref(model, registry, follow=watch_seconds) if model is not None else None

        stop = threading.Event()
        interrupted: list[int] = []

        def on_signal(signum: int, _frame: Any) -> None:
            if stop.is_set():  # a second Ctrl-C: the user really wants out now
                raise KeyboardInterrupt
            interrupted.append(signum)
            stop.set()

        previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, on_signal)
        progress = _Progress(not quiet and sys.stderr.isatty())
        try:
            stats = ingest(src, sink, quarantine=Quarantine(quarantine, source=source), model=fitted,
                           batch_size=batch_size, batch_seconds=batch_seconds, max_messages=max_messages,
                           duration=parse_duration(for_) if for_ else None,
                           idle=parse_duration(idle) if idle else None, stop=stop, on_batch=progress)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            progress.done()
        where = f", bad records in {quarantine}" if stats.quarantined else ""
        typer.echo(f"ingested {mask_uri(source)} -> {mask_uri(to)}: {stats.line()} "
                   f"(stopped: {stats.reason or 'done'}{where})", err=True)
