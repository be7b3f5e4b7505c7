"""The fitted model: cleaning steps + estimator + the input schema they were trained on.

This is what an artifact holds, what ``assay predict`` applies and what the server serves. It applies exactly the
step states learned in training (no train/serve skew). Input is checked against the training schema first: a missing
column or a value that cannot be read as the trained type is a :class:`~assay.exceptions.SchemaError` naming the
column, never a crash deep inside a library.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from assay.clean._base import Step
from assay.clean._types import DEFAULT_MISSING_TOKENS
from assay.exceptions import ArtifactError, SchemaError

__all__ = ["Model", "apply_threshold", "dtype_from_str", "load_model"]

log = logging.getLogger(__name__)

_DATETIME = re.compile(r"Datetime\(time_unit='(\w+)', time_zone=(?:'([^']*)'|None)\)")


def _shown(value: Any) -> str:
    """A value of the rows to predict as a message quotes it: as JSON, the way a client sent it (``true``, ``"abc"``,
    ``{"a": 1}``, ``1e+23``), rather than Python's ``True`` or ``'abc'``; ``repr`` when it has no JSON form."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


def say_unreadable(unreadable: dict[str, tuple[int, Any, str]], rows: int) -> None:
    """One note per column with values that were read as missing (:meth:`Model.read_input`), said by batch scoring
    on either engine before the notes on categories the encoders never saw."""
    for column, (count, example, expected) in unreadable.items():
        log.warning("%d of %d value(s) of %r could not be read as %s (as in training), e.g. %r; they were predicted "
                    "as missing", count, rows, column, expected, example)


def dtype_from_str(name: str) -> pl.DataType:
    """Inverse of ``str(dtype)`` for the column types a training frame can hold.

    >>> dtype_from_str("Float64")
    Float64
    >>> dtype_from_str("Datetime(time_unit='us', time_zone=None)")
    Datetime(time_unit='us', time_zone=None)
    """
    match = _DATETIME.fullmatch(name)
    if match:
        return pl.Datetime(match.group(1), match.group(2))
    simple = getattr(pl, name, None)
    if isinstance(simple, type) and issubclass(simple, pl.DataType):
        return simple()
    if isinstance(simple, pl.DataType):
        return simple
    return pl.String()


