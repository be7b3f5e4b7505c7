"""The Step protocol: fit computes mergeable summaries, transform applies a small JSON state with expressions.

A step never sees more than one batch at a time while fitting. ``fit`` walks the batches of whatever it is given
(an in-memory frame, a lazy out-of-core scan, a list or iterator of micro-batches), calls ``summarize`` on each,
combines the results with ``merge`` and turns the merged summary into ``state_`` with ``finalize``. The same three
methods therefore serve a local file, a stream (``partial_fit``) and a Dask cluster (summaries per partition, merged
on the client). ``state_`` is a dict of plain JSON values and is all ``transform`` needs.

``transform`` is the predict-time behaviour: it never drops or reorders rows, so one row in gives one row out.
Steps that remove rows while training (drop rows with missing values, drop outliers, de-duplicate) do that in
``transform_train``, which the pipeline calls on training data only.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar, Self

import polars as pl

from assay.exceptions import NotFittedError, SchemaError, SpecError, did_you_mean

__all__ = ["Frame", "Step", "iter_batches", "numeric_columns", "resolve_columns", "string_columns"]

Frame = pl.DataFrame | pl.LazyFrame
FitData = pl.DataFrame | pl.LazyFrame | Iterable[pl.DataFrame]

# Batch size used when a lazy scan must be walked batch by batch (sketch-based steps).
SCAN_BATCH_ROWS = 250_000

NUMERIC_DTYPES = (pl.Float32, pl.Float64, pl.Int8, pl.Int16, pl.Int32, pl.Int64,
                  pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)


def numeric_columns(schema: pl.Schema | dict[str, pl.DataType]) -> list[str]:
    """Names of numeric (not boolean) columns, in schema order."""
    return [name for name, dtype in schema.items() if dtype.is_numeric()]


def string_columns(schema: pl.Schema | dict[str, pl.DataType]) -> list[str]:
    """Names of text and categorical columns, in schema order."""
    return [name for name, dtype in schema.items() if dtype in (pl.String, pl.Categorical, pl.Enum)
            or isinstance(dtype, pl.Enum | pl.Categorical)]


def resolve_columns(
    requested: Sequence[str] | None,
    schema: pl.Schema | dict[str, pl.DataType],
    default: list[str],
    *,
    exclude: Sequence[str] = (),
    step: str = "step",
) -> list[str]:
    """The columns a step works on: the user's list (checked) or a default chosen from the schema."""
    if requested is None:
        return [c for c in default if c not in exclude]
    names = list(schema)
    for col in requested:
        if col not in schema:
            msg = f"{step}: column {col!r} not found{did_you_mean(str(col), names)} (columns: {', '.join(names)})"
            raise SchemaError(msg)
    return list(requested)


def refuse_overwrite(step: str, made: dict[str, str], names: Sequence[str], hint: str = "") -> None:
    """Raise when a column a step makes (``made``: new column -> what it holds, as said) is already in ``names``
    (the columns of the data it was fitted on): adding it would replace that column without a word."""
    taken = set(names)
    for new, source in made.items():
        if new in taken:
            msg = (f"{step}: {source} would go to a column {new!r}, which the data already has (it would be "
                   f"overwritten); rename that column first{hint}")
            raise SchemaError(msg)


def iter_batches(data: FitData, batch_rows: int = SCAN_BATCH_ROWS) -> Iterator[pl.DataFrame]:
    """Yield in-memory batches from a frame, a lazy scan (streamed in slices) or an iterable of frames."""
    if isinstance(data, pl.DataFrame):
        yield data
    elif isinstance(data, pl.LazyFrame):
        empty = True
        for batch in data.collect_batches(chunk_size=batch_rows):
            empty = False
            yield batch
        if empty:  # a scan with no rows still has columns to fit (and to say what was found in them)
            yield data.head(0).collect()
    else:
        for batch in data:
            if isinstance(batch, pl.LazyFrame):
                batch = batch.collect()
            if not isinstance(batch, pl.DataFrame):
                msg = f"expected Polars frames to fit on, got {type(batch).__name__}"
                raise SpecError(msg)
            yield batch


