"""The data path: source → steps → candidate models under k-fold CV → leaderboard → refit → test → artifact.

:func:`train` is the whole job behind ``assay train`` and ``assay run``; :class:`Pipeline` is the same with the
choices held in an object. Cleaning steps are fitted inside each fold, on the fold's training rows only, so CV scores
carry no leakage from the held-out rows; the transformed fold matrices are computed once and shared by every candidate.
Nothing here reaches back into a source or forward into serving.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from assay._fitted import Model, apply_threshold, feature_matrix, label_proba
from assay.clean._base import Step
from assay.clean._base import steps_quiet as _steps_quiet
from assay.exceptions import SchemaError, SpecError, did_you_mean
from assay.sources import open_source

__all__ = ["Pipeline", "TrainResult", "infer_task", "run", "train"]

log = logging.getLogger("assay")

TASKS = ("classification", "regression", "clustering", "anomaly", "recommendation")
# An integer target with at most this many distinct values (and few relative to the rows) is a class label.
MAX_INT_CLASSES = 20
# Below this many test rows the held-out scores are said to be rough (one row moves accuracy by over 3 points).
FEW_TEST_ROWS = 30
DEFAULT_FOLDS = 5  # k of k-fold when none is asked for
# Rows of distinct text from which a column counts as an identifier (left out of automatic features).
IDENTIFIER_MIN_ROWS = 20
# The name of a key column: id, key, uuid on their own or after a separator (customer_id, order.key), CamelCase
# (PassengerId, CustomerID), or Chinese 编号/序号/ID at the end. 'paid', 'valid' or 'Android' are not.
_ID_NAME = re.compile(r"(?i:^(?:id|key|uuid|guid)$|[_\s.\-](?:id|key|uuid)$)|[a-z0-9](?:Id|ID|Key)$|(?:编号|序号)$")


@dataclass
class TrainResult:
    """What a training run produced: the fitted model, the leaderboard and the held-out test metrics."""

    model: Model
    task: str
    target: str | None
    primary_metric: str
    leaderboard: list[dict[str, Any]]
    test_metrics: dict[str, Any]
    cv_scores: dict[str, list[float]] = field(default_factory=dict)
    model_path: Path | None = None
    report_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    split: dict[str, Any] = field(default_factory=dict)  # how the rows were split: kind, column, row counts

    def to_dict(self) -> dict[str, Any]:
        """The content of ``metrics.json``."""
        return {
            "task": self.task,
            "target": self.target,
            "primary_metric": self.primary_metric,
            "leaderboard": self.leaderboard,
            "test": self.test_metrics,
            "split": self.split,
            "model_path": None if self.model_path is None else str(self.model_path),
            "report_path": None if self.report_path is None else str(self.report_path),
            "notes": self.notes,
        }


def infer_task(y: pl.Series) -> str:
    """``classification`` for text/boolean targets or integers with few distinct values, else ``regression``.

    >>> infer_task(pl.Series(["a", "b", "a"]))
    'classification'
    >>> infer_task(pl.Series([0.5, 1.25, 3.0]))
    'regression'
    """
    dtype = y.dtype
    if dtype == pl.Boolean or dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum | pl.Categorical):
        return "classification"
    if dtype.is_integer() or _whole_floats(y):  # 1.0/0.0: what a writer makes of whole numbers beside a NaN
        distinct = y.n_unique()
        if distinct <= MAX_INT_CLASSES and distinct <= max(2, y.len() // 5):
            return "classification"
    return "regression"


def _whole_floats(y: pl.Series) -> bool:
    """Whether a float column holds whole numbers only (0.0 and 1.0), missing values aside."""
    if not y.dtype.is_float():
        return False
    known = y.filter(y.is_finite())
    return known.len() > 0 and bool((known == known.round()).all()) and bool(known.abs().max() < 2**53)


def _make_steps(steps: Sequence[dict[str, Any] | Step] | None, schema: pl.Schema, target: str | None,
                task: str) -> list[Step]:
    if steps is None:
        from assay.clean import auto_steps

        return auto_steps(schema, target=target,
                          task=task if task in ("classification", "regression", "clustering") else "auto")
    from assay.clean._registry import make_step

    out: list[Step] = []
    for item in steps:
        if isinstance(item, Step):
            out.append(type(item)(**item.get_params()))
            continue
        params = dict(item)
        name = params.pop("step")
        out.append(make_step(name, params))
    return out


def _drop_total_row(frame: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """Drop a report's totals row at the end ("合计" with the column sums: ``assay.clean._useless.total_row``): one
    row that is no case of anything, with the biggest numbers of every column."""
    from assay.clean._useless import total_row

    total = total_row(frame)
    if total is None:
        return frame, []
    return frame.head(frame.height - 1), [total_row_note(total)]


def total_row_note(total: dict[str, Any]) -> str:
    """The note for a dropped totals row (:func:`assay.clean._useless.total_row`'s finding), on both engines."""
    said = f"{total['label'][0]!r} is {total['label'][1]!r}; " if total["label"] else ""
    cols = ", ".join(repr(c) for c in total["columns"][:3]) + (", …" if len(total["columns"]) > 3 else "")
    return f"dropped the last row (row {total['row']:,}): a totals row, not data ({said}{cols} equal the sums of the " \
           "rows above)"


def row_index_note(index: list[str]) -> str:
    names = ", ".join(repr(c) for c in index)
    return (f"dropped column(s) {names}: an exported row index (its numbers only go up down the file), which would "
            "only tell the model where a row sat in the file")


def identifiers_among(unique: list[str], head: pl.DataFrame) -> tuple[list[str], list[str]]:
    """Of text columns with a different value in every row, those that stay text (not dates or numbers, which are
    features once typed: one timestamp per row), judged by the types step on ``head``; and the note saying so."""
    if not unique:
        return [], []
    from assay.clean import TypesStep

    with _steps_quiet():  # its notes are about this trial fit, not the user's data
        kinds = TypesStep(columns=unique).fit(head.select(unique)).state_["convert"]
    ids = [c for c in unique if kinds[c]["kind"] in ("text", "categorical")]
    if not ids:
        return [], []
    names = ", ".join(repr(c) if c.strip() else f"{c!r} (the unnamed column of row names)" for c in ids)
    return ids, [f"not used as feature(s): {names}: a different value in every row (an identifier, a name or free "
                 "text), which no model here can learn from; to use it anyway, give the steps explicitly"]


def _fit_steps(steps: list[Step], frame: pl.DataFrame, target: str | None) -> pl.DataFrame:
    out = frame
    for step in steps:
        step.fit_whole(out, target)  # the data is in memory: exact statistics in one query where the step offers it
        out = step.transform_train(out)
        if isinstance(out, pl.LazyFrame):
            out = out.collect()
    return out


def _apply_steps(steps: list[Step], frame: pl.DataFrame) -> pl.DataFrame:
    out: pl.DataFrame | pl.LazyFrame = frame
    for step in steps:
        out = step.transform(out)
    return out.collect() if isinstance(out, pl.LazyFrame) else out


def _features(frame: pl.DataFrame, target: str | None, exclude: Sequence[str] = ()) -> list[str]:
    names = [c for c in frame.columns if c != target and c not in exclude]
    bad = [c for c in names if not (frame.schema[c].is_numeric() or frame.schema[c] == pl.Boolean)]
    if bad:
        msg = (
            f"column(s) {', '.join(bad)} are still not numeric after the cleaning steps; add an 'onehot' or "
            f"'ordinal' step for them (or omit 'steps' to let assay choose)"
        )
        raise SchemaError(msg)
    if not names:
        msg = "no feature columns are left after cleaning (all were dropped as empty, constant or the target)"
        raise SchemaError(msg)
    return names


def _labels(series: pl.Series) -> np.ndarray:
    values = series.to_numpy()
    if values.dtype == object:
        return values.astype(str)
    return values


@dataclass
class _Prepared:
    """One fold's matrices, computed once and shared by every candidate model."""

    X_train: np.ndarray
    y_train: np.ndarray | None
    X_test: np.ndarray
    y_test: np.ndarray | None
    steps: list[Step]
    features: list[str]
    fill: list[float]


class Pipeline:
    """Steps, candidate models and evaluation choices; :meth:`fit` trains and returns a :class:`TrainResult`.

    >>> Pipeline(target="species", models=["logreg"]).models
    ['logreg']
    """

    def __init__(
        self,
        *,
        target: str | None = None,
        task: str = "auto",
        steps: Sequence[dict[str, Any] | Step] | None = None,
        models: Sequence[str] | None = None,
        folds: int | None = None,
        test_size: float = 0.2,
        seed: int = 0,
        time_budget: float | None = None,
        threshold: str | None = None,
        user: str | None = None,
        item: str | None = None,
        rating: str | None = None,
        group: str | None = None,
        time: str | None = None,
        drop: Sequence[str] = (),
    ) -> None:
        if group is not None and time is not None:
            msg = "split by group or by time, not both (group keeps each group on one side; time tests the latest rows)"
            raise SpecError(msg)
        self.target = target
        self.task = task
        self.steps = None if steps is None else list(steps)
        self.models = None if models is None else list(models)
        self.folds = folds  # None: DEFAULT_FOLDS, fewer when a class has fewer training rows (see _choose_folds)
        self.folds_ = DEFAULT_FOLDS if folds is None else folds  # the number used, once the split is known
        self.test_size = test_size
        self.seed = seed
        self.time_budget = time_budget
        self.threshold = threshold
        self.user = user
        self.item = item
        self.rating = rating
        self.group = group
        self.time = time
        self.drop = [drop] if isinstance(drop, str) else list(drop)
        self._identifiers: list[str] = []  # text columns left out of the features by fit (_identifier_columns)

    # -- checks -----------------------------------------------------------------------------------------------
    def _drop_row_index(self, frame: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
        """Drop the row index a table export leaves (see ``drop_useless``), checked on the whole file: on the
        training split, a random subset, its numbers are no longer consecutive. A ``drop_useless`` step with
        ``row_numbers=False`` among the steps keeps it."""
        if self._keeps_row_index():
            return frame, []
        from assay.clean._useless import row_index_columns

        index = row_index_columns(frame, exclude=self.target)
        if not index:
            return frame, []
        return frame.drop(index), [row_index_note(index)]

    def _keeps_row_index(self) -> bool:
        """Whether a ``drop_useless`` step with ``row_numbers=False`` among the steps asks to keep a row index."""
        for step in self.steps or []:
            spec = step if isinstance(step, dict) else {"step": getattr(step, "name", None),
                                                         "row_numbers": getattr(step, "row_numbers", True)}
            if spec.get("step") == "drop_useless" and spec.get("row_numbers", True) is False:
                return True
        return False

    def _identifier_columns(self, frame: pl.DataFrame, target: str | None) -> tuple[list[str], list[str]]:
        """Text columns with a different value in every row (at least ``IDENTIFIER_MIN_ROWS``): an id, a name or
        free text. With the automatic steps they would be frequency-encoded into a constant and their every value
        kept in the model's state, so they are left out of the features (with a note); explicit steps keep them."""
        text = self._text_candidates(frame.schema, target)
        keys = self._key_candidates(frame.schema, target)
        if not (text or keys) or frame.height < IDENTIFIER_MIN_ROWS:
            return [], []
        both = [*text, *keys]
        counts = frame.select(*(pl.col(c).drop_nulls().n_unique().alias(f"u{i}") for i, c in enumerate(both)),
                              *(pl.col(c).is_not_null().sum().alias(f"n{i}") for i, c in enumerate(both))).row(
            0, named=True)
        unique = [c for i, c in enumerate(both)
                  if counts[f"n{i}"] >= IDENTIFIER_MIN_ROWS and counts[f"u{i}"] == counts[f"n{i}"]]
        ids, notes = identifiers_among([c for c in unique if c in text], frame.head(2000))
        numbered = [c for c in unique if c in keys and counts[f"n{both.index(c)}"] == frame.height]
        if numbered:
            names = ", ".join(repr(c) for c in numbered)
            notes.append(f"not used as feature(s): {names}: named as an id, with a different whole number in every "
                         "row (a key, not a measurement: as a number it would only tell the model where the row was "
                         "numbered); to use it anyway, give the steps explicitly")
        return [*ids, *numbered], notes

    def _key_candidates(self, schema: Mapping[str, pl.DataType], target: str | None) -> list[str]:
        """Whole-number columns named as ids (``PassengerId``, ``customer_id``, ``ID``, ``订单编号``) that
        :meth:`_identifier_columns` leaves out when every row has a different value; with the automatic steps."""
        if self.steps is not None:
            return []
        return [c for c, t in schema.items() if c != target and c not in self.drop and t.is_integer()
                and _ID_NAME.search(c.strip())]

    def _text_candidates(self, schema: Mapping[str, pl.DataType], target: str | None) -> list[str]:
        """The columns :meth:`_identifier_columns` looks at: text inputs, when the steps are the automatic ones."""
        if self.steps is not None:
            return []
        return [c for c, t in schema.items() if c != target and c not in self.drop
                and (t == pl.String or isinstance(t, pl.Categorical))]

    def _check_target(self, frame: pl.DataFrame, origin: str) -> tuple[pl.DataFrame, str, list[str]]:
        notes: list[str] = []
        target = self.target
        task = self.task
        if task not in (*TASKS, "auto"):
            msg = f"unknown task {task!r}{did_you_mean(task, TASKS)}; valid: auto, {', '.join(TASKS)}"
            raise SpecError(msg)
        if target is None:
            if task in ("auto", "clustering"):
                return frame, "clustering", notes
            if task == "anomaly":
                return frame, task, notes
            msg = f"task {task!r} needs a target column (--target)"
            raise SpecError(msg)
        if target not in frame.columns:
            msg = (
                f"target column {target!r} not found in {origin}{did_you_mean(target, frame.columns)} "
                f"(columns: {', '.join(frame.columns)})"
            )
            raise SchemaError(msg)
        if task == "clustering":  # nothing is predicted: the column is kept out of the features (see _fit)
            return frame, task, [f"clustering predicts no target: {target!r} is left out of the features, and the "
                                 "clusters are found without it"]
        if frame.schema[target] == pl.String and task in ("auto", "regression"):
            frame, read = _numbers_in_text(frame, target)
            if read:
                notes.append(read)
        y = frame.get_column(target)
        infinite = blank = 0
        if y.dtype == pl.String:  # "" (movies' mpaa: 53,864 of 58,788) is no class, as it is no value in an input
            blank = int((y.str.strip_chars() == "").sum())
            y = pl.select(pl.when(y.str.strip_chars() != "").then(y)).to_series()
        if y.dtype.is_float():
            infinite = int(y.is_infinite().sum())
            y = pl.select(pl.when(y.is_finite()).then(y)).to_series()  # NaN and ±inf: no value to learn
        missing = y.null_count()
        if missing == frame.height:
            msg = f"target column {target!r} in {origin} is entirely missing; nothing to learn from"
            raise SchemaError(msg)
        if missing:
            frame = frame.filter(y.is_not_null())
            why = (f"is missing ({infinite} of them infinite)" if infinite else
                   f"is missing ({blank} of them blank text)" if blank else "is missing")
            notes.append(f"dropped {missing} row(s) whose target {target!r} {why}")
        if task in ("auto", "classification") and _whole_floats(frame.get_column(target)):
            inferred = task == "classification" or infer_task(frame.get_column(target)) == "classification"
            if inferred:  # classes 0 and 1, not 0.0 and 1.0 (in the probability columns' names too)
                notes.append(f"target {target!r} holds whole numbers written with decimals (e.g. "
                             f"{frame.get_column(target).drop_nulls()[0]!r}): read as whole-number classes")
                frame = frame.with_columns(pl.col(target).cast(pl.Int64))
        if task == "auto":
            task = infer_task(frame.get_column(target))
            # the rows a class needs so that the training split still has one per fold
            # (--test-size is a share below 1 and a row count from 1 up)
            share = self.test_size if self.test_size < 1 else self.test_size / max(frame.height, 1)
            need = math.ceil(self.folds_ / max(1 - share, 1 / max(frame.height, 1)))
            counted = _count_target(frame.get_column(target), need, self.folds_) if task == "classification" else None
            if counted:
                task = "regression"
                notes.append(counted)
        if task == "regression" and frame.get_column(target).dtype.is_numeric():
            top = frame.get_column(target).cast(pl.Float64).abs().max()
            if top is not None and top > 1e150:  # squared errors would overflow float64
                msg = (f"target column {target!r} in {origin} reaches {top:.3g}: too large for regression errors "
                       f"in float64 (their squares overflow); rescale it (e.g. divide by a power of ten or take a "
                       f"log) and train again")
                raise SchemaError(msg)
        if task == "classification":
            counts = frame.get_column(target).value_counts()
            if counts.height < 2:
                only = counts.get_column(target)[0]
                msg = f"target column {target!r} has one class only ({only!r}); classification needs at least two"
                raise SchemaError(msg)
        elif task == "regression" and not frame.schema[target].is_numeric():
            msg = f"target column {target!r} is {frame.schema[target]}, not numeric; use --task classification"
            raise SchemaError(msg)
        return frame, task, notes

    def _prepare(self, train: pl.DataFrame, test: pl.DataFrame, target: str | None, task: str) -> _Prepared:
        drop = [*self.drop, *self._identifiers]
        if drop:  # left out of the features only: a dropped --group or --time column still splits the rows
            train, test = train.drop(drop, strict=False), test.drop(drop, strict=False)
        steps = _make_steps(self.steps, train.schema, target, task)
        fitted = _fit_steps(steps, train, target)
        features = _features(fitted, target)
        X_train = feature_matrix(fitted, features)
        fill = [float(v) if np.isfinite(v) else 0.0 for v in np.nanmean(X_train, axis=0)] if X_train.size else []
        X_train = feature_matrix(fitted, features, fill)
        X_test = feature_matrix(_apply_steps(steps, test), features, fill)
        y_train = None if target is None else _labels(fitted.get_column(target))
        y_test = None if target is None else _labels(test.get_column(target))
        return _Prepared(X_train, y_train, X_test, y_test, steps, features, fill)

    def _check_drop(self, columns: list[str], origin: str, target: str | None, index_dropped: bool = False) -> None:
        unknown = [c for c in self.drop if c not in columns]
        if unknown:
            msg = (f"cannot drop column(s) {', '.join(repr(c) for c in unknown)}: not in {origin}"
                   f"{did_you_mean(unknown[0], columns)} (columns: {', '.join(columns[:12])}"
                   f"{', …' if len(columns) > 12 else ''})")
            raise SchemaError(msg)
        if target is not None and target in self.drop:
            msg = f"cannot drop the target column {target!r}"
            raise SpecError(msg)
        if not [c for c in columns if c != target and c not in self.drop]:
            if self.drop:
                msg = "no input column is left after --drop"
            else:
                only = f"the target {target!r}" if target is not None else "no column"
                msg = f"{origin} has no input column to learn from: {only} is all that is left" + (
                    " (a row index a table export leaves is not an input)" if index_dropped else "")
            raise SpecError(msg)

    # -- candidate search -------------------------------------------------------------------------------------
    def _fold_indices(self, train: pl.DataFrame, y: np.ndarray, task: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """The cross-validation folds over ``train``: group k-fold with ``group`` (no group on both sides of a
        fold), forward-chaining folds with ``time`` (``train`` is in time order: each fold tests rows later than
        all of its training rows), else (stratified) shuffled k-fold."""
        from assay.evaluate import fold_indices

        if self.group is not None:
            groups = train.get_column(self.group).cast(pl.String).fill_null("").to_numpy()
            return fold_indices(y, task=task, folds=self.folds_, seed=self.seed, groups=groups, kind="group")
        if self.time is not None:
            return fold_indices(y, task=task, folds=self.folds_, seed=self.seed, kind="timeseries",
                                times=_time_ranks(train.get_column(self.time)))
        return fold_indices(y, task=task, folds=self.folds_, seed=self.seed)

    def _cross_validate(
        self, train: pl.DataFrame, target: str | None, task: str, names: list[str], notify: Callable[[str, float], None]
    ) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]], str, dict[str, Any]]:
        """Every candidate with its defaults on the same folds; steps refitted inside each fold."""
        from assay.evaluate import PRIMARY_METRIC, leaderboard, score
        from assay.models import make_model

        y = None if target is None else _labels(train.get_column(target))
        splits = self._fold_indices(train, y if y is not None else np.zeros(train.height), task)
        fold_scores: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        fit_seconds: dict[str, float] = dict.fromkeys(names, 0.0)
        total = len(splits) * len(names) + 1
        done = 0
        for k, (tr, te) in enumerate(splits):
            with _steps_quiet():  # the steps' notes come once, from the final fit, not once per fold
                prep = self._prepare(train[tr], train[te], target, task)
            for name in names:
                notify(f"fold {k + 1}/{len(splits)} · {name}", done / total)
                start = time.perf_counter()
                est = _fit(make_model(name, task, seed=self.seed), prep, task)
                fit_seconds[name] += time.perf_counter() - start
                scores = _score_test(est, prep, task, score)[0]
                if task == "clustering" and scores.get("silhouette") is None:
                    # One cluster (or all noise) separated nothing: 0, as a noise row counts. Left out, the mean
                    # would be over the folds where clusters were found only (GMM on wine won on 2 of 5 folds).
                    scores["silhouette"] = 0.0
                fold_scores[name].append(scores)
                done += 1
        board = leaderboard(fold_scores, PRIMARY_METRIC[task])
        for row in board:
            row.setdefault("fit_seconds", round(fit_seconds.get(row["model"], 0.0), 3))
        return board, fold_scores, board[0]["model"], {}

    def _search(
        self, train: pl.DataFrame, test: pl.DataFrame, target: str | None, task: str, names: list[str],
        notify: Callable[[str, float], None],
    ) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]], str, Any, _Prepared]:
        """``time_budget`` seconds of defaults-then-Optuna search over the candidates.

        The steps are fitted once on the training split here (not per fold): tuning needs many fits, and the
        automatic steps are unsupervised, so the fold scores stay honest up to the imputation statistics. The test
        split is never seen before the final score.
        """
        from assay.evaluate import automl

        prep = self._prepare(train, test, target, task)
        notify(f"searching for {self.time_budget:.0f}s", 0.1)
        found = automl(prep.X_train, prep.y_train, task, time_budget=float(self.time_budget or 0), seed=self.seed,
                       folds=self.folds_, models=names, progress=lambda message: notify(message, 0.5))
        self._best_params = found.best_params
        for row in found.leaderboard:  # all folds' fitting time, as without a budget (the fold mean read 5x less)
            folds = found.fold_scores.get(row["model"], [])
            row["fit_seconds"] = round(sum(r.get("fit_seconds") or 0.0 for r in folds), 3)
        return found.leaderboard, found.fold_scores, found.best_name, found.best_estimator, prep

    def _fit_recommender(self, frame: pl.DataFrame, origin: str, fingerprint: str | None,
                         notify: Callable[[str, float], None]) -> TrainResult:
        """Collaborative filtering: per-user holdout, ranking metrics per candidate, best refitted on all rows.

        Every user with at least two interactions gives a random ``test_size`` share of them to the test set; each
        candidate ranks the top 10 unseen items for those users, scored against what they really did (precision,
        recall, NDCG and MAP at 10, catalogue coverage; RMSE too for explicit ratings). Users never seen in training
        get the most popular items (cold start).
        """
        from assay.evaluate import PRIMARY_METRIC, leaderboard
        from assay.models import default_models, make_model
        from assay.models._recommend import ranking_metrics, split_per_user

        for role, col in (("--user", self.user), ("--item", self.item)):
            if col is None:
                msg = f"task recommendation needs {role} COLUMN (the columns naming users and items)"
                raise SpecError(msg)
        for col in (self.user, self.item, self.rating):
            if col is not None and col not in frame.columns:
                msg = (f"column {col!r} not found in {origin}{did_you_mean(col, frame.columns)} "
                       f"(columns: {', '.join(frame.columns)})")
                raise SchemaError(msg)
        keep = [c for c in (self.user, self.item, self.rating) if c is not None]
        before = frame.height
        frame = frame.select(keep).drop_nulls()
        if frame.height < before:
            log.warning("dropped %d interaction(s) with a missing user, item or rating", before - frame.height)
        users, items = frame.get_column(self.user).to_numpy(), frame.get_column(self.item).to_numpy()
        ratings = None if self.rating is None else frame.get_column(self.rating).cast(pl.Float64).to_numpy()
        train_mask, test_mask = split_per_user(users, items, test_fraction=self.test_size, seed=self.seed)
        if not test_mask.any():
            msg = "no user has two or more interactions, so there is nothing to hold out and evaluate"
            raise SchemaError(msg)
        names = list(self.models) if self.models else default_models("recommendation")
        truth = pl.DataFrame({"user": users[test_mask].astype(str), "item": items[test_mask].astype(str)})
        test_users = np.unique(users[test_mask])
        n_items = len(np.unique(items))
        fold_scores: dict[str, list[dict[str, Any]]] = {}
        for j, name in enumerate(names):
            notify(f"{name}: fitting on the per-user holdout split", j / (len(names) + 1))
            est = make_model(name, "recommendation", seed=self.seed)
            start = time.perf_counter()
            est.fit(users[train_mask], items[train_mask], None if ratings is None else ratings[train_mask])
            seconds = time.perf_counter() - start
            recs = est.recommend(test_users, k=10).with_columns(pl.col("user").cast(pl.String),
                                                                 pl.col("item").cast(pl.String))
            scores: dict[str, Any] = ranking_metrics(recs, truth, k=10, n_items=n_items)
            scores.pop("users", None)
            if ratings is not None and getattr(est, "_explicit", False):
                err = est.predict(users[test_mask], items[test_mask]) - ratings[test_mask]
                scores["rmse"] = float(np.sqrt(np.mean(err**2)))
            scores["fit_seconds"] = seconds
            fold_scores[name] = [scores]
        primary = PRIMARY_METRIC["recommendation"]
        board = leaderboard(fold_scores, primary)
        best = board[0]["model"]
        notify(f"refitting {best} on all interactions", len(names) / (len(names) + 1))
        est = make_model(best, "recommendation", seed=self.seed).fit(users, items, ratings)
        test_metrics = {k: v for k, v in fold_scores[best][0].items() if k != "fit_seconds"}
        model = Model(
            [], est, task="recommendation", target=None,
            input_schema={self.user: str(frame.schema[self.user])}, features=[],
            manifest={
                "model_name": best, "user": self.user, "item": self.item, "rating": self.rating,
                "item_type": str(frame.schema[self.item]),  # (the answers' item type, for the server's metadata)
                "source": {"uri": origin, "fingerprint": fingerprint, "rows": frame.height},
                "primary_metric": primary, "greater_is_better": True,
            },
        )
        cv_scores = {name: [rows[0].get(primary)] for name, rows in fold_scores.items()}
        notify("done", 1.0)
        return TrainResult(model, "recommendation", None, primary, board, test_metrics, cv_scores)

    def _tune_threshold(self, name: str, params: dict[str, Any], prep: _Prepared, est: Any,
                        objective: tuple[str, float, float], train: pl.DataFrame) -> dict[str, Any]:
        """The decision threshold on the positive class's probability, chosen on out-of-fold predictions of the
        training split (never on the test split), F1-optimal or cheapest for the given error costs."""
        from assay.evaluate import fold_indices
        from assay.models import adapt_to_rows, make_model

        oof = np.full(len(prep.y_train), np.nan)
        if self.group is None and self.time is None:
            splits = fold_indices(prep.y_train, task="classification", folds=self.folds_, seed=self.seed)
        elif train.height == len(prep.y_train):  # the same group or time folds as the leaderboard
            splits = self._fold_indices(train, prep.y_train, "classification")
        else:
            how = "--group" if self.group is not None else "--time"
            msg = (f"the steps removed {train.height - len(prep.y_train)} training row(s), so the rows' groups or "
                   f"times are no longer known: tune the threshold without {how}, or with steps that keep every row")
            raise SpecError(msg)
        for tr, te in splits:
            fold = adapt_to_rows(make_model(name, "classification", seed=self.seed, **params), len(tr))
            fold.fit(prep.X_train[tr], prep.y_train[tr])
            oof[te] = fold.predict_proba(prep.X_train[te])[:, list(fold.classes_).index(est.classes_[1])]
        seen = ~np.isnan(oof)  # forward-chaining time folds never test the first rows
        return threshold_from_oof(prep.y_train[seen], oof[seen], list(est.classes_), objective)

    # -- training ---------------------------------------------------------------------------------------------
    def fit(
        self,
        source: Any,
        *,
        source_options: dict[str, Any] | None = None,
        progress: Callable[[str, float], None] | None = None,
    ) -> TrainResult:
        """Train on ``source`` (a URI, a path, a Source or a Polars frame).

        Warnings logged while training (a dropped constant column, rows without a target) are also collected in
        ``TrainResult.notes`` and written to ``metrics.json``.
        """
        from joblib import parallel_config

        capture = _NoteCollector()
        logging.getLogger("assay").addHandler(capture)
        try:
            # Models that parallelize through joblib (random forests) use every core while training; the saved
            # model keeps n_jobs=None, so a served prediction stays on one thread.
            with parallel_config(n_jobs=-1):
                result = self._fit(source, source_options=source_options, progress=progress)
        finally:
            logging.getLogger("assay").removeHandler(capture)
        result.notes = list(dict.fromkeys(capture.notes))
        return result

    def _fit(
        self,
        source: Any,
        *,
        source_options: dict[str, Any] | None,
        progress: Callable[[str, float], None] | None,
    ) -> TrainResult:
        from assay.evaluate import GREATER_IS_BETTER, PRIMARY_METRIC, score
        from assay.models import default_models, make_model

        notify = progress or (lambda _msg, _frac: None)
        if isinstance(source, pl.DataFrame | pl.LazyFrame):
            origin, fingerprint = "the input frame", None
            frame = source.collect() if isinstance(source, pl.LazyFrame) else source
        else:
            src = open_source(source, **(source_options or {}))
            origin, fingerprint = src.uri, src.fingerprint()
            notify(f"reading {origin}", 0.0)
            frame = src.read()
        if frame.height == 0:
            msg = f"{origin} has no rows to train on"
            raise SchemaError(msg)
        if self.task == "recommendation":
            return self._fit_recommender(frame, origin, fingerprint, notify)
        self.folds_ = DEFAULT_FOLDS if self.folds is None else self.folds
        frame, index_notes = self._drop_row_index(frame)
        index_dropped = bool(index_notes)
        frame, total_notes = _drop_total_row(frame)
        index_notes += total_notes
        frame, task, notes = self._check_target(frame, origin)
        target = self.target if task not in ("clustering",) else None
        if task == "anomaly" and target is not None:
            notes += _anomaly_labels_note(frame.get_column(target))
        self._check_drop(frame.columns, origin, target, index_dropped=index_dropped)
        self._identifiers, id_notes = self._identifier_columns(frame, target)
        if task == "clustering" and self.target is not None:  # said in _check_target's note
            self._identifiers.append(self.target)
        notes = index_notes + notes + id_notes
        for note in notes:
            log.warning(note)
        input_columns = [c for c in frame.columns if c != target and c not in self.drop and c not in self._identifiers]
        input_schema = {c: str(frame.schema[c]) for c in input_columns}

        from assay.clean import train_test_split

        stratify = task == "classification"
        for what, column in (("group", self.group), ("time", self.time)):
            if column is not None and column not in frame.columns:
                msg = (f"{what} column {column!r} not found in {origin}{did_you_mean(column, frame.columns)} "
                       f"(columns: {', '.join(frame.columns[:12])}{', …' if frame.width > 12 else ''})")
                raise SchemaError(msg)
        if (self.group or self.time) and self.time_budget:
            msg = ("a time budget searches with shuffled k-fold; it cannot keep groups or time order yet: drop "
                   "--time-budget, or the --group/--time split")
            raise SpecError(msg)
        split_frame, time_key = frame, self.time
        if self.time is not None and frame.schema[self.time] == pl.String:  # text times: ordered as times, not text
            time_key = "__assay_time__"
            split_frame = frame.with_columns(_parsed_times(frame.get_column(self.time)).alias(time_key))
        train_frame, test_frame = train_test_split(
            split_frame, target=target, test_size=self.test_size, stratify=stratify, seed=self.seed,
            group=self.group, time=time_key,
        )
        _check_rows_for_folds(self, train_frame.height, test_frame.height)
        if self.folds is None and task == "classification" and target is not None and not (self.group or self.time):
            self.folds_ = _choose_folds(train_frame.get_column(target))
        if task == "classification" and target is not None:
            _say_unseen_classes(self, train_frame.get_column(target), test_frame.get_column(target))
        if time_key is not None:  # forward-chaining folds take the rows in time order (unknown times first)
            train_frame = train_frame.sort(time_key, nulls_last=False, maintain_order=True)
            if time_key != self.time:
                train_frame, test_frame = train_frame.drop(time_key), test_frame.drop(time_key)
            log.info("split by time %r: the latest %d rows are the test split; folds train on earlier rows only",
                     self.time, test_frame.height)

        names = list(self.models) if self.models else default_models(task)
        for name in names:
            make_model(name, task, seed=self.seed)  # unknown names fail before any work is done
        objective = _parse_threshold(self.threshold) if self.threshold else None
        if objective is not None:  # said before the folds, not after them
            require_binary(task, None, train_frame.get_column(target).n_unique() if target is not None else 0)
        if target is not None:
            from assay.evaluate import leakage_suspects

            notify("checking each column alone for target leakage", 0.01)
            exclude = (*self.drop, *self._identifiers, *(c for c in (self.group,) if c is not None))
            for suspect in leakage_suspects(train_frame, target, task, exclude=exclude, seed=self.seed):
                log.warning(suspect["message"])
            # A group split is the cure, so with one there is nothing to say; with a time split, the same states or
            # customers later on are what is predicted (Fatality by year), and group and time do not combine.
            hint = _time_split_hint(train_frame, target, exclude) if self.group is None and self.time is None \
                else None
            if hint:
                log.warning(hint)
            if self.group is None and self.time is None:
                from assay.evaluate._leakage import repeated_entities

                for repeated in repeated_entities(train_frame, target, task, exclude=exclude, seed=self.seed)[:2]:
                    log.warning(repeated["message"])
        primary = PRIMARY_METRIC[task]
        higher = GREATER_IS_BETTER.get(primary, True)

        if self.time_budget and task in ("classification", "regression"):
            board, fold_scores, best, est, prep = self._search(train_frame, test_frame, target, task, names, notify)
            params = self._best_params
        else:
            board, fold_scores, best, params = self._cross_validate(train_frame, target, task, names, notify)
            notify(f"refitting {best} on all training rows", 0.95)
            prep = self._prepare(train_frame, test_frame, target, task)
            est = _fit(make_model(best, task, seed=self.seed, **params), prep, task)
        threshold = None
        if objective is not None:
            require_binary(task, est)
            notify("tuning the decision threshold on out-of-fold probabilities", 0.97)
            threshold = self._tune_threshold(best, params, prep, est, objective, train_frame)
        test_metrics, predictions = _score_test(est, prep, task, score, threshold=threshold)
        row = next((r for r in board if r.get("model") == best), {})
        _say_test_split(self, task, target, prep.y_test, test_metrics, row, primary, higher)
        model = Model(
            prep.steps,
            est,
            task=task,
            target=target,
            input_schema=input_schema,
            features=prep.features,
            classes=None if not hasattr(est, "classes_") else [_py(c) for c in est.classes_],
            feature_fill=prep.fill,
            threshold=threshold,
            manifest={
                "model_name": best,
                "source": {"uri": origin, "fingerprint": fingerprint, "rows": frame.height},
                "primary_metric": primary,
                "greater_is_better": higher,
            },
        )
        cv_scores = {name: [s.get(primary) for s in fold_scores.get(name, [])] for name in names}
        result = TrainResult(model, task, target, primary, board, test_metrics, cv_scores)
        kind = "group" if self.group else "time" if self.time else "stratified" if stratify else "random"
        result.split = {"kind": kind, "column": self.group or self.time, "train_rows": train_frame.height,
                        "test_rows": test_frame.height, "folds": len(fold_scores.get(best, [])) or self.folds_}
        result._report_inputs = {  # type: ignore[attr-defined]
            "prep": prep,
            "predictions": predictions,
            "frame": frame,
        }
        notify("done", 1.0)
        return result


