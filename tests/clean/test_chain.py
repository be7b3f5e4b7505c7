"""Fitting a chain of steps once over the data: same result as fitting step by step, whatever the input form."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from assay.clean import MissingStep, OneHotEncoder, OutlierStep, ScaleStep, fit_transform_steps
from assay.exceptions import SpecError
from assay.testing._steps import assert_states_close


def _steps() -> list:
    return [MissingStep(columns=["a", "b"]), OutlierStep(columns=["a", "b"]), ScaleStep(columns=["a", "b"]),
            OneHotEncoder(columns=["c"])]


@pytest.fixture
def data(tmp_path: Path) -> pl.DataFrame:
    rng = np.random.default_rng(4)
    a = rng.standard_t(3, 5000)
    a[rng.random(5000) < 0.1] = np.nan
    return pl.DataFrame({"a": pl.Series(a).fill_nan(None), "b": rng.lognormal(0, 1, 5000),
                         "c": rng.choice(["x", "y", None], 5000).tolist(), "y": rng.integers(0, 2, 5000)})


def _stepwise(frame: pl.DataFrame) -> tuple[list, pl.DataFrame]:
    steps = _steps()
    for step in steps:
        frame = step.fit(frame, target="y").transform_train(frame)
    return steps, frame


@pytest.mark.parametrize("form", ["frame", "scan-in-memory", "scan-streamed", "batches"])
def test_chain_equals_stepwise_fit(form: str, data: pl.DataFrame, tmp_path: Path) -> None:
    expected_steps, expected = _stepwise(data)
    path = tmp_path / "d.parquet"
    data.write_parquet(path, row_group_size=1000)
    source = {"frame": data, "scan-in-memory": pl.scan_parquet(path), "scan-streamed": pl.scan_parquet(path),
              "batches": list(data.iter_slices(1700))}[form]
    steps, out = fit_transform_steps(_steps(), source, target="y", in_memory=form != "scan-streamed")
    for got, want in zip(steps, expected_steps, strict=True):
        assert_states_close(got.state_, want.state_, rtol=1e-9)
    result = pl.concat(out) if isinstance(out, list) else out.collect()
    assert_frame_equal(result, expected, rel_tol=1e-9)


def test_exact_whole_fit_cannot_be_extended_by_partial_fit(data: pl.DataFrame) -> None:
    step = OutlierStep(columns=["a"]).fit_whole(data.lazy())
    assert step.state_ == OutlierStep(columns=["a"]).fit(data).state_
    with pytest.raises(SpecError, match="fit it on batches"):
        step.partial_fit(data.head(10))


def test_statistics_skip_non_finite_values_whichever_path_they_take() -> None:
    """Moments and exact quantiles read plain values first and redo only columns holding NaN or ±inf."""
    from assay.clean._stats import exact_quantiles, moments

    inf = float("inf")
    frame = pl.DataFrame({"clean": [1.0, 2.0, 3.0, None, 4.0], "nan": [1.0, float("nan"), 3.0, None, 4.0],
                          "inf": [1.0, inf, 3.0, -inf, 4.0], "ints": [1, 2, 3, None, 4],
                          "empty": pl.Series([None] * 5, dtype=pl.Float64)})
    m = moments(frame.lazy(), frame.columns)
    assert m["clean"] == (4, 2.5, 5.0, 1.0, 4.0)
    assert m["ints"] == m["clean"]
    assert m["nan"] == (3, pytest.approx(8 / 3), pytest.approx(14 / 3), 1.0, 4.0)
    assert m["inf"] == m["nan"]
    assert m["empty"] == (0, 0.0, 0.0, None, None)
    q = exact_quantiles(frame.lazy(), frame.columns, probs=(0.5,))
    assert [q[c].quantiles([0.5])[0] for c in ("clean", "nan", "inf", "ints")] == [2.5, 3.0, 3.0, 2.5]
    assert (q["nan"].n, q["nan"].total, q["inf"].n, q["inf"].total) == (3, 8.0, 3, 8.0)
    assert q["empty"].n == 0
    assert q["empty"].quantiles([0.5]) == [None]
