"""The ``cluster`` step: a k-means segment id and the distance to its centre as features.

Means and standard deviations (for standardising) come from exactly merged moments; k-means (scikit-learn) runs
on a bottom-k hash sample of ``sample_size`` rows, which is the same whatever the batching, so fitting on batches
equals fitting on the whole data. The centres live in the JSON state and ``transform`` assigns clusters with plain
Polars arithmetic (nearest centre by Euclidean distance on standardised values; null/NaN count as the mean).
"""

from __future__ import annotations

import logging
from typing import Any

import polars as pl

from assay.clean._base import Frame, Step, numeric_columns, refuse_overwrite, resolve_columns
from assay.clean._stats import (
    check_at_least,
    hash_sample,
    json_float,
    merge_hash_samples,
    merge_moment_dicts,
    moments,
    sample_matrix,
    std_of,
    union,
)
from assay.exceptions import SpecError

log = logging.getLogger(__name__)

__all__ = ["ClusterStep"]


def _round12(value: float) -> float:
    return float(f"{value:.12g}")


class ClusterStep(Step):
    """Add ``<prefix>`` (Int32 cluster id) and ``<prefix>_distance`` (Float64) from k-means on numeric columns.

    Parameters
    ----------
    columns:
        Numeric columns to cluster on (default: every numeric column except the target), each standardised by its
        training mean and standard deviation; a missing value counts as the mean.
    k:
        How many clusters (at least 1); fewer, with a note, when the training sample has fewer distinct rows.
    sample_size:
        How many training rows k-means is fitted on, chosen by a hash of each row so that the choice is the same
        however the data is batched; all rows when there are fewer. The means and standard deviations come from
        every row.
    seed:
        The random seed of scikit-learn's ``KMeans`` (best of 10 starts): the same seed and sample give the same
        clusters.
    prefix:
        Name of the cluster id column (0 to ``k`` - 1, the nearest centre); ``<prefix>_distance`` holds the
        Euclidean distance to that centre in standardised units. The fit refuses data that already has either
        column.

    >>> import polars as pl
    >>> df = pl.DataFrame({"x": [0.0, 0.1, 10.0, 10.1], "y": [0.0, 0.2, 5.0, 5.1]})
    >>> out = ClusterStep(k=2).fit(df).transform(df)
    >>> out["cluster"].n_unique()
    2
    """

    name = "cluster"

    def __init__(self, columns: list[str] | None = None, *, k: int = 8, sample_size: int = 10_000, seed: int = 0,
                 prefix: str = "cluster") -> None:
        self.columns = columns
        self.k = k
        self.sample_size = sample_size
        self.seed = seed
        self.prefix = prefix

    def summarize(self, frame: pl.DataFrame, target: str | None = None) -> dict[str, Any]:
        if int(self.k) < 1:
            msg = f"{self.name}: k={self.k!r} must be at least 1"
            raise SpecError(msg)
        check_at_least(self.name, "sample_size", self.sample_size, 1)
        schema = frame.collect_schema()
        columns = resolve_columns(self.columns, schema, numeric_columns(schema), exclude=[target] if target else [],
                                  step=self.name)
        return {"columns": columns, "m": moments(frame, columns),
                "sample": hash_sample(frame, columns, int(self.sample_size)), "names": list(schema)}

    def merge(self, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        return {"columns": union(a["columns"], b["columns"]), "m": merge_moment_dicts(a["m"], b["m"]),
                "sample": merge_hash_samples(a["sample"], b["sample"], int(self.sample_size)),
                "names": a.get("names", [])}

    def finalize(self, summary: dict[str, Any]) -> dict[str, Any]:
        import numpy as np
        from sklearn.cluster import KMeans

        cols = summary["columns"]
        made = {self.prefix: "the cluster id", f"{self.prefix}_distance": "the distance to its centre"}
        refuse_overwrite(self.name, made, summary.get("names", []), hint=", or give another prefix=")
        # To 12 significant digits: moments merged from batches differ from the whole data's in the last bits, and
        # k-means on a sample standardised by either can settle on another partition when two are about as good.
        mean = np.array([_round12(summary["m"][c][1]) for c in cols], dtype=np.float64)
        std = np.array([_round12(std_of(summary["m"][c]) or 1.0) for c in cols], dtype=np.float64)
        x = sample_matrix(summary["sample"], cols, int(self.sample_size)) if cols else np.empty((0, 0))
        z = np.where(np.isfinite(x), (x - mean) / std, 0.0)
        distinct = np.unique(z, axis=0).shape[0] if z.size else 0
        k = int(min(int(self.k), max(1, distinct)))
        if k < int(self.k):
            why = f"{distinct} distinct row(s)" if cols else "no numeric column"
            log.warning("%s: %s to cluster: %d cluster(s) instead of k=%d", self.name, why, k, int(self.k))
        if z.shape[0] == 0 or not cols:
            centers = np.zeros((1, len(cols)))
        else:
            from threadpoolctl import threadpool_limits

            # One OpenMP thread: on a sample this size it takes tens of milliseconds, while scikit-learn's threads
            # wait for each other at every Lloyd iteration and, with a core busy elsewhere, took seconds (1,000 x 12:
            # 0.03 s alone, 2.4-5 s next to other work on 2 cores).
            with threadpool_limits(limits=1, user_api="openmp"):
                centers = KMeans(n_clusters=k, n_init=10, random_state=int(self.seed)).fit(z).cluster_centers_
        return {"columns": cols, "mean": [json_float(v) for v in mean], "scale": [json_float(v) for v in std],
                "centers": [[float(v) for v in row] for row in centers]}

    def _transform(self, frame: Frame) -> Frame:
        st = self.state_
        cols = st["columns"]
        names = frame.collect_schema().names()
        z = []
        for col, mean, scale in zip(cols, st["mean"], st["scale"], strict=True):
            if col not in names:
                z.append(pl.lit(0.0))
                continue
            x = (pl.col(col).cast(pl.Float64) - (mean or 0.0)) * (1.0 / (scale or 1.0))  # see _scale: no division
            z.append(pl.when(x.is_finite()).then(x).otherwise(0.0))
        dists = []
        for center in st["centers"]:
            terms = [(zi - ci) ** 2 for zi, ci in zip(z, center, strict=True)]
            dists.append(pl.sum_horizontal(terms).sqrt() if terms else pl.lit(0.0))
        dist_list = pl.concat_list(dists)
        return frame.with_columns(
            dist_list.list.arg_min().cast(pl.Int32).alias(self.prefix),
            dist_list.list.min().alias(f"{self.prefix}_distance"),
        )
