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


@pytest.mark.parametrize("seed", range(40))
def test_quartiles_read_off_the_median_pass_equal_those_of_the_filled_column(seed: int) -> None:
    """Quartiles handed from ``missing`` to ``outliers`` are bit for bit Polars' quartiles of the filled column."""
    from assay.clean._stats import exact_quantiles

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    values = np.round(rng.standard_t(3, n) * 10, int(rng.integers(0, 3)))  # ties too
    values[rng.random(n) < rng.choice([0.0, 0.05, 0.5, 0.95])] = np.nan
    frame = pl.DataFrame({"x": values, "i": pl.Series(values).fill_nan(None).cast(pl.Int64, strict=False)})
    probs = (0.25, 0.75, 0.5, 0.1, 0.9)
    got = exact_quantiles(frame.lazy(), ["x", "i"], probs=(0.5,), filled=probs)
    for col in ("x", "i"):
        median = got[col].quantiles([0.5])[0]
        if median is None:
            assert got[col].filled is None
            continue
        filled = frame.get_column(col).cast(pl.Float64).fill_nan(None).fill_null(median)
        assert got[col].filled.n == n
        for q, value in got[col].filled._q.items():
            assert value == filled.quantile(q, "linear"), (col, q)


@pytest.mark.parametrize("action", ["clip", "replace"])
def test_chain_hands_quartiles_to_outliers_without_changing_the_fit(action: str, data: pl.DataFrame,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import assay.clean._outliers as outliers

    asked: list[list[str]] = []
    real = outliers.exact_quantiles
    monkeypatch.setattr(outliers, "exact_quantiles",
                        lambda frame, cols, **kw: asked.append(cols) or real(frame, cols, **kw))
    steps, out = fit_transform_steps([MissingStep(columns=["a", "b"]), OutlierStep(columns=["a", "b"], action=action)],
                                     data, target="y")
    assert asked == []  # both columns' quartiles came from the missing step's pass
    assert not {"_filled_probs", "_known_quantiles"} & (set(vars(steps[0])) | set(vars(steps[1])))
    alone = [MissingStep(columns=["a", "b"]).fit_whole(data.lazy(), target="y")]
    alone.append(OutlierStep(columns=["a", "b"], action=action).fit_whole(alone[0].transform(data).lazy(), target="y"))
    for got, want in zip(steps, alone, strict=True):
        assert got.state_ == want.state_
    assert_frame_equal(out.collect(), alone[1].transform(alone[0].transform(data)), check_exact=True)


@pytest.mark.parametrize("shape", ["random", "ties", "sorted", "against-the-stride", "constant"])
def test_exact_quantiles_of_big_columns_equal_polars_to_the_last_bit(shape: str) -> None:
    """Past the size where the order statistics are bracketed by a sample (and re-selected when a bracket misses)."""
    from assay.clean._stats import _SAMPLE, exact_quantiles

    rng = np.random.default_rng(7)
    n = 5 * _SAMPLE + 123
    values = {"random": rng.lognormal(0, 2, n), "ties": rng.poisson(3, n).astype(float),
              "sorted": np.sort(rng.normal(size=n)), "constant": np.full(n, 2.5),
              # big values exactly where the strided sample looks: the sample says nothing about the rest
              "against-the-stride": np.where(np.arange(n) % (n // _SAMPLE) == 0, 1e6, rng.normal(size=n))}[shape]
    values[rng.random(n) < 0.1] = np.nan
    chunked = pl.concat([pl.DataFrame({"x": part}) for part in np.array_split(values, 97)], rechunk=False)
    probs = (0.01, 0.25, 0.5, 0.75, 0.999)
    got = exact_quantiles(chunked.lazy(), ["x"], probs=probs, filled=probs)["x"]
    series = pl.Series(values).fill_nan(None)
    for q in probs:
        assert got.quantiles([q])[0] == series.drop_nulls().quantile(q, "linear"), q
        filled = series.fill_null(got.quantiles([0.5])[0])
        assert got.filled.quantiles([q])[0] == filled.quantile(q, "linear"), q


def test_cleaning_a_csv_needs_neither_numpy_nor_the_pipeline(tmp_path: Path) -> None:
    """Reading a CSV and fitting the usual chain imports only Polars: NumPy and the model code cost import time."""
    import subprocess
    import sys

    path = tmp_path / "d.csv"
    pl.DataFrame({"a": [float(i % 97) for i in range(3000)], "b": [None, *range(2999)],
                  "c": ["x", "y", None] * 1000, "y": [0, 1, 1] * 1000}).write_csv(path)
    code = (
        "import sys; from assay.clean import MissingStep, OneHotEncoder, OutlierStep, ScaleStep, fit_transform_steps\n"
        "from assay.sources import open_source\n"
        "steps = [MissingStep(columns=['a', 'b']), OutlierStep(columns=['a', 'b'], method='iqr', action='clip'),\n"
        "         ScaleStep(columns=['a', 'b']), OneHotEncoder(columns=['c'])]\n"
        f"_, out = fit_transform_steps(steps, open_source({str(path)!r}).scan(), target='y')\n"
        f"out.sink_parquet({str(tmp_path / 'out.parquet')!r})\n"
        "print(sorted(m for m in ('numpy', 'assay.pipeline', 'assay._fitted') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("ks", [[0], [5, 6], [499, 500], [0, 999], [10, 40, 200], [998, 999]])
def test_select_equals_sorting(ks: list[int]) -> None:
    from assay.clean._stats import _select

    rng = np.random.default_rng(len(ks))
    values = pl.Series("v", np.round(rng.normal(size=1000), 1))  # many ties
    assert _select(values, ks) == [float(values.sort()[k]) for k in ks]
