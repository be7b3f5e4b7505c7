"""``engine: dask``: the training job of :mod:`assay.pipeline` on a Dask cluster, and batch scoring to Parquet.

:func:`run_dask` follows :meth:`assay.pipeline.Pipeline.fit` step for step, with the data left on the workers:

1. the source is cut into partitions that the workers read; only the target column (and the ``evaluation.group``
   or ``evaluation.time`` column) comes to the client;
2. the train/test split and the CV folds are made from those columns by the local engine's own functions, so both
   engines use the same rows: stratified at random, by group (no group on both sides, group k-fold) or by time
   (the latest times tested, forward-chaining folds that never cut a time). With a time split the local engine
   takes the training rows in time order; the matrices here hold them in file order, and models trained on one
   worker get them permuted into time order (``_Fold.order``), so a fit that depends on row order (a bootstrap,
   mini-batches) is the local one. Data-parallel fits sum over rows, where order does not matter; steps filling
   from neighbouring rows need the source in time order then (refused otherwise);
3. in each fold the cleaning steps are fitted by merging per-partition summaries (:func:`fit_steps`), the feature
   matrices are built and kept on the workers (in their memory, or on their local disks when bigger than half the
   cluster's memory limits), gradient-descent linear models (on disk-cached matrices always), LightGBM (through
   ``lightgbm.dask``) and k-means (on partitions) train data-parallel when the training rows exceed
   ``distribute_rows``, and every other (fold, model) pair is one task on one worker — those run in parallel across
   folds;
4. the leaderboard, refit, decision threshold (tuned on out-of-fold probabilities), test metrics and artifact are
   the local engine's.

Recommendation specs run the local engine's whole job as one task on one worker.

The ``missing`` step's ffill, bfill and interpolate fill from neighbouring rows: each partition is transformed with
the rows around it (:mod:`assay.engine._seeds`), so they fill as over the whole frame; interpolation by a time column
needs the rows in time order across partitions (per group) and is refused otherwise.

Differences from the local engine, stated: moments and means are summed in a different order (relative differences
around 1e-12), so gradient-descent models converge to the same optimum within the optimizer's tolerance; LightGBM
trained through ``lightgbm.dask`` builds its bins per worker, so its trees differ slightly. Counts and exact
quantiles (up to 200,000 values per summary) are identical.
"""

from __future__ import annotations

import itertools
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from assay.clean._base import Step
from assay.engine._cluster import dask_client
from assay.engine._dask import (
    _load,
    _mb,
    as_array,
    build_matrices,
    choose_matrix_mode,
    column_means,
    drop_cached,
    fit_kmeans_auto,
    fit_lightgbm,
    fit_linear,
    fit_on_worker,
    fit_steps,
    gather_arrays,
    kept_positions,
    matrix_bytes,
    predict_parts,
    row_mask,
    transformed_schema,
)
from assay.engine._partitions import DEFAULT_PARTITION_ROWS, Partition, count_partition_rows, plan_partitions
from assay.engine._seeds import Seeded, Validate, compute_seeds, needs_seeds
from assay.exceptions import SchemaError, SpecError, did_you_mean
from assay.registry._artifact import absolute_local_uri

__all__ = ["DISTRIBUTE_ROWS", "predict_dask", "run_dask"]

log = logging.getLogger("assay")

# Above this many training rows LightGBM trains through lightgbm.dask; below, one worker trains it exactly as the
# local engine would (distributed LightGBM on a few thousand rows only adds network set-up and bin differences).
DISTRIBUTE_ROWS = 1_000_000


def _echo(text: str) -> None:
    print(text, file=sys.stderr)


def run_dask(
    spec: Any,
    *,
    progress: Callable[[str, float], None] | None = None,
    client: Any = None,
    rows_per_partition: int = DEFAULT_PARTITION_ROWS,
    distribute_rows: int = DISTRIBUTE_ROWS,
    matrices: str = "auto",
    echo: Callable[[str], None] | None = _echo,
) -> Any:
    """Run a pipeline spec on Dask; returns the same :class:`~assay.pipeline.TrainResult` as the local engine.

    Connects to ``spec.scheduler`` (or starts a ``LocalCluster``) unless a ``client`` is given, prints the
    dashboard link, writes ``model/``, ``metrics.json`` and ``report.html`` to ``spec.output.dir``.

    ``matrices`` says where the feature matrices live: ``"memory"`` (the workers' memory), ``"disk"`` (``.npy``
    files on the workers' local disks, streamed through each iteration) or ``"auto"``: disk when their estimated size
    exceeds half of the workers' summed memory limits (:func:`~assay.engine._dask.choose_matrix_mode`). The choice
    is printed and stored in the model's manifest (``engine.matrices``).
    """
    from assay.pipeline import write_outputs
    from assay.spec import PipelineSpec, load_spec, parse_spec

    if isinstance(spec, str | Path):
        spec = load_spec(spec)
    elif not isinstance(spec, PipelineSpec):
        spec = parse_spec(spec)
    if client is None:
        if spec.scheduler is None:
            # A local cluster reads what this process can: a missing file or a refused connection is said now,
            # not after the cluster's start-up (seconds).
            from assay.sources import open_source

            open_source(spec.source, **spec.source_options)
        with dask_client(spec.scheduler, echo=echo) as own:
            return run_dask(spec, progress=progress, client=own, rows_per_partition=rows_per_partition,
                            distribute_rows=distribute_rows, matrices=matrices, echo=echo)
    if matrices not in ("auto", "memory", "disk"):
        msg = f"matrices={matrices!r} is not valid; choose 'auto', 'memory' or 'disk'"
        raise SpecError(msg)
    if spec.task == "recommendation" or spec.user or spec.item:
        result = _recommend_on_a_worker(client, spec, progress)
        write_outputs(result, Path(spec.output.dir), report=spec.output.report, spec=spec.model_dump())
        return result
    from assay.pipeline import _NoteCollector

    job = _Job(client, spec, progress, rows_per_partition, distribute_rows, matrices=matrices, echo=echo)
    capture = _NoteCollector()  # the notes the run said, kept on the result as the local engine keeps them
    logging.getLogger("assay").addHandler(capture)
    try:
        result = job.train()
    finally:
        logging.getLogger("assay").removeHandler(capture)
        job.release_all()
    result.notes = list(dict.fromkeys(capture.notes))
    write_outputs(result, Path(spec.output.dir), report=spec.output.report, spec=spec.model_dump())
    return result


# ---------------------------------------------------------------------------------------------------------------------


def _small_data(est: Any, rows: int) -> Any:
    """The local engine's settings for a model fitted on few rows (LightGBM's leaf size), so that both engines fit
    the same model: :func:`assay.models.adapt_to_rows`."""
    from assay.models import adapt_to_rows

    return adapt_to_rows(est, int(rows))


def _recommend_task(spec: Any) -> Any:
    from assay.pipeline import Pipeline

    pipe = Pipeline(
        target=spec.target, task=spec.task, steps=spec.steps, models=spec.models, folds=spec.evaluation.folds,
        test_size=spec.evaluation.test_size, seed=spec.evaluation.seed, time_budget=spec.evaluation.time_budget,
        threshold=spec.evaluation.threshold, user=spec.user, item=spec.item, rating=spec.rating,
    )
    return pipe.fit(spec.source, source_options=spec.source_options)


