"""The content of the training report: which figures apply to the task, drawn from what ``assay train`` hands over.

``build_train_report(report, figdir)`` returns the template context; any key of ``report`` may be missing or None
and the report then simply has less in it. A figure that fails to draw is replaced by a note naming the error, so
a diagnostic never costs the user the rest of the report.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from assay.viz import _model_figures as M
from assay.viz._profile import jsonable
from assay.viz._style import natural_order

__all__ = ["build_train_report"]

CLASSIFICATION = ("classification", "binary", "multiclass")


def build_train_report(report: dict[str, Any], figdir: Path) -> dict[str, Any]:
    from assay.viz._style import save_figure, svg_data_uri

    task = str(report.get("task") or "")
    metric = report.get("primary_metric")
    figures: list[dict[str, Any]] = []
    notes: list[str] = [str(n) for n in (report.get("notes") or [])]

    def add(name: str, title: str, make: Callable[[], Any], caption: str = "") -> None:
        try:
            fig = make()
        except Exception as exc:  # one failed diagnostic must not lose the whole report
            notes.append(f"figure '{title}' could not be drawn: {type(exc).__name__}: {exc}")
            return
        if fig is None:
            return
        paths = save_figure(fig, figdir, name)
        figures.append({"name": name, "title": title, "uri": svg_data_uri(paths["svg"]), "caption": caption})

    y_test = _array(report.get("y_test"))
    y_pred = _array(report.get("y_pred"))
    proba = _array(report.get("proba"))
    classes = list(report.get("classes") or [])
    if y_test is not None and not classes and task in CLASSIFICATION:
        classes = list(np.unique(y_test))
    coef = report.get("coefficients")
    # Classes in natural order (1, 2, … 10, not 1, 10, 11, 2; 'grade 2' before 'grade 10') in every figure and table,
    # the probabilities' and coefficients' rows moved with them. A binary model's second class stays second: the
    # curves, calibration and the threshold are of that (positive) class; its confusion matrix orders itself.
    order = natural_order(classes)
    in_order = [classes[i] for i in order]
    if len(classes) > 2 and order != list(range(len(classes))):
        if proba is not None and proba.ndim == 2 and proba.shape[1] == len(classes):
            proba = proba[:, order]
        if coef:
            coef = _reorder_coefficients(dict(coef), order)
        classes = in_order

    # One score per model (a recommender's single holdout) is no spread: the leaderboard already gives it.
    if any(sum(v is not None for v in scores) > 1 for scores in (report.get("cv_scores") or {}).values()):
        add("cv_spread", "Cross-validation spread", lambda: M.cv_spread_figure(report["cv_scores"], metric),
            "Each dot is one fold; boxes show the quartiles and the median. Models in the leaderboard's order (best "
            "mean on top). A wide box means the score depends on the split.")
    is_classification = task in CLASSIFICATION or (task == "" and proba is not None)
    if is_classification and y_test is not None:
        if proba is not None and classes:
            held = sorted({str(v) for v in y_test.tolist()})
            if len(held) < 2:
                notes.append(f"ROC and precision–recall curves are not drawn: the {len(y_test):,} test rows hold "
                             f"one class only ({', '.join(held)}).")
            add("roc_pr", "ROC and precision–recall curves", lambda: M.roc_pr_figure(y_test, proba, classes),
                "Area under the curve: 1 is perfect, 0.5 is chance (ROC); AP is the area under precision–recall.")
        if y_pred is not None:
            cut = report.get("threshold") or {}
            at = (f" A row is predicted {cut['positive']!r} when its probability of it is at least "
                  f"{cut['value']:.4g}, the threshold tuned by --threshold, not 0.5." if cut.get("value") is not None
                  else "")
            add("confusion_matrix", "Confusion matrix",
                lambda: M.confusion_figure(y_test, y_pred, in_order or None),
                "Rows are the true classes, columns the predictions; the diagonal is what the model got right." + at)
        if proba is not None and classes:
            if len(y_test) < M.MIN_CALIBRATION_ROWS:
                notes.append(f"Calibration is not drawn: {len(y_test):,} test rows, it needs at least "
                             f"{M.MIN_CALIBRATION_ROWS}.")
            add("calibration", "Calibration", lambda: M.calibration_figure(y_test, proba, classes),
                "Points on the diagonal mean predicted probabilities can be read as frequencies; the bars below "
                "show how many test rows got each probability.")
    if task == "regression" and y_test is not None and y_pred is not None:
        add("regression", "Residuals and predicted vs actual",
            lambda: M.regression_figure(y_test, y_pred, report.get("target")),
            "Residuals should scatter evenly around zero; a funnel or curve means the model misses structure.")
    importance_metric = _importance(report, task, y_test, add, notes)
    if task in (*CLASSIFICATION, "regression") and not report.get("learning_curve") and y_test is not None \
            and not any("learning curve" in n for n in notes):
        notes.append("No learning curve: none was computed for this run (it needs at least 30 training rows; a group "
                     "split leaves it out).")
    if report.get("learning_curve"):
        add("learning_curve", "Learning curve", lambda: M.learning_curve_figure(report["learning_curve"], metric),
            "A gap that stays wide means more data or more regularisation would help.")
    if coef:
        coef = dict(coef)
        coef.setdefault("feature_names", report.get("feature_names"))
        add("coefficients", "Coefficients", lambda: M.coefficients_figure(coef, classes or None),
            "Sign and size of each input's weight in the linear model.")
    labels = _array(report.get("cluster_labels"))
    if task == "clustering" and labels is not None:
        X = _array(report.get("cluster_X") if report.get("cluster_X") is not None else report.get("X_test"))
        add("clusters", "Clusters", lambda: M.cluster_figure(X, labels, _array(report.get("X_2d"))),
            "Each point is a row (of the whole data, at most 5,000 drawn) projected on two principal components; "
            "the silhouette shows how well each row sits in its cluster.")

    if task == "anomaly" and proba is not None and y_pred is not None:
        _anomaly(report, proba, y_pred, add)

    prof = report.get("profile")
    profile_summary = None
    if isinstance(prof, dict):
        profile_summary = {"rows": prof.get("rows"), "columns": prof.get("columns"),
                           "missing_cells_pct": prof.get("missing_cells_pct"),
                           "duplicate_rows": prof.get("duplicate_rows"), "warnings": prof.get("warnings") or [],
                           "kinds": prof.get("kinds") or {}}
    leaderboard = _leaderboard(report.get("leaderboard") or [])
    head = jsonable({k: report.get(k) for k in ("task", "target", "primary_metric", "model_name")})
    if leaderboard["rows"] and all(row.get("cv_mean") is None for row in leaderboard["rows"]):
        # e.g. roc_auc of an anomaly detector trained without labels: 'ranked by roc_auc' over dashes misleads
        head["primary_metric"] = None
    return {
        "r": head,
        "leaderboard": leaderboard,
        # a metric the test split could not give (no labels to score against) is left out rather than shown as '–'
        "test_metrics": {k: _count(k, v) for k, v in jsonable(report.get("test_metrics") or {}).items()
                         if v is not None},
        "figures": figures,
        "coef_table": _coef_table(coef, classes) if coef else None,
        "steps": jsonable(report.get("steps") or []),
        "profile": jsonable(profile_summary),
        "notes": notes,
        "importance_metric": importance_metric,
        "n_test": len(y_test) if y_test is not None else None,
    }


def _importance(report: dict[str, Any], task: str, y_test: np.ndarray | None, add: Callable[..., None],
                notes: list[str]) -> str | None:
    predict_fn = report.get("predict_fn")
    X = _array(report.get("X_test"))
    names = report.get("feature_names")
    # anomaly: the flags (1/0) are not the target's labels; the anomaly figures say what sets flagged rows apart
    if predict_fn is None or X is None or y_test is None or task in ("clustering", "anomaly") or X.ndim != 2:
        return None
    names = list(names) if names is not None and len(names) == X.shape[1] else [f"x{i}" for i in range(X.shape[1])]
    score_fn = report.get("score_fn")
    metric = report.get("primary_metric") if score_fn is not None else None
    if score_fn is None:
        from sklearn.metrics import accuracy_score, r2_score

        score_fn, metric = (r2_score, "R²") if task == "regression" else (accuracy_score, "accuracy")
    metric = metric or "score"
    n_test = len(y_test)
    on = (f"a random {M.IMPORTANCE_ROWS:,} of the {n_test:,} test rows" if n_test > M.IMPORTANCE_ROWS else
          f"the {n_test:,} test rows")

    def make() -> Any:
        mean, std = M.permutation_importance(predict_fn, score_fn, X, y_test)
        fig = M.importance_figure(names, mean, std, metric)
        if fig is None:  # an empty chart would look like a drawing fault; say what was found instead
            notes.append(f"Permutation feature importance is not drawn: shuffling any one of the {len(names):,} "
                         f"features left {metric} on {on} unchanged (too few test rows to "
                         "tell, or features that stand in for one another).")
        return fig

    add("permutation_importance", "Permutation feature importance", make,
        f"How much {metric} on the test split drops when one feature's values are shuffled (3 repeats"
        + (f"; on a random {M.IMPORTANCE_ROWS:,} of its {n_test:,} rows)." if n_test > M.IMPORTANCE_ROWS else ")."))
    return metric


def _anomaly(report: dict[str, Any], scores: np.ndarray, flagged: np.ndarray, add: Callable[..., None]) -> None:
    """The anomaly task's figures: scores against the threshold, the flagged rows on a map, and what sets them
    apart. ``proba`` holds the anomaly scores and ``y_pred`` the flags (1 = anomaly) of the rows in ``X_test``: every
    row when ``anomaly_rows`` is ``"all"``, else the test rows."""
    X = _array(report.get("X_test"))
    X = X if X is not None and X.ndim == 2 and len(X) == len(flagged) else None
    flags = np.asarray(flagged).astype(int) == 1
    threshold = _anomaly_threshold(report, scores, flags)
    add("anomaly_scores", "Anomaly scores",
        lambda: M.anomaly_figure(scores, flags, X, threshold, report.get("model_name"),
                                 rows="rows" if report.get("anomaly_rows") == "all" else "test rows"),
        "Rows scoring above the dashed threshold are flagged as anomalies. The map places the "
        f"{'rows' if report.get('anomaly_rows') == 'all' else 'test rows'} (at most 5,000, every flagged one among "
        "them) on the two directions in which the rows vary most, flagged ones in orange.")
    if X is not None:
        add("anomaly_features", "What sets flagged rows apart",
            lambda: M.anomaly_features_figure(X, flags, report.get("feature_names")),
            "How far the flagged rows' average lies from the normal rows' average for each model input, in standard "
            "deviations of the normal rows: the longest bars are where the anomalies are unusual.")


def _anomaly_threshold(report: dict[str, Any], scores: np.ndarray, flags: np.ndarray) -> float | None:
    """The detector's score threshold: given in the report, read off the fitted detector behind ``predict_fn``, or
    else halfway between the highest normal and the lowest flagged score."""
    value = report.get("anomaly_threshold")
    if value is None:
        value = getattr(getattr(report.get("predict_fn"), "__self__", None), "threshold_", None)
    if value is None and flags.any() and (~flags).any():
        value = (float(np.max(scores[~flags])) + float(np.min(scores[flags]))) / 2
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _count(name: str, value: Any) -> Any:
    """A count among the metrics (n_clusters) as a whole number: '2 clusters', not '2.0000'; other values as they are.

    >>> _count("n_clusters", 2.0), _count("n_clusters_mean", 3.0), _count("n_clusters_std", 0.0), _count("r2", 1.0)
    (2, 3, 0, 1.0)
    >>> _count("n_clusters_mean", 2.5)
    2.5
    """
    if name.startswith("n_") and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _leaderboard(rows: list[dict[str, Any]]) -> dict[str, Any]:
    rows = [{k: _count(k, v) for k, v in row.items()} for row in jsonable(rows)]
    metrics: list[str] = []
    for row in rows:
        for key in row:
            if key.endswith("_mean") and key[:-5] not in metrics:
                metrics.append(key[:-5])
    extra = [k for row in rows for k in row if not k.endswith(("_mean", "_std")) and k not in ("model", "cv_mean",
                                                                                                 "cv_std")]
    extra = list(dict.fromkeys(extra))
    # columns no row has a value for (metrics that need labels the run did not have) are left out
    metrics = [m for m in metrics if any(row.get(f"{m}_mean") is not None for row in rows)]
    extra = [k for k in extra if any(row.get(k) is not None for row in rows)]
    return {"rows": rows, "metrics": metrics, "extra": extra}


def _reorder_coefficients(coef: dict[str, Any], order: list[int]) -> dict[str, Any]:
    """A multi-class linear model's coefficients (one row per class) and intercepts with the classes put in
    ``order``; a single row (a binary model) is left as it is."""
    rows = np.atleast_2d(np.asarray(coef.get("coef") or [], dtype=float))
    if rows.shape[0] == len(order):
        coef["coef"] = rows[order].tolist()
    intercept = coef.get("intercept")
    if intercept is not None and np.atleast_1d(intercept).shape[0] == len(order):
        coef["intercept"] = np.atleast_1d(intercept)[order].tolist()
    return coef


def _coef_table(coef: dict[str, Any], classes: list[Any]) -> dict[str, Any] | None:
    names = coef.get("feature_names") or []
    c = np.atleast_2d(np.asarray(coef.get("coef") or [], dtype=float))
    if c.size == 0 or c.shape[1] != len(names):
        return None
    order = np.argsort(-np.abs(c).max(0))[:50]
    heads = [str(x) for x in classes] if c.shape[0] == len(classes) and c.shape[0] > 1 else (
        ["coefficient"] if c.shape[0] == 1 else [f"output {i}" for i in range(c.shape[0])])
    rows = [[names[i], *[float(c[k, i]) for k in range(c.shape[0])]] for i in order]
    intercept = coef.get("intercept")
    return jsonable({"heads": heads, "rows": rows, "intercept": np.atleast_1d(intercept).tolist()
                     if intercept is not None else None, "total": len(names)})


def _array(x: Any) -> np.ndarray | None:
    if x is None:
        return None
    if hasattr(x, "to_numpy"):
        x = x.to_numpy()
    arr = np.asarray(x)
    return arr if arr.size else None
