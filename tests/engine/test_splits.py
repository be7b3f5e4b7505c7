"""``evaluation.group`` and ``evaluation.time`` on the Dask engine: the local engine's split and folds (no group on
both sides, the latest times tested, folds that never cut a time and train on earlier times only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from assay.engine import _run
from assay.exceptions import SchemaError, SpecError
from assay.pipeline import run

from ._helpers import assert_same_result

pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore:.*(Port|port).*:UserWarning"),
]


def _data(n: int = 1_600, seed: int = 21, *, in_time_order: bool = False) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 300, n)  # many rows share a time
    if in_time_order:
        t = np.sort(t)
    x = rng.normal(size=(n, 2)) + (t / 300)[:, None]
    label = np.where(x @ [1.0, -0.5] + rng.normal(0, 0.7, n) > 0.4, "yes", "no")
    x1 = x[:, 0].copy()
    x1[rng.random(n) < 0.2] = np.nan
    return pl.DataFrame({"customer": rng.integers(0, 80, n), "t": t, "x1": pl.Series(x1).fill_nan(None),
                         "x2": x[:, 1], "label": label})


def _spec(path: Path, out: Path, evaluation: dict, steps: list | None = None, dask: str | None = None) -> dict:
    spec = {"source": str(path), "target": "label", "models": ["logreg"],
            "steps": steps or [{"step": "missing"}, {"step": "scale"}],
            "evaluation": {"folds": 3, **evaluation}, "output": {"dir": str(out), "report": False}}
    if dask is not None:
        spec |= {"engine": "dask", "scheduler": dask}
    return spec


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (train rows, held-out rows) of every fold and of the final fit, as the Dask job prepares them."""
    calls: list[tuple[np.ndarray, np.ndarray]] = []
    original = _run._Job._prepare

    def spy(self, parts, train_rows, test_rows, target, task):
        calls.append((np.asarray(train_rows).copy(), np.asarray(test_rows).copy()))
        return original(self, parts, train_rows, test_rows, target, task)

    monkeypatch.setattr(_run._Job, "_prepare", spy)
    return calls


def _write(df: pl.DataFrame, tmp_path: Path) -> Path:
    path = tmp_path / "d.parquet"
    df.write_parquet(path, row_group_size=200)
    return path


def _compare(local, dist) -> None:
    assert dist.split == local.split
    assert_same_result(local, dist, tol=1e-4)


def test_group_split_keeps_each_group_on_one_side_as_locally(dask_cluster: str, tmp_path: Path,
                                                              recorded: list) -> None:
    df = _data()
    path = _write(df, tmp_path)
    local = run(_spec(path, tmp_path / "local", {"group": "customer", "threshold": "f1"}))
    dist = run(_spec(path, tmp_path / "dask", {"group": "customer", "threshold": "f1"}, dask=dask_cluster))
    assert dist.model.manifest["engine"]["name"] == "dask"
    assert dist.split["kind"] == "group"
    _compare(local, dist)
    assert dist.model.threshold["value"] == pytest.approx(local.model.threshold["value"], abs=1e-4)
    groups = df.get_column("customer").to_numpy()
    *folds, (train, test) = recorded
    assert len(folds) == 3
    assert len(train) + len(test) == df.height
    assert not set(groups[train]) & set(groups[test])
    for tr, te in folds:
        assert set(tr) | set(te) == set(train)
        assert not set(groups[tr]) & set(groups[te])  # folds by group too


@pytest.mark.parametrize("in_time_order", [False, True])
def test_time_split_tests_the_latest_rows_and_folds_never_cut_a_time(dask_cluster: str, tmp_path: Path,
                                                                     recorded: list, in_time_order: bool) -> None:
    df = _data(in_time_order=in_time_order)
    path = _write(df, tmp_path)
    local = run(_spec(path, tmp_path / "local", {"time": "t", "threshold": "f1"}))
    dist = run(_spec(path, tmp_path / "dask", {"time": "t", "threshold": "f1"}, dask=dask_cluster))
    assert dist.split["kind"] == "time"
    _compare(local, dist)  # the training rows go in file order here: the same fit up to summation order
    assert dist.model.threshold["value"] == pytest.approx(local.model.threshold["value"], abs=1e-4)
    t = df.get_column("t").to_numpy()
    *folds, (train, test) = recorded
    assert t[train].max() < t[test].min()  # the latest times are the test split, no time on both sides
    assert len(folds) >= 2
    for tr, te in folds:
        assert t[tr].max() < t[te].min()  # trains on earlier times only, never cuts one


