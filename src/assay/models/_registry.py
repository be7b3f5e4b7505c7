"""The table of model names assay knows, which tasks each serves, and ``make_model`` to build one by name.

Names are what users type (``--models logreg,lgbm``); the table maps each (name, task) to the class that
implements it as ``"module:Class"`` plus the default parameters assay uses. Nothing is imported until a model is
built, so ``import assay.models`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from assay.exceptions import SpecError, did_you_mean

__all__ = ["MODELS", "MODEL_CLASSES", "MODEL_TASKS", "TASKS", "adapt_to_rows", "default_models", "make_model",
           "model_name_of"]

TASKS = ("classification", "regression", "clustering", "anomaly", "recommendation")

# (name, task) -> ("module:Class", default params, name of the seed parameter or None)
_TABLE: dict[tuple[str, str], tuple[str, dict[str, Any], str | None]] = {
    ("logreg", "classification"): ("assay.models._linear:LogisticRegressionGD", {}, "random_state"),
    ("linreg", "regression"): ("assay.models._linear:LinearRegressionGD", {}, "random_state"),
    # One LightGBM thread: OpenMP threads spin-wait, and on a shared or busy machine (CV runs many small fits)
    # two threads were measured 30x slower than one; raise n_jobs for single big fits.
    ("lgbm", "classification"): ("lightgbm:LGBMClassifier", {"verbose": -1, "n_jobs": 1}, "random_state"),
    ("lgbm", "regression"): ("lightgbm:LGBMRegressor", {"verbose": -1, "n_jobs": 1}, "random_state"),
    ("rf", "classification"): ("sklearn.ensemble:RandomForestClassifier", {"n_estimators": 200}, "random_state"),
    # Regression forests with R randomForest's defaults (a third of the features per split, at least 5 rows per
    # leaf) rather than scikit-learn's (every feature, 1 row): on three real tables (baseball, movies, BudgetFood;
    # 3-fold CV) 5-10x faster to fit, with R^2 within 0.002 or better (0.908 vs 0.909, 0.780 vs 0.769, 0.399 vs
    # 0.344). Forests fit on every core under Pipeline.fit (joblib's parallel_config), and predict on one
    # thread: for one row, a thread pool costs more than the trees (24 vs 7 ms for 200 trees).
    ("rf", "regression"): ("sklearn.ensemble:RandomForestRegressor",
                           {"n_estimators": 200, "max_features": 1 / 3, "min_samples_leaf": 5}, "random_state"),
    ("ridge", "regression"): ("sklearn.linear_model:Ridge", {"alpha": 1.0}, None),
    ("lasso", "regression"): ("sklearn.linear_model:Lasso", {"alpha": 0.01, "max_iter": 10_000}, "random_state"),
    ("kmeans", "clustering"): ("assay.models._cluster:KMeansAuto", {}, "random_state"),
    ("minibatch_kmeans", "clustering"): ("assay.models._cluster:KMeansAuto", {"minibatch": True}, "random_state"),
    ("dbscan", "clustering"): ("assay.models._cluster:DBSCANClusterer", {}, None),
    ("hdbscan", "clustering"): ("assay.models._cluster:HDBSCANClusterer", {}, None),
    ("gmm", "clustering"): ("assay.models._cluster:GaussianMixtureAuto", {}, "random_state"),
    ("iforest", "anomaly"): ("assay.models._anomaly:IsolationForestDetector", {}, "random_state"),
    ("robust_anomaly", "anomaly"): ("assay.models._anomaly:RobustZDetector", {}, None),
    ("popularity", "recommendation"): ("assay.models._recommend:PopularityRecommender", {}, None),
    ("itemknn", "recommendation"): ("assay.models._recommend:ItemKNNRecommender", {}, None),
    ("als", "recommendation"): ("assay.models._recommend:ALSRecommender", {}, "random_state"),
    ("bpr", "recommendation"): ("assay.models._recommend:BPRRecommender", {}, "random_state"),
    ("mf", "recommendation"): ("assay.models._recommend:MFRecommender", {}, "random_state"),
}

#: (name, task) -> "module:Class", the readable form of the table above.
MODEL_CLASSES: dict[tuple[str, str], str] = {key: value[0] for key, value in _TABLE.items()}

#: name -> "module:Class" (for names that serve two tasks, the classification class; see MODEL_CLASSES).
MODELS: dict[str, str] = {}
#: name -> the tasks it serves.
MODEL_TASKS: dict[str, tuple[str, ...]] = {}
for (_name, _task), (_path, _, _) in _TABLE.items():
    MODELS.setdefault(_name, _path)
    MODEL_TASKS[_name] = (*MODEL_TASKS.get(_name, ()), _task)

_DEFAULTS: dict[str, list[str]] = {
    "classification": ["logreg", "lgbm", "rf"],
    "regression": ["linreg", "lgbm", "rf"],
    "clustering": ["kmeans"],
    "anomaly": ["iforest"],
    "recommendation": ["als", "itemknn", "popularity"],
}


# LightGBM's default: no leaf of fewer than 20 rows. On a table of a few dozen rows (a fold of mtcars trains on 20)
# no split is possible and the model predicts the mean or the majority class everywhere.
LGBM_MIN_CHILD_SAMPLES = 20


def adapt_to_rows(est: Any, rows: int) -> Any:
    """``est`` ready to fit on ``rows`` rows: a LightGBM model left at its default leaf size gets leaves of a tenth
    of the rows (at least 2) when that is smaller, as a small table's rows would otherwise never be split; larger
    tables, and every other model, are left as they are.

    >>> adapt_to_rows(make_model("lgbm", "regression"), 60).get_params()["min_child_samples"]
    6
    """
    if type(est).__module__.split(".")[0] == "lightgbm" and rows < 10 * LGBM_MIN_CHILD_SAMPLES \
            and est.get_params().get("min_child_samples") == LGBM_MIN_CHILD_SAMPLES:
        est.set_params(min_child_samples=max(2, rows // 10))
    return est


def _check_task(task: str) -> None:
    if task not in TASKS:
        msg = f"unknown task {task!r}{did_you_mean(task, TASKS)}; valid tasks: {', '.join(TASKS)}"
        raise SpecError(msg)


def models_for(task: str) -> list[str]:
    """Every model name that serves ``task``, in table order.

    >>> models_for("regression")[:3]
    ['linreg', 'lgbm', 'rf']
    """
    _check_task(task)
    return [name for name, tasks in MODEL_TASKS.items() if task in tasks]


def default_models(task: str) -> list[str]:
    """The candidate models tried when the user names none.

    >>> default_models("classification")
    ['logreg', 'lgbm', 'rf']
    """
    _check_task(task)
    return list(_DEFAULTS[task])


def _load_class(path: str) -> type:
    module, _, cls = path.partition(":")
    return getattr(importlib.import_module(module), cls)


def make_model(name: str, task: str, *, seed: int = 0, **params: Any) -> Any:
    """An unfitted estimator for model ``name`` on ``task``; ``params`` override assay's defaults.

    >>> make_model("logreg", "classification", seed=3, alpha=0.01)
    LogisticRegressionGD(alpha=0.01, random_state=3)
    >>> make_model("logreg", "regression")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    assay.exceptions.SpecError: unknown model 'logreg' for task regression (...); did you mean 'linreg'? valid: ...
    """
    _check_task(task)
    entry = _TABLE.get((name, task))
    if entry is None:
        valid = models_for(task)
        hint = did_you_mean(name, valid).removeprefix("; ")
        other = f" ('{name}' serves {', '.join(MODEL_TASKS[name])})" if name in MODEL_TASKS else ""
        msg = f"unknown model {name!r} for task {task}{other}; {hint + ' ' if hint else ''}valid: {', '.join(valid)}"
        raise SpecError(msg)
    path, defaults, seed_param = entry
    cls = _load_class(path)
    kwargs = {**defaults}
    if seed_param is not None:
        kwargs[seed_param] = seed
    kwargs.update(params)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        msg = f"model {name!r}: invalid parameter ({exc}); see help({cls.__name__})"
        raise SpecError(msg) from exc


def model_name_of(estimator: Any) -> str | None:
    """The table name of an estimator's class (the first name that uses it), or None."""
    cls = type(estimator)
    package = cls.__module__.split(".")[0]
    for (name, _task), (entry_path, _, _) in _TABLE.items():
        module, _, cls_name = entry_path.partition(":")
        # lightgbm's classes live in lightgbm.sklearn but are exported as lightgbm.X: compare package + name.
        if cls_name == cls.__name__ and module.split(".")[0] == package:
            return name
    return None
