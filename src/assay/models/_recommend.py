"""Recommenders (collaborative filtering): popularity, item-kNN, implicit ALS, BPR and explicit matrix factorisation,
with a per-user holdout split and ranking metrics (precision/recall/NDCG/MAP@k, catalogue coverage).

Every recommender is fitted on interaction triples ``(users, items, ratings=None)`` with ids of any type, gives
``recommend(users, k) -> frame[user, item, rank, score]`` (already-seen items excluded; users never seen in
training get the popularity list, so a cold start still gets sensible items) and ``predict(users, items)`` scores.

Hand-written with NumPy/SciPy sparse rather than the ``implicit`` package: the algorithms are short when
vectorised over all users at once (ALS solves every user's system together by a few conjugate-gradient steps),
and the core install stays free of compiled extras.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from assay.exceptions import NotFittedError, SpecError

__all__ = [
    "ALSRecommender",
    "BPRRecommender",
    "ItemKNNRecommender",
    "MFRecommender",
    "PopularityRecommender",
    "ranking_metrics",
    "split_per_user",
]


def _single_threaded(fit: Any) -> Any:
    """Run a fit with one BLAS thread: its products are small (n × factors) and threads only add spin-waiting."""
    import functools

    @functools.wraps(fit)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        from assay.models._linear import _blas_limit

        with _blas_limit(1):
            return fit(self, *args, **kwargs)

    return wrapper


def _ids_array(values: Any) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == object:
        arr = arr.astype(str)  # object arrays cannot be stored without pickle
    return arr


class _Recommender(BaseEstimator):
    """Shared id encoding, seen-item masking, cold-start fallback, payload (de)serialisation."""

    _explicit = False

    def _encode_fit(self, users: Any, items: Any, ratings: Any) -> sp.csr_matrix:
        users, items = _ids_array(users), _ids_array(items)
        if len(users) != len(items):
            msg = f"users ({len(users)}) and items ({len(items)}) must have the same length"
            raise SpecError(msg)
        if len(users) == 0:
            msg = "cannot fit a recommender on zero interactions"
            raise SpecError(msg)
        self.user_ids_, u = np.unique(users, return_inverse=True)
        self.item_ids_, i = np.unique(items, return_inverse=True)
        r = np.ones(len(u)) if ratings is None else np.asarray(ratings, dtype=np.float64)
        if not np.all(np.isfinite(r)):
            msg = "ratings contain NaN or infinite values; drop or fill them first"
            raise SpecError(msg)
        R = sp.csr_matrix((r, (u, i)), shape=(len(self.user_ids_), len(self.item_ids_)))
        R.sum_duplicates()
        self.R_ = R
        counts = np.asarray((R != 0).sum(axis=0)).ravel().astype(np.float64)
        self.popularity_ = counts
        return R

    def _check(self) -> None:
        if not hasattr(self, "R_"):
            msg = f"{type(self).__name__} is not fitted yet; call fit(users, items[, ratings]) first"
            raise NotFittedError(msg)

    def _user_index(self, users: Any) -> tuple[np.ndarray, np.ndarray]:
        users = _ids_array(users)
        pos = np.searchsorted(self.user_ids_, users)
        pos = np.clip(pos, 0, len(self.user_ids_) - 1)
        known = self.user_ids_[pos] == users
        return pos, known

    def _scores(self, uidx: np.ndarray) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def recommend(self, users: Any, k: int = 10, *, exclude_seen: bool = True) -> pl.DataFrame:
        """Top-``k`` items per user as a frame ``user, item, rank, score`` (rank 1 = best)."""
        self._check()
        users = _ids_array(users)
        pos, known = self._user_index(users)
        k = int(min(k, len(self.item_ids_)))
        scores = np.empty((len(users), len(self.item_ids_)))
        if known.any():
            scores[known] = self._scores(pos[known])
        if (~known).any():
            scores[~known] = self.popularity_  # cold start: popularity
        if exclude_seen and known.any():
            seen = self.R_[pos[known]]
            sub = scores[known]
            rows, cols = seen.nonzero()
            sub[rows, cols] = -np.inf
            scores[known] = sub
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < scores.shape[1] else \
            np.tile(np.arange(scores.shape[1]), (len(users), 1))
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        top_scores = np.take_along_axis(top_scores, order, axis=1)
        frame = pl.DataFrame({
            "user": np.repeat(users, k),
            "item": self.item_ids_[top.ravel()],
            "rank": np.tile(np.arange(1, k + 1), len(users)),
            "score": top_scores.ravel(),
        })
        return frame.filter(pl.col("score").is_finite())

    def predict(self, users: Any, items: Any) -> np.ndarray:
        """Score (predicted rating for explicit models) of each ``(user, item)`` pair; NaN for unknown items."""
        self._check()
        pos, known = self._user_index(users)
        items = _ids_array(items)
        ipos = np.clip(np.searchsorted(self.item_ids_, items), 0, len(self.item_ids_) - 1)
        iknown = self.item_ids_[ipos] == items
        out = np.full(len(pos), np.nan)
        for_known = known & iknown
        if for_known.any():
            out[for_known] = self._pair_scores(pos[for_known], ipos[for_known])
        cold = ~known & iknown
        out[cold] = self._cold_pair_scores(ipos[cold])
        return out

    def _pair_scores(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        # Generic: row of full scores (fine for the modest batches predict is used with).
        return self._scores(u)[np.arange(len(u)), i]

    def _cold_pair_scores(self, i: np.ndarray) -> np.ndarray:
        return self.popularity_[i]

    # -------------------------------------------------------------------------------------- persistence
    _array_attrs: tuple[str, ...] = ()

    def _to_payload(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check()
        arrays = {"user_ids": self.user_ids_, "item_ids": self.item_ids_, "R_data": self.R_.data,
                  "R_indices": self.R_.indices, "R_indptr": self.R_.indptr, "popularity": self.popularity_}
        for name in self._array_attrs:
            value = getattr(self, name)
            if sp.issparse(value):
                value = value.tocsr()
                arrays[f"{name}__data"], arrays[f"{name}__indices"], arrays[f"{name}__indptr"] = (
                    value.data, value.indices, value.indptr)
                arrays[f"{name}__shape"] = np.asarray(value.shape)
            else:
                arrays[name] = np.asarray(value)
        doc = {"params": self.get_params(), "scalars": self._scalars()}
        return doc, arrays

    def _scalars(self) -> dict[str, float]:
        return {}

    @classmethod
    def _from_payload(cls, doc: dict[str, Any], arrays: dict[str, np.ndarray]) -> _Recommender:
        est = cls(**doc["params"])
        est.user_ids_, est.item_ids_ = arrays["user_ids"], arrays["item_ids"]
        est.R_ = sp.csr_matrix((arrays["R_data"], arrays["R_indices"], arrays["R_indptr"]),
                               shape=(len(est.user_ids_), len(est.item_ids_)))
        est.popularity_ = arrays["popularity"]
        for name in cls._array_attrs:
            if f"{name}__data" in arrays:
                setattr(est, name, sp.csr_matrix(
                    (arrays[f"{name}__data"], arrays[f"{name}__indices"], arrays[f"{name}__indptr"]),
                    shape=tuple(arrays[f"{name}__shape"])))
            else:
                setattr(est, name, arrays[name])
        for key, value in doc.get("scalars", {}).items():
            setattr(est, key, value)
        return est


class PopularityRecommender(_Recommender):
    """Most-interacted items first (the baseline every recommender must beat).

    >>> rec = PopularityRecommender().fit(["a", "a", "b", "c"], ["x", "y", "x", "x"])
    >>> rec.recommend(["b", "new"], k=1)["item"].to_list()
    ['y', 'x']
    """

    @_single_threaded
    def fit(self, users: Any, items: Any, ratings: Any = None) -> PopularityRecommender:
        """Count interactions per item; returns ``self``."""
        self._encode_fit(users, items, ratings)
        return self

    def _scores(self, uidx: np.ndarray) -> np.ndarray:
        return np.tile(self.popularity_, (len(uidx), 1))


class ItemKNNRecommender(_Recommender):
    """Item-based kNN: cosine similarity between items' user vectors, ``neighbors`` kept per item; a user's score
    for an item is the summed similarity to the items they interacted with."""

    _array_attrs = ("similarity_",)

    def __init__(self, *, neighbors: int = 100, shrink: float = 10.0) -> None:
        self.neighbors = neighbors
        self.shrink = shrink

    @_single_threaded
    def fit(self, users: Any, items: Any, ratings: Any = None) -> ItemKNNRecommender:
        """Compute the pruned item-item similarity matrix; returns ``self``."""
        R = self._encode_fit(users, items, ratings)
        B = (R != 0).astype(np.float64).tocsr()
        BT = B.T.tocsr()
        n_items = B.shape[1]
        norms = np.sqrt(np.asarray(B.sum(axis=0)).ravel())
        k = max(min(int(self.neighbors), n_items - 1), 1)
        # Similarities are built a block of items at a time as dense rows (bounded memory, ~4M cells), and only
        # each item's top-k neighbours are kept, found with argpartition (linear time per row).
        block = max(1, 4_000_000 // max(n_items, 1))
        rows, cols, vals = [], [], []
        for start in range(0, n_items, block):
            stop = min(start + block, n_items)
            co = (BT[start:stop] @ B).toarray()
            co[np.arange(stop - start), np.arange(start, stop)] = 0.0
            # Shrunk cosine: counts / (|a|·|b| + shrink) damps similarities backed by very few users.
            sim = co / (norms[start:stop, None] * norms[None, :] + self.shrink)
            top = np.argpartition(-sim, k - 1, axis=1)[:, :k] if k < n_items else np.tile(np.arange(n_items),
                                                                                          (stop - start, 1))
            top_vals = np.take_along_axis(sim, top, axis=1)
            keep = top_vals > 0
            rows.append(np.repeat(np.arange(start, stop), keep.sum(axis=1)))
            cols.append(top[keep])
            vals.append(top_vals[keep])
        self.similarity_ = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                         shape=(n_items, n_items))
        return self

    def _scores(self, uidx: np.ndarray) -> np.ndarray:
        B = (self.R_[uidx] != 0).astype(np.float64)
        return np.asarray((B @ self.similarity_.T).todense())


def _cg_solve(X: np.ndarray, apply_A: Any, B: np.ndarray, steps: int) -> np.ndarray:
    """A few conjugate-gradient steps for every row's own system ``A_u x_u = b_u`` at once (warm start ``X``)."""
    R = B - apply_A(X)
    P = R.copy()
    rs = np.einsum("ij,ij->i", R, R)
    for _ in range(steps):
        AP = apply_A(P)
        denom = np.einsum("ij,ij->i", P, AP)
        alpha = np.divide(rs, denom, out=np.zeros_like(rs), where=denom > 1e-30)
        X = X + alpha[:, None] * P
        R = R - alpha[:, None] * AP
        rs_new = np.einsum("ij,ij->i", R, R)
        beta = np.divide(rs_new, rs, out=np.zeros_like(rs), where=rs > 1e-30)
        P = R + beta[:, None] * P
        rs = rs_new
    return X