def test_time_split_with_a_fill_from_neighbours_needs_the_source_in_time_order(dask_cluster: str,
                                                                               tmp_path: Path) -> None:
    steps = [{"step": "missing", "strategy": "ffill"}, {"step": "scale"}]
    unsorted = _write(_data(), tmp_path)
    with pytest.raises(SpecError, match=r"missing: ffill/mode fills from neighbouring rows.*sort the source by 't'"):
        run(_spec(unsorted, tmp_path / "dask", {"time": "t"}, steps, dask=dask_cluster))
    (tmp_path / "sorted").mkdir()
    ordered = _write(_data(in_time_order=True), tmp_path / "sorted")
    local = run(_spec(ordered, tmp_path / "local", {"time": "t"}, steps))
    dist = run(_spec(ordered, tmp_path / "dask", {"time": "t"}, steps, dask=dask_cluster))
    _compare(local, dist)


def test_group_or_time_split_with_a_time_budget_is_refused_as_locally(dask_cluster: str, tmp_path: Path) -> None:
    path = _write(_data(n=400), tmp_path)
    for evaluation in ({"group": "customer"}, {"time": "t"}):
        spec = _spec(path, tmp_path / "dask", {**evaluation, "time_budget": 5}, dask=dask_cluster)
        with pytest.raises(SpecError, match="time budget searches with shuffled k-fold"):
            run(spec)
        with pytest.raises(SpecError, match="time budget searches with shuffled k-fold"):
            run({k: v for k, v in spec.items() if k not in ("engine", "scheduler")})


def test_an_unknown_group_column_names_the_columns(dask_cluster: str, tmp_path: Path) -> None:
    path = _write(_data(n=400), tmp_path)
    with pytest.raises(SchemaError, match=r"group column 'custmer' not found .*did you mean 'customer'"):
        run(_spec(path, tmp_path / "dask", {"group": "custmer"}, dask=dask_cluster))


def test_threshold_with_a_group_split_after_rows_were_removed_is_refused_as_locally(dask_cluster: str,
                                                                                   tmp_path: Path) -> None:
    df = _data(n=800).with_columns(pl.when(pl.col("t") % 50 == 0).then(40.0).otherwise(pl.col("x2")).alias("x2"))
    path = _write(df, tmp_path)
    steps = [{"step": "missing"}, {"step": "outliers", "columns": ["x2"], "action": "drop"}, {"step": "scale"}]
    evaluation = {"group": "customer", "threshold": "f1"}
    match = r"the steps removed \d+ training row\(s\), so the rows' groups or times are no longer known"
    with pytest.raises(SpecError, match=match):
        run(_spec(path, tmp_path / "local", evaluation, steps))
    with pytest.raises(SpecError, match=match):
        run(_spec(path, tmp_path / "dask", evaluation, steps, dask=dask_cluster))


def test_time_split_trains_single_worker_models_on_rows_in_time_order_as_locally(dask_cluster: str,
                                                                                 tmp_path: Path) -> None:
    """A random forest's bootstrap depends on the order of its rows: the local engine's time order is kept."""
    path = _write(_data(n=1_000), tmp_path)
    evaluation = {"time": "t", "threshold": "f1"}
    spec = {"models": ["rf"], "steps": [{"step": "missing"}]}
    local = run({**_spec(path, tmp_path / "local", evaluation), **spec})
    dist = run({**_spec(path, tmp_path / "dask", evaluation, dask=dask_cluster), **spec})
    assert dist.cv_scores["rf"] == local.cv_scores["rf"]
    assert dist.model.threshold == local.model.threshold
    assert dist.test_metrics == local.test_metrics


