"""The hash sample the cluster, KNN and Isolation Forest steps fit on picks rows by a hash of their values."""

from __future__ import annotations

import numpy as np
import polars as pl

from assay.clean import ClusterStep, OutlierStep
from assay.clean._stats import hash_sample, merge_hash_samples, sample_matrix


def _scaled(x: np.ndarray, mean: float, std: float) -> pl.DataFrame:
    return pl.DataFrame({"a": (x[:, 0] - mean) / std, "b": x[:, 1] * 1.0, "g": ["p", "q"] * (len(x) // 2)})


def test_values_that_differ_in_their_last_bits_give_the_same_sample():
    """The same data scaled by statistics merged in another order (another engine, other batches) differs in the
    last bits of its floats: the sample holds the same rows."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5000, 2))
    one = _scaled(x, x[:, 0].mean(), x[:, 0].std())
    other = _scaled(x, np.nextafter(x[:, 0].mean(), 1.0), np.nextafter(x[:, 0].std(), 0.0))
    assert not one.equals(other)
    # "b" is the same in both: it names the rows picked
    rows_one = hash_sample(one, ["a", "b", "g"], 200).get_column("b").sort()
    rows_other = hash_sample(other, ["a", "b", "g"], 200).get_column("b").sort()
    assert rows_one.to_list() == rows_other.to_list()


def test_cluster_step_finds_the_same_centres_on_last_bit_differences():
    rng = np.random.default_rng(1)
    x = np.vstack([rng.normal(loc=c, size=(3000, 2)) for c in (0.0, 5.0, 10.0)])
    one = _scaled(x, x[:, 0].mean(), x[:, 0].std()).drop("g")
    other = _scaled(x, np.nextafter(x[:, 0].mean(), 1.0), np.nextafter(x[:, 0].std(), 0.0)).drop("g")
    a = ClusterStep(k=4, sample_size=500).fit(one)
    b = ClusterStep(k=4, sample_size=500).fit(other)
    assert np.allclose(np.asarray(a.state_["centers"]), np.asarray(b.state_["centers"]), rtol=1e-9, atol=1e-9)


def test_the_sample_is_the_same_from_batches_and_from_the_whole_frame():
    rng = np.random.default_rng(2)
    frame = pl.DataFrame({"a": rng.normal(size=3000), "n": rng.integers(0, 50, 3000)})
    whole = hash_sample(frame, ["a", "n"], 100)
    parts = [hash_sample(frame.slice(i, 1000), ["a", "n"], 100) for i in range(0, 3000, 1000)]
    merged = pl.concat(parts).sort("__hash__", maintain_order=True).head(100)
    assert whole.equals(merged)


def _repeated(rows: int, seed: int) -> pl.DataFrame:
    """A column of 200 values repeated unevenly (as sizes, prices or counts are), and a two-level code."""
    rng = np.random.default_rng(seed)
    size = rng.zipf(1.5, rows) % 200
    return pl.DataFrame({"size": size.astype(np.float64), "code": (size % 2).astype(np.int64)})


def test_a_sample_of_repeated_rows_spreads_over_the_values_as_the_data_does():
    # A bottom-k of the rows by the hash of their values kept every copy of the first few values drawn and none of
    # the others: 1,000 rows of 40,000 held a handful of distinct sizes.
    frame = _repeated(40_000, 3)
    matrix = sample_matrix(hash_sample(frame, ["size", "code"], 1000), ["size", "code"], 1000)
    assert matrix.shape == (1000, 2)
    data_share = frame.get_column("size").value_counts().sort("size")
    common = data_share.sort("count", descending=True).head(5).get_column("size").to_list()
    for value in common:  # the commonest sizes hold about their share of the sample
        share = float((frame.get_column("size") == value).mean())
        assert abs(float((matrix[:, 0] == value).mean()) - share) < 0.02, value
    assert len(np.unique(matrix[:, 0])) >= 20


def test_a_sample_of_repeated_rows_is_the_same_from_batches():
    frame = _repeated(30_000, 4)
    whole = hash_sample(frame, ["size", "code"], 500)
    merged = hash_sample(frame.slice(0, 7_000), ["size", "code"], 500)
    for start in range(7_000, 30_000, 7_000):
        merged = merge_hash_samples(merged, hash_sample(frame.slice(start, 7_000), ["size", "code"], 500), 500)
    np.testing.assert_array_equal(sample_matrix(whole, ["size", "code"], 500),
                                  sample_matrix(merged, ["size", "code"], 500))


def test_isolation_forest_sample_of_a_repeated_column_is_not_a_few_values():
    frame = _repeated(40_000, 5)
    step = OutlierStep(columns=["size"], method="isolation_forest", action="flag", sample_size=1000).fit(frame)
    sample = np.array(step.state_["sample"], dtype=np.float64)[:, 0]
    assert len(sample) == 1000
    assert abs(float(np.median(sample)) - float(frame.get_column("size").median())) <= 1.0
