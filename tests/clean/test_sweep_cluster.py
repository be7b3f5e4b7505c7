"""The cluster step fitted on batches gives the clusters of a fit on the whole data, even where two partitions are
about as good (k-means on evenly spread points)."""

from __future__ import annotations

import polars as pl

from assay.clean import ClusterStep
from assay.testing import check_step

# Melanoma incidence in Connecticut, 1936-1972 (R's boot::melanoma), with the row number an export left.
INCIDENCE = [
    0.9,
    0.8,
    0.8,
    1.3,
    1.4,
    1.2,
    1.7,
    1.8,
    1.6,
    1.5,
    1.5,
    2.0,
    2.5,
    2.7,
    2.9,
    2.5,
    3.1,
    2.4,
    2.2,
    2.9,
    2.5,
    2.6,
    3.2,
    3.8,
    4.2,
    3.9,
    3.7,
    3.3,
    3.7,
    3.9,
    4.1,
    3.8,
    4.7,
    4.4,
    4.8,
    4.8,
    4.8,
]


def test_batches_and_whole_data_give_the_same_clusters_on_evenly_spread_points() -> None:
    frame = pl.DataFrame({"row": range(1, 38), "year": range(1936, 1973), "incidence": INCIDENCE})
    check_step(ClusterStep(k=3), frame)
    size = frame.height // 3 + 1
    whole = ClusterStep(k=3).fit(frame)
    batches = ClusterStep(k=3).fit([frame.slice(i, size) for i in range(0, frame.height, size)])
    assert whole.transform(frame)["cluster"].to_list() == batches.transform(frame)["cluster"].to_list()