def test_drop_leaves_columns_out_on_dask_as_locally_and_a_dropped_group_still_splits(dask_cluster: str,
                                                                                      tmp_path: Path,
                                                                                      recorded: list) -> None:
    df = _data()
    path = _write(df, tmp_path)
    evaluation = {"group": "customer"}
    local = run({**_spec(path, tmp_path / "local", evaluation), "drop": ["customer", "t"]})
    dist = run({**_spec(path, tmp_path / "dask", evaluation, dask=dask_cluster), "drop": ["customer", "t"]})
    assert set(dist.model.input_schema) == set(local.model.input_schema) == {"x1", "x2"}
    _compare(local, dist)
    groups = df.get_column("customer").to_numpy()
    *_, (train, test) = recorded
    assert not set(groups[train]) & set(groups[test])  # dropped from the features, still keeping groups apart
    with pytest.raises(SchemaError, match=r"cannot drop column\(s\) 'tt': not in .*did you mean 't'"):
        run({**_spec(path, tmp_path / "bad", {}, dask=dask_cluster), "drop": ["tt"]})
    with pytest.raises(SpecError, match="cannot drop the target column 'label'"):
        run({**_spec(path, tmp_path / "bad", {}, dask=dask_cluster), "drop": ["label"]})


def test_an_identifier_column_is_left_out_of_automatic_features_on_both_engines(dask_cluster: str,
                                                                                 tmp_path: Path) -> None:
    df = _data().with_columns(pl.format("order-{}", pl.int_range(0, pl.len()).reverse()).alias("order_id"),
                              pl.format("c{}", pl.col("customer")).alias("segment"))  # repeats: a category
    path = _write(df, tmp_path)
    spec = {"source": str(path), "target": "label", "models": ["logreg"],
            "evaluation": {"folds": 3}, "output": {"report": False}}  # no steps: the automatic ones
    local = run({**spec, "output": {"dir": str(tmp_path / "local"), "report": False}})
    dist = run({**spec, "output": {"dir": str(tmp_path / "dask"), "report": False}, "engine": "dask",
                "scheduler": dask_cluster})
    assert "order_id" not in local.model.input_schema
    assert set(dist.model.input_schema) == set(local.model.input_schema)
    assert "segment" in dist.model.input_schema
    assert any("not used as feature(s): 'order_id'" in note for note in dist.notes)
    _compare(local, dist)


def test_an_exported_row_index_is_dropped_on_both_engines(dask_cluster: str, tmp_path: Path, caplog) -> None:
    df = _data().with_row_index("", offset=1).with_columns(pl.col("").cast(pl.Int64))  # R's write.csv: 1, 2, …
    path = _write(df, tmp_path)  # row groups of 200: the numbers go on from one partition to the next
    steps = [{"step": "missing"}, {"step": "outliers", "method": "iqr", "action": "drop"}, {"step": "scale"}]
    local = run(_spec(path, tmp_path / "local", {}, steps))
    caplog.clear()
    with caplog.at_level("WARNING", logger="assay"):
        dist = run(_spec(path, tmp_path / "dask", {}, steps, dask=dask_cluster))
    assert "" not in local.model.input_schema
    assert set(dist.model.input_schema) == set(local.model.input_schema)
    note = "dropped column(s) '': an exported row index"
    assert any(note in n for n in local.notes)
    assert any(note in n for n in dist.notes)
    assert caplog.text.count(note) == 1  # said on the console too, once
    lineage = dist.model.manifest["source"]
    assert lineage["fingerprint"] == local.model.manifest["source"]["fingerprint"] is not None  # the file's hash
    assert caplog.text.count("60 values outside the fences, in 'x1' 51, 'x2' 9") == 1  # the whole training data's
    _compare(local, dist)
    # Under an export's index header, numbers that go up with gaps are the kept rows' numbers of a filtered export;
    # numbers that go down somewhere (across partitions here) are data: both engines tell them apart alike.
    gappy = df.filter(pl.col("") % 3 != 0)
    shuffled = df.with_columns(pl.col("").shuffle(seed=1))
    for name, frame, dropped in (("gappy", gappy, True), ("shuffled", shuffled, False)):
        (tmp_path / name).mkdir()
        source = _write(frame, tmp_path / name)
        local = run(_spec(source, tmp_path / name / "local", {}, steps))
        dist = run(_spec(source, tmp_path / name / "dask", {}, steps, dask=dask_cluster))
        assert ("" not in local.model.input_schema) is dropped
        assert set(dist.model.input_schema) == set(local.model.input_schema)
