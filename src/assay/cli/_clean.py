"""``assay clean SOURCE --out FILE``: run cleaning steps on a data source and write the cleaned data."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer

from assay.exceptions import SpecError

__all__ = ["parse_step", "register"]

# Paragraphs are single lines: the help is wrapped to the terminal's width.
EXAMPLES = "\n\n".join([
    "\nExamples:",
    "  assay clean raw.csv --out clean.parquet",
    '  assay clean raw.csv --out clean.csv -s types -s "missing:strategy=median,by=region" '
    '-s "outliers:action=quarantine" --save-steps steps.json',
    "  assay clean new_month.csv --out clean_new.csv --apply steps.json",
    "  assay clean raw.csv --out clean.csv --steps pipeline.yaml",
    "With no steps given, types and dedupe run. A step is NAME, or NAME:key=value,key=value with values read as "
    "YAML (3, 0.5, true, \\[a, b]), or a YAML mapping such as \"{step: missing, strategy: knn, k: 5}\". Steps: "
    "types, text, dedupe, missing, outliers, scale, onehot, ordinal, frequency, target, datetime_parts, cluster, "
    "drop_useless; assay steps NAME shows a step's options and their defaults.",
    "Each step prints what it did: rows removed, columns typed, added or removed, missing values filled, values "
    "changed. An outliers step with action=quarantine and no path writes its rows, with the reason, next to --out "
    "(NAME.quarantine.csv). --apply runs steps saved by --save-steps on new data without fitting them again, "
    "cleaning it as the first data was: duplicate rows and outliers with action drop or quarantine are removed "
    "(assay predict, which applies a model's steps, keeps every row).\n",
])

WRITERS = {".csv": "write_csv", ".parquet": "write_parquet", ".ndjson": "write_ndjson", ".jsonl": "write_ndjson",
           ".json": "write_json"}
DEFAULT_STEPS = ("types", "dedupe")
# Options whose values are text (column names, missing tokens, formats, category orders): read as YAML they would
# turn 2024 into a number and -999 into an integer, which no column name or token comparison expects.
TEXT_OPTIONS = frozenset({"columns", "key", "by", "order_by", "tokens", "missing_tokens", "categorical", "kinds",
                          "formats", "categories", "time_zone", "prefix", "quarantine", "parts"})


def _as_text(value: Any) -> Any:
    """Numbers in a text option as the text they were written as (``[2024, -999]`` → ``["2024", "-999"]``)."""
    if isinstance(value, dict):
        return {str(k): _as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_text(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _shape(rows: int, cols: int) -> str:
    """``1 row × 1 column``, ``2 rows × 3 columns``.

    >>> _shape(1, 1), _shape(1_000, 3)
    ('1 row × 1 column', '1,000 rows × 3 columns')
    """
    return f"{rows:,} row{'' if rows == 1 else 's'} × {cols:,} column{'' if cols == 1 else 's'}"


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside brackets or quotes (``columns=[a, b],k=3`` is two items)."""
    items, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [item.strip() for item in items if item.strip()]


def parse_step(text: str) -> dict[str, Any]:
    """A step as a spec mapping, from ``NAME``, ``NAME:key=value,…`` or a YAML mapping.

    >>> parse_step("missing:strategy=median,by=region")
    {'step': 'missing', 'strategy': 'median', 'by': 'region'}
    >>> parse_step("outliers:columns=[a, b],k=3")
    {'step': 'outliers', 'columns': ['a', 'b'], 'k': 3}
    >>> parse_step("{step: missing, strategy: knn}")
    {'step': 'missing', 'strategy': 'knn'}
    >>> parse_step("missing:tokens=[NA, -999],columns=[2024]")
    {'step': 'missing', 'tokens': ['NA', '-999'], 'columns': ['2024']}
    """
    import yaml

    text = text.strip()
    if text.startswith("{"):
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            msg = f"--step {text!r} is not a valid YAML mapping: {str(exc).splitlines()[0]}"
            raise SpecError(msg) from None
        if not isinstance(value, dict) or "step" not in value:
            msg = f"--step {text!r}: a mapping needs a 'step' key, e.g. {{step: missing, strategy: median}}"
            raise SpecError(msg)
        return value
    name, _, rest = text.partition(":")
    if not re.fullmatch(r"[a-z_]+", name.strip()):
        msg = f"--step {text!r}: expected NAME or NAME:key=value,… (e.g. missing:strategy=median)"
        raise SpecError(msg)
    out: dict[str, Any] = {"step": name.strip()}
    for item in _split_top(rest):
        key, eq, raw = item.partition("=")
        if not eq or not key.strip():
            msg = f"--step {text!r}: {item!r} is not key=value"
            raise SpecError(msg)
        # Text options keep every value as written (BaseLoader reads no numbers or booleans): columns=[2024].
        loader = yaml.BaseLoader if key.strip() in TEXT_OPTIONS else yaml.SafeLoader
        try:
            out[key.strip()] = yaml.load(raw, Loader=loader) if raw.strip() else None
        except yaml.YAMLError:
            out[key.strip()] = raw.strip()
    return out


