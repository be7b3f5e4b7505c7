"""Step options as a spec gives them (``assay clean -s``, a pipeline's steps): coerced or refused by name."""

from __future__ import annotations

import polars as pl
import pytest

from assay.clean import OutlierStep
from assay.clean._registry import make_step
from assay.exceptions import SpecError


@pytest.fixture
def frame() -> pl.DataFrame:
    return pl.DataFrame({"price": [1.0, 2.0, 3.0, 4.0, 100.0], "region": ["n", "n", "s", "s", "s"]})


def test_one_column_name_where_a_list_is_taken_is_that_column(frame: pl.DataFrame):
    # "scale:columns=price" was read letter by letter: "column 'p' not found".
    step = make_step("scale", {"columns": "price", "method": "robust"}).fit(frame)
    assert step.state_["columns"] == ["price"]
    dedupe = make_step("dedupe", {"key": "region"}).fit(frame)
    assert dedupe.transform_train(frame).height == 2
    assert make_step("missing", {"tokens": "NA"}).tokens == ["NA"]


@pytest.mark.parametrize(("name", "params", "message"), [
    ("outliers", {"k": "abc"}, r"step 'outliers': k='abc' is not a number"),
    ("cluster", {"k": "two"}, r"step 'cluster': k='two' is not a number"),
])
def test_a_number_option_given_text_is_refused_by_name(name: str, params: dict, message: str):
    # It was a ValueError traceback from float('abc') at fit.
    with pytest.raises(SpecError, match=message):
        make_step(name, params)


def test_a_number_written_as_text_is_read():
    assert make_step("outliers", {"k": "3"}).k == 3.0
    assert make_step("cluster", {"k": "4"}).k == 4


@pytest.mark.parametrize(("params", "message"), [
    ({"method": "iqr", "k": -1}, r"k=-1 must be 0 or more"),
    ({"method": "zscore", "threshold": 0}, r"threshold=0 must be above 0"),
    ({"method": "mad", "threshold": -2.0}, r"threshold=-2.0 must be above 0"),
])
def test_fences_that_make_every_value_an_outlier_are_refused(frame: pl.DataFrame, params: dict, message: str):
    # k=-1 put the lower fence above the upper one: every value was an outlier, clipped to a point.
    with pytest.raises(SpecError, match=message):
        OutlierStep(**params).fit(frame)
