"""``assay train``: k-fold CV over candidate models, leaderboard, refit, held-out test, artifact and report."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from assay.cli._common import print_leaderboard, progress_callback, show_progress
from assay.exceptions import SpecError

__all__ = ["parse_duration", "register"]

EXAMPLES = """
Examples:

  assay train penguins.csv --target species

  assay train sales.parquet --target revenue --task regression --models linreg,lgbm --folds 10 --out out/sales

  assay train customers.csv --task clustering --out out/segments

  assay train visits.csv --target churned --group customer_id     (no customer on both sides)

  assay train daily.csv --target demand --task regression --time date   (test on the latest days)
"""


def parse_duration(text: str | None) -> float | None:
    """Seconds in ``"60s"``, ``"5m"``, ``"1h"`` or a plain number.

    >>> parse_duration("90s"), parse_duration("2m"), parse_duration("1.5")
    (90.0, 120.0, 1.5)
    """
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", text)
    if not match:
        msg = f"cannot read duration {text!r}; write e.g. 60s, 5m or 1h"
        raise SpecError(msg)
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def register(app: typer.Typer) -> None:
    @app.command("train", help="Train candidate models with k-fold CV and keep the best." + EXAMPLES)
    def train_command(
        source: str = typer.Argument(..., help="Data source: a file path or a URI (postgresql://…, https://…)."),
        target: str | None = typer.Option(None, "--target", "-t", help="Column to predict (omit for clustering)."),
        task: str = typer.Option("auto", help="auto, classification, regression, clustering, anomaly, "
                                              "recommendation."),
        models: str | None = typer.Option(None, help="Comma-separated candidates, e.g. logreg,lgbm,rf."),
        folds: int | None = typer.Option(None, min=2, help="k of (stratified) k-fold cross-validation (default 5, "
                                                           "fewer when a class has fewer training rows)."),
        test_size: float = typer.Option(0.2, help="Rows held out for the final test: a share (0-1) or a count."),
        seed: int = typer.Option(0, min=0, help="Random seed: the same seed gives the same result."),
        time_budget: str | None = typer.Option(None, help="Time for hyperparameter search, e.g. 60s."),
        threshold: str | None = typer.Option(None, help="Tune a binary classifier's decision threshold on "
                                                        "out-of-fold predictions: f1, or cost:FP:FN (e.g. cost:1:5)."),
        out: Path = typer.Option(Path("assay-out"), help="Output folder for model/, metrics.json, report.html."),
        register_as: str | None = typer.Option(None, "--register", help="Register the model under this name."),
        registry: str | None = typer.Option(None, help="Registry path or URI (default: $ASSAY_REGISTRY)."),
        user: str | None = typer.Option(None, help="User column (recommendation)."),
        item: str | None = typer.Option(None, help="Item column (recommendation)."),
        rating: str | None = typer.Option(None, help="Rating column (explicit-feedback recommendation)."),
        group: str | None = typer.Option(None, help="Column whose groups (e.g. customer_id) never straddle the "
                                                   "test split or a fold."),
        time: str | None = typer.Option(None, "--time", help="Time column: the latest rows are the test split; "
                                                             "each fold trains on earlier rows only."),
        drop: str | None = typer.Option(None, "--drop", help="Comma-separated input columns the model must not use "
                                                              "(e.g. one recorded after the outcome)."),
        no_report: bool = typer.Option(False, "--no-report", help="Skip the HTML report."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar, only the final lines."),
    ) -> None:
        from assay.pipeline import Pipeline, _spec_of, write_outputs

        reg = None
        if register_as:  # a name or registry that would refuse the model is said before the training, not after it
            from assay.registry import open_registry  # type: ignore[attr-defined]
            from assay.registry._store import check_name

            check_name(register_as)
            reg = open_registry(registry)  # (an unreachable database fails here)

        pipe = Pipeline(
            target=target, task=task, models=None if not models else [m.strip() for m in models.split(",")],
            folds=folds, test_size=test_size, seed=seed, time_budget=parse_duration(time_budget), threshold=threshold,
            user=user, item=item, rating=rating, group=group, time=time,
            drop=[c.strip() for c in drop.split(",") if c.strip()] if drop else (),
        )
        with progress_callback(show_progress(quiet)) as notify:
            result = pipe.fit(source, progress=notify)
            write_outputs(result, out, report=not no_report, spec=_spec_of(pipe), progress=notify)
        print_leaderboard(result)
        if reg is not None and register_as:
            from assay.cli._common import console
            from assay.exceptions import AssayError

            try:
                version = reg.register(result.model_path, register_as)
            except AssayError as exc:
                import shlex

                from assay.sources._base import mask_uri

                # the same registry as asked (a password shown as ***), else the default one would receive it
                where = f" --registry {shlex.quote(mask_uri(registry))}" if registry else ""
                msg = (f"{exc}\nthe trained model is saved in {result.model_path}: register it once the registry "
                       f"is reachable with: assay models register {shlex.quote(str(result.model_path))} "
                       f"{register_as}{where}")
                raise AssayError(msg) from exc
            console.print(f"registered {register_as} version {version}")
        typer.echo(f"model:   {result.model_path}")
        typer.echo(f"metrics: {out / 'metrics.json'}")
        if result.report_path:
            typer.echo(f"report:  {result.report_path}")
