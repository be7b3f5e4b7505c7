"""Cross-validation of named models, Optuna tuning within a time budget, automl over candidates, and threshold
tuning for binary classifiers.

- :func:`cross_validate` fits a fresh model per fold and scores it: a list of metric dicts (plus ``fit_seconds``).
- :func:`tune` searches a model's parameters with Optuna's TPE sampler over k-fold CV. The first trial is assay's
  default parameters, so tuning never reports something worse than the default on these folds; folds report the
  running mean so the median pruner stops hopeless trials early; ``seed`` fixes the sampler (with ``n_trials``
  set the search is exactly reproducible; with only a time budget it is reproducible up to where time runs out).
- :func:`automl` spends a time budget over candidate models: every candidate with its defaults first, then tuning
  the most promising ones, a leaderboard over the same folds, and the winner refitted on all rows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assay.evaluate._cv import fold_indices
from assay.evaluate._leaderboard import leaderboard
from assay.evaluate._metrics import GREATER_IS_BETTER, PRIMARY_METRIC, score
from assay.exceptions import SpecError

__all__ = ["SEARCH_SPACES", "AutoMLResult", "automl", "best_threshold", "cross_validate", "tune"]


def _space_logreg(trial: Any) -> dict[str, Any]:
    return {"alpha": trial.suggest_float("alpha", 1e-6, 1.0, log=True),
            "class_weight": trial.suggest_categorical("class_weight", [None, "balanced"])}


def _space_linreg(trial: Any) -> dict[str, Any]:
    return {"alpha": trial.suggest_float("alpha", 1e-7, 10.0, log=True)}


def _space_lgbm(trial: Any) -> dict[str, Any]:
    return {
        "n_estimators": trial.suggest_int("n_estimators", 30, 1000, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 4, 128, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 2, 60, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "subsample_freq": 1,
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-8, 10.0, log=True),
    }


def _space_rf(trial: Any) -> dict[str, Any]:
    return {
        "n_estimators": trial.suggest_int("n_estimators", 50, 400, log=True),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 16, log=True),
        "max_features": trial.suggest_categorical("max_features", ["sqrt", 0.5, 1.0]),
    }


def _space_ridge(trial: Any) -> dict[str, Any]:
    return {"alpha": trial.suggest_float("alpha", 1e-3, 1e3, log=True)}


def _space_lasso(trial: Any) -> dict[str, Any]:
    return {"alpha": trial.suggest_float("alpha", 1e-5, 1.0, log=True)}


#: model name -> function(optuna trial) -> parameters, and the default parameters tried first.
SEARCH_SPACES: dict[str, tuple[Callable[[Any], dict[str, Any]], dict[str, Any]]] = {
    "logreg": (_space_logreg, {"alpha": 1e-4, "class_weight": None}),
    "linreg": (_space_linreg, {"alpha": 1e-4}),
    "lgbm": (_space_lgbm, {"n_estimators": 100, "learning_rate": 0.1, "num_leaves": 31, "min_child_samples": 20,
                           "subsample": 1.0, "colsample_bytree": 1.0, "reg_lambda": 1e-8}),
    "rf": (_space_rf, {"n_estimators": 200, "min_samples_leaf": 1, "max_features": "sqrt"}),
    "ridge": (_space_ridge, {"alpha": 1.0}),
    "lasso": (_space_lasso, {"alpha": 0.01}),
}


def _fit_predict_score(est: Any, task: str, X: np.ndarray, y: np.ndarray, tr: np.ndarray,
                       te: np.ndarray, *, need_proba: bool = True) -> dict[str, Any]:
    from assay.models import adapt_to_rows

    t0 = time.perf_counter()
    adapt_to_rows(est, len(tr)).fit(X[tr], y[tr])
    fit_seconds = time.perf_counter() - t0
    pred = est.predict(X[te])
    proba = (est.predict_proba(X[te]) if need_proba and task == "classification" and hasattr(est, "predict_proba")
             else None)
    classes = getattr(est, "classes_", None)
    scores: dict[str, Any] = score(task, y[te], pred, proba=proba, classes=classes)
    scores["fit_seconds"] = fit_seconds
    return scores


def cross_validate(
    name: str,
    task: str,
    X: Any,
    y: Any,
    *,
    splits: list[tuple[np.ndarray, np.ndarray]],
    seed: int = 0,
    params: dict[str, Any] | None = None,
    on_fold: Callable[[int, dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Fit a fresh ``name`` model on each training fold and score it on the test fold; one dict per fold."""
    from assay.models import make_model

    X = np.asarray(X)
    y = np.asarray(y)
    out = []
    for i, (tr, te) in enumerate(splits):
        scores = _fit_predict_score(make_model(name, task, seed=seed, **(params or {})), task, X, y, tr, te)
        out.append(scores)
        if on_fold is not None:
            on_fold(i, scores)
    return out