def _say_unseen_classes(pipe: Any, train: pl.Series, test: pl.Series) -> None:
    """The note, of either engine, when the test split holds classes the training split lacks."""
    unseen = test.filter(~test.is_in(train.unique().implode()))
    if unseen.len():
        names = ", ".join(repr(v) for v in unseen.unique(maintain_order=True).head(5).to_list())
        log.warning("the test split holds %d row(s) of class(es) the training split lacks (%s): the model "
                    "cannot predict them, they count as errors and log loss and AUC are left out%s",
                    unseen.len(), names, " (a group or time split can hold out a class's only rows)"
                    if pipe.group or pipe.time else "")


def _say_test_split(pipe: Any, task: str, target: str | None, y_test: np.ndarray | None, metrics: dict[str, Any],
                    row: dict[str, Any], primary: str, higher: bool) -> None:
    """The notes, of either engine, on the held-out test split: mape without the rows of 0 (left out by
    assay.evaluate._metrics; a reader would take mape for every row's error), a test split of few rows, a test score
    far below the cross-validation scores (``row``: the best model's leaderboard row)."""
    if task == "regression" and metrics.get("mape") is not None and y_test is not None:
        zeros = int(np.sum(np.asarray(y_test, dtype=np.float64) == 0))
        if zeros:
            log.warning("mape is the mean error in percent over the %d of %d test rows whose %r is not 0: a "
                        "percentage of 0 is undefined, so the %d rows of 0 are not in it (mae and rmse are)",
                        len(y_test) - zeros, len(y_test), target, zeros)
    if task not in ("classification", "regression"):
        return
    rows = 0 if y_test is None else len(y_test)
    if 0 < rows < FEW_TEST_ROWS:
        size = "one row" if rows == 1 else f"only {rows} rows (one row is {100 / rows:.0f}% of it)"
        log.warning("the held-out test split has %s: its scores swing with each row; read them beside the "
                    "cross-validation scores, or train with a larger --test-size", size)
    far = _test_far_below_cv(metrics.get(primary), row.get("cv_mean"), row.get("cv_std"), primary, higher,
                             "group" if pipe.group else "time" if pipe.time else None)
    if far:
        log.warning(far)


