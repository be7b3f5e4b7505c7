"""Options out of range are refused with one line naming the option, before any work: they ran on without a word
(k=0 nearest neighbours, a sample of 0 values, a negative smoothing) or failed deep in the fit with a traceback."""

from __future__ import annotations

import polars as pl
import pytest

from assay.clean import ClusterStep, MissingStep, OneHotEncoder, OutlierStep, ScaleStep, TargetEncoder
from assay.clean._registry import make_step
from assay.exceptions import SpecError


@pytest.fixture
def frame() -> pl.DataFrame:
    return pl.DataFrame({"x": [1.0, None, 3.0, 4.0, 50.0, 6.0], "g": ["a", "b", "a", "b", "a", "c"],
                         "y": [0, 1, 0, 1, 0, 1]})


@pytest.mark.parametrize(("step", "match"), [
    (MissingStep(strategy="knn", k=0), r"k=0 must be at least 1"),
    (MissingStep(strategy="knn", sample_size=0), r"sample_size=0 must be at least 1"),
    (MissingStep(strategy="constant", fill_value="abc"), r"fill_value='abc' is not a number"),
    (OutlierStep(method="isolation_forest", action="flag", contamination=0.9), r"contamination=0\.9 must be"),
    (OutlierStep(method="isolation_forest", action="flag", sample_size=0), r"sample_size=0 must be at least 1"),
    (ScaleStep(method="yeo-johnson", sample_size=0), r"sample_size=0 must be at least 1"),
    (ClusterStep(k=2, sample_size=0), r"sample_size=0 must be at least 1"),
    (OneHotEncoder(max_categories=0), r"max_categories=0 must be at least 1"),
    (OneHotEncoder(min_frequency=-2), r"min_frequency=-2 must be above 0"),
    (TargetEncoder(smoothing=-1), r"smoothing=-1 must be at least 0"),
])
def test_an_option_out_of_range_is_refused(frame: pl.DataFrame, step: object, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        step.fit(frame, target="y")


@pytest.mark.parametrize(("name", "params", "match"), [
    ("outliers", {"by": ["g"]}, r"by=\['g'\] takes one value, not a list \(e\.g\. by=g\)"),
    ("missing", {"by": ["g"]}, r"by=\['g'\] takes one value"),
    ("missing", {"strategy": "knn", "k": 2.5}, r"k=2\.5 must be a whole number"),
    ("cluster", {"k": "2.5"}, r"k='?2\.5'? must be a whole number"),
])
def test_a_spec_value_of_the_wrong_shape_is_refused(name: str, params: dict, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        make_step(name, params)


def test_whole_numbers_written_as_floats_are_taken() -> None:
    step = make_step("cluster", {"k": 3.0})
    assert step.k == 3
    assert isinstance(step.k, int)


def test_a_numeric_constant_written_as_text_still_fills(frame: pl.DataFrame) -> None:
    out = MissingStep(columns=["x"], strategy="constant", fill_value="0").fit(frame).transform(frame)
    assert out["x"].to_list() == [1.0, 0.0, 3.0, 4.0, 50.0, 6.0]
