"""Every model in the table keeps assay's model contract (check_model) and the table itself is consistent."""

from __future__ import annotations

import pytest

from assay.exceptions import SpecError
from assay.models import MODEL_TASKS, MODELS, default_models, make_model
from assay.testing import check_model

FAST_PARAMS = {"rf": {"n_estimators": 20}, "lgbm": {"n_estimators": 30}}
CASES = [(name, task) for name, tasks in MODEL_TASKS.items() for task in tasks
         if task in ("classification", "regression", "clustering", "anomaly")]


@pytest.mark.parametrize(("name", "task"), CASES, ids=[f"{n}-{t}" for n, t in CASES])
def test_check_model(name: str, task: str) -> None:
    check_model(make_model(name, task, seed=1, **FAST_PARAMS.get(name, {})), task)


def test_table_is_consistent() -> None:
    assert set(MODELS) == set(MODEL_TASKS)
    for task in ("classification", "regression", "clustering"):
        for name in default_models(task):
            assert task in MODEL_TASKS[name]


def test_unknown_model_lists_valid_names() -> None:
    with pytest.raises(SpecError, match=r"did you mean 'lgbm'\?.*valid: logreg, lgbm, rf"):
        make_model("lgb", "classification")
    with pytest.raises(SpecError, match="unknown task"):
        make_model("logreg", "classify")
    with pytest.raises(SpecError, match="invalid parameter"):
        make_model("logreg", "classification", no_such_param=1)


def test_seed_reaches_the_estimator() -> None:
    assert make_model("rf", "regression", seed=7).random_state == 7
    assert make_model("logreg", "classification", seed=7).random_state == 7


def test_payloads_are_audited_on_load(tmp_path: object) -> None:
    import json
    from pathlib import Path

    from assay.exceptions import ArtifactError
    from assay.models import load_estimator, save_estimator
    from assay.testing._models import model_check_data

    X, y = model_check_data("regression")
    est = make_model("rf", "regression", n_estimators=5).fit(X, y)
    directory = Path(str(tmp_path))
    meta = save_estimator(est, directory)
    assert meta["format"] == "skops"
    with pytest.raises(ArtifactError, match="newer than this assay reads"):
        load_estimator(directory, {**meta, "payload_version": 99})
    with pytest.raises(ArtifactError, match="unknown format"):
        load_estimator(directory, {**meta, "format": "pickle"})
    linear = make_model("linreg", "regression").fit(X, y)
    meta = save_estimator(linear, directory / "linear")
    doc = json.loads((directory / "linear" / "model.json").read_text())
    assert set(doc) >= {"params", "coef", "intercept"}
    with pytest.raises(ArtifactError, match="not an assay or LightGBM class"):
        load_estimator(directory / "linear", {**meta, "class": "os:system"})
    (directory / "linear" / "model.json").unlink()
    with pytest.raises(ArtifactError, match=r"incomplete: model\.json is missing"):
        load_estimator(directory / "linear", meta)
