"""``assay steps [NAME]``: the cleaning steps, and one step's options with their defaults and meaning.

The text comes from each step's class: its signature (the options and their defaults) and its docstring (what they
mean), so it cannot drift from the code. ``--markdown`` prints the whole reference as the Markdown kept in
docs/cleaning.md (a test checks that the two agree).
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import typer

__all__ = ["EXAMPLES_BY_STEP", "reference_markdown", "register", "step_help"]

EXAMPLES = """
Examples:

  assay steps

  assay steps outliers

  assay steps --markdown > cleaning.md

Each option is given to assay clean as NAME:key=value,… (values read as YAML), e.g. -s "missing:strategy=knn,k=5",
or in a spec's steps: list as a mapping.
"""

# One real use of each step, as given to ``assay clean -s``. Every one is parsed and built by the tests, so none
# can name an option that does not exist.
EXAMPLES_BY_STEP: dict[str, list[str]] = {
    "types": ["types", "types:formats={day: '%d.%m.%Y'},time_zone=Asia/Shanghai",
              "types:missing_tokens=['', NA, '-', '?', 'n/a'],categorical=[region]"],
    "text": ["text", "text:case=null"],
    "drop_useless": ["drop_useless", "drop_useless:unsupported=true"],
    "dedupe": ["dedupe", "dedupe:key=[order_id],keep=last"],
    "missing": ["missing:strategy=median,by=region", "missing:strategy=interpolate,order_by=date",
                "missing:strategy=knn,k=5", "missing:indicator=true,tokens=[-999]",
                "missing:max_missing=0.5,drop_rows=0.0"],
    "outliers": ["outliers:method=iqr,action=clip", "outliers:method=zscore,threshold=3,by=region,action=flag",
                 "outliers:method=mad,action=quarantine", "outliers:method=isolation_forest,action=drop"],
    "scale": ["scale:method=standard", "scale:method=robust", "scale:method=yeo-johnson", "scale:method=log1p"],
    "onehot": ["onehot", "onehot:columns=[city],min_frequency=0.01,max_categories=20"],
    "ordinal": ["ordinal:categories={size: [S, M, L, XL]}"],
    "frequency": ["frequency:columns=[city]"],
    "target": ["target:columns=[city],smoothing=10,folds=5"],
    "datetime_parts": ["datetime_parts", "datetime_parts:parts=[year, month, weekday, hour],drop_original=false"],
    "cluster": ["cluster:k=5", "cluster:k=3,columns=[income, age],prefix=segment"],
}

# The catalogue's areas, in the order a cleaning usually runs, with the steps of each.
GROUPS: list[tuple[str, list[str]]] = [
    ("types and rows", ["types", "text", "drop_useless", "dedupe"]),
    ("missing values", ["missing"]),
    ("outliers", ["outliers"]),
    ("scaling and transforms", ["scale"]),
    ("encoding", ["onehot", "ordinal", "frequency", "target", "datetime_parts"]),
    ("segments", ["cluster"]),
]


def _plain(text: str) -> str:
    """reStructuredText literals as Markdown ones: ````x```` → ```x```."""
    return re.sub(r"``(.+?)``", r"`\1`", text)


def _doc_parts(cls: type) -> tuple[str, dict[str, str], list[str]]:
    """A step class's summary line, its documented options (name → text) and its other paragraphs; doctest
    examples are left out (they are the tests' business, and assay clean has its own examples)."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    paragraphs = [p for p in re.split(r"\n\s*\n", doc) if p.strip()]
    summary = " ".join(paragraphs[0].split()) if paragraphs else ""
    options: dict[str, str] = {}
    notes: list[str] = []
    in_parameters = False
    for paragraph in paragraphs[1:]:
        lines = paragraph.splitlines()
        if lines[0].strip() == "Parameters" and len(lines) > 1 and set(lines[1].strip()) == {"-"}:
            in_parameters = True
            lines = lines[2:]
        if lines and lines[0].lstrip().startswith(">>>"):
            continue
        if in_parameters and lines and re.fullmatch(r"\w+:", lines[0].strip()):
            # numpydoc-style "name:" then its indented description, possibly several in one paragraph.
            name = None
            for line in lines:
                if re.fullmatch(r"\w+:", line.strip()) and not line.startswith((" ", "\t")):
                    name = line.strip()[:-1]
                    options[name] = ""
                elif name is not None:
                    options[name] = f"{options[name]} {line.strip()}".strip()
            continue
        in_parameters = False
        notes.append(" ".join(line.strip() for line in lines))
    return summary, options, notes


def _options(cls: type) -> list[tuple[str, Any]]:
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return [(p.name, p.default) for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _default(value: Any) -> str:
    if value is None:
        return "null"  # as written after key= (YAML's null; none would be read as the word)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple | list):
        return "[" + ", ".join(repr(v) for v in value) + "]"
    if isinstance(value, str):  # as written after key=: method=iqr
        return value if value.strip() == value and value else repr(value)
    return str(value)


def _first_sentence(text: str) -> str:
    """``Categories numbered 0, 1, … in order. With …`` → its first sentence (a full stop then a capital)."""
    return re.split(r"(?<=\.)\s+(?=[A-Z`])", text, maxsplit=1)[0]


def _wrap(text: str, indent: int) -> str:
    import shutil
    import textwrap

    width = max(60, min(shutil.get_terminal_size((100, 24)).columns, 110))
    return textwrap.fill(text, width=width, initial_indent=" " * indent, subsequent_indent=" " * indent,
                         break_on_hyphens=False, break_long_words=False)


def step_help(name: str) -> str:
    """One step's help as plain text: summary, options with defaults and meaning, notes and examples."""
    from assay.clean._registry import get_step

    cls = get_step(name)
    summary, documented, notes = _doc_parts(cls)
    options = _options(cls)
    width = max((len(n) for n, _ in options), default=0)
    lines = [_wrap(f"{name}: {_plain(summary)}", 0), "", "options (default):"]
    for option, default in options:
        text = _plain(documented.get(option, ""))
        lines.append(f"  {option:<{width}}  {_default(default)}")
        if text:
            lines.append(_wrap(text, width + 4))
    if notes:
        lines += ["", *(_wrap(_plain(n), 0) for n in notes)]
    lines += ["", "examples:", *(f'  assay clean data.csv -o clean.csv -s "{e}"' for e in EXAMPLES_BY_STEP[name])]
    return "\n".join(lines)


def step_list() -> str:
    from assay.clean._registry import STEPS, get_step

    width = max(len(n) for n in STEPS)
    lines = []
    for group, names in GROUPS:
        lines.append(f"{group}:")
        lines += [f"  {n:<{width}}  {_plain(_first_sentence(_doc_parts(get_step(n))[0]))}" for n in names]
    lines += ["", "assay steps NAME shows a step's options; assay clean -s NAME:key=value,… runs it."]
    return "\n".join(lines)


def reference_markdown(only: str | None = None) -> str:
    """Every step's options as Markdown: the generated part of docs/cleaning.md; ``only`` one step's section."""
    from assay.clean._registry import get_step

    if only is not None:
        get_step(only)  # an unknown name is an error naming the valid ones
    out = []
    for group, names in GROUPS:
        if only is None:
            out.append(f"### {group[0].upper()}{group[1:]}\n")
        for name in names:
            if only is not None and name != only:
                continue
            cls = get_step(name)
            summary, documented, notes = _doc_parts(cls)
            out.append(f"#### `{name}`\n\n{_plain(summary)}\n")
            out.append("| option | default | meaning |\n|---|---|---|")
            for option, default in _options(cls):
                meaning = _plain(documented.get(option, "")).replace("|", "\\|")
                out.append(f"| `{option}` | `{_default(default)}` | {meaning} |")
            out.append("")
            out += [f"{_plain(n)}\n" for n in notes]
            out.append("```bash\n" + "\n".join(f'assay clean data.csv -o clean.csv -s "{e}"'
                                               for e in EXAMPLES_BY_STEP[name]) + "\n```\n")
    return "\n".join(out).rstrip() + "\n"


def register(app: typer.Typer) -> None:
    @app.command("steps", help="List the cleaning steps, or show one step's options and defaults." + EXAMPLES)
    def steps_command(
        name: str | None = typer.Argument(None, help="A step name (omit to list them all)."),
        markdown: bool = typer.Option(False, "--markdown", help="Print every step's options (or NAME's) as "
                                                                "Markdown."),
    ) -> None:
        if markdown:
            # (a NAME given with --markdown was ignored: the whole reference came out)
            typer.echo(reference_markdown(name), nl=False)
        elif name is None:
            typer.echo(step_list())
        else:
            typer.echo(step_help(name))