class ALSRecommender(_Recommender):
    """Implicit-feedback ALS (Hu, Koren & Volinsky 2008): confidence ``1 + alpha·r`` on observed pairs, preference
    1 there and 0 elsewhere; alternating least squares, each side solved by ``cg_steps`` conjugate-gradient steps.

    Defaults (32 factors, alpha 2) come from a small sweep on MovieLens ratings; a high alpha (20-40, common for
    play counts) over-weights single ratings there."""

    _array_attrs = ("user_factors_", "item_factors_")

    def __init__(self, *, factors: int = 32, regularization: float = 0.05, alpha: float = 2.0,
                 iterations: int = 15, cg_steps: int = 3, random_state: int | None = 0) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.cg_steps = cg_steps
        self.random_state = random_state

    @_single_threaded
    def fit(self, users: Any, items: Any, ratings: Any = None) -> ALSRecommender:
        """Learn user and item factors; returns ``self``."""
        R = self._encode_fit(users, items, ratings)
        rng = np.random.default_rng(self.random_state)
        f = int(self.factors)
        U = rng.normal(scale=0.01, size=(R.shape[0], f))
        V = rng.normal(scale=0.01, size=(R.shape[1], f))
        C = R.copy()
        C.data = self.alpha * np.abs(C.data)  # c - 1 on observed pairs
        Ct = C.T.tocsr()
        for _ in range(int(self.iterations)):
            U = self._half_step(U, V, C)
            V = self._half_step(V, U, Ct)
        self.user_factors_, self.item_factors_ = U, V
        return self

    def _half_step(self, X: np.ndarray, Y: np.ndarray, C: sp.csr_matrix) -> np.ndarray:
        YtY = Y.T @ Y + self.regularization * np.eye(Y.shape[1])
        rows = np.repeat(np.arange(C.shape[0]), np.diff(C.indptr))
        cols = C.indices
        # b_u = Σ_i c_ui y_i over observed items (preference 1 there).
        Cp = C.copy()
        Cp.data = Cp.data + 1.0
        B = Cp @ Y

        def apply_A(Z: np.ndarray) -> np.ndarray:
            s = np.einsum("ij,ij->i", Z[rows], Y[cols]) * C.data
            W = sp.csr_matrix((s, C.indices, C.indptr), shape=C.shape)
            return Z @ YtY + W @ Y

        return _cg_solve(X, apply_A, B, int(self.cg_steps))

    def _scores(self, uidx: np.ndarray) -> np.ndarray:
        return self.user_factors_[uidx] @ self.item_factors_.T

    def _pair_scores(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->i", self.user_factors_[u], self.item_factors_[i])


class BPRRecommender(_Recommender):
    """Bayesian personalised ranking (Rendle et al. 2009): SGD on ``log σ(x_ui - x_uj)`` for an observed item i and
    a sampled unobserved j, in vectorised mini-batches; item biases included."""

    _array_attrs = ("user_factors_", "item_factors_", "item_bias_")

    def __init__(self, *, factors: int = 64, learning_rate: float = 0.05, regularization: float = 0.002,
                 epochs: int = 40, batch_size: int = 512, random_state: int | None = 0) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.epochs = epochs
        self.batch_size = batch_size
        self.random_state = random_state

    @_single_threaded
    def fit(self, users: Any, items: Any, ratings: Any = None) -> BPRRecommender:
        """Learn factors by SGD over sampled (user, positive, negative) triples; returns ``self``."""
        R = self._encode_fit(users, items, ratings)
        rng = np.random.default_rng(self.random_state)
        n_users, n_items = R.shape
        f = int(self.factors)
        U = rng.normal(scale=0.1, size=(n_users, f))
        V = rng.normal(scale=0.1, size=(n_items, f))
        b = np.zeros(n_items)
        coo = R.tocoo()
        pu, pi = coo.row, coo.col
        positive_keys = np.sort(pu.astype(np.int64) * n_items + pi)
        lr, reg = float(self.learning_rate), float(self.regularization)
        bs = int(self.batch_size)
        for _ in range(int(self.epochs)):
            order = rng.permutation(len(pu))
            for start in range(0, len(order), bs):
                idx = order[start:start + bs]
                u, i = pu[idx], pi[idx]
                j = rng.integers(0, n_items, len(idx))
                # Re-draw negatives that happen to be positives once (cheap, removes most label noise).
                keys = u.astype(np.int64) * n_items + j
                at = np.minimum(np.searchsorted(positive_keys, keys), len(positive_keys) - 1)
                clash = positive_keys[at] == keys
                j[clash] = rng.integers(0, n_items, int(clash.sum()))
                Uu, Vi, Vj = U[u], V[i], V[j]
                x = np.einsum("ij,ij->i", Uu, Vi - Vj) + b[i] - b[j]
                g = 1.0 / (1.0 + np.exp(np.clip(x, -30, 30)))  # σ(-x)
                gu = g[:, None] * (Vi - Vj) - reg * Uu
                gi = g[:, None] * Uu - reg * Vi
                gj = -g[:, None] * Uu - reg * Vj
                # Scatter-add the batch's updates (rows repeat within a batch) with one sparse product per side:
                # several times faster than np.add.at on (batch × factors) blocks.
                m = len(u)
                ones = np.ones(m)
                cols = np.arange(m)
                U += sp.csr_matrix((ones, (u, cols)), shape=(n_users, m)) @ (lr * gu)
                to_items = sp.csr_matrix((np.concatenate([ones, ones]), (np.concatenate([i, j]),
                                                                         np.arange(2 * m))), shape=(n_items, 2 * m))
                V += to_items @ (lr * np.vstack([gi, gj]))
                b += to_items @ (lr * np.concatenate([g - reg * b[i], -g - reg * b[j]]))
        self.user_factors_, self.item_factors_, self.item_bias_ = U, V, b
        return self

    def _scores(self, uidx: np.ndarray) -> np.ndarray:
        return self.user_factors_[uidx] @ self.item_factors_.T + self.item_bias_

    def _pair_scores(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->i", self.user_factors_[u], self.item_factors_[i]) + self.item_bias_[i]


class MFRecommender(_Recommender):
    """Explicit-rating matrix factorisation: ``r̂ = μ + b_u + b_i + p_u·q_i`` with regularised baseline biases and
    factors fitted to the residuals by ALS (conjugate-gradient steps over observed ratings only). ``predict``
    gives ratings (compare with RMSE); ``recommend`` ranks by predicted rating."""

    _explicit = True
    _array_attrs = ("user_factors_", "item_factors_", "user_bias_", "item_bias_")

    def __init__(self, *, factors: int = 32, regularization: float = 0.1, bias_regularization: float = 10.0,
                 iterations: int = 15, cg_steps: int = 4, random_state: int | None = 0) -> None:
        self.factors = factors
        self.regularization = regularization
        self.bias_regularization = bias_regularization
        self.iterations = iterations
        self.cg_steps = cg_steps
        self.random_state = random_state

    @_single_threaded
    def fit(self, users: Any, items: Any, ratings: Any = None) -> MFRecommender:
        """Fit biases and factors to the observed ratings; returns ``self``."""
        if ratings is None:
            msg = "MFRecommender needs ratings (explicit feedback); for implicit data use 'als' or 'bpr'"
            raise SpecError(msg)
        R = self._encode_fit(users, items, ratings)
        coo = R.tocoo()
        u, i, r = coo.row, coo.col, coo.data
        lam = float(self.bias_regularization)
        self.global_mean_ = float(r.mean())
        res = r - self.global_mean_
        n_i = np.bincount(i, minlength=R.shape[1])
        bi = np.bincount(i, weights=res, minlength=R.shape[1]) / (n_i + lam)
        res = res - bi[i]
        n_u = np.bincount(u, minlength=R.shape[0])
        bu = np.bincount(u, weights=res, minlength=R.shape[0]) / (n_u + lam)
        res = res - bu[u]
        E = sp.csr_matrix((res, (u, i)), shape=R.shape)
        Et = E.T.tocsr()
        rng = np.random.default_rng(self.random_state)
        f = int(self.factors)
        P = rng.normal(scale=0.01, size=(R.shape[0], f))
        Q = rng.normal(scale=0.01, size=(R.shape[1], f))
        for _ in range(int(self.iterations)):
            P = self._half_step(P, Q, E)
            Q = self._half_step(Q, P, Et)
        self.user_factors_, self.item_factors_ = P, Q
        self.user_bias_, self.item_bias_ = bu, bi
        return self

    def _half_step(self, X: np.ndarray, Y: np.ndarray, E: sp.csr_matrix) -> np.ndarray:
        rows = np.repeat(np.arange(E.shape[0]), np.diff(E.indptr))
        cols = E.indices
        B = E @ Y
        # Regularisation scaled by each row's rating count (weighted-λ ALS), which keeps sparse rows from
        # overfitting their few ratings.
        lam = self.regularization * np.maximum(np.diff(E.indptr), 1)[:, None]

        def apply_A(Z: np.ndarray) -> np.ndarray:
            s = np.einsum("ij,ij->i", Z[rows], Y[cols])
            W = sp.csr_matrix((s, E.indices, E.indptr), shape=E.shape)
            return W @ Y + lam * Z

        return _cg_solve(X, apply_A, B, int(self.cg_steps))

    def _scalars(self) -> dict[str, float]:
        return {"global_mean_": self.global_mean_}

    def _scores(self, uidx: np.ndarray) -> np.ndarray:
        return (self.global_mean_ + self.user_bias_[uidx][:, None] + self.item_bias_[None, :]
                + self.user_factors_[uidx] @ self.item_factors_.T)

    def _pair_scores(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        return (self.global_mean_ + self.user_bias_[u] + self.item_bias_[i]
                + np.einsum("ij,ij->i", self.user_factors_[u], self.item_factors_[i]))

    def _cold_pair_scores(self, i: np.ndarray) -> np.ndarray:
        return self.global_mean_ + self.item_bias_[i]


def split_per_user(users: Any, items: Any, *, test_fraction: float = 0.2, seed: int = 0,
                   min_interactions: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Boolean ``(train_mask, test_mask)``: for each user with at least ``min_interactions`` rows, a random
    ``test_fraction`` of them (at least one) goes to test; other users stay wholly in train.

    >>> tr, te = split_per_user(["a"] * 5 + ["b"], list("vwxyzv"), test_fraction=0.2)
    >>> int(te.sum()), bool(tr[-1])
    (1, True)
    """
    users = _ids_array(users)
    if not 0.0 < test_fraction < 1.0:
        msg = f"test_fraction={test_fraction} must be between 0 and 1"
        raise SpecError(msg)
    rng = np.random.default_rng(seed)
    _, u = np.unique(users, return_inverse=True)
    order = np.lexsort((rng.random(len(u)), u))  # random order within each user
    counts = np.bincount(u)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos_in_user = np.empty(len(u), dtype=np.int64)
    pos_in_user[order] = np.arange(len(u)) - start[u[order]]
    n_test = np.where(counts >= min_interactions, np.maximum(np.floor(counts * test_fraction), 1), 0)
    test = pos_in_user < n_test[u]
    return ~test, test


def ranking_metrics(recommended: pl.DataFrame, truth: pl.DataFrame, *, k: int = 10,
                    n_items: int | None = None) -> dict[str, float]:
    """precision@k, recall@k, NDCG@k, MAP@k averaged over users in ``truth`` (frames with ``user, item``;
    ``recommended`` also ``rank``), and catalogue coverage (distinct recommended items / ``n_items``).

    >>> rec = pl.DataFrame({"user": ["u", "u"], "item": ["a", "b"], "rank": [1, 2]})
    >>> truth = pl.DataFrame({"user": ["u"], "item": ["b"]})
    >>> m = ranking_metrics(rec, truth, k=2, n_items=4)
    >>> m["precision@2"], m["recall@2"], round(m["ndcg@2"], 4), m["map@2"], m["coverage"]
    (0.5, 1.0, 0.6309, 0.5, 0.5)
    """
    rec = recommended.filter(pl.col("rank") <= k).select("user", "item", "rank")
    truth = truth.select("user", "item").unique()
    n_rel = truth.group_by("user").agg(pl.len().alias("n_rel"))
    hits = rec.join(truth.with_columns(pl.lit(True).alias("hit")), on=["user", "item"], how="left").with_columns(
        pl.col("hit").fill_null(False))
    hits = hits.sort("user", "rank").with_columns(
        pl.col("hit").cast(pl.Int64).cum_sum().over("user").alias("hits_so_far"))
    per_user = hits.group_by("user").agg(
        pl.col("hit").sum().alias("n_hit"),
        (pl.col("hit").cast(pl.Float64) / (pl.col("rank") + 1).cast(pl.Float64).log(2)).sum().alias("dcg"),
        (pl.col("hit").cast(pl.Float64) * pl.col("hits_so_far") / pl.col("rank")).sum().alias("ap_sum"),
    )
    users = n_rel.join(per_user, on="user", how="left").fill_null(0)
    ideal_len = np.minimum(users["n_rel"].to_numpy(), k)
    discounts = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
    idcg = discounts[ideal_len]
    n_hit = users["n_hit"].to_numpy().astype(np.float64)
    out = {
        f"precision@{k}": float(np.mean(n_hit / k)),
        f"recall@{k}": float(np.mean(n_hit / users["n_rel"].to_numpy())),
        f"ndcg@{k}": float(np.mean(users["dcg"].to_numpy() / idcg)),
        f"map@{k}": float(np.mean(users["ap_sum"].to_numpy() / ideal_len)),
        "users": float(len(users)),
    }
    if n_items:
        out["coverage"] = float(rec["item"].n_unique() / n_items)
    return out