def _check_rows_for_folds(pipe: Pipeline, train_rows: int, test_rows: int) -> None:
    """Too few training rows left for the folds is said as the split's doing, not as too little data in the folds
    (both engines)."""
    if train_rows < pipe.folds_:
        msg = (f"the test split took {test_rows:,} of the {train_rows + test_rows:,} rows (--test-size "
               f"{pipe.test_size:g}), leaving {train_rows:,} to train on: too few for {pipe.folds_}-fold "
               "cross-validation; use a smaller --test-size")
        raise SpecError(msg)


def _choose_folds(y: pl.Series) -> int:
    """The folds of stratified k-fold when none were asked for: ``DEFAULT_FOLDS``, or as many as the rarest class
    has training rows when that is fewer (at least 2), with a note. A class seen once is left to the folds' own error,
    which says to drop or merge it."""
    counts = y.drop_nulls().value_counts()
    if counts.is_empty():
        return DEFAULT_FOLDS
    rarest = counts.sort(["count", y.name]).row(0)
    if not 2 <= rarest[1] < DEFAULT_FOLDS:
        return DEFAULT_FOLDS
    log.warning("cross-validation with %d folds instead of %d: class %r has only %d training rows, and each fold "
                "needs one (--folds chooses the number)", rarest[1], DEFAULT_FOLDS, rarest[0], rarest[1])
    return int(rarest[1])


