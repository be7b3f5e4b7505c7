"""Cleaning for clustering: a one-hot categorical weighs 1/sqrt(levels) per column, so k-means over standardised
numbers plus a noisy categorical finds the numeric structure instead of the categorical's levels."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import adjusted_rand_score

from assay.clean import OneHotEncoder, Step, auto_steps
from assay.exceptions import SpecError
from assay.models._cluster import KMeansAuto


def _blobs_and_noise(levels: int, seed: int, n: int = 600) -> tuple[pl.DataFrame, np.ndarray]:
    """Three blobs in two numeric columns, three standard deviations apart, and a categorical drawn independently
    of them (the noise)."""
    rng = np.random.default_rng(seed)
    blob = rng.integers(0, 3, n)
    xy = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])[blob] + rng.normal(0.0, 1.0, (n, 2))
    return pl.DataFrame({"spend": xy[:, 0], "visits": xy[:, 1],
                         "channel": [f"ch{v}" for v in rng.integers(0, levels, n)]}), blob


def _cleaned(frame: pl.DataFrame, task: str) -> np.ndarray:
    for step in auto_steps(frame.schema, target=None, task=task):
        frame = step.fit(frame).transform(frame)
    return frame.to_numpy().astype(np.float64)


@pytest.mark.parametrize("levels", [3, 10])
def test_clustering_finds_the_numeric_structure_beside_a_noisy_categorical(levels: int):
    found, chosen = [], []
    for seed in range(3):
        frame, blob = _blobs_and_noise(levels, seed)
        model = KMeansAuto(random_state=0).fit(_cleaned(frame, "clustering"))
        found.append(adjusted_rand_score(blob, model.labels_))
        chosen.append(model.n_clusters_)
    # The numeric columns alone give an adjusted Rand index of about 0.75 here (the blobs overlap a little).
    assert min(found) > 0.65, found
    assert chosen.count(3) >= 2, chosen


def test_other_tasks_keep_plain_zero_one_columns():
    frame, _ = _blobs_and_noise(4, seed=0)
    for task in ("auto", "classification", "regression"):
        out = frame
        for step in auto_steps(frame.schema, target=None, task=task):
            out = step.fit(out).transform(out)
        assert out.schema["channel_ch0"] == pl.Int8


def test_weighted_blocks_give_each_categorical_the_same_length():
    frame = pl.DataFrame({"few": ["a", "b", "a", "b", None], "many": ["p", "q", "r", "s", "t"]})
    step = OneHotEncoder(weight="sqrt_levels").fit(frame)
    out = step.transform(frame)
    assert step.state_["weight"] == pytest.approx({"few": 1 / np.sqrt(2), "many": 1 / np.sqrt(5)})
    few = out.select(pl.col("^few_.*$")).to_numpy()
    many = out.select(pl.col("^many_.*$")).to_numpy()
    assert out.select(pl.col("^few_.*$")).dtypes == [pl.Float64] * 2
    # A row with a category lies 1/sqrt(L) from the origin in its block; a null or unseen value is all zeros.
    np.testing.assert_allclose(np.linalg.norm(few, axis=1), [1 / np.sqrt(2)] * 4 + [0.0])
    np.testing.assert_allclose(np.linalg.norm(many, axis=1), [1 / np.sqrt(5)] * 5)
    unseen = step.transform(pl.DataFrame({"few": ["zzz"], "many": ["p"]}))
    assert unseen.select(pl.col("^few_.*$")).row(0) == (0.0, 0.0)
    restored = Step.from_dict(json.loads(step.to_json()))
    assert restored.transform(frame).equals(out)


def test_the_other_bucket_is_one_of_the_levels():
    frame = pl.DataFrame({"c": ["a"] * 5 + ["b"] * 5 + ["c", "d"]})
    step = OneHotEncoder(weight="sqrt_levels", min_frequency=2).fit(frame)
    assert step.state_["categories"]["c"] == ["a", "b"]
    assert step.state_["weight"]["c"] == pytest.approx(1 / np.sqrt(3))
    assert step.transform(pl.DataFrame({"c": ["d"]}))["c___other"].to_list() == pytest.approx([1 / np.sqrt(3)])


def test_an_unknown_weight_is_refused():
    with pytest.raises(SpecError, match=r"weight='sqrt' is not valid.*'sqrt_levels'"):
        OneHotEncoder(weight="sqrt").fit(pl.DataFrame({"c": ["a"]}))
