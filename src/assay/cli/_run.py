"""``assay run PIPELINE.yaml``: the train job driven by an explicit spec."""

from __future__ import annotations

from pathlib import Path

import typer

from assay.cli._common import print_leaderboard, progress_callback, show_progress

__all__ = ["register"]

EXAMPLES = """
Example pipeline.yaml:

  source: penguins.csv
  target: species
  steps: [{step: missing, strategy: median}, {step: onehot}, {step: scale}]
  models: [logreg, lgbm]
  evaluation: {folds: 5, test_size: 0.2, seed: 0}
  output: {dir: out/penguins}

  assay run pipeline.yaml
"""


def register(app: typer.Typer) -> None:
    @app.command("run", help="Run a pipeline spec (YAML): source, steps, models, evaluation, outputs." + EXAMPLES)
    def run_command(
        spec: Path = typer.Argument(..., help="Pipeline spec file (YAML or JSON)."),
        engine: str | None = typer.Option(None, help="local (default) or dask; overrides the spec."),
        scheduler: str | None = typer.Option(None, help="Dask scheduler address (engine dask)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    ) -> None:
        from assay.pipeline import run
        from assay.spec import load_spec

        parsed = load_spec(spec)
        if engine:
            parsed.engine = engine  # type: ignore[assignment]
        if scheduler:
            parsed.scheduler = scheduler
        with progress_callback(show_progress(quiet)) as notify:
            result = run(parsed, progress=notify)
        print_leaderboard(result)
        typer.echo(f"model:   {result.model_path}")
        typer.echo(f"metrics: {Path(parsed.output.dir) / 'metrics.json'}")
        if result.report_path:
            typer.echo(f"report:  {result.report_path}")
