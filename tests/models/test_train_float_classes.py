"""Targets as files hold them: 1.0/0.0 floats (whole numbers beside a missing value) and blank text are read right."""

from __future__ import annotations

import numpy as np
import polars as pl

from assay.pipeline import infer_task, train


def _float_labels(rows: int = 200) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=rows)
    y = (x + rng.normal(0, 0.5, rows) > 0).astype(float)
    y[:5] = np.nan
    return pl.DataFrame({"x": x, "z": rng.normal(size=rows), "survived": y})


def test_whole_number_floats_are_inferred_as_classes():
    assert infer_task(pl.Series([1.0, 0.0, 1.0, 1.0, 0.0] * 10)) == "classification"
    assert infer_task(pl.Series([1.5, 0.0, 1.0, 2.0, 0.5, 0.25])) == "regression"


def test_train_on_a_float_zero_one_target_classifies_with_whole_classes():
    result = train(_float_labels(), "survived", models=["logreg"], report=False)
    assert result.task == "classification"
    assert result.model.classes == [0, 1]
    assert any("whole numbers written with decimals" in n for n in result.notes)


def test_blank_text_in_a_target_is_missing_not_a_class():
    rng = np.random.default_rng(3)
    x = rng.normal(size=300)
    rating = np.where(x > 0.5, "R", np.where(x > -0.5, "PG", ""))  # the unrated rows are blank, as in movies' mpaa
    rating[:3] = "  "
    result = train(pl.DataFrame({"x": x, "mpaa": rating}), "mpaa", models=["logreg"], report=False)
    assert result.model.classes == ["PG", "R"]
    blank = int((rating == "").sum()) + 3
    assert any(
        f"dropped {blank} row(s) whose target 'mpaa' is missing ({blank} of them blank text)" in n for n in result.notes
    )