def _test_far_below_cv(test: float | None, mean: float | None, std: float | None, metric: str, higher: bool,
                       split: str | None) -> str | None:
    """A note when the held-out test score is far worse than the cross-validation scores of the same model: by more
    than three fold standard deviations (a fold holds about as many rows as the test split, so its spread is the
    test score's own chance variation) and by more than 0.1 (a score on a 0-1 scale) or a quarter (an error such as
    rmse). The leaderboard alone would promise the CV score."""
    if test is None or mean is None or not (math.isfinite(test) and math.isfinite(mean)):
        return None
    worse = mean - test if higher else test - mean
    margin = 0.1 if higher else 0.25 * abs(mean)
    if worse <= max(3 * (std or 0.0), margin):
        return None
    why = {"time": "the latest rows behave differently from the earlier ones the model learnt from (a trend it "
                   "cannot carry forward, or a change over time)",
           "group": "the held-out groups differ from the training groups"}.get(
        split, "the test rows differ from the training rows, or the split is unlucky: try another --seed")
    return (f"the held-out test {metric} ({_fmt_number(test)}) is far {'below' if higher else 'above'} the "
            f"cross-validation mean ({_fmt_number(mean)} ± {_fmt_number(std or 0.0)}): {why}; expect the test score, "
            "not the CV one, on new data")