def _steps_from_file(path: Path) -> list[dict[str, Any]]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        msg = f"cannot read steps from {path}: {exc}"
        raise SpecError(msg) from None
    steps = data.get("steps") if isinstance(data, dict) else data
    if not isinstance(steps, list) or not steps:
        msg = f"{path}: expected a list of steps, or a spec with a 'steps:' list (e.g. - {{step: missing}})"
        raise SpecError(msg)
    if any(isinstance(step, dict) and "state" in step for step in steps):
        msg = (f"{path} holds fitted steps (as --save-steps writes them): apply them with --apply {path}, or list "
               "steps to fit without their 'state'")
        raise SpecError(msg)
    for i, step in enumerate(steps):
        if isinstance(step, str):
            steps[i] = {"step": step}
        elif not isinstance(step, dict) or "step" not in step:
            msg = f"{path}: steps[{i}] has no 'step' key (e.g. {{step: missing, strategy: median}})"
            raise SpecError(msg)
    return steps


def _build(items: list[dict[str, Any]], out: Path) -> list[Any]:
    from assay.clean._registry import make_step

    steps = []
    for item in items:
        params = {k: _as_text(v) if k in TEXT_OPTIONS else v for k, v in item.items()}
        name = params.pop("step")
        if name == "outliers" and params.get("action") == "quarantine" and not params.get("quarantine"):
            params["quarantine"] = _quarantine_path(out)
        steps.append(make_step(name, params))
    return steps


def _quarantine_path(out: Path) -> str:
    suffix = out.suffix if out.suffix in (".csv", ".parquet") else ".csv"
    return str(out.with_name(f"{out.stem}.quarantine{suffix}"))


def _say_left_missing(cleaned: Any, fitted: list[Any], target: str | None) -> None:
    """After a missing step, the columns that still hold missing values and why (a missing step fills numbers, text
    and booleans, not dates or times unless told; later steps may add some): the output is not silently incomplete."""
    steps = [s for s in fitted if s.name == "missing" and s.strategy != "none"]
    if not steps:
        return
    counts = {c: n for c, n in cleaned.null_count().row(0, named=True).items() if n and c != target}
    if not counts:
        return
    temporal = [c for c in counts if cleaned.schema[c].is_temporal()]
    shown = ", ".join(f"{c} {n:,}" for c, n in list(counts.items())[:6]) + (", …" if len(counts) > 6 else "")
    hint = (f" ({', '.join(temporal[:3])}: dates and times are filled only when named, with categorical=ffill or bfill,"
            " e.g. -s \"missing:columns=[...],categorical=ffill\")" if temporal else "")
    typer.echo(f"note: missing values remain in {len(counts)} column(s) after the steps: {shown}{hint}", err=True)