class Model:
    """Fitted steps and estimator, with the schema they expect.

    Create one with :func:`assay.train` or :func:`load_model`; call :meth:`predict` on a frame or
    :meth:`predict_records` on a list of dicts.
    """

    def __init__(
        self,
        steps: Sequence[Step],
        estimator: Any,
        *,
        task: str,
        target: str | None,
        input_schema: dict[str, str],
        features: list[str],
        classes: list[Any] | None = None,
        feature_fill: list[float] | None = None,
        threshold: dict[str, Any] | None = None,
        manifest: dict[str, Any] | None = None,
    ) -> None:
        self.steps = list(steps)
        self.estimator = estimator
        self.task = task
        self.target = target
        self.input_schema = dict(input_schema)
        self.features = list(features)
        self.classes = None if classes is None else list(classes)
        self.feature_fill = feature_fill
        self.threshold = threshold
        self.manifest = manifest or {}

    def __repr__(self) -> str:
        name = self.manifest.get("model_name") or type(self.estimator).__name__
        return f"Model(task={self.task!r}, target={self.target!r}, model={name!r}, features={len(self.features)})"

    # -- input checking ---------------------------------------------------------------------------------------
    @property
    def optional_inputs(self) -> list[str]:
        """Input columns a caller may leave out: those the leading ``drop_useless`` step drops before any step
        reads them (all missing, constant, an exported row index). Left out, they are filled with nulls."""
        optional: list[str] = []
        for step in self.steps:
            name = getattr(step, "name", "")
            if name == "drop_useless":
                optional += [c for c in getattr(step, "state_", {}).get("dropped", {}) if c in self.input_schema]
            elif name != "types":  # converts columns in place; any other step may read a column
                break
        return optional

    def validate(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Return the input columns cast to their training types; raise SchemaError naming what is wrong."""
        return self._checked(frame, lenient=False)[0]

    def read_input(self, frame: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, tuple[int, Any, str]]]:
        """:meth:`validate` for a batch, where one unreadable value should not stop the rest: values that cannot
        be read as their column's training type (``'eighty'`` for an integer, ``'next week'`` for a column of
        dates the types step reads) become missing values, which the model's steps fill as in training. Returns
        the checked frame and ``{column: (count, first such value, what was expected)}`` so that the caller can
        say what was read as missing. Missing columns and nested values still raise.

        >>> import polars as pl
        >>> model = Model([], None, task="regression", target="y", input_schema={"age": "Int64"}, features=["age"])
        >>> checked, unreadable = model.read_input(pl.DataFrame({"age": ["70", "eighty", None]}))
        >>> checked["age"].to_list(), unreadable
        ([70, None, None], {'age': (1, 'eighty', 'Int64')})
        """
        return self._checked(frame, lenient=True)

    def _checked(self, frame: pl.DataFrame, *, lenient: bool) -> tuple[pl.DataFrame, dict[str, tuple[int, Any, str]]]:
        checked, unreadable = self._cast(frame, lenient=lenient)
        # Text the types step converts (dates, numbers with separators, yes/no) is text in the input schema; a
        # value it cannot read would become missing inside the steps without a word. The server refuses it, as
        # it refuses 'eighty' for a number; batches read it as missing and say so.
        types = self._converting_types_step()
        if types is not None and checked.height:
            for column, (count, example) in types.unreadable(checked).items():
                spec = types.state_["convert"][column]
                expected = spec["kind"] + (f" in the format {spec['format']!r}" if spec.get("format") else "")
                if not lenient:
                    msg = f"column {column!r}: value {_shown(example)} cannot be read as {expected} (as in training)"
                    raise SchemaError(msg)
                unreadable[column] = (count, example, expected)
            if unreadable and lenient:
                checked = types.without_unreadable(checked)
        return checked, unreadable

    def _converting_types_step(self) -> Any:
        """The first step when it is a types step that converts some text column (to numbers, flags or times),
        else None; looked up once (the server checks every batch)."""
        found = self.__dict__.get("_types_check", False)
        if found is False:
            first = self.steps[0] if self.steps else None
            converts = getattr(first, "name", None) == "types" and any(
                spec["kind"] not in ("text", "categorical") for spec in first.state_["convert"].values())
            found = first if converts else None
            self.__dict__["_types_check"] = found
        return found

    def _cast(self, frame: pl.DataFrame, *, lenient: bool) -> tuple[pl.DataFrame, dict[str, tuple[int, Any, str]]]:
        unreadable: dict[str, tuple[int, Any, str]] = {}
        missing = [c for c in self.input_schema if c not in frame.columns]
        if missing:
            optional = set(self.optional_inputs)
            required = [c for c in missing if c not in optional]
            if required:
                have = _names(frame.columns) or "(none)"
                msg = (
                    f"input lacks column(s) the model needs: {_names(required)} (input has: {have}); "
                    f"the model was trained on: {_names(self.input_schema)}"
                )
                raise SchemaError(msg)
            frame = frame.with_columns(pl.lit(None, dtype=_dtypes(self.input_schema)[c]).alias(c) for c in missing)
        dtypes = _dtypes(self.input_schema)
        if frame.columns == list(dtypes) and all(
            frame.get_column(n).dtype == t for n, t in dtypes.items()
        ):
            return frame, unreadable  # already exactly the training columns and types: what the select would give
        exprs = []
        for name, dtype_name in self.input_schema.items():
            dtype = dtypes[name]
            column = frame.get_column(name)
            if column.dtype == dtype:
                exprs.append(pl.col(name))
                continue
            if column.dtype.is_nested() and not dtype.is_nested():
                # a list or an object (JSON [..] / {..}) where one value is expected: never a value of the column
                # (Polars would refuse a list with its own message, and turn an object into text)
                row = int(column.is_not_null().arg_true()[0]) if column.null_count() < column.len() else 0
                kind = "an object" if isinstance(column.dtype, pl.Struct) else "a list"
                shown = _shown(column.slice(row, 1).to_list()[0])
                msg = (
                    f"column {name!r}: value {shown} at row {row} is {kind}, not one value; the model takes one "
                    f"{dtype_name} per row"
                )
                raise SchemaError(msg)
            if column.dtype == pl.String and dtype != pl.String:
                # Text for a number, date or flag: a blank or a missing-value token ('', 'NA', 'null', ...) is a
                # missing value, as the types step reads it, not an unreadable one (JSON producers send "" for none).
                # Spaces around a number (" 45.1 ") are no reason to refuse it, as they are none to call it missing.
                text = column.str.strip_chars()
                column = pl.select(pl.when(text.is_in(_MISSING_TEXT)).then(None).otherwise(text)).to_series()
                column = column.alias(name)
            try:
                cast = _cast_lenient(column, dtype)
            except Exception as exc:  # a conversion Polars does not offer (say, text to a duration)
                msg = f"column {name!r}: {column.dtype} values cannot be read as {dtype_name} ({exc})"
                raise SchemaError(msg) from None
            if column.dtype == pl.Boolean and dtype.is_numeric():
                cast = pl.Series(name, [None] * column.len(), dtype=dtype)  # true/false is no number: unreadable
            elif column.dtype.is_float() and dtype.is_integer():
                # 2008.5 for a whole-number column is unreadable, not 2008 (a cast would cut the fraction off).
                whole = column.is_not_null() & (column == column.round(0))
                cast = pl.select(pl.when(whole).then(cast)).to_series().alias(name)
            bad = cast.is_null() & column.is_not_null()
            if bad.any() and lenient:
                row = int(bad.arg_true()[0])
                unreadable[name] = (int(bad.sum()), column[row], dtype_name)
            elif bad.any():
                row = int(bad.arg_true()[0])
                msg = (
                    f"column {name!r}: value {_shown(column[row])} at row {row} cannot be read as {dtype_name} "
                    f"(the type the model was trained on)"
                )
                raise SchemaError(msg)
            exprs.append(cast.alias(name))
        return frame.select(exprs), unreadable

    # -- applying ---------------------------------------------------------------------------------------------
    def transform(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Validated input through every fitted step (predict-time behaviour: no row is dropped)."""
        return self._transform_checked(self.validate(frame))

    def _transform_checked(self, checked: pl.DataFrame) -> pl.DataFrame:
        out: pl.DataFrame | pl.LazyFrame = checked
        for step in self.steps:
            out = step.transform(out)
        return out.collect() if isinstance(out, pl.LazyFrame) else out

    def matrix(self, frame: pl.DataFrame) -> np.ndarray:
        """The float feature matrix the estimator sees."""
        return feature_matrix(self.transform(frame), self.features, self.feature_fill)

    def predict(self, data: pl.DataFrame | pl.LazyFrame | Sequence[dict[str, Any]], *, top_k: int = 10
                ) -> pl.DataFrame:
        """Predictions for every input row, in input order.

        Classification gives ``prediction`` and one ``proba_<class>`` column per class; regression gives
        ``prediction``; clustering gives ``cluster``; anomaly detection gives ``anomaly`` and ``score``.
        A recommender gives the ``top_k`` items for each distinct user of the input: ``user, item, rank, score``
        (users it never saw get the most popular items).
        """
        frame = _as_frame(data)
        if self.task == "recommendation":
            return self._recommend(frame, top_k)
        if frame.height == 0:
            return pl.DataFrame(schema=self._output_schema())
        return self._predict_checked(self.validate(frame))

    def _predict_checked(self, checked: pl.DataFrame) -> pl.DataFrame:
        """:meth:`predict` of a non-empty frame :meth:`validate` returned (not a public entry)."""
        return columns_frame(self._predict_columns(checked))

    def _serve_columns(self, frame: pl.DataFrame) -> dict[str, np.ndarray] | None:
        """The server's path: :meth:`predict`'s output columns as NumPy arrays, or None where only a frame will do
        (recommendations, whose rows are not the input's, and empty input).

        The prediction server turns the arrays straight into response rows; the output frame :meth:`predict`
        builds around them costs more than the model call for a small batch.
        """
        if self.task == "recommendation" or frame.height == 0:
            return None
        return self._predict_columns(self.validate(frame))

    def _predict_columns(self, checked: pl.DataFrame) -> dict[str, np.ndarray]:
        X = feature_matrix(self._transform_checked(checked), self.features, self.feature_fill)
        est = self.estimator
        if _float32_trees(est):
            X = _clip_to_float32(X)
        if self.task == "classification":
            labels, proba = label_proba(est, X)
            if self.threshold is not None and proba is not None:
                labels = apply_threshold(proba, list(est.classes_), self.threshold, labels.dtype)
            out = {"prediction": np.asarray(labels)}
            if proba is not None:
                for j, cls in enumerate(est.classes_):
                    out[f"proba_{cls}"] = proba[:, j]
            return out
        if self.task == "regression":
            fast_values = getattr(est, "_predict_unchecked", None)
            values = fast_values(X) if fast_values is not None else None
            if values is None:
                values = est.predict(X)
            return {"prediction": np.asarray(values, dtype=np.float64)}
        if self.task == "clustering":
            return {"cluster": np.asarray(est.predict(X), dtype=np.int64)}
        if self.task == "anomaly":
            # assay's detectors label anomalies 1 and score higher = more anomalous (assay.models._anomaly).
            out = {"anomaly": np.asarray(est.predict(X)) == 1}
            if hasattr(est, "score_samples"):
                out["score"] = np.asarray(est.score_samples(X), dtype=np.float64)
            return out
        msg = f"prediction for task {self.task!r} is not supported by this model"
        raise SchemaError(msg)

    def _recommend(self, frame: pl.DataFrame, top_k: int) -> pl.DataFrame:
        user = self.manifest.get("user") or next(iter(self.input_schema))
        users = self.validate(frame).get_column(user).unique(maintain_order=True)
        if users.len() == 0:
            return pl.DataFrame(schema={"user": pl.String(), "item": pl.String(), "rank": pl.Int64(),
                                        "score": pl.Float64()})
        return self.estimator.recommend(users.to_numpy(), k=top_k)

    def predict_records(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Predict a list of dicts (one per row) and return a list of dicts."""
        return self.predict(records).to_dicts()

    def _output_schema(self) -> dict[str, pl.DataType]:
        if self.task == "classification":
            schema: dict[str, pl.DataType] = {"prediction": pl.String()}
            schema.update({f"proba_{c}": pl.Float64() for c in self.classes or []})
            return schema
        if self.task == "clustering":
            return {"cluster": pl.Int64()}
        if self.task == "anomaly":
            return {"anomaly": pl.Boolean(), "score": pl.Float64()}
        return {"prediction": pl.Float64()}

    # -- persistence ------------------------------------------------------------------------------------------
    def save(self, path: str | Path, **extra: Any) -> Path:
        """Write the artifact directory (atomically); ``extra`` goes into the manifest (metrics, source, spec)."""
        from assay.models import save_estimator
        from assay.registry._artifact import write_artifact

        manifest = {
            **{k: v for k, v in self.manifest.items() if k not in _GENERATED},
            "task": self.task,
            "target": self.target,
            "input_schema": self.input_schema,
            "features": self.features,
            "classes": _json_safe(self.classes),
            "feature_fill": self.feature_fill,
            "threshold": self.threshold,
            **extra,
        }
        path = write_artifact(
            path,
            manifest=manifest,
            steps=[s.to_dict() for s in self.steps],
            write_payload=lambda d: save_estimator(self.estimator, d),
        )
        self.manifest = json.loads((Path(path) / "manifest.json").read_text(encoding="utf-8"))
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> Model:
        """Load an artifact after verifying its format version and the SHA-256 of every file."""
        from assay.models import load_estimator
        from assay.registry._artifact import verify_artifact

        path = Path(path)
        manifest = verify_artifact(path)
        try:
            steps = [Step.from_dict(d) for d in json.loads((path / "steps.json").read_text(encoding="utf-8"))]
            estimator = load_estimator(path / "estimator", manifest["estimator"])
            return cls(
                steps,
                estimator,
                task=manifest["task"],
                target=manifest.get("target"),
                input_schema=manifest["input_schema"],
                features=manifest["features"],
                classes=manifest.get("classes"),
                feature_fill=manifest.get("feature_fill"),
                threshold=manifest.get("threshold"),
                manifest=manifest,
            )
        except (KeyError, TypeError) as exc:
            msg = f"model artifact {path} is incomplete: {exc!r} missing or malformed in its manifest"
            raise ArtifactError(msg) from exc


_GENERATED = {"format", "format_version", "created_at", "created_by", "library_versions", "estimator", "files"}


def load_model(path: str | Path) -> Model:
    """Load a model artifact written by ``assay train`` / :meth:`Model.save` (hashes verified first)."""
    return Model.load(path)


def _names(columns: Sequence[str]) -> str:
    """Column names for a message: as they are, quoted when empty or padded with spaces."""
    return ", ".join(c if c and c == c.strip() else repr(c) for c in columns)


def columns_frame(columns: dict[str, np.ndarray]) -> pl.DataFrame:
    """A frame of output arrays (object arrays, e.g. labels, go in as lists so Polars infers their type)."""
    return pl.DataFrame({name: list(values) if values.dtype == object else values for name, values in columns.items()})


def feature_matrix(frame: pl.DataFrame, features: list[str], fill: list[float] | None = None) -> np.ndarray:
    """Select ``features`` as a float64 matrix; NaN left by the steps is filled with the training column means."""
    absent = [f for f in features if f not in frame.columns]
    if absent:
        msg = f"the fitted steps did not produce feature column(s) {', '.join(absent)}"
        raise SchemaError(msg)
    # Column by column into a Fortran-ordered array: the layout ``frame.select(...).to_numpy()`` gives (so the
    # estimator's BLAS call and its rounding are unchanged), without building and collecting a query per batch.
    X = np.empty((frame.height, len(features)), dtype=np.float64, order="F")
    for j, f in enumerate(features):
        column = frame.get_column(f)
        X[:, j] = (column if column.dtype == pl.Float64 else column.cast(pl.Float64)).to_numpy()
    X[~np.isfinite(X)] = np.nan
    if fill is not None and np.isnan(X).any():
        # A value never missing in training can be missing at predict time; the steps may not cover it.
        rows, cols = np.nonzero(np.isnan(X))
        X[rows, cols] = np.asarray(fill, dtype=np.float64)[cols]
    return X


_FLOAT32_MAX = float(np.finfo(np.float32).max)
_MISSING_TEXT = ["", *DEFAULT_MISSING_TOKENS]


def _float32_trees(est: Any) -> bool:
    """Does ``est`` read its input as float32 and use it only in threshold comparisons (scikit-learn's trees,
    forests, gradient boosting and isolation forest)?"""
    import sys

    tree = sys.modules.get("sklearn.tree")
    ensemble = sys.modules.get("sklearn.ensemble")
    if tree is not None and isinstance(est, tree.BaseDecisionTree):
        return True
    return ensemble is not None and isinstance(est, (ensemble._forest.BaseForest, ensemble._gb.BaseGradientBoosting,
                                                     ensemble.IsolationForest))


def _clip_to_float32(X: np.ndarray) -> np.ndarray:
    """Values beyond float32's range clipped to it, for a model of float32 trees.

    Such a model refuses a value like 1e308 (it becomes inf in float32). Clipping is exact for it: every split
    threshold lies between two float32 training values, so ±3.4e38 falls on the same side of each as 1e308 does.
    """
    with np.errstate(invalid="ignore"):  # NaN stays NaN (the model's own missing-value handling)
        if not (np.abs(X) > _FLOAT32_MAX).any():
            return X
    return np.clip(X, -_FLOAT32_MAX, _FLOAT32_MAX)


def _cast_lenient(column: pl.Series, dtype: pl.DataType) -> pl.Series:
    """``column`` as ``dtype``, unreadable values null; text to dates and times is parsed (format inferred from the
    values, as Polars does), since JSON has no date type and Polars does not cast text to one."""
    if column.dtype == pl.String:
        if dtype == pl.Date:
            return column.str.to_date(strict=False)
        if isinstance(dtype, pl.Datetime):
            out = column.str.to_datetime(time_unit=dtype.time_unit, strict=False)
            if dtype.time_zone is not None:
                zone = getattr(out.dtype, "time_zone", None)
                out = (out.dt.replace_time_zone(dtype.time_zone) if zone is None
                       else out.dt.convert_time_zone(dtype.time_zone))
            return out
        if dtype == pl.Time:
            return column.str.to_time(strict=False)
        if dtype.is_integer():
            # "2010.0" or "2e3" is a whole number written as a decimal, as 2010.0 sent as a JSON number is read;
            # "2010.5" stays unreadable (a cast would cut the fraction off), and so does one out of the type's range.
            out = column.cast(dtype, strict=False)
            if out.null_count() > column.null_count():
                number = column.cast(pl.Float64, strict=False)
                whole = number.is_finite() & (number == number.round(0))
                out = out.fill_null(pl.select(pl.when(whole).then(number)).to_series().cast(dtype, strict=False))
            return out
    return column.cast(dtype, strict=False)


def label_proba(est: Any, X: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """A fitted classifier's ``(predict(X), predict_proba(X))`` (None for a model without probabilities), computing
    the scores once where the labels are their argmax (see :func:`_proba_decides`)."""
    fast = getattr(est, "_predict_label_proba", None)
    both = fast(X) if fast is not None else None
    if both is not None:  # assay's own estimator: one score computation for labels and probabilities
        return both
    if _proba_decides(est):  # predict() would compute predict_proba() again and take its argmax
        proba = est.predict_proba(X)
        return est.classes_.take(np.argmax(proba, axis=1), axis=0), proba
    return est.predict(X), est.predict_proba(X) if hasattr(est, "predict_proba") else None


def _proba_decides(est: Any) -> bool:
    """Is ``est.predict(X)`` by its own code exactly ``classes_.take(argmax(est.predict_proba(X)))``?

    True for scikit-learn's forests and decision trees (one output) and LightGBM's classifier (built-in
    objective): their ``predict`` calls ``predict_proba`` and takes the argmax, so asking for both labels and
    probabilities would run every tree twice (a 200-tree forest: ~7 ms per call for one row). Estimators whose
    labels come from another computation (decision functions, thresholds) are not listed.
    """
    import sys

    tree = sys.modules.get("sklearn.tree")
    forest = sys.modules.get("sklearn.ensemble._forest")
    if (tree is not None and isinstance(est, tree.DecisionTreeClassifier)) or (
            forest is not None and isinstance(est, forest.ForestClassifier)):
        return getattr(est, "n_outputs_", 0) == 1
    lgbm = sys.modules.get("lightgbm")
    if lgbm is not None and isinstance(est, lgbm.LGBMClassifier):
        return not callable(getattr(est, "_objective", None))
    return False


def apply_threshold(proba: np.ndarray, classes: list[Any], threshold: dict[str, Any], dtype: Any) -> np.ndarray:
    """Binary labels from the positive class's probability and a tuned threshold (``p >= value`` → positive)."""
    positive = classes[1]
    labels = np.where(proba[:, 1] >= float(threshold["value"]), positive, classes[0])
    return labels if np.dtype(dtype).kind == "O" else labels.astype(dtype)


@functools.lru_cache(maxsize=256)
def _dtypes_cached(schema: tuple[tuple[str, str], ...]) -> dict[str, pl.DataType]:
    return {name: dtype_from_str(dtype_name) for name, dtype_name in schema}


def _dtypes(schema: dict[str, str]) -> dict[str, pl.DataType]:
    """Column name → Polars type of an input schema, parsed once per distinct schema."""
    return _dtypes_cached(tuple(schema.items()))


def _as_frame(data: pl.DataFrame | pl.LazyFrame | Sequence[dict[str, Any]]) -> pl.DataFrame:
    if isinstance(data, pl.LazyFrame):
        return data.collect()
    if isinstance(data, pl.DataFrame):
        return data
    return pl.DataFrame(list(data), infer_schema_length=None)


def _json_safe(values: list[Any] | None) -> list[Any] | None:
    if values is None:
        return None
    return [v.item() if isinstance(v, np.generic) else v for v in values]