def _anomaly_labels_note(labels: pl.Series) -> list[str]:
    """What a text label column of an anomaly task is read as: the rarer of two values are the known anomalies (said,
    so a reader can check it), and text of any other number of values gives no roc_auc (said too)."""
    if labels.dtype != pl.String and not isinstance(labels.dtype, pl.Categorical):
        return []
    values, counts = np.unique(labels.cast(pl.String).drop_nulls().to_numpy().astype(str), return_counts=True)
    if len(values) == 2:  # the same choice as assay.evaluate._metrics.anomaly_truth
        rare, common = str(values[int(np.argmin(counts))]), str(values[1 - int(np.argmin(counts))])
        return [f"anomaly labels: {rare!r}, the rarer of the two values of {labels.name!r}, marks the known anomalies "
                f"and {common!r} the normal rows (for roc_auc and average precision)"]
    return [f"anomaly labels: {labels.name!r} holds {len(values)} different texts, not two (anomaly or normal), so "
            "the detector is not scored against it (no roc_auc); give 1/0 or two values"]


def _time_split_hint(frame: pl.DataFrame, target: str, exclude: Sequence[str]) -> str | None:
    """A note when a column of dates or times with a different value on most rows sits among the inputs of a shuffled
    split: each test row then has training rows on both sides of it in time, so the scores are those of filling in
    between known times (economics' savings rate: R² 0.96), not of predicting later ones, which --time tests."""
    if frame.height < 50:
        return None
    for column, dtype in frame.schema.items():
        if column == target or column in exclude:
            continue
        if dtype == pl.String:
            head = frame.get_column(column).drop_nulls().head(200).str.strip_chars()
            if head.len() < 20 or not head.str.contains(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}").all():
                continue
            try:
                if head.str.to_datetime(strict=False).null_count():
                    continue
            except pl.exceptions.PolarsError:  # no format Polars can infer: not dates
                continue
        elif dtype not in (pl.Date, pl.Datetime) and not isinstance(dtype, pl.Datetime):
            continue
        if frame.get_column(column).n_unique() >= frame.height // 2:
            return (f"{column!r} holds a different date or time on most rows: with a shuffled split each test row "
                    "has training rows just before and after it, so the scores measure filling in between known "
                    f"times; to measure predicting later rows, train with --time {column!r}")
    return None