def register(app: typer.Typer) -> None:
    @app.command("clean", help="Clean a data source with cleaning steps and write the result." + EXAMPLES)
    def clean_command(
        source: str = typer.Argument(..., help="Data source: a file path or a URI."),
        out: Path = typer.Option(..., "--out", "-o", help="Output file: .csv, .parquet, .ndjson, .jsonl or .json."),
        step: list[str] = typer.Option(None, "--step", "-s", help="A step (repeat, in order): NAME or "
                                                                   "NAME:key=value,… or a YAML mapping."),
        steps_file: Path | None = typer.Option(None, "--steps", help="YAML/JSON list of steps, or a pipeline spec "
                                                                     "(its steps: list)."),
        apply: Path | None = typer.Option(None, "--apply", help="Apply steps fitted before (a --save-steps file) "
                                                               "instead of fitting."),
        target: str | None = typer.Option(None, "--target", "-t", help="Target column: kept as it is, given to "
                                                                       "steps that use it (target encoding)."),
        save_steps: Path | None = typer.Option(None, "--save-steps", help="Write the fitted steps (JSON) to apply "
                                                                          "to other data with --apply."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the final line."),
    ) -> None:
        from assay.clean._run import clean, load_steps
        from assay.clean._run import save_steps as write_steps
        from assay.sources import open_source

        writer = WRITERS.get(out.suffix.lower())
        if writer is None:
            msg = f"--out {out}: unknown file type {out.suffix or '(none)'!r}; use one of {', '.join(WRITERS)}"
            raise SpecError(msg)
        chosen = sum(x is not None and x != [] for x in (step, steps_file, apply))
        if chosen > 1:
            msg = "give the steps one way: --step (repeated), --steps FILE or --apply FILE"
            raise SpecError(msg)
        if apply is not None:
            fitted = load_steps(apply)
            for fitted_step in fitted:
                # Rows quarantined from this data go next to this output, not over the file of the data the steps
                # were fitted on.
                if fitted_step.name == "outliers" and fitted_step.action == "quarantine":
                    fitted_step.quarantine = _quarantine_path(out)
        else:
            if step:
                items = [parse_step(s) for s in step]
            elif steps_file is not None:
                items = _steps_from_file(steps_file)
            else:
                items = [{"step": s} for s in DEFAULT_STEPS]
                if not quiet:
                    typer.echo(f"no --step given: running {', '.join(DEFAULT_STEPS)} (assay clean --help lists "
                               "the others)", err=True)
            fitted = _build(items, out)
        import time

        from assay.clean._useless import row_index_columns
        from assay.sources import mask_uri

        start = time.perf_counter()
        frame = open_source(source).read()
        if not quiet:
            typer.echo(f"read {_shape(frame.height, frame.width)} from {mask_uri(source)} in "
                       f"{time.perf_counter() - start:.2f} s", err=True)

        index = row_index_columns(frame, exclude=target)
        if index:  # steps would scale, impute and flag it, and no row would ever be a duplicate of another
            frame = frame.drop(index)
            typer.echo(f"note: dropped column(s) {', '.join(repr(c) for c in index)}: an exported row index (1, 2, "
                       "3, … down the file), not data", err=True)
        if apply is not None:
            from assay.clean._run import check_input

            for note in check_input(apply, frame):
                typer.echo(f"note: {note}", err=True)
        source_schema = frame.schema
        width = max(len(s.name) for s in fitted) if fitted else 0

        def say(i: int, change: Any) -> None:
            if not quiet:
                typer.echo(f"{i + 1:>3}. {change.step:<{width}}  {change.seconds:6.2f} s  {change.describe()}",
                           err=True)

        cleaned, fitted, _ = clean(frame, fitted, target=target, refit=apply is None, on_step=say)
        if not quiet:
            _say_left_missing(cleaned, fitted, target)
        if frame.height == 0:
            typer.echo(f"note: {mask_uri(source)} has no rows: the steps had nothing to learn from"
                       + ("; wrote its columns as read, with no rows" if cleaned.width == 0 else ""), err=True)
            if cleaned.width == 0:  # (an encoder that saw no category drops its column and adds none)
                cleaned = frame
        if cleaned.width == 0:
            msg = "the steps left no column to write (see the notes above)"
            raise SpecError(msg)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        try:
            getattr(cleaned, writer)(tmp)
        except Exception as exc:  # e.g. nested columns CSV cannot hold: one clear line, no half-written file
            tmp.unlink(missing_ok=True)
            msg = f"cannot write {out}: {exc}"
            raise SpecError(msg) from None
        tmp.replace(out)
        if save_steps is not None:
            write_steps(fitted, save_steps, input_schema=source_schema)
        extra = f"; fitted steps in {save_steps}" if save_steps is not None else ""
        typer.echo(f"wrote {_shape(cleaned.height, cleaned.width)} to {out} (from {_shape(frame.height, frame.width)})"
                   f"{extra}")
