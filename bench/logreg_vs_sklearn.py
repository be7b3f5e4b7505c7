"""assay's gradient-descent logistic regression vs scikit-learn LogisticRegression(lbfgs), same L2 penalty.

Run:  .venv/bin/python bench/logreg_vs_sklearn.py [--rows 1000000] [--repeats 3] [--cases binary,softmax10]

Both models minimise the same objective: mean cross-entropy + alpha/2·||coef||² with alpha = 1 / (C · n) (scikit-learn
sums the loss and adds ½||coef||²/C; dividing by C·n gives assay's form). Each run prints the objective both reach,
their relative difference (must be <= 1e-4), and the median fit time of several alternating runs with the ratio
assay / scikit-learn. Data: make_classification, 50 features (30 informative), seeded.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from assay.models import LogisticRegressionGD


def objective(coef: np.ndarray, intercept: np.ndarray, X: np.ndarray, y: np.ndarray, alpha: float) -> float:
    """Mean cross-entropy + alpha/2·||coef||², computed the same way for both models."""
    Z = X @ coef.T + intercept
    if Z.shape[1] == 1:
        z = Z[:, 0]
        loss = np.mean(np.logaddexp(0.0, z) - (y == 1) * z)
    else:
        Z -= Z.max(axis=1, keepdims=True)
        loss = np.mean(np.log(np.exp(Z).sum(axis=1)) - Z[np.arange(len(y)), y])
    return float(loss + 0.5 * alpha * np.sum(coef * coef))


def run_case(name: str, n_classes: int, rows: int, repeats: int, C: float = 1.0) -> dict[str, float]:
    X, y = make_classification(n_samples=rows, n_features=50, n_informative=30, n_classes=n_classes,
                               n_clusters_per_class=1 if n_classes > 2 else 2, random_state=0)
    alpha = 1.0 / (C * rows)
    times: dict[str, list[float]] = {"sklearn": [], "assay": [], "assay_f32": []}
    objs: dict[str, float] = {}
    for rep in range(repeats):
        for label in times:
            t0 = time.perf_counter()
            if label == "sklearn":
                m = LogisticRegression(C=C, max_iter=1000).fit(X, y)
            else:
                m = LogisticRegressionGD(alpha=alpha, dtype="float32" if label == "assay_f32" else "float64").fit(X, y)
            times[label].append(time.perf_counter() - t0)
            if rep == 0:
                objs[label] = objective(m.coef_, m.intercept_, X, y, alpha)
                iters = m.n_iter_ if np.isscalar(m.n_iter_) else int(np.max(m.n_iter_))
                print(f"  {name:10s} {label:9s} objective {objs[label]:.8f}  iterations {iters}  "
                      f"time {times[label][-1]:.2f}s", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    out = {"sklearn_s": med["sklearn"]}
    for label in ("assay", "assay_f32"):
        rel = (objs[label] - objs["sklearn"]) / objs["sklearn"]
        out[f"{label}_s"] = med[label]
        out[f"{label}_ratio"] = med[label] / med["sklearn"]
        out[f"{label}_rel_obj"] = rel
    print(f"{name}: median of {repeats}: sklearn {med['sklearn']:.2f}s | assay float64 {med['assay']:.2f}s "
          f"(assay/sklearn time = {out['assay_ratio']:.2f}, objective rel. diff {out['assay_rel_obj']:+.1e}) | "
          f"assay float32 {med['assay_f32']:.2f}s (ratio {out['assay_f32_ratio']:.2f}, "
          f"rel. diff {out['assay_f32_rel_obj']:+.1e})", flush=True)
    for label in ("assay", "assay_f32"):
        if out[f"{label}_rel_obj"] > 1e-4:
            print(f"  WARNING: {label} objective is more than 1e-4 (relative) above scikit-learn's")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", default="binary,softmax10")
    args = parser.parse_args()
    cases = {"binary": 2, "softmax10": 10}
    for name in args.cases.split(","):
        run_case(name, cases[name], args.rows, args.repeats)


if __name__ == "__main__":
    main()