def _count_target(y: pl.Series, need: int, folds: int) -> str | None:
    """A note when whole numbers that look like classes are better read as a count: three or more values, some
    too rare to appear in every fold (goals in a match, visits to a doctor). Stratified k-fold cannot split such
    classes, and the numbers' order and distance carry what a regression uses."""
    if not y.dtype.is_integer():
        return None
    counts = y.value_counts()
    if counts.height < 3:
        return None
    rare = counts.filter(pl.col("count") < need).sort(y.name)
    if rare.is_empty():
        return None
    values = ", ".join(f"{v} ({c} row{'s' if c > 1 else ''})" for v, c in rare.head(3).iter_rows())
    more = f" and {rare.height - 3} more" if rare.height > 3 else ""
    return (f"target {y.name!r} holds whole numbers from {y.min()} to {y.max()}, some too rare for {folds}-fold "
            f"classification ({values}{more}): trained as a count, by regression; use --task classification "
            f"to predict classes")


def _numbers_in_text(frame: pl.DataFrame, target: str) -> tuple[pl.DataFrame, str | None]:
    """A text target whose every value reads as a number ('$326', '1,234.5', '12%') as those numbers, by the rules
    of the ``types`` step, with a note; otherwise the frame unchanged and None."""
    from assay.clean import TypesStep

    column = frame.select(target)
    step = TypesStep(min_share=1.0)
    with _steps_quiet():  # its own notes are about feature columns
        step.fit(column)
    if step.state_["convert"][target]["kind"] not in ("number", "integer"):
        return frame, None
    example = column.get_column(target).drop_nulls().head(1).to_list()
    converted = step.transform(column).get_column(target)
    note = (f"target {target!r} is text holding numbers (e.g. {example[0]!r} → {converted.drop_nulls()[0]!r}): "
            f"read as numbers" if example else None)
    return frame.with_columns(converted), note


def _time_ranks(column: pl.Series) -> np.ndarray:
    """Dense ranks of a time column (text read as times), unknown times (null, NaN) ranked 0: earliest."""
    if column.dtype == pl.String:
        column = _parsed_times(column)
    elif column.dtype.is_float():
        column = column.fill_nan(None)
    return column.rank("dense").fill_null(0).to_numpy()


def _parsed_times(column: pl.Series) -> pl.Series:
    """A text column of dates or times as datetimes (format inferred, as Polars does, from its values), for
    ordering rows in a time split; every value that is not a time is a SchemaError naming it."""
    try:
        parsed = column.str.strip_chars().str.to_datetime(strict=False)
    except pl.exceptions.ComputeError:  # no date or time format fits the first values (Polars infers from them)
        first = column.drop_nulls()
        example = f", e.g. {first[0]!r}" if first.len() else ""
        msg = (f"time column {column.name!r} does not read as dates or times{example}; give a column of dates, "
               f"times (ISO 8601 is safest) or numbers")
        raise SchemaError(msg) from None
    bad = parsed.is_null() & column.is_not_null() & (column.str.strip_chars() != "")
    if bad.any():
        row = int(bad.arg_true()[0])
        msg = (f"time column {column.name!r}: {bad.sum()} value(s) do not read as dates or times in the format of the "
               f"others, e.g. {column[row]!r} at row {row}; give times in one format (ISO 8601 is safest) or as "
               f"numbers")
        raise SchemaError(msg)
    if parsed.dtype.time_zone is not None:  # type: ignore[attr-defined]
        parsed = parsed.dt.convert_time_zone("UTC")
    return parsed


