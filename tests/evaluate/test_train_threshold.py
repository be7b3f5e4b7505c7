"""`--threshold` on targets it cannot tune: refused before any model is fitted."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from assay.exceptions import SpecError
from assay.pipeline import train


def _three_classes(rows: int = 90) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    return pl.DataFrame({"x": rng.normal(size=rows), "kind": ["a", "b", "c"] * (rows // 3)})


def test_threshold_on_three_classes_is_refused_before_the_folds():
    said: list[str] = []
    with pytest.raises(SpecError, match=r"binary classifier; this is classification with 3 classes"):
        train(
            _three_classes(),
            "kind",
            models=["logreg"],
            threshold="f1",
            report=False,
            progress=lambda message, _share: said.append(message),
        )
    assert not [m for m in said if m.startswith("fold")]


def test_an_unreadable_threshold_is_refused_before_the_folds():
    said: list[str] = []
    with pytest.raises(SpecError, match=r"cannot read --threshold 'f2'"):
        train(
            _three_classes(),
            "kind",
            models=["logreg"],
            threshold="f2",
            report=False,
            progress=lambda message, _share: said.append(message),
        )
    assert not [m for m in said if m.startswith("fold")]
