"""``assay profile``: statistics, warnings and figures of a data source as profile.json + profile.html."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import typer

from assay.cli._common import progress_callback, show_progress
from assay.exceptions import SpecError

__all__ = ["register"]

EXAMPLES = """
Examples:

  assay profile penguins.csv

  assay profile sales.parquet --target revenue --out out/sales-profile

  assay profile "postgresql://bob@db/sales?table=orders" --sample-rows 50000 --quiet

Statistics and each column's chart cover every row (streaming aggregations, bounded memory); correlations, the
missing-values map and the sample rows use a random sample of at most --sample-rows rows, and the report says when
it sampled.
"""


def register(app: typer.Typer) -> None:
    @app.command("profile", help="Profile a data source: statistics, warnings and figures in one HTML report."
                                 + EXAMPLES)
    def profile_command(
        source: str = typer.Argument(..., help="Data source: a file path or a URI (postgresql://…, https://…)."),
        out: Path = typer.Option(Path("assay-out/profile"), "--out", "-o",
                                 help="Output folder for profile.json, profile.html and figures/."),
        target: str | None = typer.Option(None, "--target", "-t",
                                          help="Column to be predicted later: adds class balance and leakage checks."),
        sample_rows: int = typer.Option(200_000, "--sample-rows",
                                        help="Rows sampled for correlations and the missing-values map "
                                             "(statistics use all rows)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar, only the final lines."),
    ) -> None:
        if sample_rows < 1:
            msg = f"--sample-rows must be at least 1, got {sample_rows}"
            raise SpecError(msg)
        from assay.viz import prepare_figures

        with _collector_off_while_loading():
            # Before the profiling code and its libraries are imported: matplotlib loads in another process meanwhile.
            prepare_figures()
            from assay.sources import open_source
            from assay.viz import profile, write_profile
        _quick_exit()

        src = open_source(source)
        with progress_callback(show_progress(quiet)) as notify:
            notify(f"reading {source}", 0.0)
            result = profile(src, target=target, sample_rows=sample_rows, progress=notify)
            html = write_profile(result, out, progress=notify)
        n_warn = len(result["warnings"])
        sampled = (f", correlations from a {result['sample_rows']:,}-row sample" if result["sampled"] else "")
        rows, cols = result["rows"], result["columns"]
        typer.echo(f"profiled {rows:,} row{'s' if rows != 1 else ''} × {cols:,} column{'s' if cols != 1 else ''}"
                   f"{sampled}; {n_warn} warning{'s' if n_warn != 1 else ''}")
        if not quiet:
            for w in result["warnings"][:10]:
                typer.echo(f"  {w['severity']}: {w['message']}")
            if n_warn > 10:
                typer.echo(f"  … and {n_warn - 10} more in the report")
        typer.echo(f"report:  {html}")
        typer.echo(f"json:    {html.parent / 'profile.json'}")
        typer.echo(f"figures: {html.parent / 'figures'}")


@contextlib.contextmanager
def _collector_off_while_loading() -> Iterator[None]:
    """Load NumPy, Polars and the profiling code (and fork the figure process, which loads matplotlib) with the
    garbage collector off, then freeze what was loaded and turn it on again.

    Importing them creates tens of thousands of objects that live until the end, and the collector's passes over
    them as they pile up cost tens of milliseconds of a command that takes about a second; frozen, later
    collections skip them (as the figure process does with matplotlib). Only in the ``assay`` program: a program
    (or a test run) calling main() keeps its collector as it is.
    """
    import gc

    import assay.cli

    if not assay.cli.STANDALONE or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def _quick_exit() -> None:
    """Let the interpreter exit without a last garbage collection over everything this command loaded.

    At exit Python collects garbage over every object still alive: after Polars, NumPy and a profile, tens of
    milliseconds of a command that takes about a second, spent after its work is done. Frozen objects are skipped
    (``gc.freeze``, at exit only: the command runs with the collector as usual). Everything the command writes is
    closed before it returns; nothing relies on that last collection.
    """
    import atexit
    import gc

    import assay.cli

    if not assay.cli.STANDALONE:  # a program (or a test run) calling main(): its exit is its own business; extension
        return  # modules it loaded (DuckDB's) report objects the last collection did not free
    atexit.unregister(gc.freeze)  # once, however often the command runs in this process
    atexit.register(gc.freeze)
