"""Engines run the same pipeline spec: ``local`` (Polars, in this process) and ``dask`` (Dask distributed).

``engine: dask`` in a spec (or ``--engine dask``) connects to ``scheduler:`` (``tcp://host:8786``) or starts a
``LocalCluster``; sources are cut into partitions that workers read themselves, steps are fitted by merging
per-partition summaries, linear models train data-parallel and batch scoring writes partitioned Parquet.
Importing this package does not import Dask.
"""

from __future__ import annotations

from assay.engine._cluster import DASK_CONFIG, dashboard_link, dask_client
from assay.engine._dask import (
    apply_steps,
    build_matrices,
    choose_matrix_mode,
    drop_cached,
    fit_kmeans,
    fit_kmeans_auto,
    fit_lightgbm,
    fit_linear,
    fit_on_worker,
    fit_steps,
    map_tasks,
    matrix_bytes,
    predict_parts,
    row_mask,
    write_partitions,
)
from assay.engine._local import ENGINES, get_engine
from assay.engine._partitions import Partition, plan_partitions, read_partition
from assay.engine._run import predict_dask, run_dask

__all__ = [
    "DASK_CONFIG",
    "ENGINES",
    "Partition",
    "apply_steps",
    "build_matrices",
    "choose_matrix_mode",
    "dashboard_link",
    "dask_client",
    "drop_cached",
    "fit_kmeans",
    "fit_kmeans_auto",
    "fit_lightgbm",
    "fit_linear",
    "fit_on_worker",
    "fit_steps",
    "get_engine",
    "map_tasks",
    "matrix_bytes",
    "plan_partitions",
    "predict_dask",
    "predict_parts",
    "read_partition",
    "row_mask",
    "run_dask",
    "write_partitions",
]