def _recommend_on_a_worker(client: Any, spec: Any, progress: Callable[[str, float], None] | None) -> Any:
    """Recommendation specs: the local engine's whole job as one task on one worker (the interactions must fit its
    memory; the collaborative-filtering models have no data-parallel algorithm here)."""
    if progress:
        progress("recommendation: training on one worker", 0.0)
    # (the worker reads the source: a relative path is this process's, not the worker's)
    result = client.submit(_recommend_task, spec.model_copy(update={"source": absolute_local_uri(spec.source)}),
                           pure=False).result()
    result.model.manifest["engine"] = {"name": "dask", "partitions": 1, "on_one_worker": True,
                                       "workers": len(client.scheduler_info(n_workers=-1).get("workers", {}))}
    if progress:
        progress("done", 1.0)
    return result


def _column(part: Partition, column: str | None) -> Any:
    from assay.engine._partitions import read_partition

    if column is None:
        return read_partition(part).height
    return read_partition(part, [column]).get_column(column)


def _distinct_hashes(part: Partition, columns: list[str]) -> dict[str, np.ndarray | None]:
    """Per column, the 64-bit hashes of its non-null values in this partition, or None when a value repeats
    here already (then the column is no identifier and nothing more is shipped)."""
    from assay.engine._partitions import read_partition

    frame = read_partition(part, columns)
    out: dict[str, np.ndarray | None] = {}
    for col in columns:
        values = frame.get_column(col).drop_nulls()
        out[col] = None if values.n_unique() < values.len() else values.cast(pl.String).hash(seed=0).to_numpy()
    return out


def _row_number_summary(part: Partition, columns: list[str]) -> dict[str, Any]:
    """The ``drop_useless`` summary of the candidate row-index columns in this partition (merged in file order)."""
    from assay.clean._useless import DropUselessStep
    from assay.engine._partitions import read_partition

    return DropUselessStep(columns).summarize(read_partition(part, columns))


def _fingerprint(source: str, options: dict[str, Any]) -> str | None:
    """The source's lineage fingerprint as the local engine records it (files: a hash of their bytes), computed
    on a worker, which sees the files the partitions are read from."""
    from assay.sources import open_source

    return open_source(source, **options).fingerprint()


def _rows_at(part: Partition, columns: list[str], rows: np.ndarray) -> pl.DataFrame:
    from assay.engine._partitions import read_partition

    return read_partition(part, columns)[rows]


def _rows_at_positions(client: Any, parts: list[Partition], columns: list[str], positions: np.ndarray) -> pl.DataFrame:
    """``columns`` of the rows at global ``positions`` (numbered across the partitions), in the order given; each
    partition sends only its rows among them."""
    positions = np.asarray(positions, dtype=np.int64)
    order = np.argsort(positions, kind="stable")
    ordered = positions[order]
    futures = []
    for part in parts:
        lo, hi = np.searchsorted(ordered, [part.offset, part.offset + (part.rows or 0)])
        if hi > lo:
            futures.append(client.submit(_rows_at, part, columns, ordered[lo:hi] - part.offset, pure=False))
    frame = pl.concat(client.gather(futures), how="vertical_relaxed")
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return frame[inverse]


def _training_columns(client: Any, parts: list[Partition], columns: list[str], train_rows: np.ndarray,
                      y: pl.Series, sizes: list[int], seed: int, *, sample: bool = False) -> pl.DataFrame | None:
    """``columns`` and the target ``y`` on the training rows, in the local engine's order of them: all rows when
    none of the checks ``sizes`` (rows each samples at most) would sample, else (``sample``) the rows a seeded
    ``DataFrame.sample`` of ``sizes[0]`` rows takes (it picks by row count and seed alone); else None."""
    if not columns:
        return None
    n = len(train_rows)
    if n > min(sizes):
        if not sample:
            return None
        picked = pl.DataFrame({"i": np.arange(n)}).sample(sizes[0], seed=seed).get_column("i").to_numpy()
        train_rows, y = train_rows[picked], y.gather(picked)
    return _rows_at_positions(client, parts, columns, train_rows).with_columns(y)


def _head(part: Partition, columns: list[str], rows: int) -> pl.DataFrame:
    from assay.engine._partitions import read_partition

    return read_partition(replace(part, rows=min(part.rows or rows, rows)), columns)


def _last_row(part: Partition, columns: list[str]) -> pl.DataFrame:
    from assay.engine._partitions import read_partition

    return read_partition(part, columns).tail(1)


def _sums(part: Partition, columns: list[str]) -> pl.DataFrame:
    from assay.engine._partitions import read_partition

    return read_partition(part, columns).select(pl.col(columns).cast(pl.Float64).sum())


def _schema(part: Partition) -> dict[str, pl.DataType]:
    from assay.engine._partitions import read_partition

    if part.kind == "parquet":
        return dict(pl.scan_parquet(part.uri).collect_schema())
    return dict(read_partition(replace(part, rows=min(part.rows or 1000, 1000))).schema)


def _fit_score_task(est: Any, X_tr: list[np.ndarray], y_tr: list[np.ndarray] | None, X_te: list[np.ndarray],
                    y_te: np.ndarray | None, task: str,
                    order: np.ndarray | None = None) -> tuple[dict[str, Any], float]:
    """One (fold, model) pair on one worker: fit on the fold's training rows (in the local engine's ``order``),
    score on its held-out rows."""
    from assay.evaluate import score
    from assay.pipeline import _fit_score, _Prepared

    def cat(values: list[Any], rows: np.ndarray | None = None) -> np.ndarray:
        out = np.concatenate([as_array(v) for v in values])
        return out if rows is None else out[rows]

    prep = _Prepared(cat(X_tr, order), None if y_tr is None else cat(y_tr, order), cat(X_te), y_te, [], [], [])
    start = time.perf_counter()
    return _fit_score(est, prep, task, score), time.perf_counter() - start


@dataclass
class _Fold:
    """A fold prepared on the cluster: fitted steps, and the feature matrices held by the workers."""

    steps: list[Step]
    features: list[str]
    fill: list[float]
    X_train: list[Any]
    y_train: list[Any] | None
    X_test: list[Any]
    y_test: np.ndarray | None
    train_rows: int
    cache: str | None = None  # the disk cache holding the matrices (None: held in memory)
    # The local engine's order of the training rows as a permutation of the matrices' (file) order; None when equal.
    order: np.ndarray | None = None

    def gather_test(self, client: Any) -> np.ndarray:
        parts = [x for x in gather_arrays(client, self.X_test) if len(x)]
        return np.concatenate(parts) if parts else np.empty((0, len(self.features)))