class _NoteCollector(logging.Handler):
    """Keeps the text of every warning logged under ``assay`` during a training run."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.notes: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.notes.append(record.getMessage())


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _fit(est: Any, prep: _Prepared, task: str) -> Any:
    """Fit ``est`` on the prepared training matrix (unsupervised tasks ignore the target)."""
    from assay.models import adapt_to_rows

    est = adapt_to_rows(est, len(prep.X_train))
    if task in ("clustering", "anomaly") or prep.y_train is None:
        return est.fit(prep.X_train)
    return est.fit(prep.X_train, prep.y_train)


def require_binary(task: str, est: Any, classes: int | None = None) -> None:
    """``--threshold`` tunes a binary classifier: refuse anything else (both engines), from the fitted ``est`` or
    the number of ``classes`` in the target."""
    n = len(getattr(est, "classes_", [])) if classes is None else classes
    if task != "classification" or n != 2:
        msg = f"--threshold tunes a binary classifier; this is {task} with {n} classes"
        raise SpecError(msg)


def threshold_from_oof(y_true: np.ndarray, oof: np.ndarray, classes: list[Any],
                       objective: tuple[str, float, float]) -> dict[str, Any]:
    """The stored threshold record from out-of-fold probabilities of ``classes[1]`` (both engines use this)."""
    from assay.evaluate import best_threshold

    kind, cost_fp, cost_fn = objective
    negative, positive = (_py(c) for c in classes)
    value, achieved = best_threshold(y_true, oof, positive=classes[1], objective=kind, cost_fp=cost_fp,
                                     cost_fn=cost_fn)
    # What the usual 0.5 would have given on the same predictions, so the note says what the tuning bought.
    y, predicted = np.asarray(y_true) == classes[1], np.asarray(oof, dtype=np.float64) >= 0.5
    tp, fp, fn = int((y & predicted).sum()), int((~y & predicted).sum()), int((y & ~predicted).sum())
    if kind == "f1":
        usual, what = 2 * tp / max(2 * tp + fp + fn, 1), "F1"
    else:
        usual = cost_fp * fp + cost_fn * fn
        what = f"cost ({cost_fp:g} per false positive, {cost_fn:g} per false negative)"
    log.warning("decision threshold %.4f on the probability of %r, tuned on out-of-fold predictions: %s %s there, "
                "against %s at 0.5", value, positive, what, _fmt_number(achieved), _fmt_number(usual))
    return {"value": value, "positive": positive, "negative": negative, "objective": kind,
            "cost_fp": cost_fp, "cost_fn": cost_fn, "out_of_fold": achieved, "at_one_half": usual}


def _fmt_number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 and float(value).is_integer() else f"{value:.4g}"


def _parse_threshold(text: str) -> tuple[str, float, float]:
    """``"f1"`` or ``"cost:FP:FN"`` (the cost of a false positive and of a false negative).

    >>> _parse_threshold("f1"), _parse_threshold("cost:1:5")
    (('f1', 1.0, 1.0), ('cost', 1.0, 5.0))
    """
    parts = text.split(":")
    if parts == ["f1"]:
        return "f1", 1.0, 1.0
    if parts[0] == "cost" and len(parts) == 3:
        try:
            fp, fn = float(parts[1]), float(parts[2])
        except ValueError:
            fp = fn = -1.0
        if fp >= 0 and fn >= 0:
            return "cost", fp, fn
    msg = f"cannot read --threshold {text!r}; write f1 (F1-optimal) or cost:FP:FN, e.g. cost:1:5"
    raise SpecError(msg)


def _score_test(est: Any, prep: _Prepared, task: str, score: Callable[..., dict[str, Any]], *,
                threshold: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metrics of a fitted ``est`` on the prepared test matrix, and its predictions there."""
    if task == "classification":  # labels and probabilities from one pass over the trees where they can be
        y_pred, proba = label_proba(est, prep.X_test)
    else:
        y_pred, proba = est.predict(prep.X_test), None
    if threshold is not None and proba is not None:
        y_pred = apply_threshold(proba, list(est.classes_), threshold, y_pred.dtype)
    if task == "clustering":
        return score(task, None, y_pred, X=prep.X_test), {"y_pred": y_pred, "proba": None}
    if task == "anomaly":
        scores = est.score_samples(prep.X_test)
        return score(task, prep.y_test, y_pred, proba=scores), {"y_pred": y_pred, "proba": scores}
    classes = list(est.classes_) if hasattr(est, "classes_") else None
    return score(task, prep.y_test, y_pred, proba=proba, classes=classes), {"y_pred": y_pred, "proba": proba}


def _fit_score(est: Any, prep: _Prepared, task: str, score: Callable[..., dict[str, Any]], *,
               keep: bool = False) -> dict[str, Any]:
    """Fit then score in one call (the Dask engine runs this as one task per fold and model)."""
    metrics, predictions = _score_test(_fit(est, prep, task), prep, task, score)
    if keep:
        metrics["_predictions"] = predictions
    return metrics


def train(
    source: Any,
    target: str | None = None,
    *,
    task: str = "auto",
    models: Sequence[str] | None = None,
    steps: Sequence[dict[str, Any] | Step] | None = None,
    folds: int | None = None,
    test_size: float = 0.2,
    seed: int = 0,
    time_budget: float | None = None,
    threshold: str | None = None,
    group: str | None = None,
    time: str | None = None,
    drop: Sequence[str] = (),
    user: str | None = None,
    item: str | None = None,
    rating: str | None = None,
    out: str | Path | None = None,
    report: bool = True,
    source_options: dict[str, Any] | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> TrainResult:
    """Train candidate models on ``source`` and return the result; with ``out``, also write the model, the
    metrics and the HTML report there (``out/model/``, ``out/metrics.json``, ``out/report.html``).

    ``group`` names a column whose groups stay on one side of the test split and of every fold (say, a customer
    id); ``time`` a column of times: the latest rows are the test split and each fold trains on earlier rows only.
    ``drop`` lists input columns the model must not use (say, one recorded after the outcome); a dropped ``group``
    or ``time`` column still splits the rows. ``folds`` is k of k-fold: by default 5, or for a classification
    target as many as its rarest class has training rows when that is fewer (at least 2; a note says so).
    ``task="recommendation"`` takes the ``user`` and ``item`` columns (and optionally a ``rating`` column) instead of
    a target, as ``assay train --user --item --rating`` does.
    """
    pipe = Pipeline(target=target, task=task, steps=steps, models=models, folds=folds, test_size=test_size,
                    seed=seed, time_budget=time_budget, threshold=threshold, group=group, time=time, drop=drop,
                    user=user, item=item, rating=rating)
    result = pipe.fit(source, source_options=source_options, progress=progress)
    if out is not None:
        write_outputs(result, Path(out), report=report, spec=_spec_of(pipe), progress=progress)
    return result


def _spec_of(pipe: Pipeline) -> dict[str, Any]:
    return {k: v for k, v in vars(pipe).items() if not isinstance(v, Step)} | {
        "steps": None if pipe.steps is None else [s if isinstance(s, dict) else s.get_params() for s in pipe.steps]
    }


def write_outputs(result: TrainResult, out: Path, *, report: bool = True, spec: dict[str, Any] | None = None,
                  progress: Callable[[str, float], None] | None = None) -> None:
    """Write ``model/``, ``metrics.json`` and (optionally) ``report.html`` into ``out``; ``progress`` hears what the
    report is computing (its learning curve refits the model 15 times: about 28 s for a forest on 58,000 movies)."""
    out.mkdir(parents=True, exist_ok=True)
    result.model_path = result.model.save(
        out / "model", metrics={"test": result.test_metrics, "leaderboard": result.leaderboard}, spec=spec
    )
    if report:
        result.report_path = _write_report(result, out / "report.html", progress or (lambda _msg, _frac: None))
    tmp = out / ".metrics.json.tmp"
    tmp.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=_py), encoding="utf-8")
    tmp.replace(out / "metrics.json")


