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
