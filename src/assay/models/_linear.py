"""assay's own linear models trained by gradient descent: logistic/softmax classification and linear regression.

This is the algorithm assay was founded on: a linear score ``z = X·w + b``, a sigmoid (two classes) or softmax
(k classes) turning it into probabilities, the cross-entropy loss, and gradient descent with a learning rate α for
T iterations from a seed. The same loss and gradient drive every optimizer offered here: plain GD (the seed's),
momentum, Adam (full batch or mini-batch) and L-BFGS (scipy), with L2, L1 or elastic-net penalties.

The loss and gradient are module-level functions so that other engines can use them on data partitions:

- :func:`data_loss_grad` returns **sums** over the rows it is given, ``(loss_sum, grad_sum, weight_sum)``; sums from
  several partitions add up to the sums over the whole data (the Dask engine calls it once per partition).
- :func:`penalized_loss_grad` turns the summed data term into the objective minimised here:
  ``loss_sum / weight_sum + alpha_l2 / 2 * ||coef||²`` (the intercept is never penalised; the L1 part is handled by
  the optimizer, by a proximal step or by splitting ``w = w⁺ - w⁻`` for L-BFGS).
- :func:`loss_grad` is both on one block of rows.

Parameters are packed in one flat vector ``w`` of length ``(d + fit_intercept) * k``: reshaped to
``(d + fit_intercept, k)``, the first ``d`` rows are ``coef_.T`` and the last row is ``intercept_``. ``k`` is 1 for
binary logistic regression and for regression, and the number of classes for softmax. ``y_enc`` is the 0/1 float
target for ``kind="logistic"``, the integer class index for ``"multinomial"`` and the float target for ``"squared"``.

What does not live here: data cleaning and scaling (the pipeline's steps), and other model families.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import numpy as np
from scipy import optimize
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from assay.exceptions import ModelError, SpecError

__all__ = [
    "LinearRegressionGD",
    "LogisticRegressionGD",
    "data_hessian",
    "data_loss_grad",
    "loss_grad",
    "penalized_loss_grad",
]

Kind = Literal["logistic", "multinomial", "squared"]
OPTIMIZERS = ("gd", "momentum", "adam", "lbfgs")
PENALTIES = ("l2", "l1", "elasticnet", None)

# Above this many rows L-BFGS first solves on a random subsample and starts the full problem from that solution:
# the subsample optimum is within sampling noise of the full one, so the expensive full-data passes drop by ~half.
_WARM_START_ROWS = 200_000
_WARM_START_FRACTION = 0.05
_WARM_START_MIN_ROWS = 20_000
# The preconditioner's Hessian is built on this many rows (10 per parameter, within bounds), up to this many params.
_HESSIAN_ROWS = (5_000, 20_000)
_PRECONDITION_MAX_PARAMS = 2_000


# Every solver runs with one BLAS thread. The products here are skinny (n × d by d × k with k the classes) and bound
# by memory, and OpenBLAS threads spin-wait: on a 2-core machine with other work running, two threads made one
# softmax objective evaluation slower at every size measured (22 features, 5 classes: 7,333 rows 1.8 vs 25 ms,
# 43,152 rows 20 vs 340 ms, 4M rows 0.86 vs 2.3-5.8 s), which made a 5-fold logistic regression on 54k rows take
# a minute instead of seconds. (The same was measured for LightGBM's OpenMP threads; see models/_registry.py.)
_CONTROLLER: Any = None


def _blas_limit(threads: int | None) -> Any:
    """Context manager limiting BLAS threads (``None``: as many as when the process first asked)."""
    global _CONTROLLER  # one controller per process: building it scans the loaded libraries
    from threadpoolctl import ThreadpoolController

    if _CONTROLLER is None:
        controller = ThreadpoolController()
        blas = [info["num_threads"] for info in controller.info() if info["user_api"] == "blas"]
        _CONTROLLER = (controller, max(blas) if blas else 1)
    controller, default = _CONTROLLER
    return controller.limit(limits=default if threads is None else threads, user_api="blas")


def _shape(w: np.ndarray, d: int, fit_intercept: bool) -> tuple[int, int]:
    rows = d + int(fit_intercept)
    k = w.size // rows
    if k * rows != w.size:
        msg = f"parameter vector of length {w.size} does not fit {d} features (fit_intercept={fit_intercept})"
        raise SpecError(msg)
    return rows, k


def data_loss_grad(
    w: np.ndarray,
    X: np.ndarray,
    y_enc: np.ndarray,
    *,
    kind: Kind,
    fit_intercept: bool = True,
    sample_weight: np.ndarray | None = None,
) -> tuple[float, np.ndarray, float]:
    """Summed loss and gradient of the data term over the rows of ``X``; additive over partitions.

    Args:
        w: packed parameters, float64, length ``(d + fit_intercept) * k`` (see the module docstring).
        X: ``n × d`` float64 or float32 array (float32 halves the memory traffic of the two matrix products).
        y_enc: encoded target (0/1 floats, class indices, or floats; see the module docstring).
        kind: ``"logistic"`` (sigmoid cross-entropy), ``"multinomial"`` (softmax cross-entropy) or ``"squared"``
            (half squared error).
        fit_intercept: whether the last row of the reshaped ``w`` is an intercept.
        sample_weight: optional non-negative weight per row.

    Returns:
        ``(loss_sum, grad_sum, weight_sum)``: float, float64 array shaped like ``w``, float.

    >>> X = np.array([[0.0], [1.0]]); y = np.array([0.0, 1.0])
    >>> loss, grad, n = data_loss_grad(np.zeros(2), X, y, kind="logistic")
    >>> round(loss, 4), grad.round(2).tolist(), n
    (1.3863, [-0.5, 0.0], 2.0)
    """
    n, d = X.shape
    rows, k = _shape(w, d, fit_intercept)
    W = w.reshape(rows, k)
    coef = W[:d].astype(X.dtype, copy=False)
    if kind == "multinomial":
        # Scores are laid out classes × rows (Zt = coefᵀXᵀ) so that the per-row max/sum over classes run over
        # contiguous rows of memory; reductions along the short axis of an n × k array are several times slower.
        Zt = np.asarray(coef.T @ X.T, dtype=np.float64)
        if fit_intercept:
            Zt += W[d][:, None]
        Zt -= Zt.max(axis=0)
        np.exp(Zt, out=Zt)
        Zt /= Zt.sum(axis=0)  # Zt now holds the probabilities P (classes × rows)
        idx = np.arange(n)
        p_true = Zt[y_enc, idx]
        losses = -np.log(np.maximum(p_true, 1e-300))
        Zt[y_enc, idx] -= 1.0  # P - onehot(y): the softmax cross-entropy gradient w.r.t. the scores
        if sample_weight is not None:
            Zt *= sample_weight
        G = np.empty((rows, k), dtype=np.float64)
        G[:d] = (Zt.astype(X.dtype, copy=False) @ X).T
        if fit_intercept:
            G[d] = Zt.sum(axis=1)
        if sample_weight is None:
            return float(losses.sum()), G.ravel(), float(n)
        return float(sample_weight @ losses), G.ravel(), float(sample_weight.sum())
    z = np.asarray(X @ coef[:, 0], dtype=np.float64)
    if fit_intercept:
        z += W[d, 0]
    if kind == "logistic":
        losses = np.logaddexp(0.0, z)
        losses -= y_enc * z
        r = expit(z)
        r -= y_enc
    elif kind == "squared":
        r = z - y_enc
        losses = 0.5 * r * r
    else:
        msg = f"unknown loss kind {kind!r}; valid: 'logistic', 'multinomial', 'squared'"
        raise SpecError(msg)
    if sample_weight is None:
        loss, weight_sum = float(losses.sum()), float(n)
    else:
        loss, weight_sum = float(sample_weight @ losses), float(sample_weight.sum())
        r *= sample_weight
    G = np.empty(rows, dtype=np.float64)
    G[:d] = X.T @ r.astype(X.dtype, copy=False)
    if fit_intercept:
        G[d] = r.sum()
    return loss, G, weight_sum


def penalized_loss_grad(
    w: np.ndarray,
    loss_sum: float,
    grad_sum: np.ndarray,
    weight_sum: float,
    *,
    n_features: int,
    fit_intercept: bool = True,
    alpha_l2: float = 0.0,
) -> tuple[float, np.ndarray]:
    """The smooth objective from summed data terms: mean loss plus ``alpha_l2 / 2 * ||coef||²`` (no intercept).

    >>> penalized_loss_grad(np.array([2.0, 1.0]), 4.0, np.array([2.0, 2.0]), 2.0, n_features=1, alpha_l2=1.0)
    (4.0, array([3., 1.]))
    """
    scale = 1.0 / max(weight_sum, 1e-300)
    loss = loss_sum * scale
    grad = grad_sum * scale
    if alpha_l2:
        rows, k = _shape(w, n_features, fit_intercept)
        coef = w.reshape(rows, k)[:n_features]
        loss += 0.5 * alpha_l2 * float(np.vdot(coef, coef))
        grad.reshape(rows, k)[:n_features] += alpha_l2 * coef
    return loss, grad


def loss_grad(
    w: np.ndarray,
    X: np.ndarray,
    y_enc: np.ndarray,
    *,
    kind: Kind,
    fit_intercept: bool = True,
    sample_weight: np.ndarray | None = None,
    alpha_l2: float = 0.0,
) -> tuple[float, np.ndarray]:
    """Smooth objective (weighted mean loss + L2 term) and its gradient on one block of rows."""
    s, g, n = data_loss_grad(w, X, y_enc, kind=kind, fit_intercept=fit_intercept, sample_weight=sample_weight)
    return penalized_loss_grad(w, s, g, n, n_features=X.shape[1], fit_intercept=fit_intercept, alpha_l2=alpha_l2)


def data_hessian(
    w: np.ndarray,
    X: np.ndarray,
    y_enc: np.ndarray,
    *,
    kind: Kind,
    fit_intercept: bool = True,
    sample_weight: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Summed Hessian of the data term over the rows of ``X`` (additive over partitions) and the weight sum.

    The index order matches the packed ``w``. For softmax the Hessian is
    ``Σᵢ (diag(pᵢ) - pᵢpᵢᵀ) ⊗ xᵢxᵢᵀ``, built from one product ``MᵀM`` with ``Mᵢ = xᵢ ⊗ pᵢ`` rather than k² blocks.
    Meant for a few thousand rows (it is used as a preconditioner built on a subsample).

    >>> H, n = data_hessian(np.zeros(2), np.array([[1.0], [-1.0]]), np.array([0.0, 1.0]), kind="logistic")
    >>> H.tolist(), n
    ([[0.5, 0.0], [0.0, 0.5]], 2.0)
    """
    n, d = X.shape
    rows, k = _shape(w, d, fit_intercept)
    Xa = np.asarray(X, dtype=np.float64)
    if fit_intercept:
        Xa = np.column_stack([Xa, np.ones(n)])
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    W = w.reshape(rows, k)
    Z = Xa @ W
    if kind == "squared":
        H = Xa.T @ (Xa * sw[:, None])
    elif kind == "logistic":
        p = expit(Z[:, 0])
        H = Xa.T @ (Xa * (sw * p * (1.0 - p))[:, None])
    else:
        Z -= Z.max(axis=1, keepdims=True)
        P = np.exp(Z)
        P /= P.sum(axis=1, keepdims=True)
        M = (Xa[:, :, None] * P[:, None, :]).reshape(n, rows * k)
        G = (M * sw[:, None]).T @ Xa  # (rows*k, rows): Σ sw p_a x_j x_l at [(j, a), l]
        H4 = np.zeros((rows, k, rows, k))
        a = np.arange(k)
        H4[:, a, :, a] = G.reshape(rows, k, rows).transpose(1, 0, 2)
        H = H4.reshape(rows * k, rows * k) - M.T @ (M * sw[:, None])
    return H, float(sw.sum())