def _write_report(result: TrainResult, path: Path, notify: Callable[[str, float], None]) -> Path | None:
    try:
        from assay.viz import write_train_report
    except ImportError:  # the report module is optional at this layer
        return None
    inputs = getattr(result, "_report_inputs", {})
    prep: _Prepared | None = inputs.get("prep")
    preds = inputs.get("predictions") or {}
    est = result.model.estimator
    report: dict[str, Any] = {
        "task": result.task,
        "target": result.target,
        "primary_metric": result.primary_metric,
        "leaderboard": result.leaderboard,
        "cv_scores": result.cv_scores,
        "test_metrics": result.test_metrics,
        "model_name": result.model.manifest.get("model_name"),
        "steps": [s.to_dict() for s in result.model.steps],
        "classes": result.model.classes,
        "notes": result.notes,
        "threshold": result.model.threshold,
    }
    if prep is not None:
        report.update(
            y_test=prep.y_test,
            y_pred=preds.get("y_pred"),
            proba=preds.get("proba"),
            feature_names=prep.features,
            X_test=prep.X_test,
            predict_fn=est.predict,
        )
        if result.task == "classification" and result.primary_metric not in ("roc_auc", "log_loss"):
            # Permutation importance measured in the metric the models were ranked by (it needs labels only).
            from assay.evaluate import score

            metric = result.primary_metric
            report["score_fn"] = lambda t, p: score("classification", t, p)[metric]
        if result.task in ("clustering", "anomaly"):
            # The map shows every row (a seeded 50,000 of them at most), not only the test split: clusters and
            # anomalies describe the data, and a 20% split of a small table leaves a sparse picture.
            X_all = np.vstack([prep.X_train, prep.X_test])
            if len(X_all) > 50_000:
                X_all = X_all[np.random.default_rng(0).choice(len(X_all), 50_000, replace=False)]
            if result.task == "clustering":
                report["cluster_X"] = X_all
                report["cluster_labels"] = est.predict(X_all)
            else:
                report.update(X_test=X_all, y_pred=est.predict(X_all), proba=est.score_samples(X_all),
                              anomaly_threshold=getattr(est, "threshold_", None), anomaly_rows="all")
    if hasattr(est, "coef_"):
        report["coefficients"] = {
            "feature_names": prep.features if prep else None,
            "coef": np.atleast_2d(est.coef_).tolist(),
            "intercept": np.atleast_1d(getattr(est, "intercept_", 0.0)).tolist(),
        }
    if prep is not None and result.task in ("classification", "regression"):
        notify(f"report: learning curve ({result.model.manifest.get('model_name')} refitted on growing shares of "
               "the training rows)", 1.0)
        curve = _learning_curve(result, prep, est)
        if curve is not None:
            report["learning_curve"] = curve
    frame = inputs.get("frame")
    if frame is not None:
        try:
            from assay.viz import profile

            report["profile"] = profile(frame, target=result.target)
        except ImportError:
            pass
    notify("report: figures" + (" and permutation importance" if result.task in ("classification", "regression")
                                else ""), 1.0)
    return write_train_report(path, report)


LEARNING_CURVE_ROWS = 20_000  # the curve's shape needs far fewer rows than training; more only costs time
LEARNING_CURVE_SECONDS = 60.0  # skip (with a note) when the refits would take longer than this


def _learning_curve(result: TrainResult, prep: _Prepared, est: Any, *, seed: int = 0) -> dict[str, Any] | None:
    """Training and 3-fold validation score of the chosen model at 5 training sizes, on at most 20k rows.

    The refits cost about 8 fits of the chosen model (its CV fit time tells how long one takes); when that would
    exceed a minute the curve is skipped and the report says so.
    """
    import warnings

    from sklearn.base import clone
    from sklearn.model_selection import learning_curve

    from assay.evaluate import fold_indices, score

    if prep.y_train is None:  # the training rows are not here (the Dask engine keeps them on the workers)
        return None
    X, y = prep.X_train, np.asarray(prep.y_train)
    if len(y) < 30:
        return None
    try:
        model = clone(est)
    except (TypeError, RuntimeError):  # an estimator that cannot be cloned has no curve
        return None
    if len(y) > LEARNING_CURVE_ROWS:
        keep = np.sort(np.random.default_rng(seed).choice(len(y), LEARNING_CURVE_ROWS, replace=False))
        scale = LEARNING_CURVE_ROWS / len(y)
        X, y = X[keep], y[keep]
    else:
        scale = 1.0
    best = next((r for r in result.leaderboard if r.get("rank") == 1), None)
    per_fit = (best or {}).get("fit_seconds", 0.0) / max((best or {}).get("folds", 1), 1)
    expected = 8 * per_fit * scale
    if expected > LEARNING_CURVE_SECONDS:
        log.warning("learning curve skipped: its refits would take about %.0f s (limit %.0f s)", expected,
                    LEARNING_CURVE_SECONDS)
        return None
    task, primary = result.task, result.primary_metric

    def scorer(fitted: Any, X_: np.ndarray, y_: np.ndarray) -> float:
        classes = getattr(fitted, "classes_", None)
        labels, proba = label_proba(fitted, X_) if task == "classification" else (fitted.predict(X_), None)
        value = score(task, y_, labels, proba=proba, classes=classes).get(primary)
        return np.nan if value is None else float(value)

    kind = result.split.get("kind")
    if kind == "group":  # the prepared rows do not carry their groups: shuffled folds would mix them
        log.info("learning curve left out: the model was evaluated with a group split")
        return None
    if kind == "time":  # the prepared rows are in time order: forward-chaining folds, training sizes from the start
        folds: Any = fold_indices(y, task=task, folds=3, kind="timeseries")
    elif task == "classification" and np.unique(y, return_counts=True)[1].min() < 3:
        folds = 3  # a class too rare to stratify: scikit-learn's splitter copes, points may be NaN
    else:
        folds = fold_indices(y, task=task, folds=3, seed=seed)
    with warnings.catch_warnings():  # a small training size may miss a rare class: that point is NaN, not an error
        warnings.simplefilter("ignore")
        sizes, train, test = learning_curve(model, X, y, train_sizes=np.linspace(0.1, 1.0, 5), cv=folds,
                                            scoring=scorer, n_jobs=1, error_score=np.nan, shuffle=kind != "time",
                                            random_state=seed if kind != "time" else None)
    if np.isnan(test).all():
        return None
    return {"train_sizes": sizes.tolist(), "train": train.tolist(), "test": test.tolist(), "metric": primary,
            "sampled": len(y), "training_rows": len(prep.y_train)}


def run(spec: Any, *, progress: Callable[[str, float], None] | None = None) -> TrainResult:
    """Run a pipeline spec (a path to YAML, a dict or a :class:`~assay.spec.PipelineSpec`)."""
    from assay.spec import PipelineSpec, load_spec, parse_spec

    if isinstance(spec, str | Path):
        spec = load_spec(spec)
    elif not isinstance(spec, PipelineSpec):
        spec = parse_spec(spec)
    if spec.engine == "dask":  # same spec, same data path, on a Dask cluster (assay.engine)
        from assay.engine import run_dask

        return run_dask(spec, progress=progress)
    pipe = Pipeline(
        target=spec.target, task=spec.task, steps=spec.steps, models=spec.models, folds=spec.evaluation.folds,
        test_size=spec.evaluation.test_size, seed=spec.evaluation.seed, time_budget=spec.evaluation.time_budget,
        threshold=spec.evaluation.threshold,
        user=spec.user, item=spec.item, rating=spec.rating, group=spec.evaluation.group, time=spec.evaluation.time,
        drop=spec.drop,
    )
    result = pipe.fit(spec.source, source_options=spec.source_options, progress=progress)
    write_outputs(result, Path(spec.output.dir), report=spec.output.report, spec=spec.model_dump(), progress=progress)
    return result
