"""``assay split SOURCE --by COLUMN``: one output file per value of a dimension (one per region, say)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import typer

from assay.exceptions import SchemaError, SpecError, did_you_mean

__all__ = ["register"]

EXAMPLES = """
Examples:

  assay split sales.csv --by region --out out/by-region

  assay split "postgresql://bob@db/shop?table=orders" --by 地区 --out out/orders --format parquet

  assay split penguins.csv --test-size 0.2 --stratify species --out out/holdout      # train.csv + test.csv

  assay split visits.csv --test-size 0.25 --group patient_id --out out/holdout       # no patient on both sides

  assay split sales.csv --test-size 0.1 --time date --out out/holdout                # the latest 10% as test

With --by: one file per distinct value (named after it; a missing value is '__missing__'). With --test-size: a
train and a test file (random; stratified by --stratify; whole groups with --group; by time with --time, every row
of the cut-off time on the test side). Either way parts.json maps each part to its file and row count, and rows keep
their order within each file.
"""

MAX_PARTS = 1000  # files --by writes at most unless told otherwise
DEFAULT_TEST_SIZE = 0.2  # the share `assay train` holds out by default
FORMATS = {"csv": "write_csv", "parquet": "write_parquet", "ndjson": "write_ndjson"}
# Characters no file name on Linux, macOS or Windows may hold, and control characters.
_UNSAFE = re.compile(r'[\x00-\x1f/\\:*?"<>|]')


def part_name(value: Any, taken: set[str]) -> str:
    """A file name (without extension) for a value: readable, safe on every OS, distinct from ``taken``.

    >>> taken = set()
    >>> [part_name(v, taken) for v in ["华东", "a/b", "a_b", None, "", ".."]]
    ['华东', 'a_b', 'a_b~2', '__missing__', '__empty__', '_..']
    """
    if value is None:
        base = "__missing__"
    else:
        base = _UNSAFE.sub("_", str(value)).strip() or "__empty__"
        if base.startswith("."):  # hidden files and the '.', '..' entries
            base = "_" + base
        base = base[:120]
    name, k = base, 1
    while name.lower() in taken:  # case-insensitive file systems would merge 'East' and 'east'
        k += 1
        name = f"{base}~{k}"
    taken.add(name.lower())
    return name


def _say_share(test_rows: int, rows: int, test_size: float, *, group: str | None, time: str | None) -> None:
    """A note when the test side is far from the share asked for: whole groups and rows sharing the cut-off time
    cannot be cut, so a few big groups or times move it."""
    if not rows:
        return
    asked = test_size if test_size < 1 else test_size / rows
    got = test_rows / rows
    if abs(got - asked) <= max(0.05, 0.25 * asked):
        return
    why = (f"groups of {group!r} stay whole" if group else f"rows sharing the cut-off time of {time!r} stay together"
           if time else "each class rounds its share")
    typer.echo(f"note: test holds {got:.1%} of the rows, not the {asked:.1%} asked for: {why}", err=True)


def register(app: typer.Typer) -> None:
    @app.command("split", help="Split a data source into one file per value of a column (a dimension)." + EXAMPLES)
    def split_command(
        source: str = typer.Argument(..., help="Data source: a file path or a URI."),
        by: str | None = typer.Option(None, "--by", help="Column whose values name the parts, e.g. region."),
        test_size: float | None = typer.Option(None, "--test-size", help="Split into train and test instead: a share "
                                                                        "(0.2) or a row count (500)."),
        stratify: str | None = typer.Option(None, "--stratify", help="With --test-size: keep this column's class "
                                                                     "shares on both sides."),
        group: str | None = typer.Option(None, "--group", help="With --test-size: every row of a group on one side."),
        time: str | None = typer.Option(None, "--time", help="With --test-size: the latest rows by this column go to "
                                                             "test."),
        seed: int = typer.Option(0, "--seed", min=0, help="With --test-size: random seed."),
        out: Path = typer.Option(Path("assay-out/split"), "--out", "-o", help="Output folder."),
        fmt: str = typer.Option("csv", "--format", help="csv, parquet or ndjson."),
        max_parts: int = typer.Option(MAX_PARTS, "--max-parts", help="With --by: refuse to write more files than "
                                                                     "this (a mistyped --by id would write one per "
                                                                     "row)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the final line."),
    ) -> None:
        if fmt not in FORMATS:
            msg = f"unknown --format {fmt!r}; valid: {', '.join(FORMATS)}"
            raise SpecError(msg)
        from assay.clean import split_by, train_test_split
        from assay.sources import open_source

        how_given = stratify or group or time
        ways = [f"--{name} {value}" for name, value in (("stratify", stratify), ("group", group), ("time", time))
                if value is not None]
        if len(ways) > 1:
            # train_test_split takes one of them (time, then group, then stratify): the others would be ignored.
            msg = (f"give one of --stratify, --group and --time, not {' and '.join(ways)}: a split is by class "
                   "shares, by whole groups or by time")
            raise SpecError(msg)
        if by is not None and (test_size is not None or how_given):
            msg = ("give --by COLUMN (one file per value) or --test-size N (a train and a test file), not both; "
                   "--stratify, --group and --time go with --test-size")
            raise SpecError(msg)
        if by is None and test_size is None:
            if not how_given:
                msg = "give --by COLUMN (one file per value) or --test-size N (a train and a test file)"
                raise SpecError(msg)
            test_size = DEFAULT_TEST_SIZE  # --time date alone asks for a holdout: the share assay train holds out
            if not quiet:
                typer.echo(f"note: no --test-size given: {DEFAULT_TEST_SIZE:g} of the rows go to test", err=True)
        frame = open_source(source).read()
        if test_size is not None:
            if test_size <= 0 or (test_size >= 1 and test_size != int(test_size)):
                msg = f"--test-size {test_size}: give a share between 0 and 1 (0.2) or a whole row count (500)"
                raise SpecError(msg)
            size: float | int = int(test_size) if test_size >= 1 else test_size
            if stratify is not None and stratify not in frame.columns:
                # (train_test_split names it the target column: the class column it stratifies by)
                msg = (f"--stratify {stratify}: no such column{did_you_mean(stratify, frame.columns)} (columns: "
                       f"{', '.join(frame.columns)})")
                raise SchemaError(msg)
            train, test = train_test_split(frame, target=stratify, test_size=size, stratify=stratify is not None,
                                           seed=seed, group=group, time=time)
            parts = {"train": train, "test": test}
            by = "holdout"
        else:
            if by in frame.columns:
                distinct = frame.get_column(by).n_unique()
                if distinct > max_parts:
                    msg = (f"--by {by}: {distinct:,} distinct values would write {distinct:,} files (more than "
                           f"--max-parts {max_parts:,}); split by a column with fewer values, or raise --max-parts")
                    raise SpecError(msg)
            parts = split_by(frame, by)
        out.mkdir(parents=True, exist_ok=True)
        taken: set[str] = set()
        index = []
        for value, part in parts.items():
            name = f"{part_name(value, taken)}.{fmt}"
            tmp = out / f".{name}.tmp"
            getattr(part, FORMATS[fmt])(tmp)
            tmp.replace(out / name)
            index.append({"value": value, "file": name, "rows": part.height})
            if not quiet:
                typer.echo(f"{part.height:>10,}  {name}")
        meta: dict[str, Any] = {"source": source, "by": by, "parts": index}
        if test_size is not None:
            meta.update(test_size=test_size, stratify=stratify, group=group, time=time, seed=seed)
        (out / "parts.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
        if test_size is not None:
            how = (f"stratified by {stratify!r}" if stratify else f"by group {group!r}" if group
                   else f"by time {time!r}" if time else "at random")
            typer.echo(f"wrote {parts['train'].height:,} train and {parts['test'].height:,} test rows ({how}) to "
                       f"{out}/ (index: parts.json)")
            if not quiet:
                _say_share(parts["test"].height, frame.height, test_size, group=group, time=time)
        else:
            typer.echo(f"wrote {len(index)} part(s) of {frame.height:,} rows by {by!r} to {out}/ (index: parts.json)")