def _optuna() -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def tune(
    name: str,
    task: str,
    X: Any,
    y: Any,
    *,
    folds: int = 5,
    seed: int = 0,
    time_budget: float | None = 60.0,
    n_trials: int | None = None,
    metric: str | None = None,
    splits: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Search ``name``'s parameters by k-fold CV; returns ``(best_params, summary)``.

    ``summary`` holds ``metric``, ``best_value``, ``n_trials``, ``n_complete``, ``n_pruned``, ``seconds`` and
    ``trials`` (number, params, value, state, and the per-fold scores of complete trials as ``fold_scores``).
    Stops after ``n_trials`` trials or ``time_budget`` seconds, whichever comes first (give at least one).
    """
    if name not in SEARCH_SPACES:
        msg = f"no search space for model {name!r}; tunable models: {', '.join(SEARCH_SPACES)}"
        raise SpecError(msg)
    if time_budget is None and n_trials is None:
        msg = "tune(): give time_budget (seconds) or n_trials, or both"
        raise SpecError(msg)
    optuna = _optuna()
    X = np.asarray(X)
    y = np.asarray(y)
    metric = metric or PRIMARY_METRIC[task]
    greater = GREATER_IS_BETTER.get(metric, True)
    splits = splits if splits is not None else fold_indices(y, task=task, folds=folds, seed=seed)
    space, defaults = SEARCH_SPACES[name]
    fold_scores: dict[int, list[dict[str, Any]]] = {}

    def objective(trial: Any) -> float:
        params = space(trial)
        values: list[float] = []
        rows: list[dict[str, Any]] = []
        for i, (tr, te) in enumerate(splits):
            from assay.models import make_model

            s = _fit_predict_score(make_model(name, task, seed=seed, **params), task, X, y, tr, te,
                                   need_proba=metric in ("roc_auc", "log_loss"))
            rows.append(s)
            v = s.get(metric)
            values.append(float("nan") if v is None else float(v))
            running = float(np.nanmean(values)) if not all(math.isnan(v) for v in values) else float("nan")
            trial.report(running, i)
            if i < len(splits) - 1 and trial.should_prune():
                raise optuna.TrialPruned
        fold_scores[trial.number] = rows
        return float(np.nanmean(values))

    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=8)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    study = optuna.create_study(direction="maximize" if greater else "minimize", sampler=sampler, pruner=pruner)
    study.enqueue_trial(defaults)
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=n_trials, timeout=time_budget, catch=(ValueError, ArithmeticError))
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None
                and math.isfinite(t.value)]
    if not complete:
        msg = f"tuning {name}: no trial finished within the budget ({time_budget}s); raise --time-budget"
        raise SpecError(msg)
    best = max(complete, key=lambda t: t.value if greater else -t.value)
    best_params = space(optuna.trial.FixedTrial(best.params))
    summary = {
        "model": name,
        "metric": metric,
        "best_value": best.value,
        "best_trial": best.number,
        "n_trials": len(study.trials),
        "n_complete": len(complete),
        "n_pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
        "seconds": time.perf_counter() - t0,
        "trials": [{"number": t.number, "params": t.params, "value": t.value, "state": t.state.name}
                   for t in study.trials],
        "fold_scores": fold_scores.get(best.number, []),
    }
    return best_params, summary


class _OverBudget(Exception):
    """A candidate's cross-validation would overrun the automl time budget."""


@dataclass
class AutoMLResult:
    """What :func:`automl` found: the leaderboard (best first), the winner fitted on all rows, and details."""

    leaderboard: list[dict[str, Any]]
    best_name: str
    best_params: dict[str, Any]
    best_estimator: Any
    fold_scores: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    tuning: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0
    skipped: dict[str, str] = field(default_factory=dict)


def automl(
    X: Any,
    y: Any,
    task: str,
    *,
    time_budget: float = 60.0,
    seed: int = 0,
    folds: int = 5,
    models: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> AutoMLResult:
    """Spend ``time_budget`` seconds finding the best model for ``task`` on ``X``, ``y``.

    Every candidate (default: :func:`assay.models.default_models`) is first cross-validated with its defaults;
    the remaining budget (less the time a final refit is expected to take) goes to Optuna tuning of the
    candidates in order of their default score (shares 60/25/15 %). All scores use the same folds, so the
    leaderboard's paired comparison is valid. The winner is refitted on all rows.
    """
    from assay.models import adapt_to_rows, default_models, make_model

    start = time.perf_counter()
    X = np.asarray(X)
    y = np.asarray(y)
    if task not in ("classification", "regression"):
        msg = f"automl handles classification and regression, not {task!r}"
        raise SpecError(msg)
    names = models or default_models(task)
    primary = PRIMARY_METRIC[task]
    greater = GREATER_IS_BETTER[primary]
    splits = fold_indices(y, task=task, folds=folds, seed=seed)
    say = progress or (lambda _msg: None)
    fold_scores: dict[str, list[dict[str, Any]]] = {}
    params: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    for name in names:
        elapsed = time.perf_counter() - start
        if fold_scores and elapsed > 0.5 * time_budget:
            skipped[name] = f"not tried: half the {time_budget:.0f}s budget was spent on earlier candidates"
            continue
        deadline = start + time_budget

        def too_slow(i: int, _scores: dict[str, Any], _deadline: float = deadline) -> None:
            # After the first fold, give up on a candidate whose k-fold run would overrun the whole budget.
            if i == 0 and fold_scores and time.perf_counter() + (len(splits) - 1) * _scores["fit_seconds"] > \
                    _deadline:
                raise _OverBudget

        try:
            fold_scores[name] = cross_validate(name, task, X, y, splits=splits, seed=seed, on_fold=too_slow)
        except _OverBudget:
            skipped[name] = f"not tried: one fold took too long for the {time_budget:.0f}s budget"
            continue
        params[name] = {}
        say(f"{name}: {primary} {np.nanmean([s[primary] or np.nan for s in fold_scores[name]]):.4f} (defaults)")
    for name, why in skipped.items():
        say(f"{name}: {why}")
    names = list(fold_scores)

    def mean_primary(rows: list[dict[str, Any]]) -> float:
        vals = [r[primary] for r in rows if r.get(primary) is not None]
        return float(np.mean(vals)) if vals else (-np.inf if greater else np.inf)

    order = sorted(names, key=lambda n: -mean_primary(fold_scores[n]) if greater else mean_primary(fold_scores[n]))
    # Reserve the expected refit time of the slowest candidate: the full data is ~folds/(folds-1) of a fold's.
    refit_reserve = max(np.mean([r["fit_seconds"] for r in fold_scores[n]]) for n in names) * folds / (folds - 1)
    remaining = time_budget - (time.perf_counter() - start) - refit_reserve
    tuning: dict[str, dict[str, Any]] = {}
    tunable = [n for n in order if n in SEARCH_SPACES]
    shares = [0.60, 0.25, 0.15][: len(tunable)]
    shares = [s / sum(shares) for s in shares] if shares else []
    for pos, (name, share) in enumerate(zip(tunable, shares, strict=False)):
        # Each candidate gets its share of what is left, so time a candidate did not use passes on to the next.
        budget = remaining * share / sum(shares[pos:])
        per_trial = max(sum(r["fit_seconds"] for r in fold_scores[name]), 1e-3)
        if budget < 2 * per_trial:
            continue
        try:
            best_params, summary = tune(name, task, X, y, splits=splits, seed=seed, time_budget=budget)
        except SpecError:
            continue
        tuning[name] = summary
        tuned_rows = summary["fold_scores"]
        if tuned_rows and (mean_primary(tuned_rows) > mean_primary(fold_scores[name])) == greater and \
                mean_primary(tuned_rows) != mean_primary(fold_scores[name]):
            fold_scores[name] = tuned_rows
            params[name] = best_params
        say(f"{name}: tuned {summary['n_trials']} trials, {primary} {mean_primary(fold_scores[name]):.4f}")
        remaining = time_budget - (time.perf_counter() - start) - refit_reserve
        if remaining <= 0:
            break
    board = leaderboard(fold_scores, primary)
    best_name = board[0]["model"]
    best = adapt_to_rows(make_model(best_name, task, seed=seed, **params[best_name]), len(y)).fit(X, y)
    for row in board:
        row["params"] = params[row["model"]]
    return AutoMLResult(leaderboard=board, best_name=best_name, best_params=params[best_name], best_estimator=best,
                        fold_scores=fold_scores, tuning=tuning, seconds=time.perf_counter() - start,
                        skipped=skipped)


def best_threshold(
    y_true: Any,
    proba: Any,
    *,
    positive: Any = 1,
    objective: str = "f1",
    cost_fp: float = 1.0,
    cost_fn: float = 1.0,
) -> tuple[float, float]:
    """Decision threshold on the positive-class probability: F1-optimal (``objective="f1"``) or cheapest
    (``objective="cost"``: ``cost_fp·FP + cost_fn·FN``). Returns ``(threshold, f1 or total cost)``.

    >>> best_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    (0.35, 0.8)
    """
    y = np.asarray(y_true) == positive
    p = np.asarray(proba, dtype=np.float64)
    order = np.argsort(-p, kind="stable")
    p_sorted = p[order]
    tp = np.cumsum(y[order])
    fp = np.cumsum(~y[order])
    # Threshold candidates are the distinct scores: predicting positive for p >= t.
    last = np.r_[p_sorted[1:] != p_sorted[:-1], True]
    tp, fp, thr = tp[last], fp[last], p_sorted[last]
    fn = y.sum() - tp
    if objective == "f1":
        f1 = np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
        i = int(np.argmax(f1))
        return float(thr[i]), float(f1[i])
    if objective == "cost":
        cost = cost_fp * fp + cost_fn * fn
        # Also consider predicting nothing positive (threshold above every score).
        none_cost = cost_fn * y.sum()
        i = int(np.argmin(cost))
        if none_cost < cost[i]:
            return float(np.nextafter(p.max(), np.inf)), float(none_cost)
        return float(thr[i]), float(cost[i])
    msg = f"best_threshold: objective={objective!r} is not valid; choose 'f1' or 'cost'"
    raise SpecError(msg)
