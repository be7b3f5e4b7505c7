"""Every example pipeline (examples/*.yaml) on both engines: the same step states and metrics.

Stated tolerances: counts, category lists and exact quantiles are equal; moments and means agree to a relative
1e-9 (they are summed in another order); metrics of models trained on one worker (random forest, LightGBM below
the distribution threshold) are equal; gradient-descent models converge to the same optimum within the optimizer's
tolerance, so their metrics agree to 1e-3.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import polars as pl
import pytest
import yaml

from assay.engine import run_dask
from assay.pipeline import run
from assay.spec import load_spec

from ._helpers import assert_same_state

pytestmark = [pytest.mark.filterwarnings("ignore::ResourceWarning")]

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))


def _source(example: Path) -> str:
    """The source as written in the example (``load_spec`` makes it absolute when the file exists)."""
    return yaml.safe_load(example.read_text(encoding="utf-8"))["source"]
METRIC_ATOL = 1e-3


def _penguins(path: Path) -> None:
    with resources.as_file(resources.files("palmerpenguins") / "data" / "penguins.csv") as shipped:
        shutil.copyfile(shipped, path)


def _diabetes(path: Path) -> None:
    from sklearn.datasets import load_diabetes

    pl.from_pandas(load_diabetes(as_frame=True).frame).write_parquet(path, row_group_size=100)


# Source named in an example -> how it is made from packaged data (examples/data holds the result, so that
# `assay run examples/….yaml` works as the README says; the test below checks the two agree).
DATA: dict[str, Callable[[Path], None]] = {
    "data/penguins.csv": _penguins,
    "data/diabetes.parquet": _diabetes,
}


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_each_example_ships_its_data_as_the_package_has_it(example: Path, tmp_path: Path) -> None:
    source = _source(example)
    assert source in DATA, f"{example.name}: add a maker for {source} to DATA"
    shipped = example.parent / source
    assert shipped.is_file(), f"{example.name}: {source} is not in examples/"
    made = tmp_path / Path(source).name
    DATA[source](made)
    read = pl.read_csv if made.suffix == ".csv" else pl.read_parquet
    assert read(shipped).equals(read(made))


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_gives_the_same_states_and_metrics_on_both_engines(example: Path, client, tmp_path: Path) -> None:
    work = tmp_path / "ex"
    (work / "data").mkdir(parents=True)
    shutil.copy(example, work / example.name)
    source = _source(example)
    shutil.copyfile(example.parent / source, work / source)

    spec = load_spec(work / example.name)
    spec.output.dir = str(tmp_path / "local")
    spec.output.report = False
    local = run(spec)
    spec.output.dir = str(tmp_path / "dask")
    dist = run_dask(spec, client=client, rows_per_partition=100)

    assert dist.model.manifest["engine"]["partitions"] >= 3
    assert [s.name for s in local.model.steps] == [s.name for s in dist.model.steps]
    for a, b in zip(local.model.steps, dist.model.steps, strict=True):
        assert_same_state(a.state_, b.state_, a.name)
    assert local.model.features == dist.model.features
    assert [r["model"] for r in local.leaderboard] == [r["model"] for r in dist.leaderboard]
    for name, scores in local.cv_scores.items():
        assert dist.cv_scores[name] == pytest.approx(scores, abs=METRIC_ATOL), name
    for metric, value in local.test_metrics.items():
        if value is not None:
            assert dist.test_metrics[metric] == pytest.approx(value, abs=METRIC_ATOL, rel=METRIC_ATOL), metric
    assert (tmp_path / "dask" / "model" / "manifest.json").is_file()


@pytest.mark.parametrize(("threshold", "models", "matrices"), [
    ("f1", ["logreg", "rf"], "auto"),
    ("cost:1:5", ["logreg"], "disk"),  # and the whole job with its matrices cached on the workers' disks
])
def test_decision_threshold_is_tuned_the_same_on_both_engines(client, tmp_path: Path, threshold: str,
                                                              models: list[str], matrices: str) -> None:
    import numpy as np

    rng = np.random.default_rng(5)
    n = 3_000
    X = rng.normal(size=(n, 3))
    label = np.where(X @ [1.0, -1.0, 0.5] + rng.normal(0, 1.5, n) > 1.0, "yes", "no")  # unbalanced: ~30% yes
    path = tmp_path / "d.parquet"
    pl.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "label": label}).write_parquet(path, row_group_size=400)
    spec = {"source": str(path), "target": "label", "steps": [{"step": "scale"}], "models": models,
            "evaluation": {"folds": 3, "threshold": threshold}}
    local = run({**spec, "output": {"dir": str(tmp_path / "local"), "report": False}})
    lines: list[str] = []
    dist = run_dask({**spec, "output": {"dir": str(tmp_path / "dask"), "report": False}}, client=client,
                    rows_per_partition=400, matrices=matrices, echo=lines.append)
    assert dist.model.manifest["engine"]["matrices"] == ("disk" if matrices == "disk" else "memory")
    assert any("feature matrices" in line for line in lines)  # the mode is said, not only stored
    a, b = local.model.threshold, dist.model.threshold
    assert a is not None
    assert b is not None
    scores = ("value", "out_of_fold", "at_one_half")
    assert {k: v for k, v in a.items() if k not in scores} == {k: v for k, v in b.items() if k not in scores}
    assert b["value"] == pytest.approx(a["value"], abs=METRIC_ATOL)
    assert b["out_of_fold"] == pytest.approx(a["out_of_fold"], abs=METRIC_ATOL, rel=METRIC_ATOL)
    assert b["at_one_half"] == pytest.approx(a["at_one_half"], abs=METRIC_ATOL, rel=METRIC_ATOL)
    for metric, value in local.test_metrics.items():
        if value is not None:
            assert dist.test_metrics[metric] == pytest.approx(value, abs=METRIC_ATOL, rel=METRIC_ATOL), metric
    frame = pl.read_parquet(path).head(300)
    got, want = dist.model.predict(frame), local.model.predict(frame)
    assert np.allclose(got["proba_yes"].to_numpy(), want["proba_yes"].to_numpy(), atol=METRIC_ATOL)
    # the stored threshold is what decides the label, not 0.5
    assert got["prediction"].to_list() == np.where(got["proba_yes"].to_numpy() >= b["value"], "yes", "no").tolist()
    left = client.run(lambda dask_worker: [str(p) for p in Path(dask_worker.local_directory).rglob("*.npy")])
    assert not any(left.values()), left  # the disk cache is removed after the run
