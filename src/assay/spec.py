"""The pipeline spec: what ``assay run PIPELINE.yaml`` reads, validated with pydantic.

A spec names a source, optional cleaning steps, candidate models, the evaluation and where outputs go. Errors name
the YAML line (for syntax errors) or the field path and what is valid, e.g. ``evaluation.folds: must be >= 2``.

.. code-block:: yaml

    source: data/penguins.csv          # any source URI
    target: species
    task: auto                         # auto | classification | regression | clustering | anomaly | recommendation
    steps:                             # optional; omitted = automatic defaults from column types
      - {step: missing, strategy: median}
      - {step: onehot}
    models: [logreg, lgbm]             # optional; omitted = the task's defaults
    drop: [patient_id]                 # optional; input columns the model must not use
    evaluation: {folds: 5, test_size: 0.2, seed: 0}   # + group: COLUMN or time: COLUMN for such splits
    output: {dir: out/penguins}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from assay.exceptions import SpecError

__all__ = ["EvaluationSpec", "OutputSpec", "PipelineSpec", "load_spec", "parse_spec"]

Task = Literal["auto", "classification", "regression", "clustering", "anomaly", "recommendation"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EvaluationSpec(_Strict):
    folds: int | None = Field(None, ge=2, le=50, description="k of (stratified) k-fold cross-validation; none "
                              "given: 5, or as many as the rarest class has training rows when that is 2-4")
    test_size: float = Field(0.2, gt=0.0, lt=0.9, description="share of rows held out for the final test")
    seed: int = 0
    time_budget: float | None = Field(None, gt=0, description="seconds for hyperparameter search (none: defaults)")
    threshold: str | None = Field(None, description="binary decision threshold: f1 or cost:FP:FN")
    group: str | None = Field(None, description="column whose groups never straddle train/test or a fold")
    time: str | None = Field(None, description="column of times: the latest rows are the test split, folds "
                                               "train on earlier rows only")


class OutputSpec(_Strict):
    dir: str = "assay-out"
    report: bool = True


class PipelineSpec(_Strict):
    source: str
    source_options: dict[str, Any] = Field(default_factory=dict)
    target: str | None = None
    task: Task = "auto"
    steps: list[dict[str, Any]] | None = None
    models: list[str] | None = None
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    output: OutputSpec = Field(default_factory=OutputSpec)
    engine: Literal["local", "dask"] = "local"
    scheduler: str | None = None
    user: str | None = None
    item: str | None = None
    rating: str | None = None
    drop: list[str] = Field(default_factory=list, description="input columns the model must not use")

    @field_validator("steps")
    @classmethod
    def _steps_named(cls, steps: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        for i, step in enumerate(steps or []):
            if "step" not in step:
                msg = f"steps[{i}] has no 'step' key (e.g. {{step: missing, strategy: median}})"
                raise ValueError(msg)
        return steps


def _unknown_field(loc: tuple[Any, ...]) -> str:
    """``unknown field (did you mean 'test_size'? valid: folds, test_size, …)`` for a misspelt key at ``loc``.

    >>> _unknown_field(("evaluation", "tst_size"))
    "unknown field; did you mean 'test_size'? (valid: folds, test_size, seed, time_budget, threshold, group, time)"
    >>> _unknown_field(("output", "dirr"))
    "unknown field; did you mean 'dir'? (valid: dir, report)"
    """
    import difflib

    model: type[BaseModel] = PipelineSpec
    for part in loc[:-1]:  # walk down to the spec model that holds the misspelt key
        field = model.model_fields.get(str(part))
        inner = field.annotation if field is not None else None
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
            return "unknown field"
        model = inner
    valid = list(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown field{hint} (valid: {', '.join(valid)})"


def parse_spec(data: Any, *, origin: str = "spec") -> PipelineSpec:
    """Validate a spec dict; errors name the field path and the reason."""
    if not isinstance(data, dict):
        msg = f"{origin}: a pipeline spec must be a mapping with at least 'source', got {type(data).__name__}"
        raise SpecError(msg)
    try:
        return PipelineSpec.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            reason = err["msg"]
            if err["type"] == "extra_forbidden":
                reason = _unknown_field(err["loc"])
            problems.append(f"{where}: {reason}")
        msg = f"{origin}: invalid pipeline spec — " + "; ".join(problems)
        raise SpecError(msg) from None


_DATA_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq", ".ndjson", ".jsonl", ".xlsx", ".xls", ".feather", ".arrow", ".ipc",
                  ".avro", ".orc", ".gz", ".zst", ".bz2", ".xz", ".zip", ".txt")


def load_spec(path: str | Path) -> PipelineSpec:
    """Read and validate a YAML (or JSON) spec file; relative source paths are taken from the spec's folder."""
    path = Path(path)
    if not path.is_file():
        msg = f"pipeline spec not found: {path}"
        raise SpecError(msg)
    if path.suffix.lower() in _DATA_SUFFIXES:  # data given where a spec is asked for: say what to run instead
        msg = (f"{path} is a data file, not a pipeline spec (a YAML file naming source, target, steps, …); train on "
               f"it with: assay train {path} --target COLUMN, or write a spec with source: {path}")
        raise SpecError(msg)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        msg = f"{path}: malformed YAML{where}: {problem}"
        raise SpecError(msg) from None
    spec = parse_spec(data, origin=str(path))
    if "://" not in spec.source and not Path(spec.source).is_absolute():
        candidate = path.parent / spec.source
        if candidate.exists():
            spec.source = str(candidate)
    return spec