class Step:
    """Base class of every cleaning step.

    Subclasses set ``name`` (the name used in specs) and implement:

    - ``summarize(frame, target)``: a mergeable summary of one batch (any picklable value);
    - ``merge(a, b)``: combine two summaries (associative; counts and sums add exactly);
    - ``finalize(summary)``: the JSON-serialisable ``state_`` dict;
    - ``_transform(frame)``: apply ``state_`` to a DataFrame or LazyFrame with expressions.

    Constructors only store their arguments (scikit-learn's rule), so ``get_params`` can read them back.
    A step whose summary can be computed lazily in one pass may set ``lazy_summary = True``: ``fit`` then calls
    ``summarize`` once on the whole LazyFrame instead of walking it in batches.
    """

    name: ClassVar[str] = ""
    lazy_summary: ClassVar[bool] = False
    # True when transform_train can change the number of rows (filters); transform never does.
    changes_rows: ClassVar[bool] = False

    # -- parameters -----------------------------------------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        import inspect

        params = inspect.signature(type(self).__init__).parameters.values()
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        return {p.name: getattr(self, p.name) for p in params if p.name != "self" and p.kind in kinds}

    def set_params(self, **params: Any) -> Self:
        valid = self.get_params()
        for key, value in params.items():
            if key not in valid:
                msg = f"{self.name}: unknown parameter {key!r}{did_you_mean(key, valid)}; valid: {', '.join(valid)}"
                raise SpecError(msg)
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    # -- fitting ----------------------------------------------------------------------------------------------
    def summarize(self, frame: Frame, target: str | None = None) -> Any:
        return {}

    def merge(self, a: Any, b: Any) -> Any:
        return a

    def finalize(self, summary: Any) -> dict[str, Any]:
        return {}

    def fit(self, data: FitData, target: str | None = None) -> Self:
        """Fit on a frame, a lazy scan or an iterable of batches; ``target`` is excluded from auto columns."""
        if self.lazy_summary and isinstance(data, pl.LazyFrame):
            summary = self.summarize(data, target)
        else:
            summary = None
            seen = False
            for batch in iter_batches(data):
                part = self.summarize(batch, target)
                summary = part if not seen else self.merge(summary, part)
                seen = True
            if not seen:
                msg = f"{self.name}: nothing to fit on (no batches)"
                raise SpecError(msg)
        self.summary_ = summary
        self.target_ = target
        self.state_ = self.finalize(summary)
        return self

    def summarize_whole(self, frame: Frame, target: str | None = None) -> Any:
        """Optional: the summary of a whole in-memory frame in one query with exact statistics; None if not offered.

        Steps whose batch summaries are costly to build (quantile sketches) override this; the result need not be
        mergeable (``fit_whole`` is for data that is all there at once).
        """
        return None

    def fit_whole(self, frame: Frame, target: str | None = None) -> Self:
        """Fit on a whole in-memory frame (or a lazy query over one): exact statistics where the step offers them."""
        summary = self.summarize_whole(frame, target)
        if summary is None:
            return self.fit(frame, target)
        self.summary_ = summary
        self.target_ = target
        self.state_ = self.finalize(summary)
        return self

    def partial_fit(self, batch: pl.DataFrame, target: str | None = None) -> Self:
        """Update the fit with one more batch (streams): merging summaries equals fitting on all batches."""
        part = self.summarize(batch, target)
        self.summary_ = part if not hasattr(self, "summary_") else self.merge(self.summary_, part)
        self.target_ = target
        self.state_ = self.finalize(self.summary_)
        return self

    # -- applying ---------------------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "state_"):
            msg = f"{self.name} step is not fitted yet; call fit() first"
            raise NotFittedError(msg)

    def transform(self, frame: Frame) -> Frame:
        """Apply the fitted state; never drops rows (predict-time behaviour)."""
        self._check_fitted()
        return self._transform(frame)

    def transform_train(self, frame: Frame) -> Frame:
        """Apply the fitted state to training data; filters may drop rows here."""
        return self.transform(frame)

    def fit_transform(self, data: pl.DataFrame, target: str | None = None) -> pl.DataFrame:
        return self.fit(data, target).transform_train(data)

    def _transform(self, frame: Frame) -> Frame:
        raise NotImplementedError

    # -- persistence ------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """``{"step", "params", "state"}``: everything needed to rebuild the fitted step (plain JSON)."""
        self._check_fitted()
        return {"step": self.name, "params": self.get_params(), "state": self.state_}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Step:
        from assay.clean._registry import get_step

        step = get_step(data["step"])(**data.get("params", {}))
        step.state_ = data["state"]
        return step

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)


@contextlib.contextmanager
def steps_quiet() -> Iterator[None]:
    """Cleaning steps' warnings held back (their loggers live under ``assay.clean``, the Dask engine's fitting of
    them under ``assay.engine``): for fits whose notes would repeat or mislead, such as a cross-validation fold's
    (the final fit says it again, with slightly different counts) or a trial fit on the first rows."""
    loggers = [logging.getLogger(name) for name in ("assay.clean", "assay.engine")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
