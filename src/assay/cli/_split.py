"""``assay split SOURCE --by COLUMN``: one output file per value of a dimension (one per region, say)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import typer

from assay.exceptions import SpecError

__all__ = ["register"]

EXAMPLES = """
Examples:

  assay split sales.csv --by region --out out/by-region

  assay split "postgresql://bob@db/shop?table=orders" --by 地区 --out out/orders --format parquet

Writes one file per distinct value (named after it; a missing value is '__missing__') and parts.json, which maps
each value to its file and row count. Rows keep their order within each file.
"""

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


def register(app: typer.Typer) -> None:
    @app.command("split", help="Split a data source into one file per value of a column (a dimension)." + EXAMPLES)
    def split_command(
        source: str = typer.Argument(..., help="Data source: a file path or a URI."),
        by: str = typer.Option(..., "--by", help="Column whose values name the parts, e.g. region."),
        out: Path = typer.Option(Path("assay-out/split"), "--out", "-o", help="Output folder."),
        fmt: str = typer.Option("csv", "--format", help="csv, parquet or ndjson."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the final line."),
    ) -> None:
        if fmt not in FORMATS:
            msg = f"unknown --format {fmt!r}; valid: {', '.join(FORMATS)}"
            raise SpecError(msg)
        from assay.clean import split_by
        from assay.sources import open_source

        frame = open_source(source).read()
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
        (out / "parts.json").write_text(json.dumps({"source": source, "by": by, "parts": index}, indent=1,
                                                   ensure_ascii=False, default=str), encoding="utf-8")
        typer.echo(f"wrote {len(index)} part(s) of {frame.height:,} rows by {by!r} to {out}/ (index: parts.json)")
