"""``assay predict MODEL SOURCE``: predictions for every input row, in input order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from assay.cli._common import MODEL_REF_HELP, load_model_ref, model_path_ref
from assay.exceptions import SpecError

__all__ = ["register"]

EXAMPLES = """
Examples:

  assay predict assay-out/model new_penguins.csv --out predictions.csv

  assay predict assay-out/model postgresql://localhost/shop?table=visits --out scores.parquet

  assay predict models:/penguins/production new_penguins.csv --out predictions.csv
"""

WRITERS = {".csv": "write_csv", ".parquet": "write_parquet", ".json": "write_json", ".ndjson": "write_ndjson",
           ".jsonl": "write_ndjson"}


def _read(model: Any, frame: Any) -> Any:
    """The input checked against the model's schema; values not readable as their column's training type are read
    as missing, with a note per column (a batch is not stopped by one bad value; the server answers 422)."""
    if model.task == "recommendation" or frame.height == 0:
        return frame
    from assay._fitted import say_unreadable

    checked, unreadable = model.read_input(frame)
    say_unreadable(unreadable, frame.height)
    say_unseen_categories(model, checked)
    return checked


def say_unseen_categories(model: Any, checked: Any) -> None:
    """One note per encoded column with values the training rows never had (an island 'Atlantis'): the encoders give
    them a defined value (every one-hot column 0) without a word, so the rows' predictions would look as sure as
    any. The fitted steps are applied up to the last encoder to see the values as the encoders do."""
    import polars as pl

    from assay.clean._encode import may_hold_unseen

    encoders = [i for i, step in enumerate(model.steps) if hasattr(step, "say_unseen")]
    if not any(may_hold_unseen(model.steps[i], checked) for i in encoders):  # the usual case costs no second pass
        return
    frame = checked
    for step in model.steps[: encoders[-1] + 1]:
        if hasattr(step, "say_unseen"):
            frame = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
            step.say_unseen(frame)
        frame = step.transform(frame)


def register(app: typer.Typer) -> None:
    @app.command("predict", help="Predict with a trained model (probabilities too for classifiers)." + EXAMPLES)
    def predict_command(
        model_dir: str = typer.Argument(..., help=MODEL_REF_HELP),
        source: str = typer.Argument(..., help="Data to score: a file path or a URI."),
        out: Path | None = typer.Option(None, help="Output file (.csv, .parquet, .json, .ndjson); default stdout CSV."),
        keep_columns: bool = typer.Option(True, "--keep-columns/--only-predictions",
                                          help="Keep the input columns next to the predictions."),
        top_k: int = typer.Option(10, help="Items per user (recommendation models)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
        engine: str = typer.Option("local", help="local, or dask: score partitions on a cluster into --out/ "
                                                 "(a folder of part-NNNNN.parquet files)."),
        scheduler: str | None = typer.Option(None, help="Dask scheduler address, e.g. tcp://host:8786 "
                                                        "(engine dask; default: a local cluster)."),
        registry: str | None = typer.Option(None, "--registry",
                                            help="Registry of a models:/ reference (default: $ASSAY_REGISTRY)."),
    ) -> None:
        from assay.sources import open_source

        if engine == "dask":  # partitioned batch scoring (assay.engine)
            from assay.engine import predict_dask

            if out is None:
                msg = "--engine dask writes partitioned Parquet: give --out DIRECTORY"
                raise SpecError(msg)
            done = predict_dask(model_path_ref(model_dir, registry), source, out, scheduler,
                                keep_columns=keep_columns,
                                echo=None if quiet else lambda text: typer.echo(text, err=True))
            if not quiet:
                typer.echo(f"wrote {done['rows']} predictions to {out}/ ({done['partitions']} partitions)", err=True)
            return
        if engine != "local":
            msg = f"unknown engine {engine!r}; valid engines: local, dask"
            raise SpecError(msg)

        if out is not None and out.suffix.lower() not in WRITERS:
            msg = f"cannot write predictions to {out}: use one of {', '.join(WRITERS)}"
            raise SpecError(msg)
        model = load_model_ref(model_dir, registry)
        frame = open_source(source).read()
        checked = _read(model, frame)
        if model.task == "recommendation" or checked.height == 0:
            predictions = model.predict(checked, top_k=top_k)
        else:  # already checked by _read: predict() would check (and parse converted text) a second time
            predictions = model._predict_checked(checked)
        if model.task == "recommendation" or not keep_columns:
            result = predictions  # one row per (user, recommended item), not per input row
        else:
            import polars as pl  # imported here: `assay profile` forks its figure process before Polars loads

            result = pl.concat([frame, predictions], how="horizontal")
        if out is None:
            typer.echo(result.write_csv(), nl=False)
            return
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        getattr(result, WRITERS[out.suffix.lower()])(tmp)
        tmp.replace(out)
        if not quiet:
            typer.echo(f"wrote {result.height} predictions to {out}", err=True)