class _Job:
    def __init__(self, client: Any, spec: Any, progress: Callable[[str, float], None] | None,
                 rows_per_partition: int, distribute_rows: int, *, matrices: str = "auto",
                 echo: Callable[[str], None] | None = None) -> None:
        self.client = client
        self.spec = spec
        self.notify = progress or (lambda _msg, _frac: None)
        self.rows_per_partition = rows_per_partition
        self.distribute_rows = distribute_rows
        self.matrices = matrices
        self.mode: str | None = None  # decided once, on the first fold, and used for every matrix of the job
        self.echo = echo
        self.caches: list[str] = []
        self.split: dict[str, Any] = {}
        self.sorted_train = False  # a time split whose training rows are not in file order (sorted by time)
        self.folds = 5  # the folds used, once the split is known (the local engine's Pipeline.folds_)

    def _matrix_mode(self, rows: int, n_features: int) -> str:
        if self.mode is None:
            if self.matrices == "auto":
                self.mode, reason = choose_matrix_mode(self.client, matrix_bytes(rows, n_features))
            else:
                self.mode = self.matrices
                reason = f"feature matrices ≈ {_mb(matrix_bytes(rows, n_features))}: {self.mode} (as asked)"
            log.info("dask: %s", reason)
            if self.echo is not None:
                self.echo(f"dask: {reason}")
        return self.mode

    def release(self, fold: _Fold) -> None:
        """Delete a fold's disk-cached matrices once nothing will read them again."""
        if fold.cache is not None and fold.cache in self.caches:
            drop_cached(self.client, [fold.cache])
            self.caches.remove(fold.cache)

    def release_all(self) -> None:
        if self.caches:
            drop_cached(self.client, self.caches)
            self.caches.clear()

    # -- data -------------------------------------------------------------------------------------------------
    def _plan(self) -> list[Partition]:
        spec, client = self.spec, self.client
        opts = dict(spec.source_options)
        key, count = opts.pop("key", None), opts.pop("partitions", None)

        def count_rows(whole: list[Partition]) -> list[int]:
            return [int(n) for n in client.gather(client.map(count_partition_rows, whole, pure=False))]

        return plan_partitions(spec.source, source_options=opts, rows_per_partition=self.rows_per_partition,
                               key=key, partitions=count, count_rows=count_rows)

    def _row_index(self, pipe: Any, parts: list[Partition], schema: dict[str, pl.DataType],
                   target: str | None) -> list[str]:
        """The local engine's rule (``Pipeline._drop_row_index``) over every partition: an integer column under a
        table export's index header whose numbers only go up down the whole file, from per-partition summaries
        merged in partition order."""
        from functools import reduce

        from assay.clean._useless import ROW_NUMBER_NAMES, DropUselessStep, _row_numbers

        candidates = [c for c, t in schema.items()
                      if c != target and t.is_integer() and c.strip().lower() in ROW_NUMBER_NAMES]
        if not candidates or pipe._keeps_row_index():
            return []
        pieces = self.client.gather(self.client.map(_row_number_summary, parts, columns=candidates, pure=False))
        merged = reduce(DropUselessStep(candidates).merge, pieces)
        return [c for c in candidates if _row_numbers(merged["stats"][c])]

    def _identifiers(self, pipe: Any, parts: list[Partition], schema: dict[str, pl.DataType], target: str | None,
                     total: int) -> tuple[list[str], list[str]]:
        """The local engine's rule (``Pipeline._identifier_columns``) over every partition: text whose non-null
        values are all distinct, and whole numbers named as an id with a different value on each of the ``total``
        rows (a totals row left aside), judged from 64-bit hashes gathered here (a column stops shipping hashes as
        soon as one partition repeats a value; a hash collision, vanishingly rare, would only keep a column)."""
        from assay.pipeline import IDENTIFIER_MIN_ROWS, identifiers_among

        text = pipe._text_candidates(schema, target)
        keys = pipe._key_candidates(schema, target)
        if not (text or keys) or total < IDENTIFIER_MIN_ROWS:
            return [], []
        found = self.client.gather(self.client.map(_distinct_hashes, parts, columns=[*text, *keys], pure=False))
        unique: dict[str, int] = {}  # column -> its non-null values, all distinct
        for col in [*text, *keys]:
            pieces = [f[col] for f in found]
            if any(p is None for p in pieces):
                continue
            hashes = np.concatenate(pieces) if pieces else np.empty(0, dtype=np.uint64)
            if len(hashes) >= IDENTIFIER_MIN_ROWS and len(np.unique(hashes)) == len(hashes):
                unique[col] = len(hashes)
        ids: list[str] = []
        notes: list[str] = []
        distinct_text = [c for c in text if c in unique]
        if distinct_text:
            head = self.client.submit(_head, parts[0], distinct_text, 2000, pure=False).result()
            ids, notes = identifiers_among(distinct_text, head)
        numbered = [c for c in keys if unique.get(c, 0) >= total]
        if numbered:  # the local engine's words
            names = ", ".join(repr(c) for c in numbered)
            notes.append(f"not used as feature(s): {names}: named as an id, with a different whole number in every "
                         "row (a key, not a measurement: as a number it would only tell the model where the row was "
                         "numbered); to use it anyway, give the steps explicitly")
        return [*ids, *numbered], notes

    def _column_notes(self, pipe: Any, parts: list[Partition], schema: dict[str, pl.DataType], target: str,
                      task: str, y_train: pl.Series, train_rows: np.ndarray) -> None:
        """The local engine's notes on single columns before the folds (``assay.pipeline.Pipeline._fit``), in its
        order: target leakage, a date column in a shuffled split, repeated entities. Each check runs on the same
        rows as locally: the training rows of the columns it looks at, brought to the client (all of them when the
        check takes them all, else the rows its own seeded sample would take, within its bound of cells)."""
        from assay.evaluate import leakage_suspects
        from assay.evaluate._leakage import CELLS, MIN_SAMPLE, _usable, repeated_entities

        exclude = {target, *(c for c in (pipe.group,) if c is not None)}
        shuffled = pipe.group is None and pipe.time is None
        leak = [c for c, t in schema.items() if c not in exclude and _usable(t)]
        entity = [c for c, t in schema.items() if c not in exclude and (t.is_integer() or t == pl.String
                                                                          or isinstance(t, pl.Categorical))]
        if not shuffled or (task == "regression" and not y_train.dtype.is_numeric()):
            entity = []
        if task not in ("classification", "regression"):
            leak, entity = [], []
        leak_rows, entity_rows = max(MIN_SAMPLE, min(200_000, CELLS // max(len(leak), 1))), 200_000
        sizes = [size for size, columns in ((leak_rows, leak), (entity_rows, entity)) if columns]
        client, seed = self.client, pipe.seed
        both = list(dict.fromkeys([*leak, *entity]))
        whole = _training_columns(client, parts, both, train_rows, y_train, sizes, seed)  # (once, when neither samples)
        if leak:
            frame = whole if whole is not None else _training_columns(client, parts, leak, train_rows, y_train,
                                                                      [leak_rows], seed, sample=True)
            for suspect in leakage_suspects(frame, target, task, seed=pipe.seed):
                log.warning(suspect["message"])
        if shuffled:
            hint = self._time_split_hint(parts, schema, target, train_rows)
            if hint:
                log.warning(hint)
        if entity:
            frame = whole if whole is not None else _training_columns(client, parts, entity, train_rows, y_train,
                                                                      [entity_rows], seed, sample=True)
            for repeated in repeated_entities(frame, target, task, seed=pipe.seed)[:2]:
                log.warning(repeated["message"])

    def _time_split_hint(self, parts: list[Partition], schema: dict[str, pl.DataType], target: str,
                         train_rows: np.ndarray) -> str | None:
        """The local engine's note on a column of dates or times among the inputs of a shuffled split
        (``assay.pipeline._time_split_hint``), judged by the same function on the training rows of the candidate
        columns alone: dates and times, and text whose first values in the source read as dates (so that no other
        column is brought to the client)."""
        from assay.pipeline import _time_split_hint

        if len(train_rows) < 50:
            return None
        candidates = [c for c, t in schema.items() if c != target and (t in (pl.Date, pl.Datetime)
                                                                      or isinstance(t, pl.Datetime))]
        text = [c for c, t in schema.items() if c != target and t == pl.String]
        filled = [p for p in parts if p.rows]
        if text and filled:
            head = self.client.submit(_head, filled[0], text, 200, pure=False).result()
            for col in text:
                values = head.get_column(col).drop_nulls().str.strip_chars()
                if values.str.contains(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}").all():
                    candidates.append(col)
        if not candidates:
            return None
        candidates = [c for c in schema if c in candidates]  # in the source's order, as the local rule looks
        columns = {c: pl.concat(self.client.gather(self.client.map(_column, parts, column=c, pure=False)),
                                rechunk=True).gather(train_rows) for c in candidates}
        return _time_split_hint(pl.DataFrame(columns), target, ())

    def _total_row(self, parts: list[Partition], heights: list[int], schema: dict[str, Any]) -> str | None:
        """The local engine's note when the source ends with a report's totals row (``合计`` and the column sums:
        :func:`assay.clean._useless.total_row`), else None. The last row is read first; the sums over every
        partition are computed only when a text cell of it says total (the local rule also takes two sums without
        such a label, which would cost every run a pass over the data here)."""
        from assay.clean._useless import _TOTAL_LABEL, total_row

        numeric = [c for c, t in schema.items() if t.is_numeric()]
        text = [c for c, t in schema.items() if t in (pl.String, pl.Categorical)]
        filled = [i for i, h in enumerate(heights) if h]
        if sum(heights) < 3 or not numeric or not text or not filled:
            return None
        last = self.client.submit(_last_row, parts[filled[-1]], numeric + text, pure=False).result()
        if not any(last[c][0] is not None and _TOTAL_LABEL.match(str(last[c][0])) for c in text):
            return None
        sums = pl.concat(self.client.gather(self.client.map(_sums, [parts[i] for i in filled], columns=numeric,
                                                             pure=False))).sum()
        # The local rule on three rows: the sums of the rows above the last, a row of zeros, the last row.
        above = sums.with_columns(pl.col(c) - last[c].cast(pl.Float64) for c in numeric)
        zeros = above.with_columns(pl.lit(0.0).alias(c) for c in numeric)
        frame = pl.concat([pl.concat([above, zeros]).with_columns(pl.lit(None, pl.String).alias(c) for c in text),
                           last.with_columns(pl.col(numeric).cast(pl.Float64), pl.col(text).cast(pl.String))],
                          how="vertical_relaxed")
        found = total_row(frame, numeric, text)
        if found is None:
            return None
        from assay.pipeline import total_row_note

        return total_row_note({**found, "row": sum(heights)})

    def train(self) -> Any:
        from assay.evaluate import GREATER_IS_BETTER, PRIMARY_METRIC, score
        from assay.models import default_models, make_model
        from assay.pipeline import Pipeline, TrainResult, _labels, _parse_threshold, _py, require_binary

        spec, client = self.spec, self.client
        objective = _parse_threshold(spec.evaluation.threshold) if spec.evaluation.threshold else None
        pipe = Pipeline(
            target=spec.target, task=spec.task, steps=spec.steps, models=spec.models, folds=spec.evaluation.folds,
            test_size=spec.evaluation.test_size, seed=spec.evaluation.seed, time_budget=spec.evaluation.time_budget,
            group=spec.evaluation.group, time=spec.evaluation.time,
        )
        if (pipe.group or pipe.time) and pipe.time_budget:
            msg = ("a time budget searches with shuffled k-fold; it cannot keep groups or time order yet: drop "
                   "--time-budget, or the --group/--time split")
            raise SpecError(msg)
        self.notify(f"planning partitions of {spec.source}", 0.0)
        parts = self._plan()
        # Hashed on a worker meanwhile (a file's bytes once more: seconds for gigabytes), for the model's lineage.
        options = {k: v for k, v in spec.source_options.items() if k not in ("key", "partitions")}
        fingerprint = client.submit(_fingerprint, absolute_local_uri(spec.source), options, pure=False)
        schema = client.submit(_schema, parts[0], pure=False).result()
        target = spec.target
        if target is not None and target not in schema:
            msg = (f"target column {target!r} not found in {spec.source}{did_you_mean(target, schema)} "
                   f"(columns: {', '.join(schema)})")
            raise SchemaError(msg)
        source_columns = list(schema)
        if spec.drop:
            # Left out of every whole read (features, steps, schema); a dropped --group/--time column is still read
            # by name for the split, as on the local engine.
            Pipeline(target=target, drop=spec.drop)._check_drop(list(schema), spec.source, target)
            parts = [replace(p, drop=tuple(spec.drop)) for p in parts]
            schema = {c: t for c, t in schema.items() if c not in spec.drop}
        cols = client.gather(client.map(_column, parts, column=target, pure=False))
        heights = [c if isinstance(c, int) else c.len() for c in cols]
        parts = _renumber(parts, heights)
        total = sum(heights)
        if total == 0:
            msg = f"{spec.source} has no rows to train on"
            raise SchemaError(msg)
        row = pl.Series("__row", np.arange(total, dtype=np.int64))
        yframe = pl.DataFrame([row]) if target is None else pl.DataFrame([pl.concat(cols, rechunk=True), row])
        total_note = self._total_row(parts, heights, schema)
        if total_note is not None:  # the row stays in its partition; no split, fold or fit ever selects it
            yframe = yframe.head(total - 1)
        # A group or time split needs that column here too (one column, like the target): the split and the folds
        # are then made by the local engine's own functions over the same rows.
        split_column = pipe.group or pipe.time
        if split_column is not None:
            what = "group" if pipe.group else "time"
            if split_column not in source_columns:
                msg = (f"{what} column {split_column!r} not found in {spec.source}"
                       f"{did_you_mean(split_column, source_columns)} (columns: {', '.join(source_columns[:12])}"
                       f"{', …' if len(source_columns) > 12 else ''})")
                raise SchemaError(msg)
            if split_column != target:
                values = client.gather(client.map(_column, parts, column=split_column, pure=False))
                yframe = yframe.with_columns(pl.concat(values, rechunk=True).alias(split_column))
        # (``yframe`` keeps the rows trained and tested on: the lineage counts them as the local engine does, without a
        # totals row or rows of a missing target)
        yframe, task, notes = pipe._check_target(yframe, spec.source)
        if task == "anomaly" and target is not None:
            from assay.pipeline import _anomaly_labels_note

            notes += _anomaly_labels_note(yframe.get_column(target))
        if total_note is not None:
            log.warning(total_note)
        target = target if task != "clustering" else None
        index = self._row_index(pipe, parts, schema, target)
        if index:  # as on the local engine: never a feature
            from assay.pipeline import row_index_note

            parts = [replace(p, drop=(*p.drop, *index)) for p in parts]
            schema = {c: t for c, t in schema.items() if c not in index}
            notes = [row_index_note(index), *notes]
        ids, id_notes = self._identifiers(pipe, parts, schema, target, total - (total_note is not None))
        if ids:  # left out of the features as on the local engine; still readable by name for a split
            parts = [replace(p, drop=(*p.drop, *ids)) for p in parts]
            schema = {c: t for c, t in schema.items() if c not in ids}
            notes = [*notes, *id_notes]
        if task == "clustering" and spec.target in schema:  # said in _check_target's note, as on the local engine
            parts = [replace(p, drop=(*p.drop, spec.target)) for p in parts]
            schema = {c: t for c, t in schema.items() if c != spec.target}
        for note in notes:  # said as the local engine says them, before the folds
            log.warning(note)
        input_schema = {c: str(t) for c, t in schema.items() if c != target}
        train_y, test_y = _split(pipe, yframe, target, task)
        from assay.pipeline import _check_rows_for_folds

        _check_rows_for_folds(pipe, train_y.height, test_y.height)
        if task == "classification" and target is not None:
            from assay.pipeline import _say_unseen_classes

            _say_unseen_classes(pipe, train_y.get_column(target), test_y.get_column(target))
        if pipe.folds is None and task == "classification" and target is not None and not (pipe.group or pipe.time):
            from assay.pipeline import _choose_folds

            pipe.folds_ = _choose_folds(train_y.get_column(target))
        self.folds = pipe.folds_
        train_rows = train_y.get_column("__row").to_numpy()
        test_rows = test_y.get_column("__row").to_numpy()
        self.split = {"kind": "group" if pipe.group else "time" if pipe.time else "stratified"
                      if task == "classification" else "random", "column": split_column,
                      "train_rows": len(train_rows), "test_rows": len(test_rows)}
        self.sorted_train = pipe.time is not None and bool(np.any(np.diff(train_rows) < 0))
        names = list(pipe.models) if pipe.models else default_models(task)
        for name in names:  # unknown names fail before any work is done, as on the local engine
            make_model(name, task, seed=pipe.seed)
        if objective is not None:  # said before the folds, as on the local engine, not after them
            require_binary(task, None, train_y.get_column(target).n_unique() if target is not None else 0)
        if target is not None:
            self._column_notes(pipe, parts, schema, target, task, train_y.get_column(target), train_rows)
        primary = PRIMARY_METRIC[task]
        higher = GREATER_IS_BETTER.get(primary, True)
        y_all = None if target is None else _labels(train_y.get_column(target))
        # Group k-fold with a group split, forward-chaining folds over the rows in time order with a time split
        # (train_rows are in that order then), else (stratified) shuffled k-fold: the local engine's folds.
        splits = pipe._fold_indices(train_y, y_all if y_all is not None else np.zeros(len(train_rows)), task)
        self.split["folds"] = len(splits)

        if pipe.time_budget and task in ("classification", "regression"):
            board, ordered, est, fold, params = self._search(parts, train_rows, test_rows, target, task, names)
        else:
            board, ordered = self._cross_validate(parts, train_rows, splits, target, task, names, score)
            best, params = board[0]["model"], {}
            self.notify(f"refitting {best} on all training rows", 0.95)
            fold = self._prepare(parts, train_rows, test_rows, target, task)
            est = self._fit(make_model(best, task, seed=pipe.seed), fold.X_train, fold.y_train, fold)
        best = board[0]["model"]
        threshold = None
        if objective is not None:
            require_binary(task, est)
            self.notify("tuning the decision threshold on out-of-fold probabilities", 0.97)
            threshold = self._tune_threshold(parts, train_rows, splits, fold, best, params, est, objective, y_all,
                                             pipe=pipe, train_y=train_y)
        test_metrics = self._score(est, fold, task, score, keep=True, threshold=threshold)
        predictions = test_metrics.pop("_predictions")
        test_metrics.pop("_estimator")
        best_row = next((r for r in board if r.get("model") == best), {})
        from assay.pipeline import _say_test_split

        _say_test_split(pipe, task, target, fold.y_test, test_metrics, best_row, primary, higher)
        from assay._fitted import Model

        model = Model(
            fold.steps, est, task=task, target=target, input_schema=input_schema, features=fold.features,
            classes=None if not hasattr(est, "classes_") else [_py(c) for c in est.classes_],
            feature_fill=fold.fill,
            threshold=threshold,
            manifest={
                "model_name": best,
                "source": {"uri": spec.source, "fingerprint": self._fingerprint_of(fingerprint), "rows": yframe.height},
                "primary_metric": primary,
                "greater_is_better": higher,
                "engine": {"name": "dask", "partitions": len(parts), "matrices": self.mode,
                           "workers": len(client.scheduler_info(n_workers=-1).get("workers", {}))},
            },
        )
        cv_scores = {name: [s.get(primary) for s in ordered.get(name, [])] for name in names}
        result = TrainResult(model, task, target, primary, board, test_metrics, cv_scores, notes=notes)
        result.split = self.split
        result._report_inputs = {"prep": self._report_prep(fold), "predictions": predictions}  # type: ignore[attr-defined]
        self.notify("done", 1.0)
        return result

    @staticmethod
    def _fingerprint_of(future: Any) -> str | None:
        try:
            return future.result()
        except Exception as exc:  # lineage is a record, not a reason to lose the trained model
            log.info("no data fingerprint for the lineage: %s", exc)
            return None

    def _prepare(self, parts: list[Partition], train_rows: np.ndarray, test_rows: np.ndarray, target: str | None,
                 task: str) -> _Fold:
        import uuid

        from assay.engine._dask import train_masks as with_kept
        from assay.pipeline import _features, _make_steps

        client = self.client
        train_masks = row_mask(train_rows, parts)
        test_masks = row_mask(test_rows, parts)
        schema = client.submit(_schema, parts[0], pure=False).result()
        steps = _make_steps(self.spec.steps, pl.Schema(schema), target, task)
        if self.sorted_train:
            for step in steps:
                if needs_seeds(step):
                    msg = (f"{step.name}: {step.strategy}/{step.categorical} fills from neighbouring rows, and with "
                           f"evaluation.time the local engine takes the training rows in time order, which is not "
                           f"the order of {self.spec.source}; sort the source by {self.spec.evaluation.time!r} first, "
                           "or run on the local engine")
                    raise SpecError(msg)
        steps = fit_steps(client, parts, steps, target, masks=train_masks)
        out_schema = transformed_schema(client, parts, steps, train_masks)
        features = _features(pl.DataFrame(schema=out_schema), target)
        # The rows around each partition for steps filling from neighbours: one pass, shared by the two below.
        seeds = compute_seeds(client, parts, with_kept(parts, train_masks, steps), steps, train=True)
        fill = column_means(client, parts, steps, features, train_masks, seeds=seeds)
        mode = self._matrix_mode(len(train_rows) + len(test_rows), len(features))
        cache = uuid.uuid4().hex if mode == "disk" else None
        if cache is not None:
            self.caches.append(cache)
        X_train, y_train = build_matrices(client, parts, steps, features, fill, target, masks=train_masks, mode=mode,
                                          cache=cache, seeds=seeds)
        X_test, y_test = build_matrices(client, parts, steps, features, fill, target, masks=test_masks, train=False,
                                        mode=mode, cache=None if cache is None else f"{cache}/test")
        y_te = None
        if y_test is not None:
            pieces = [y for y in gather_arrays(client, y_test) if len(y)]
            y_te = np.concatenate(pieces) if pieces else np.empty(0)
        rows = train_rows
        if any(getattr(s, "kept_", None) is not None for s in steps):
            rows = train_rows[np.isin(train_rows, kept_positions(parts, steps, train_rows))]
        return _Fold(steps, features, fill, X_train, y_train, X_test, y_te, len(rows), cache, _order_of(rows))

    def _cross_validate(self, parts: list[Partition], train_rows: np.ndarray, splits: list[Any], target: str | None,
                        task: str, names: list[str], score: Callable[..., dict[str, Any]]) -> tuple[list, dict]:
        """Every candidate with its defaults on the same folds; steps refitted inside each fold on the cluster."""
        from assay.evaluate import PRIMARY_METRIC, leaderboard
        from assay.models import make_model

        client = self.client
        fold_scores: dict[str, list[tuple[int, dict[str, Any]]]] = {name: [] for name in names}
        fit_seconds: dict[str, float] = dict.fromkeys(names, 0.0)
        pending: list[tuple[str, int, Any]] = []
        waiting: list[_Fold] = []  # folds whose disk cache is freed once their pending tasks are done
        total = len(splits) * len(names) + 1
        done = 0
        for k, (tr, te) in enumerate(splits):
            self.notify(f"fold {k + 1}/{len(splits)}: fitting steps on {len(parts)} partitions", done / total)
            from assay.clean._base import steps_quiet as _steps_quiet

            with _steps_quiet():  # the steps' notes come once, from the final fit, not once per fold
                fold = self._prepare(parts, train_rows[tr], train_rows[te], target, task)
            for name in names:
                est = _small_data(make_model(name, task, seed=self.spec.evaluation.seed), fold.train_rows)
                if self._on_one_worker(est, fold):
                    # Independent (fold, model) fits run as parallel tasks; collected after the loop.
                    future = client.submit(_fit_score_task, est, fold.X_train, fold.y_train, fold.X_test,
                                           fold.y_test, task, fold.order, pure=False)
                    pending.append((name, k, future))
                else:
                    self.notify(f"fold {k + 1}/{len(splits)} · {name} (data-parallel)", done / total)
                    start = time.perf_counter()
                    scores = self._fit_score(est, fold, task, score)
                    fit_seconds[name] += time.perf_counter() - start
                    fold_scores[name].append((k, scores))
                done += 1
            if any(p[1] == k for p in pending):
                waiting.append(fold)
            else:
                self.release(fold)
        for name, k, future in pending:
            scores, seconds = future.result()
            fit_seconds[name] += seconds
            fold_scores[name].append((k, scores))
        for fold in waiting:
            self.release(fold)
        ordered = {name: [s for _, s in sorted(pairs, key=lambda p: p[0])] for name, pairs in fold_scores.items()}
        board = leaderboard(ordered, PRIMARY_METRIC[task])
        for entry in board:
            entry.setdefault("fit_seconds", round(fit_seconds.get(entry["model"], 0.0), 3))
        return board, ordered

    def _search(self, parts: list[Partition], train_rows: np.ndarray, test_rows: np.ndarray, target: str | None,
                task: str, names: list[str]) -> tuple[list, dict, Any, _Fold]:
        """``evaluation.time_budget``: the local engine's search (defaults, then Optuna) on the prepared training
        matrix, run as one task on a worker; steps fitted once on the training split, as locally."""
        budget = float(self.spec.evaluation.time_budget or 0)
        fold = self._prepare(parts, train_rows, test_rows, target, task)
        self.notify(f"searching for {budget:.0f}s on a worker", 0.1)
        found = self.client.submit(_automl_task, fold.X_train, fold.y_train, task, budget,
                                   self.spec.evaluation.seed, self.folds, names, pure=False).result()
        return found.leaderboard, found.fold_scores, found.best_estimator, fold, dict(found.best_params)

    def _on_one_worker(self, est: Any, fold: _Fold) -> bool:
        from assay.models._linear import LinearRegressionGD, LogisticRegressionGD

        big = fold.train_rows > self.distribute_rows
        if isinstance(est, LogisticRegressionGD | LinearRegressionGD):
            return not self._gd_data_parallel(big)
        return not (big and (_is_lightgbm(est) or _is_kmeans(est)))

    def _gd_data_parallel(self, big: bool) -> bool:
        """Whether gradient descent sums per-partition gradients each iteration (one round trip to every worker per
        iteration) rather than running in one task: for many rows, or matrices cached on the workers' disks. A few
        thousand rows fit in one task in milliseconds where hundreds of round trips take seconds (Ecdat's Computers,
        6,259 rows, linreg over 3 folds and the refit: 8.6 s data-parallel, 0.9 s in one task each)."""
        return big or self.mode == "disk"

    def _fit(self, est: Any, X: list[Any], y: list[Any] | None, fold: _Fold, rows: int | None = None,
             order: np.ndarray | None = None) -> Any:
        """Fit ``est`` on the per-partition matrices ``X``/``y`` (``rows`` of them; the fold's training rows by
        default) data-parallel when it can be, else in one task on one worker, on the rows in ``order`` (the
        fold's when ``X`` is its training matrix)."""
        if X is fold.X_train:
            order = fold.order
        from assay.models._linear import LinearRegressionGD, LogisticRegressionGD

        client = self.client
        d = len(fold.features)
        est = _small_data(est, fold.train_rows if rows is None else rows)
        big = (fold.train_rows if rows is None else rows) > self.distribute_rows
        if isinstance(est, LogisticRegressionGD | LinearRegressionGD) and self._gd_data_parallel(big):
            return fit_linear(client, X, y, est, n_features=d, order=order)  # type: ignore[arg-type]
        if _is_lightgbm(est) and big and y is not None:
            return fit_lightgbm(client, X, y, est, n_features=d)
        if _is_kmeans(est) and big:
            return fit_kmeans_auto(client, X, est)
        return fit_on_worker(client, X, y, est, order=order)

    def _fit_score(self, est: Any, fold: _Fold, task: str, score: Callable[..., dict[str, Any]]) -> dict[str, Any]:
        return self._score(self._fit(est, fold.X_train, fold.y_train, fold), fold, task, score)

    def _tune_threshold(self, parts: list[Partition], train_rows: np.ndarray, splits: list[Any], fold: _Fold,
                        best: str, params: dict[str, Any], est: Any, objective: tuple[str, float, float],
                        y_train: np.ndarray | None = None, *, pipe: Any = None,
                        train_y: pl.DataFrame | None = None) -> dict[str, Any]:
        """The local engine's rule (:meth:`assay.pipeline.Pipeline._tune_threshold`) on the cluster: the best model
        refitted on each CV split of the training rows — featurized by the steps fitted on all of them, as locally —
        predicts its held-out rows; the threshold is chosen on those out-of-fold probabilities. When steps removed
        training rows (dedupe, outliers drop/quarantine), the splits are made over the rows they kept (``y_train``
        holds the labels of ``train_rows``), as the local engine splits its cleaned training matrix. With a group or
        time split the splits are the leaderboard's folds (``splits``), refused when steps removed rows, as locally."""
        from assay.evaluate import fold_indices
        from assay.models import make_model
        from assay.pipeline import threshold_from_oof

        client, seed = self.client, self.spec.evaluation.seed
        if y_train is not None and any(getattr(s, "kept_", None) is not None for s in fold.steps):
            keep = np.isin(train_rows, kept_positions(parts, fold.steps, train_rows))
            grouped = pipe is not None and (pipe.group is not None or pipe.time is not None)
            if grouped and not keep.all():
                how = "--group" if pipe.group is not None else "--time"
                msg = (f"the steps removed {int((~keep).sum())} training row(s), so the rows' groups or times are no "
                       f"longer known: tune the threshold without {how}, or with steps that keep every row")
                raise SpecError(msg)
            if not grouped:
                train_rows = train_rows[keep]
                splits = fold_indices(y_train[keep], task="classification", folds=self.folds,
                                      seed=seed)
        oof, labels = [], []
        # Steps filling from neighbouring rows featurize the training rows together, as the local engine's
        # prep.X_train[tr]: the splits then take their rows from the fold's matrices instead of building their own.
        sliced = any(needs_seeds(s) for s in fold.steps) and fold.y_train is not None
        sizes = client.gather(client.map(len, fold.X_train, pure=False)) if sliced else []
        # Place of each training row in the fold's matrices (laid out in file order; train_rows are in time order
        # with a time split).
        place = np.searchsorted(np.sort(train_rows), train_rows)
        for k, (tr, te) in enumerate(splits):
            if sliced:
                X_tr, y_tr = _rows_of(client, fold.X_train, sizes, place[tr], f"oof{k}tr"), _rows_of(
                    client, fold.y_train or [], sizes, place[tr], f"oof{k}ytr")
                X_te, y_te = _rows_of(client, fold.X_train, sizes, place[te], f"oof{k}te"), _rows_of(
                    client, fold.y_train or [], sizes, place[te], f"oof{k}yte")
                model = self._fit(make_model(best, "classification", seed=seed, **params), X_tr, y_tr, fold, len(tr),
                                  order=_order_of(place[tr]))
                _, proba = predict_parts(client, model, X_te, "classification")
                pieces = [y for y in gather_arrays(client, y_te) if len(y)]
                if proba is not None and pieces:
                    oof.append(proba[:, list(model.classes_).index(est.classes_[1])])
                    labels.append(np.concatenate(pieces))
                continue
            sub = None if fold.cache is None else f"{fold.cache}/oof{k}"
            X_tr, y_tr = build_matrices(client, parts, fold.steps, fold.features, fold.fill, self.spec.target,
                                        masks=row_mask(train_rows[tr], parts), mode=self.mode or "memory",
                                        cache=None if sub is None else f"{sub}/train")
            X_te, y_te = build_matrices(client, parts, fold.steps, fold.features, fold.fill, self.spec.target,
                                        masks=row_mask(train_rows[te], parts), mode=self.mode or "memory",
                                        cache=None if sub is None else f"{sub}/test")
            model = self._fit(make_model(best, "classification", seed=seed, **params), X_tr, y_tr, fold, len(tr),
                              order=_order_of(train_rows[tr]))
            _, proba = predict_parts(client, model, X_te, "classification")
            pieces = [y for y in gather_arrays(client, y_te or []) if len(y)]
            if sub is not None:
                drop_cached(client, [sub])
            if proba is not None and pieces:
                oof.append(proba[:, list(model.classes_).index(est.classes_[1])])
                labels.append(np.concatenate(pieces))
        return threshold_from_oof(np.concatenate(labels), np.concatenate(oof), list(est.classes_), objective)

    def _score(self, est: Any, fold: _Fold, task: str, score: Callable[..., dict[str, Any]], *,
               keep: bool = False, threshold: dict[str, Any] | None = None) -> dict[str, Any]:
        """Metrics of a fitted ``est`` on the fold's held-out rows, predicted where they are held."""
        from assay._fitted import apply_threshold

        client = self.client
        y_pred, proba = predict_parts(client, est, fold.X_test, task)
        if threshold is not None and proba is not None:
            y_pred = apply_threshold(proba, list(est.classes_), threshold, y_pred.dtype)
        if task == "clustering":
            out = score(task, None, y_pred, X=fold.gather_test(client))
        else:
            classes = list(est.classes_) if hasattr(est, "classes_") else None
            out = score(task, fold.y_test, y_pred, proba=proba, classes=classes)
        if keep:
            out["_predictions"] = {"y_pred": y_pred, "proba": proba}
            out["_estimator"] = est
        return out

    def _report_prep(self, fold: _Fold) -> Any:
        """The local report's inputs when the test rows are few enough to bring to the client, else None."""
        from assay.pipeline import _Prepared

        if fold.y_test is not None and len(fold.y_test) > 200_000:
            return None
        X_test = fold.gather_test(self.client)
        return _Prepared(np.empty((0, len(fold.features))), None, X_test, fold.y_test, fold.steps, fold.features,
                         fold.fill)


def _split(pipe: Any, yframe: pl.DataFrame, target: str | None, task: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The local engine's train/test split of ``yframe`` (target, ``__row`` and the group or time column): by group,
    by time (the latest rows tested; the training rows then sorted by time, unknown times first, as the local
    engine orders its training frame) or stratified at random."""
    from assay.clean import train_test_split
    from assay.pipeline import _parsed_times

    frame, time_key = yframe, pipe.time
    if pipe.time is not None and yframe.schema[pipe.time] == pl.String:  # text times: ordered as times, not text
        time_key = "__assay_time__"
        frame = yframe.with_columns(_parsed_times(yframe.get_column(pipe.time)).alias(time_key))
    train, test = train_test_split(frame, target=target, test_size=pipe.test_size,
                                   stratify=task == "classification", seed=pipe.seed, group=pipe.group, time=time_key)
    if time_key is not None:
        train = train.sort(time_key, nulls_last=False, maintain_order=True)
        log.info("split by time %r: the latest %d rows are the test split; folds train on earlier rows only",
                 pipe.time, test.height)
    return train, test


def _order_of(rows: np.ndarray) -> np.ndarray | None:
    """The permutation taking rows laid out in file order (as the matrices hold them) to the order of ``rows``
    (global positions); None when ``rows`` already are in file order."""
    rows = np.asarray(rows)
    if len(rows) < 2 or bool(np.all(np.diff(rows) > 0)):
        return None
    return np.searchsorted(np.sort(rows), rows)


def _take(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return np.asarray(values)[rows]


def _rows_of(client: Any, values: list[Any], sizes: list[int], positions: np.ndarray, tag: str) -> list[Any]:
    """Per-partition arrays holding the rows at ``positions`` of the arrays ``values`` laid end to end (each piece
    stays on its worker; disk-cached pieces are cached the same way)."""
    from assay.engine._dask import _derive

    positions = np.sort(np.asarray(positions, dtype=np.int64))
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    rows = [positions[(positions >= lo) & (positions < hi)] - lo for lo, hi in itertools.pairwise(bounds)]
    n = len(values)
    return client.map(_derive, values, [_take] * n, [tag] * n, [{"rows": r} for r in rows], pure=False)


def _automl_task(X: list[np.ndarray], y: list[np.ndarray], task: str, budget: float, seed: int, folds: int,
                 names: list[str]) -> Any:
    from assay.evaluate import automl

    return automl(np.concatenate([as_array(x) for x in X]), np.concatenate([as_array(v) for v in y]), task,
                  time_budget=budget, seed=seed, folds=folds, models=names)


def _is_kmeans(est: Any) -> bool:
    return type(est).__name__ == "KMeansAuto" and not getattr(est, "minibatch", False)


def _is_lightgbm(est: Any) -> bool:
    return type(est).__module__.startswith("lightgbm")


def _renumber(parts: list[Partition], heights: list[int]) -> list[Partition]:
    out, offset = [], 0
    for part, n in zip(parts, heights, strict=True):
        out.append(replace(part, offset=offset, rows=n))
        offset += n
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Batch scoring


def _score_partition(part: Partition, seeds: dict[int, Any], model: Any, out_dir: str,
                     keep_columns: bool) -> tuple[int, dict[str, tuple[int, Any, str]], dict[tuple[int, str], Any]]:
    import copy
    import os

    frame = _load(part, None, [])
    if seeds:  # steps filling from neighbouring rows see the rows around the partition (index 0 is the input check)
        model = copy.copy(model)
        model.steps = [Seeded(s, seeds[i + 1]) if i + 1 in seeds else s for i, s in enumerate(model.steps)]
    # As assay predict does locally: a value not readable as its training type is predicted as missing and counted.
    if frame.height and model.task != "recommendation":  # checked once, not again inside predict()
        checked, unreadable = model.read_input(frame)
        unseen = _unseen_values(model, checked)
        predictions = model._predict_checked(checked)
    else:
        unreadable, unseen, predictions = {}, {}, model.predict(frame)
    result = pl.concat([frame, predictions], how="horizontal") if keep_columns else predictions
    path = Path(out_dir) / part.name
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    result.write_parquet(tmp)
    tmp.replace(path)
    return result.height, unreadable, unseen


# As many distinct unseen values as a partition sends: one more than a note shows, so that the merge can tell whether
# there were more (each partition sends up to four of its own, so the union has four whenever the whole data has).
_UNSEEN_EXAMPLES = 4


def _unseen_values(model: Any, checked: pl.DataFrame) -> dict[tuple[int, str], tuple[int, list[str]]]:
    """What ``assay predict`` notes about one partition (``assay.cli._predict.say_unseen_categories``): per encoder
    (by step index) and column, how many values the fit never saw and the first few distinct ones. The steps are
    applied up to the last encoder to see the values as the encoders do, only when a column as read holds a value
    an encoder does not know, or is made by an earlier step. Counted here and said once by the client
    (:func:`_say_unseen`), not logged by every worker about its own rows."""
    from assay.clean._base import steps_quiet
    from assay.clean._encode import may_hold_unseen

    encoders = [i for i, step in enumerate(model.steps) if hasattr(step, "say_unseen")]
    if not encoders or not any(may_hold_unseen(model.steps[i], checked) for i in encoders):
        return {}
    found: dict[tuple[int, str], tuple[int, list[str]]] = {}
    frame: pl.DataFrame | pl.LazyFrame = checked
    with steps_quiet():  # (the predictions' own pass says nothing either)
        for i, step in enumerate(model.steps[: encoders[-1] + 1]):
            if i in encoders:
                frame = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
                for col in step.state_.get("columns", []):
                    known = step._known(col) if col in frame.columns else None
                    if known is None:
                        continue
                    text = frame.get_column(col).cast(pl.String).drop_nulls()
                    new = text.filter(~text.is_in(known))
                    if new.len():
                        found[(i, col)] = (new.len(), new.unique(maintain_order=True).head(_UNSEEN_EXAMPLES).to_list())
            frame = step.transform(frame)
    return found


def _say_unseen(model: Any, found: list[dict[tuple[int, str], tuple[int, list[str]]]]) -> None:
    """The notes of :func:`_unseen_values` over every partition (in source order), in the local engine's words
    (``assay.clean._encode``): one per encoder and column, in step and column order."""
    merged: dict[tuple[int, str], tuple[int, list[str]]] = {}
    for piece in found:
        for key, (count, examples) in piece.items():
            total, seen = merged.get(key, (0, []))
            merged[key] = (total + count, list(dict.fromkeys([*seen, *examples]))[:_UNSEEN_EXAMPLES])

    def order(key: tuple[int, str]) -> tuple[int, int]:
        return key[0], model.steps[key[0]].state_["columns"].index(key[1])

    for key in sorted(merged, key=order):
        step, (count, examples) = model.steps[key[0]], merged[key]
        shown = examples[:_UNSEEN_EXAMPLES - 1]
        log.warning("%s: %s value(s) of %r were never seen when the step was fitted (%s%s): %s", step.name,
                    f"{count:,}", key[1], ", ".join(repr(v) for v in shown), ", …" if len(examples) > len(shown)
                    else "", step.unseen_becomes)


def predict_dask(
    model_dir: str | Path,
    source: str,
    out_dir: str | Path,
    scheduler: str | None = None,
    *,
    keep_columns: bool = True,
    source_options: dict[str, Any] | None = None,
    rows_per_partition: int = DEFAULT_PARTITION_ROWS,
    client: Any = None,
    echo: Callable[[str], None] | None = _echo,
) -> dict[str, Any]:
    """Score ``source`` with the model artifact in ``model_dir`` on Dask; writes ``out_dir/part-NNNNN.parquet``.

    The model is loaded (hash-verified) here and shipped to the workers; each partition is read, predicted and
    written by one task, atomically, so a re-run after a worker died replaces its file. Returns ``{"rows",
    "partitions", "out_dir", "unreadable"}``: values not readable as their column's training type are predicted as
    missing and counted per column (``(count, first value, expected)``), as ``assay predict`` does locally; the
    same notes as there are logged, in the same order (unreadable values, then categories no encoder saw).
    """
    from assay._fitted import load_model, say_unreadable

    out = Path(out_dir)
    if out.suffix.lower() in (".csv", ".json", ".ndjson", ".jsonl") or (out.exists() and not out.is_dir()):
        msg = f"--engine dask writes partitioned Parquet into a directory; {out} is a file name — give a folder"
        raise SpecError(msg)
    model = load_model(model_dir)
    if client is None:
        with dask_client(scheduler, echo=echo) as own:
            return predict_dask(model_dir, source, out, keep_columns=keep_columns, source_options=source_options,
                                rows_per_partition=rows_per_partition, client=own, echo=echo)
    opts = dict(source_options or {})
    key, count = opts.pop("key", None), opts.pop("partitions", None)
    parts = plan_partitions(
        source, source_options=opts, rows_per_partition=rows_per_partition, key=key, partitions=count,
        count_rows=lambda whole: client.gather(client.map(count_partition_rows, whole, pure=False)),
    )
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("part-*.parquet"):
        stale.unlink()  # a previous run with more partitions must not leave extra files behind
    # Steps filling missing values from neighbouring rows (ffill, bfill, interpolate) fill from the rows around each
    # partition, as model.predict on the whole source would: seeds over the validated input, no row left out.
    steps = [Validate(model), *model.steps]
    seeds = compute_seeds(client, parts, [None] * len(parts), steps, train=False)
    shipped = client.submit(_identity, model, pure=False)
    # (absolute: the workers write the files, and a worker started elsewhere would put a relative folder elsewhere)
    done = client.gather(client.map(_score_partition, parts, seeds, model=shipped, out_dir=str(out.absolute()),
                                    keep_columns=keep_columns, pure=False))
    unreadable: dict[str, tuple[int, Any, str]] = {}
    for _, found, _ in done:  # partitions in source order: the first example is the first in the source
        for column, (count, example, expected) in found.items():
            total = unreadable.get(column, (0, example, expected))
            unreadable[column] = (total[0] + count, total[1], expected)
    say_unreadable(unreadable, int(sum(rows for rows, _, _ in done)))  # in the local engine's order: these first
    _say_unseen(model, [unseen for _, _, unseen in done])
    return {"rows": int(sum(rows for rows, _, _ in done)), "partitions": len(parts), "out_dir": str(out),
            "unreadable": unreadable}


def _identity(value: Any) -> Any:
    return value


