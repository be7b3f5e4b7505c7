"""assay's gradient-descent linear models: same solutions as scikit-learn at equal penalty, every optimizer and
option works, the summable loss/gradient is right, and penguins are classified well end to end."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from sklearn.datasets import load_iris, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso, LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler

from assay.exceptions import ModelError, SpecError
from assay.models import LinearRegressionGD, LogisticRegressionGD, data_hessian, data_loss_grad, loss_grad


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize("binary", [True, False])
def test_logistic_matches_sklearn_at_equal_penalty(iris: tuple[np.ndarray, np.ndarray], binary: bool) -> None:
    X, y = iris
    if binary:
        y = (y == 2).astype(int)
    C = 0.5
    ours = LogisticRegressionGD(alpha=1.0 / (C * len(y)), tol=1e-10).fit(X, y)
    ref = LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=2e-5)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=2e-5)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-6)


def test_linear_regression_matches_ridge_and_lasso() -> None:
    X, y = make_regression(n_samples=200, n_features=6, noise=5.0, random_state=0)
    ours = LinearRegressionGD(alpha=3.0 / len(y), tol=1e-10).fit(X, y)
    ref = Ridge(alpha=3.0).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-5)
    assert ours.intercept_ == pytest.approx(ref.intercept_, abs=1e-4)
    lasso = LinearRegressionGD(alpha=0.5, penalty="l1", tol=1e-10).fit(X, y)
    np.testing.assert_allclose(lasso.coef_, Lasso(alpha=0.5, tol=1e-12).fit(X, y).coef_, atol=1e-3)


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "adam"])
def test_first_order_optimizers_reach_the_lbfgs_solution(iris: tuple[np.ndarray, np.ndarray], optimizer: str) -> None:
    X, y = iris
    exact = LogisticRegressionGD(alpha=1e-2, tol=1e-10).fit(X, y)
    lr = {"gd": 1.0, "momentum": 0.3, "adam": 0.05}[optimizer]
    est = LogisticRegressionGD(alpha=1e-2, optimizer=optimizer, learning_rate=lr, max_iter=20_000, tol=1e-7,
                               n_iter_no_change=50).fit(X, y)
    assert est.loss_curve_[-1] == pytest.approx(exact.loss_curve_[-1], rel=1e-3)
    assert est.loss_curve_[0] > est.loss_curve_[-1]
    assert est.score(X, y) == pytest.approx(exact.score(X, y), abs=0.02)


def test_mini_batch_partial_fit_class_weight_and_float32() -> None:
    X, y = make_classification(n_samples=2000, n_features=8, weights=[0.9, 0.1], random_state=1)
    mini = LogisticRegressionGD(optimizer="adam", batch_size=64, learning_rate=0.01, max_iter=50).fit(X, y)
    assert mini.score(X, y) > 0.9
    stream = LogisticRegressionGD(optimizer="adam", learning_rate=0.01)
    for chunk in np.array_split(np.arange(len(y)), 20):
        stream.partial_fit(X[chunk], y[chunk], classes=[0, 1])
    assert stream.n_iter_ == 20
    assert stream.score(X, y) > 0.85
    plain = LogisticRegressionGD().fit(X, y)
    balanced = LogisticRegressionGD(class_weight="balanced").fit(X, y)
    assert (balanced.predict(X) == 1).sum() > (plain.predict(X) == 1).sum()
    f32 = LogisticRegressionGD(dtype="float32").fit(X, y)
    np.testing.assert_allclose(f32.coef_, plain.coef_, atol=1e-3)
    with pytest.raises(SpecError, match="classes="):
        LogisticRegressionGD().partial_fit(X[:10], y[:10])


def test_l1_gives_sparse_coefficients_and_early_stopping_stops() -> None:
    X, y = make_classification(n_samples=600, n_features=30, n_informative=3, n_redundant=0, random_state=0)
    sparse = LogisticRegressionGD(penalty="l1", alpha=0.02).fit(X, y)
    assert (np.abs(sparse.coef_) < 1e-8).sum() >= 20
    prox = LogisticRegressionGD(penalty="l1", alpha=0.02, optimizer="gd", learning_rate=0.5, max_iter=3000,
                                tol=1e-9, n_iter_no_change=30).fit(X, y)
    np.testing.assert_allclose(prox.coef_, sparse.coef_, atol=5e-3)
    early = LogisticRegressionGD(optimizer="gd", learning_rate=0.5, max_iter=5000, early_stopping=True,
                                 n_iter_no_change=3, tol=1e-3).fit(X, y)
    assert early.n_iter_ < 5000


def test_loss_and_gradient_are_exact_and_additive_over_partitions() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = rng.integers(0, 3, 60)
    w = rng.normal(size=15) * 0.3
    _, g = loss_grad(w, X, y, kind="multinomial", alpha_l2=0.1)
    numeric = approx_fprime(w, lambda v: loss_grad(v, X, y, kind="multinomial", alpha_l2=0.1)[0], 1e-7)
    np.testing.assert_allclose(g, numeric, atol=1e-5)
    parts = [data_loss_grad(w, X[s], y[s], kind="multinomial") for s in (slice(0, 25), slice(25, 60))]
    whole = data_loss_grad(w, X, y, kind="multinomial")
    assert sum(p[0] for p in parts) == pytest.approx(whole[0])
    np.testing.assert_allclose(sum(p[1] for p in parts), whole[1])
    H, n = data_hessian(w, X, y, kind="multinomial")
    numeric_h = np.array([approx_fprime(w, lambda v, i=i: loss_grad(v, X, y, kind="multinomial")[1][i], 1e-6)
                          for i in range(15)])
    np.testing.assert_allclose(H / n, numeric_h, atol=1e-4)


def test_large_data_path_matches_plain_lbfgs(monkeypatch: pytest.MonkeyPatch) -> None:
    import assay.models._linear as lin

    X, y = make_classification(n_samples=6000, n_features=10, n_classes=3, n_informative=6, random_state=0)
    order = np.argsort(y, kind="stable")  # rows sorted by class: subsamples must not follow the row order
    X, y = X[order], y[order]
    plain = LogisticRegressionGD(alpha=1e-3, tol=1e-8).fit(X, y)
    monkeypatch.setattr(lin, "_WARM_START_ROWS", 1000)  # force subsample warm start + preconditioning
    monkeypatch.setattr(lin, "_WARM_START_MIN_ROWS", 1000)
    fast = LogisticRegressionGD(alpha=1e-3, tol=1e-8).fit(X, y)
    assert fast.loss_curve_[-1] == pytest.approx(plain.loss_curve_[-1], rel=1e-7)
    np.testing.assert_allclose(fast.coef_, plain.coef_, atol=1e-4)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 5 iterations are enough to look
@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_objective_runs_on_one_blas_thread(monkeypatch: pytest.MonkeyPatch, optimizer: str) -> None:
    # OpenBLAS threads spin-wait: on a busy 2-core machine two threads made these skinny products 3-20x slower.
    import threadpoolctl

    import assay.models._linear as lin

    seen: list[int] = []
    original = lin.data_loss_grad

    def counting(*args, **kwargs):
        seen.extend(i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas")
        return original(*args, **kwargs)

    monkeypatch.setattr(lin, "data_loss_grad", counting)
    X, y = make_classification(n_samples=30_000, n_features=10, n_classes=3, n_informative=6, random_state=0)
    LogisticRegressionGD(optimizer=optimizer, max_iter=5).fit(X, y)
    assert seen
    assert set(seen) == {1}


def test_clear_errors() -> None:
    X = np.array([[1e6], [2e6], [3e6], [4e6]])
    with pytest.raises(ModelError, match=r"diverged.*lower learning_rate"):
        LinearRegressionGD(optimizer="gd", learning_rate=1.0).fit(X, [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ModelError, match="only one class"):
        LogisticRegressionGD().fit([[0.0], [1.0]], ["a", "a"])
    with pytest.warns(ConvergenceWarning, match="raise max_iter"):
        LogisticRegressionGD(optimizer="gd", max_iter=2).fit([[0.0], [1.0], [2.0]], [0, 1, 1])


def test_penguins_end_to_end_accuracy() -> None:
    import polars as pl
    from palmerpenguins import load_penguins

    from assay.evaluate import holdout_indices, score

    frame = pl.from_pandas(load_penguins()).drop_nulls()
    numeric = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    X = frame.select(numeric).to_numpy().astype(float)
    y = frame["species"].to_numpy()
    tr, te = holdout_indices(y, task="classification", test_size=0.3, seed=0)
    scaler = StandardScaler().fit(X[tr])
    model = LogisticRegressionGD().fit(scaler.transform(X[tr]), y[tr])
    result = score("classification", y[te], model.predict(scaler.transform(X[te])))
    assert result["accuracy"] > 0.95
