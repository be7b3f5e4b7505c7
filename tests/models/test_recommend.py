"""Recommenders: hand-checkable ranking metrics, per-user split, cold start, seen-item exclusion, quality over the
popularity baseline on structured data, explicit MF RMSE, and payload round-trips."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from assay.models import load_estimator, make_model, save_estimator
from assay.models._recommend import ranking_metrics, split_per_user


def test_ranking_metrics_by_hand() -> None:
    rec = pl.DataFrame({"user": ["u1"] * 3 + ["u2"] * 3, "item": ["a", "b", "c", "d", "e", "f"],
                        "rank": [1, 2, 3, 1, 2, 3]})
    truth = pl.DataFrame({"user": ["u1", "u1", "u2"], "item": ["a", "c", "z"]})
    m = ranking_metrics(rec, truth, k=3, n_items=12)
    # u1: hits at ranks 1 and 3 of 2 relevant; u2: no hit.
    assert m["precision@3"] == pytest.approx((2 / 3 + 0) / 2)
    assert m["recall@3"] == pytest.approx((1.0 + 0) / 2)
    dcg = 1 / np.log2(2) + 1 / np.log2(4)
    idcg = 1 / np.log2(2) + 1 / np.log2(3)
    assert m["ndcg@3"] == pytest.approx((dcg / idcg + 0) / 2)
    assert m["map@3"] == pytest.approx(((1 / 1 + 2 / 3) / 2 + 0) / 2)
    assert m["coverage"] == pytest.approx(6 / 12)


def test_split_per_user_holds_out_a_share_of_each_user() -> None:
    users = np.repeat(["a", "b", "c"], [10, 5, 1])
    items = np.arange(16)
    train, test = split_per_user(users, items, test_fraction=0.2, seed=1)
    assert (train ^ test).all()
    assert [int(test[users == u].sum()) for u in "abc"] == [2, 1, 0]


@pytest.fixture(scope="module")
def interactions() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    n_users, n_items, f = 200, 120, 4
    scores = rng.normal(size=(n_users, f)) @ rng.normal(size=(n_items, f)).T
    users, items = [], []
    for u in range(n_users):
        p = np.exp(1.5 * scores[u])
        chosen = rng.choice(n_items, size=20, replace=False, p=p / p.sum())
        users += [f"user{u}"] * 20
        items += [f"item{i}" for i in chosen]
    return np.array(users), np.array(items)


FAST = {"als": {"iterations": 8, "factors": 16}, "bpr": {"epochs": 15, "factors": 16}, "itemknn": {}}


@pytest.mark.parametrize("name", ["itemknn", "als", "bpr"])
def test_collaborative_models_beat_popularity(name: str, interactions: tuple[np.ndarray, np.ndarray]) -> None:
    users, items = interactions
    train, test = split_per_user(users, items, test_fraction=0.25, seed=0)
    truth = pl.DataFrame({"user": users[test], "item": items[test]})
    targets = np.unique(users[test])

    def ndcg(model: object) -> float:
        model.fit(users[train], items[train])
        return ranking_metrics(model.recommend(targets, k=10), truth, k=10)["ndcg@10"]

    base = ndcg(make_model("popularity", "recommendation"))
    assert ndcg(make_model(name, "recommendation", **FAST[name])) > 1.3 * base


def test_recommend_frame_excludes_seen_and_serves_cold_start(interactions: tuple[np.ndarray, np.ndarray],
                                                            tmp_path: object) -> None:
    users, items = interactions
    model = make_model("als", "recommendation", **FAST["als"]).fit(users, items)
    out = model.recommend(["user0", "stranger"], k=5)
    assert out.columns == ["user", "item", "rank", "score"]
    first = out.filter(pl.col("user") == "user0")
    assert first["rank"].to_list() == [1, 2, 3, 4, 5]
    assert not set(first["item"]) & set(items[users == "user0"])
    assert first["score"].is_sorted(descending=True)
    popular = make_model("popularity", "recommendation").fit(users, items).recommend(["x"], k=5)
    assert out.filter(pl.col("user") == "stranger")["item"].to_list() == popular["item"].to_list()
    meta = save_estimator(model, tmp_path)
    assert meta["format"] == "assay"
    again = load_estimator(tmp_path, meta)
    assert again.recommend(["user0", "stranger"], k=5).equals(out)


def test_explicit_mf_beats_the_global_mean() -> None:
    rng = np.random.default_rng(2)
    n_users, n_items = 150, 80
    P, Q = rng.normal(size=(n_users, 3)), rng.normal(size=(n_items, 3))
    u = rng.integers(0, n_users, 4000)
    i = rng.integers(0, n_items, 4000)
    r = 3.0 + np.einsum("ij,ij->i", P[u], Q[i]) + rng.normal(scale=0.3, size=4000)
    keep = np.unique(u * n_items + i, return_index=True)[1]
    u, i, r = u[keep], i[keep], r[keep]
    train = rng.random(len(u)) < 0.8
    model = make_model("mf", "recommendation", factors=8).fit(u[train], i[train], r[train])
    pred = model.predict(u[~train], i[~train])
    rmse = float(np.sqrt(np.nanmean((pred - r[~train]) ** 2)))
    baseline = float(np.sqrt(np.mean((r[train].mean() - r[~train]) ** 2)))
    assert rmse < 0.6 * baseline