def _soft_threshold(w: np.ndarray, thresh: float | np.ndarray, d: int, fit_intercept: bool) -> None:
    """Proximal step of the L1 penalty on the coefficient rows (in place); the intercept is left alone."""
    rows, k = _shape(w, d, fit_intercept)
    coef = w.reshape(rows, k)[:d]
    t = thresh if np.isscalar(thresh) else np.asarray(thresh).reshape(rows, k)[:d]
    coef[...] = np.sign(coef) * np.maximum(np.abs(coef) - t, 0.0)


class _LinearGD(BaseEstimator):
    """Shared machinery of the classifier and the regressor; subclasses say how targets are encoded."""

    _kind_default: Kind = "squared"

    def __init__(
        self,
        *,
        learning_rate: float = 0.1,
        max_iter: int = 1000,
        random_state: int | None = 0,
        alpha: float = 1e-4,
        penalty: Literal["l2", "l1", "elasticnet"] | None = "l2",
        l1_ratio: float = 0.15,
        optimizer: Literal["gd", "momentum", "adam", "lbfgs"] = "lbfgs",
        batch_size: int | None = None,
        tol: float = 1e-4,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 5,
        fit_intercept: bool = True,
        dtype: Literal["float64", "float32"] = "float64",
        momentum: float = 0.9,
        verbose: int = 0,
    ) -> None:
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.random_state = random_state
        self.alpha = alpha
        self.penalty = penalty
        self.l1_ratio = l1_ratio
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.fit_intercept = fit_intercept
        self.dtype = dtype
        self.momentum = momentum
        self.verbose = verbose

    # ----------------------------------------------------------------------------------------------- checks
    def _check_params(self) -> None:
        name = type(self).__name__
        if self.optimizer not in OPTIMIZERS:
            msg = f"{name}: optimizer={self.optimizer!r} is not valid; choose one of {', '.join(OPTIMIZERS)}"
            raise SpecError(msg)
        if self.penalty not in PENALTIES:
            msg = f"{name}: penalty={self.penalty!r} is not valid; choose 'l2', 'l1', 'elasticnet' or None"
            raise SpecError(msg)
        if self.dtype not in ("float64", "float32"):
            msg = f"{name}: dtype={self.dtype!r} is not valid; choose 'float64' or 'float32'"
            raise SpecError(msg)
        checks = [
            (self.learning_rate > 0, "learning_rate must be > 0"),
            (int(self.max_iter) >= 1, "max_iter must be >= 1"),
            (self.alpha >= 0, "alpha must be >= 0"),
            (0.0 <= self.l1_ratio <= 1.0, "l1_ratio must be in [0, 1]"),
            (self.tol >= 0, "tol must be >= 0"),
            (0.0 < self.validation_fraction < 1.0, "validation_fraction must be in (0, 1)"),
            (int(self.n_iter_no_change) >= 1, "n_iter_no_change must be >= 1"),
            (self.batch_size is None or int(self.batch_size) >= 1, "batch_size must be None or >= 1"),
            (0.0 <= self.momentum < 1.0, "momentum must be in [0, 1)"),
        ]
        for ok, text in checks:
            if not ok:
                msg = f"{name}: {text}"
                raise SpecError(msg)

    def _alphas(self) -> tuple[float, float]:
        """(L2 strength, L1 strength) from alpha, penalty and l1_ratio."""
        if self.penalty is None:
            return 0.0, 0.0
        if self.penalty == "l2":
            return float(self.alpha), 0.0
        if self.penalty == "l1":
            return 0.0, float(self.alpha)
        return float(self.alpha) * (1.0 - self.l1_ratio), float(self.alpha) * self.l1_ratio

    def _prepare_X(self, X: np.ndarray) -> np.ndarray:
        target = np.float32 if self.dtype == "float32" else np.float64
        return np.ascontiguousarray(X, dtype=target)

    # ------------------------------------------------------------------------------------------- optimizers
    def _solve(
        self,
        X: np.ndarray,
        y_enc: np.ndarray,
        sw: np.ndarray | None,
        w0: np.ndarray,
        *,
        kind: Kind,
        X_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
        sw_val: np.ndarray | None = None,
        max_iter: int | None = None,
        optimizer: str | None = None,
    ) -> tuple[np.ndarray, int, list[float]]:
        optimizer = optimizer or self.optimizer
        max_iter = int(max_iter or self.max_iter)
        with _blas_limit(1):
            if optimizer == "lbfgs":
                return self._solve_lbfgs(X, y_enc, sw, w0, kind, X_val, y_val, sw_val, max_iter)
            return self._solve_first_order(X, y_enc, sw, w0, kind, X_val, y_val, sw_val, max_iter, optimizer)

    def _val_loss(self, w: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, sw_val: np.ndarray | None,
                  kind: Kind) -> float:
        s, _, n = data_loss_grad(w, X_val, y_val, kind=kind, fit_intercept=self.fit_intercept, sample_weight=sw_val)
        return s / max(n, 1e-300)

    def _solve_lbfgs(self, X, y_enc, sw, w0, kind, X_val, y_val, sw_val, max_iter, tol=None):
        d = X.shape[1]
        fi = self.fit_intercept
        alpha_l2, alpha_l1 = self._alphas()
        n = X.shape[0]
        precond = None
        n_sub = max(int(n * _WARM_START_FRACTION), _WARM_START_MIN_ROWS)
        if (n >= _WARM_START_ROWS and 2 * n_sub <= n and not np.any(w0) and alpha_l1 == 0
                and w0.size <= _PRECONDITION_MAX_PARAMS):
            # Big data: (1) solve on a random subsample, whose optimum is within sampling noise of the full one;
            # (2) precondition the full problem with the Cholesky factor L of the Hessian there (w = L⁻ᵀv), so
            # L-BFGS sees a Hessian close to the identity and needs a handful of full passes instead of dozens.
            rng = np.random.default_rng(self.random_state)
            sub = np.sort(rng.choice(n, size=n_sub, replace=False))
            Xs, ys, sws = np.ascontiguousarray(X[sub]), y_enc[sub], None if sw is None else sw[sub]
            # Sampling noise of the subsample's gradient is ~1/sqrt(rows): solving it tighter than 1e-3 buys nothing.
            w0, _, _ = self._solve_lbfgs(Xs, ys, sws, w0, kind, None, None, None, max_iter, max(self.tol, 1e-3))
            m_h = min(len(sub), max(_HESSIAN_ROWS[0], min(10 * w0.size, _HESSIAN_ROWS[1])))
            # Random rows of the (sorted) subsample: a prefix would follow the data's order (e.g. sorted by class).
            pick = rng.choice(len(sub), size=m_h, replace=False)
            H, wsum = data_hessian(w0, Xs[pick], ys[pick], kind=kind, fit_intercept=fi,
                                   sample_weight=None if sws is None else sws[pick])
            H /= wsum
            diag = np.arange(H.shape[0])
            coef_mask = (diag // (H.shape[0] // (d + int(fi)))) < d  # packed order: coefficient rows, then intercept
            H[diag[coef_mask], diag[coef_mask]] += alpha_l2
            H[diag, diag] += 1e-8 * max(float(np.abs(np.diag(H)).max()), 1e-12)
            try:
                precond = np.linalg.cholesky(H)
            except np.linalg.LinAlgError:
                precond = None
        curve: list[float] = []
        best: dict[str, Any] = {"loss": np.inf, "w": None, "since": 0}

        def smooth(w: np.ndarray) -> tuple[float, np.ndarray]:
            return loss_grad(w, X, y_enc, kind=kind, fit_intercept=fi, sample_weight=sw, alpha_l2=alpha_l2)

        if alpha_l1 > 0:
            # L1 by splitting w = w⁺ - w⁻ with w± >= 0 (L-BFGS-B bounds): smooth and exact; intercepts unbounded.
            m = w0.size
            pen_mask = np.ones((d + int(fi), m // (d + int(fi))))
            if fi:
                pen_mask[d] = 0.0
            pen_mask = pen_mask.ravel()

            def fun(v: np.ndarray) -> tuple[float, np.ndarray]:
                w = v[:m] - v[m:]
                f, g = smooth(w)
                f += alpha_l1 * float(pen_mask @ (v[:m] + v[m:]))
                return f, np.concatenate([g + alpha_l1 * pen_mask, -g + alpha_l1 * pen_mask])

            x0 = np.concatenate([np.maximum(w0, 0), np.maximum(-w0, 0)])
            bounds = [(0, None) if p else (None, None) for p in np.concatenate([pen_mask, pen_mask])]

            def unpack(v: np.ndarray) -> np.ndarray:
                return v[:m] - v[m:]
        elif precond is not None:
            from scipy.linalg import solve_triangular

            L = precond

            def unpack(v: np.ndarray) -> np.ndarray:
                return solve_triangular(L, v, lower=True, trans="T")

            def fun(v: np.ndarray) -> tuple[float, np.ndarray]:
                f, g = smooth(unpack(v))
                return f, solve_triangular(L, g, lower=True)

            x0, bounds = L.T @ w0, None
        else:
            fun, x0, bounds = smooth, w0, None

            def unpack(v: np.ndarray) -> np.ndarray:
                return v

        def callback(intermediate_result: optimize.OptimizeResult) -> None:
            curve.append(float(intermediate_result.fun))
            if X_val is not None:
                w = unpack(intermediate_result.x)
                vl = self._val_loss(w, X_val, y_val, sw_val, kind)
                if vl < best["loss"] - self.tol:
                    best.update(loss=vl, w=w.copy(), since=0)
                else:
                    best["since"] += 1
                    if best["since"] >= self.n_iter_no_change:
                        raise StopIteration

        res = optimize.minimize(
            fun, x0, jac=True, method="L-BFGS-B", bounds=bounds, callback=callback,
            options={"maxiter": max_iter, "gtol": self.tol if tol is None else tol, "ftol": 64 * np.finfo(float).eps,
                     "maxcor": 20},
        )
        w = unpack(res.x)
        if X_val is not None and best["w"] is not None and best["since"] >= self.n_iter_no_change:
            w = best["w"]
        elif res.status == 1 and X_val is None:
            import warnings

            warnings.warn(
                f"{type(self).__name__}: L-BFGS did not converge in max_iter={max_iter} iterations "
                f"(gradient norm above tol={self.tol}); raise max_iter or scale the features",
                ConvergenceWarning, stacklevel=4,
            )
        if not curve:
            curve.append(float(res.fun))
        return w, max(int(res.nit), 1), curve

    def _solve_first_order(self, X, y_enc, sw, w0, kind, X_val, y_val, sw_val, max_iter, optimizer):
        import warnings

        n, d = X.shape
        fi = self.fit_intercept
        alpha_l2, alpha_l1 = self._alphas()
        lr = float(self.learning_rate)
        rng = np.random.default_rng(self.random_state)
        state = getattr(self, "_opt_state", None) or {}
        vel = state.get("vel", np.zeros_like(w0))
        m1 = state.get("m1", np.zeros_like(w0))
        m2 = state.get("m2", np.zeros_like(w0))
        t = int(state.get("t", 0))
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        w = w0.copy()
        batch = n if self.batch_size is None else min(int(self.batch_size), n)
        curve: list[float] = []
        best_loss, best_w, since = np.inf, w.copy(), 0
        epochs = 0
        for epoch in range(max_iter):
            epochs = epoch + 1
            order = rng.permutation(n) if batch < n else None
            epoch_loss = 0.0
            epoch_weight = 0.0
            gmax = 0.0
            for start in range(0, n, batch):
                if order is None:
                    Xb, yb, swb = X, y_enc, sw
                else:
                    idx = order[start:start + batch]
                    Xb, yb, swb = X[idx], y_enc[idx], None if sw is None else sw[idx]
                s, g, nb = data_loss_grad(w, Xb, yb, kind=kind, fit_intercept=fi, sample_weight=swb)
                f, g = penalized_loss_grad(w, s, g, nb, n_features=d, fit_intercept=fi, alpha_l2=alpha_l2)
                epoch_loss += f * nb
                epoch_weight += nb
                gmax = max(gmax, float(np.abs(g).max()))
                t += 1
                if optimizer == "gd":
                    step = lr * g
                    thresh: float | np.ndarray = lr * alpha_l1
                elif optimizer == "momentum":
                    vel = self.momentum * vel - lr * g
                    step = -vel
                    thresh = lr * alpha_l1
                else:  # adam
                    m1 = beta1 * m1 + (1 - beta1) * g
                    m2 = beta2 * m2 + (1 - beta2) * g * g
                    mhat = m1 / (1 - beta1**t)
                    vhat = m2 / (1 - beta2**t)
                    denom = np.sqrt(vhat) + eps
                    step = lr * mhat / denom
                    thresh = lr * alpha_l1 / denom  # per-coordinate prox matches Adam's scaled step
                w -= step
                if alpha_l1 > 0:
                    _soft_threshold(w, thresh, d, fi)
            mean_loss = epoch_loss / max(epoch_weight, 1e-300)
            # Diverging: non-finite, or the loss has grown a million-fold over the first epoch's (GD only grows the
            # loss like that when the step is too large for the curvature).
            if not np.isfinite(mean_loss) or not np.all(np.isfinite(w)) or (
                    curve and mean_loss > 1e6 * max(curve[0], 1e-12)):
                msg = (f"{type(self).__name__}: the loss diverged at iteration {epochs} with {optimizer} "
                       f"(learning_rate={lr}); lower learning_rate or scale the features first")
                raise ModelError(msg)
            if alpha_l1 > 0:
                rows, k = _shape(w, d, fi)
                mean_loss += alpha_l1 * float(np.abs(w.reshape(rows, k)[:d]).sum())
            curve.append(mean_loss)
            if self.verbose:
                print(f"iteration {epochs}: loss {mean_loss:.6f}")
            monitored = mean_loss if X_val is None else self._val_loss(w, X_val, y_val, sw_val, kind)
            if monitored < best_loss - self.tol:
                best_loss, best_w, since = monitored, w.copy(), 0
            else:
                since += 1
            if X_val is not None and since >= self.n_iter_no_change:
                w = best_w
                break
            # Full batch: a small gradient means converged; mini-batch: the epoch loss stopped improving.
            if X_val is None and batch == n and alpha_l1 == 0 and gmax <= self.tol:
                break
            if X_val is None and since >= self.n_iter_no_change:
                break
        else:
            if X_val is None and max_iter > 1:
                warnings.warn(
                    f"{type(self).__name__}: {optimizer} stopped at max_iter={max_iter} before converging "
                    f"(tol={self.tol}); raise max_iter or learning_rate",
                    ConvergenceWarning, stacklevel=4,
                )
        self._opt_state = {"vel": vel, "m1": m1, "m2": m2, "t": t}
        return w, epochs, curve

    # ------------------------------------------------------------------------------------------- fitting
    def _fit_encoded(self, X: np.ndarray, y_enc: np.ndarray, sw: np.ndarray | None, k: int, kind: Kind,
                     stratify: np.ndarray | None) -> None:
        start = time.perf_counter()
        d = X.shape[1]
        w0 = np.zeros((d + int(self.fit_intercept)) * k)
        if self.fit_intercept and kind == "squared":
            w0[-1] = float(np.average(y_enc, weights=sw))
        self._opt_state = {}
        X_val = y_val = sw_val = None
        if self.early_stopping:
            from sklearn.model_selection import train_test_split

            idx = np.arange(X.shape[0])
            n_val = max(round(self.validation_fraction * len(idx)), 1)
            if n_val >= len(idx):
                msg = f"{type(self).__name__}: too few rows ({len(idx)}) for early_stopping with a validation split"
                raise ModelError(msg)
            strat = stratify
            if strat is not None and (np.unique(strat, return_counts=True)[1].min() < 2 or n_val < k):
                strat = None
            tr, va = train_test_split(idx, test_size=n_val, random_state=self.random_state, stratify=strat)
            X, X_val = X[tr], X[va]
            y_enc, y_val = y_enc[tr], y_enc[va]
            if sw is not None:
                sw, sw_val = sw[tr], sw[va]
        w, n_iter, curve = self._solve(X, y_enc, sw, w0, kind=kind, X_val=X_val, y_val=y_val, sw_val=sw_val)
        self._set_weights(w, d, k)
        self.n_iter_ = n_iter
        self.loss_curve_ = curve
        self.fit_seconds_ = time.perf_counter() - start

    def _set_weights(self, w: np.ndarray, d: int, k: int) -> None:
        W = w.reshape(d + int(self.fit_intercept), k)
        self.coef_ = np.ascontiguousarray(W[:d].T)
        self.intercept_ = W[d].copy() if self.fit_intercept else np.zeros(k)

    def _packed(self) -> np.ndarray:
        W = self.coef_.T
        if self.fit_intercept:
            W = np.vstack([W, self.intercept_[None, :]])
        return np.ascontiguousarray(W).ravel()

    def _scores(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self._scores_unchecked(X)

    def _scores_unchecked(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X @ self.coef_.T.astype(X.dtype, copy=False), dtype=np.float64) + self.intercept_

    def _takes_unchecked(self, X: Any) -> bool:
        """Would ``validate_data`` accept ``X`` as it is? (float64 matrix of the fitted width, all finite, fitted on
        unnamed columns.) Then the prediction fast path skips it; anything else goes through the checks."""
        return (isinstance(X, np.ndarray) and X.dtype == np.float64 and X.ndim == 2 and X.shape[0] > 0
                and hasattr(self, "coef_") and not hasattr(self, "feature_names_in_")
                and X.shape[1] == self.n_features_in_ and bool(np.isfinite(X).all()))

    # ------------------------------------------------------------------------------------------- persistence
    def _to_payload(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Everything a fitted model is, as JSON (no pickle): parameters and learned values."""
        check_is_fitted(self, "coef_")
        params = self.get_params()
        if isinstance(params.get("class_weight"), dict):
            params["class_weight"] = {"keys": _labels_json(np.asarray(list(params["class_weight"]))),
                                      "values": [float(v) for v in params["class_weight"].values()]}
        doc: dict[str, Any] = {
            "params": params,
            "coef": np.asarray(self.coef_).tolist(),
            "intercept": np.asarray(self.intercept_).tolist(),
            "n_features_in": int(self.n_features_in_),
            "n_iter": int(self.n_iter_),
            "loss_curve": [float(v) for v in self.loss_curve_],
        }
        if hasattr(self, "feature_names_in_"):
            doc["feature_names_in"] = [str(v) for v in self.feature_names_in_]
        if hasattr(self, "classes_"):
            doc["classes"] = _labels_json(self.classes_)
        return doc, {}

    @classmethod
    def _from_payload(cls, doc: dict[str, Any], arrays: dict[str, np.ndarray]) -> _LinearGD:
        params = dict(doc["params"])
        if isinstance(params.get("class_weight"), dict):
            cw = params["class_weight"]
            params["class_weight"] = dict(zip(_labels_unjson(cw["keys"]).tolist(), cw["values"], strict=True))
        est = cls(**params)
        est.coef_ = np.asarray(doc["coef"], dtype=np.float64)
        intercept = np.asarray(doc["intercept"], dtype=np.float64)
        est.intercept_ = float(intercept) if intercept.ndim == 0 else intercept
        est.n_features_in_ = int(doc["n_features_in"])
        est.n_iter_ = int(doc["n_iter"])
        est.loss_curve_ = list(doc["loss_curve"])
        if "feature_names_in" in doc:
            est.feature_names_in_ = np.asarray(doc["feature_names_in"], dtype=object)
        if "classes" in doc:
            est.classes_ = _labels_unjson(doc["classes"])
        return est


def _labels_json(values: np.ndarray) -> dict[str, Any]:
    return {"values": values.tolist(), "dtype": values.dtype.str}


def _labels_unjson(obj: dict[str, Any]) -> np.ndarray:
    return np.asarray(obj["values"], dtype=np.dtype(obj["dtype"]))


class LogisticRegressionGD(ClassifierMixin, _LinearGD):
    """Logistic (two classes) / softmax (k classes) regression trained by gradient descent on the cross-entropy.

    Args:
        learning_rate: step size α of the ``"gd"``, ``"momentum"`` and ``"adam"`` optimizers.
        max_iter: iterations T (epochs for the first-order optimizers, L-BFGS iterations for ``"lbfgs"``).
        random_state: seed for mini-batch shuffling, the validation split and the large-data warm start.
        alpha: penalty strength; the objective is ``mean cross-entropy + alpha * penalty``. scikit-learn's
            ``LogisticRegression(C=c)`` on ``n`` rows equals ``alpha = 1 / (c * n)`` with ``penalty="l2"``.
        penalty: ``"l2"`` (``½||w||²``), ``"l1"``, ``"elasticnet"`` (``l1_ratio`` mixes them) or ``None``.
        optimizer: ``"lbfgs"`` (default: fast and tuning-free), ``"gd"`` (the seed's plain gradient descent),
            ``"momentum"`` or ``"adam"``.
        batch_size: ``None`` for full-batch, else mini-batches of this many rows (first-order optimizers).
        class_weight: ``None``, ``"balanced"`` or a dict ``{class: weight}``.
        tol: stop when the largest gradient component (or the epoch loss improvement) is below this.
        early_stopping: hold out ``validation_fraction`` of the rows (stratified) and stop when the validation
            loss has not improved by ``tol`` for ``n_iter_no_change`` iterations; the best weights are kept.
        dtype: ``"float32"`` runs the matrix products in single precision (half the memory, about twice as fast).

    Fitted attributes: ``classes_``, ``coef_`` (``1 × d`` for two classes, ``k × d`` otherwise), ``intercept_``,
    ``n_iter_``, ``loss_curve_`` (objective per iteration), ``n_features_in_``.

    ``partial_fit`` runs one epoch of the first-order optimizer on a batch (``"lbfgs"`` uses Adam there, since
    a quasi-Newton memory does not carry over between batches); pass ``classes`` on the first call.

    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegressionGD(alpha=1e-3).fit(X, y)
    >>> clf.coef_.shape, round(clf.score(X, y), 2) >= 0.95
    ((3, 4), True)
    """

    def __init__(
        self,
        *,
        learning_rate: float = 0.1,
        max_iter: int = 1000,
        random_state: int | None = 0,
        alpha: float = 1e-4,
        penalty: Literal["l2", "l1", "elasticnet"] | None = "l2",
        l1_ratio: float = 0.15,
        optimizer: Literal["gd", "momentum", "adam", "lbfgs"] = "lbfgs",
        batch_size: int | None = None,
        class_weight: dict[Any, float] | Literal["balanced"] | None = None,
        tol: float = 1e-4,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 5,
        fit_intercept: bool = True,
        dtype: Literal["float64", "float32"] = "float64",
        momentum: float = 0.9,
        verbose: int = 0,
    ) -> None:
        super().__init__(
            learning_rate=learning_rate, max_iter=max_iter, random_state=random_state, alpha=alpha,
            penalty=penalty, l1_ratio=l1_ratio, optimizer=optimizer, batch_size=batch_size, tol=tol,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change, fit_intercept=fit_intercept, dtype=dtype, momentum=momentum,
            verbose=verbose,
        )
        self.class_weight = class_weight

    def _encode(self, y: np.ndarray) -> tuple[np.ndarray, int, Kind]:
        idx = np.searchsorted(self.classes_, y)
        idx = np.clip(idx, 0, len(self.classes_) - 1)
        if np.any(self.classes_[idx] != y):
            unknown = np.setdiff1d(np.unique(y), self.classes_)
            msg = f"{type(self).__name__}: labels {unknown[:5].tolist()} are not among classes {self.classes_.tolist()}"
            raise ModelError(msg)
        if len(self.classes_) == 2:
            return idx.astype(np.float64), 1, "logistic"
        return idx.astype(np.intp), len(self.classes_), "multinomial"

    def _weights(self, y: np.ndarray, sample_weight: Any, X: np.ndarray) -> np.ndarray | None:
        sw = None if sample_weight is None else _check_sample_weight(sample_weight, X, dtype=np.float64)
        if self.class_weight is not None:
            if isinstance(self.class_weight, dict):
                missing = [c for c in self.class_weight if c not in set(self.classes_.tolist())]
                if missing:
                    msg = (f"{type(self).__name__}: class_weight names classes {missing} that are not in the data "
                           f"(classes: {self.classes_.tolist()})")
                    raise SpecError(msg)
            cw = compute_sample_weight(self.class_weight, y)
            sw = cw if sw is None else sw * cw
        return sw

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> LogisticRegressionGD:
        """Fit on ``X`` (``n × d`` numbers) and class labels ``y`` (strings or integers); returns ``self``."""
        self._check_params()
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            msg = (f"{type(self).__name__}: the target has only one class ({self.classes_.tolist()}); "
                   "a classifier needs at least 2 classes")
            raise ModelError(msg)
        sw = self._weights(y, sample_weight, X)
        y_enc, k, kind = self._encode(y)
        self._fit_encoded(self._prepare_X(X), y_enc, sw, k, kind, stratify=y_enc)
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None) -> LogisticRegressionGD:
        """One epoch of updates on this batch; ``classes`` (all labels) is required on the first call."""
        self._check_params()
        first = not hasattr(self, "classes_")
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], reset=first)
        check_classification_targets(y)
        if first:
            if classes is None:
                msg = f"{type(self).__name__}.partial_fit: pass classes=[...] (every label) on the first call"
                raise SpecError(msg)
            self.classes_ = np.unique(np.asarray(classes))
            if len(self.classes_) < 2:
                msg = f"{type(self).__name__}.partial_fit: classes must hold at least 2 labels"
                raise SpecError(msg)
        sw = self._weights(y, sample_weight, X) if self.class_weight != "balanced" else (
            None if sample_weight is None else _check_sample_weight(sample_weight, X, dtype=np.float64))
        y_enc, k, kind = self._encode(y)
        d = X.shape[1]
        w0 = np.zeros((d + int(self.fit_intercept)) * k) if first else self._packed()
        if first:
            self._opt_state = {}
            self.loss_curve_ = []
            self.n_iter_ = 0
        opt = "adam" if self.optimizer == "lbfgs" else self.optimizer
        w, n_iter, curve = self._solve(self._prepare_X(X), y_enc, sw, w0, kind=kind, max_iter=1, optimizer=opt)
        self._set_weights(w, d, k)
        self.n_iter_ += n_iter
        self.loss_curve_ = [*self.loss_curve_, *curve]
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Linear scores: shape ``(n,)`` for two classes, ``(n, k)`` otherwise."""
        Z = self._scores(X)
        return Z[:, 0] if Z.shape[1] == 1 else Z

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_`` (sigmoid or softmax)."""
        return self._proba_from_scores(self._scores(X))

    @staticmethod
    def _proba_from_scores(Z: np.ndarray) -> np.ndarray:
        if Z.shape[1] == 1:
            p = expit(Z[:, 0])
            return np.column_stack([1.0 - p, p])
        Z -= Z.max(axis=1, keepdims=True)
        np.exp(Z, out=Z)
        Z /= Z.sum(axis=1, keepdims=True)
        return Z

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Natural log of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class for each row."""
        Z = self._scores(X)  # checks first (NotFittedError before classes_ is read)
        return self.classes_[self._label_index(Z)]

    @staticmethod
    def _label_index(Z: np.ndarray) -> np.ndarray:
        return (Z[:, 0] > 0).astype(np.intp) if Z.shape[1] == 1 else Z.argmax(axis=1)

    def _predict_label_proba(self, X: Any) -> tuple[np.ndarray, np.ndarray] | None:
        """``(predict(X), predict_proba(X))`` from one score computation, for a matrix that needs no checking;
        None when ``X`` needs the public methods' checks (the caller then uses them)."""
        if not self._takes_unchecked(X):
            return None
        Z = self._scores_unchecked(X)
        labels = self.classes_[self._label_index(Z)]  # before the softmax below, which works in place on Z
        return labels, self._proba_from_scores(Z)


class LinearRegressionGD(RegressorMixin, _LinearGD):
    """Linear regression trained by gradient descent on half the mean squared error (the classifier's sibling).

    Takes the same parameters as :class:`LogisticRegressionGD` (no ``class_weight``). The objective is
    ``½·mean((Xw + b - y)²) + alpha * penalty``; scikit-learn's ``Ridge(alpha=a)`` on ``n`` rows equals
    ``alpha = a / n`` here with ``penalty="l2"``.

    >>> X = np.arange(20.0).reshape(10, 2); y = X @ [1.0, -2.0] + 3.0
    >>> reg = LinearRegressionGD(alpha=0.0, tol=1e-10).fit(X, y)
    >>> bool(np.allclose(reg.predict(X), y, atol=1e-4))
    True
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> LinearRegressionGD:
        """Fit on ``X`` (``n × d`` numbers) and numeric ``y``; returns ``self``."""
        self._check_params()
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], y_numeric=True)
        y = np.asarray(y, dtype=np.float64)
        sw = None if sample_weight is None else _check_sample_weight(sample_weight, X, dtype=np.float64)
        self._fit_encoded(self._prepare_X(X), y, sw, 1, "squared", stratify=None)
        self.coef_ = self.coef_[0]
        self.intercept_ = float(self.intercept_[0])
        return self

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> LinearRegressionGD:
        """One epoch of updates on this batch (``"lbfgs"`` uses Adam for streams)."""
        self._check_params()
        first = not hasattr(self, "coef_")
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], y_numeric=True, reset=first)
        y = np.asarray(y, dtype=np.float64)
        sw = None if sample_weight is None else _check_sample_weight(sample_weight, X, dtype=np.float64)
        d = X.shape[1]
        if first:
            w0 = np.zeros(d + int(self.fit_intercept))
            self._opt_state = {}
            self.loss_curve_ = []
            self.n_iter_ = 0
        else:
            w0 = np.append(self.coef_, self.intercept_) if self.fit_intercept else self.coef_.copy()
        opt = "adam" if self.optimizer == "lbfgs" else self.optimizer
        w, n_iter, curve = self._solve(self._prepare_X(X), y, sw, w0, kind="squared", max_iter=1, optimizer=opt)
        self._set_weights(w, d, 1)
        self.coef_ = self.coef_[0]
        self.intercept_ = float(self.intercept_[0])
        self.n_iter_ += n_iter
        self.loss_curve_ = [*self.loss_curve_, *curve]
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values, shape ``(n,)``."""
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self._values_unchecked(X)

    def _values_unchecked(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X @ self.coef_.astype(X.dtype, copy=False), dtype=np.float64) + self.intercept_

    def _predict_unchecked(self, X: Any) -> np.ndarray | None:
        """:meth:`predict` for a matrix that needs no checking; None when ``X`` needs them (then call predict)."""
        return self._values_unchecked(X) if self._takes_unchecked(X) else None
