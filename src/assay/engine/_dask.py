"""The Dask engine's building blocks: fit steps by merging partition summaries, transform and write per partition,
train data-parallel (gradient descent, LightGBM, k-means) and run independent model fits as parallel tasks.

Every function takes a connected :class:`distributed.Client` and a list of :class:`~assay.engine._partitions.Partition`
plans (or futures of per-partition arrays). Work sent to workers is a pure function of its arguments, so when a worker
dies the scheduler re-runs the lost tasks on the others and each partition still counts exactly once; outputs are
written under deterministic names with an atomic rename, so a re-run task overwrites rather than duplicates.

Rows are selected per partition with a packed bit mask (:func:`row_mask`): train/test splits and CV folds are decided
on the client from the target column alone, with the same functions as the local engine, and applied by position.
Steps that remove training rows (dedupe, outliers drop/quarantine, missing drop_rows) are decided once over all
partitions when fitted — duplicates through a hash shuffle of their keys, a quarantine merged into one file — and
their decision is kept as masks too (:func:`train_masks`), so both engines train on the same rows.

What does not live here: cluster set-up (``_cluster``), source plans (``_partitions``), the pipeline (``_run``).
"""

from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from assay.clean._base import Step, steps_quiet
from assay.engine._partitions import Partition, read_partition
from assay.engine._seeds import Seeds, check_steps, compute_seeds, needs_seeds, seeded_transform
from assay.exceptions import ModelError, SpecError

__all__ = [
    "DiskArray",
    "apply_steps",
    "as_array",
    "build_matrices",
    "choose_matrix_mode",
    "drop_cached",
    "fit_kmeans",
    "fit_kmeans_auto",
    "fit_lightgbm",
    "fit_linear",
    "fit_on_worker",
    "fit_steps",
    "gather_arrays",
    "kept_positions",
    "map_arrays",
    "map_tasks",
    "matrix_bytes",
    "predict_parts",
    "row_mask",
    "train_masks",
    "write_partitions",
]

Mask = tuple[int, bytes] | None

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------------------------------
# Row selection and reading (worker side)


def row_mask(positions: np.ndarray, parts: Sequence[Partition]) -> list[Mask]:
    """Per-partition packed masks selecting the global row ``positions`` (sorted or not); ``None`` means all rows.

    >>> from assay.engine._partitions import Partition
    >>> parts = [Partition("frame", "", 0, offset=0, rows=3), Partition("frame", "", 1, offset=3, rows=2)]
    >>> [_unmask(m, p.rows).tolist() for m, p in zip(row_mask(np.array([1, 3, 4]), parts), parts)]
    [[1], [0, 1]]
    """
    total = sum(p.rows or 0 for p in parts)
    flags = np.zeros(total, dtype=bool)
    flags[np.asarray(positions, dtype=np.int64)] = True
    out: list[Mask] = []
    for part in parts:
        piece = flags[part.offset:part.offset + (part.rows or 0)]
        out.append(None if piece.all() else (len(piece), np.packbits(piece).tobytes()))
    return out


def _unmask(mask: Mask, rows: int | None) -> np.ndarray:
    if mask is None:
        return np.arange(rows or 0)
    n, packed = mask
    return np.flatnonzero(np.unpackbits(np.frombuffer(packed, dtype=np.uint8), count=n))


def _load(part: Partition, mask: Mask, steps: Sequence[Step], *, train: bool = True,
          seeds: dict[int, Seeds | None] | None = None) -> pl.DataFrame:
    """Read a partition, keep the masked rows, apply fitted steps (training behaviour unless ``train=False``).

    ``seeds`` (by step index, from :func:`~assay.engine._seeds.compute_seeds`) are the rows around the partition
    that a step filling from neighbouring rows needs to give the local engine's result."""
    frame = read_partition(part)
    if mask is not None:
        keep = _unmask(mask, frame.height)
        frame = frame[keep] if len(keep) else frame.clear()
    out: pl.DataFrame | pl.LazyFrame = frame
    # A step's notes here would be about one partition (outliers clipped in it, say), once per partition and fold,
    # printed by every worker: the engine reports the whole data's instead.
    with steps_quiet():
        for i, step in enumerate(steps):
            # A row-removing step whose rows were decided over all partitions (fit_steps) is already in ``mask``.
            by_mask = getattr(step, "rows_by_mask_", False)
            if needs_seeds(step):
                if seeds is None or i not in seeds:
                    msg = (f"{step.name}: this step fills rows from their neighbours; on partitions it needs the "
                           "rows around each one (compute_seeds)")
                    raise SpecError(msg)
                out = seeded_transform(step, out.collect() if isinstance(out, pl.LazyFrame) else out, seeds[i])
                continue
            out = step.transform_train(out) if train and not by_mask else step.transform(out)
            if isinstance(out, pl.LazyFrame):
                out = out.collect()
    return out  # type: ignore[return-value]


def _shippable(step: Step) -> Step:
    """A copy without the merged summary (it can hold 200k values) nor the kept-row masks; ``state_`` is all workers
    need. A row-removing step fitted by :func:`fit_steps` travels marked: its rows are removed by the masks."""
    out = copy.copy(step)
    out.__dict__.pop("summary_", None)
    if out.__dict__.pop("kept_", None) is not None:
        out.rows_by_mask_ = True  # type: ignore[attr-defined]
    return out


def _summarize(part: Partition, mask: Mask, seeds: dict[int, Seeds], prefix: list[Step], step: Step,
               target: str | None) -> Any:
    frame = _load(part, mask, prefix, seeds=seeds)
    if frame.height == 0:
        return None
    return step.summarize(frame, target)


def _merge(step: Step, a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return step.merge(a, b)


def tree_merge(client: Any, step: Step, futures: list[Any]) -> Any:
    """Merge per-partition summaries pairwise on the workers (a binary tree), return the final summary."""
    while len(futures) > 1:
        nxt = [client.submit(_merge, step, futures[i], futures[i + 1], pure=False)
               for i in range(0, len(futures) - 1, 2)]
        if len(futures) % 2:
            nxt.append(futures[-1])
        futures = nxt
    return futures[0].result()


# ---------------------------------------------------------------------------------------------------------------------
# Steps


def fit_steps(
    client: Any,
    parts: Sequence[Partition],
    steps: Sequence[Step],
    target: str | None,
    *,
    masks: Sequence[Mask] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Step]:
    """Fit ``steps`` in order, each on the output of the ones before (as the local engine does).

    Each step: every partition is read, passed through the already fitted steps' ``transform_train`` and
    summarized on a worker; the summaries are merged in a tree on the workers and ``finalize`` runs here. Nothing
    but summaries stays in memory, so the data can be far larger than the workers' memory (the partitions stream).
    """
    from assay.engine._seeds import _seeds_for

    check_steps(steps)
    masks = list(masks) if masks is not None else [None] * len(parts)
    fitted: list[Step] = []
    seeds: list[dict[int, Seeds]] = [{} for _ in parts]
    for step in steps:
        if progress:
            progress(f"fitting step {step.name or type(step).__name__} on {len(parts)} partitions")
        prefix = [_shippable(s) for s in fitted]
        futures = client.map(_summarize, list(parts), masks, seeds, prefix=prefix, step=_shippable(step),
                             target=target, pure=False)
        summary = tree_merge(client, step, futures)
        if summary is None:
            msg = f"{step.name}: nothing to fit on (every partition is empty after the steps before it)"
            raise SpecError(msg)
        step.summary_ = summary
        step.target_ = target
        step.state_ = step.finalize(summary)
        fitted.append(step)
        if step.changes_rows:
            if progress:
                progress(f"removing rows with step {step.name or type(step).__name__} over {len(parts)} partitions")
            _remove_rows(client, parts, masks, prefix, step)
            masks = train_masks(parts, masks, [step])
        if needs_seeds(step) and len(fitted) < len(steps):
            # The steps after it are fitted on its output with the rows around each partition (as over the whole).
            seeds = _seeds_for(client, parts, masks, seeds, [_shippable(s) for s in fitted], len(fitted) - 1, True)
    return fitted


# ---------------------------------------------------------------------------------------------------------------------
# Steps that remove training rows (dedupe, outliers drop/quarantine, missing drop_rows)
#
# The local engine runs such a step's ``transform_train`` once on the whole training frame. Here the rows a step
# keeps are decided once, over every partition, right after the step is fitted, and stored on the client's step as
# ``kept_``: one packed mask per partition (by ``Partition.index``) over the partition's raw rows. Every later pass
# ANDs its row masks with them (:func:`train_masks`) and workers skip the step's ``transform_train``, so a
# quarantine file is written once per fit and duplicates are judged across partitions.

ROW = "__assay_row__"
PART = "__assay_part__"
# Duplicate keys are hash-partitioned into at most this many buckets (one task each).
MAX_BUCKETS = 64


def _and(a: Mask, b: Mask) -> Mask:
    if a is None:
        return b
    if b is None:
        return a
    if a[0] != b[0]:
        msg = f"a partition has {a[0]} rows here but had {b[0]} when the steps were fitted; fit them again"
        raise SpecError(msg)
    return a[0], np.bitwise_and(np.frombuffer(a[1], dtype=np.uint8), np.frombuffer(b[1], dtype=np.uint8)).tobytes()


def train_masks(parts: Sequence[Partition], masks: Sequence[Mask] | None, steps: Sequence[Step]) -> list[Mask]:
    """``masks`` (all rows when None) without the rows that fitted row-removing ``steps`` took out of training."""
    out = list(masks) if masks is not None else [None] * len(parts)
    for step in steps:
        kept = getattr(step, "kept_", None)
        if kept is None:
            if step.changes_rows and getattr(step, "state_", None) is not None:
                msg = (f"{step.name}: this step removes training rows and was not fitted with fit_steps on the "
                       "partitions, so which rows it keeps is unknown here; fit the steps on the cluster")
                raise SpecError(msg)
            continue
        missing = [p.index for p in parts if p.index not in kept]
        if missing:
            msg = (f"{step.name}: partition(s) {missing[:5]} were not part of the data this step was fitted on; "
                   "fit the steps on the same partitions")
            raise SpecError(msg)
        out = [_and(m, kept[p.index]) for p, m in zip(parts, out, strict=True)]
    return out


def kept_positions(parts: Sequence[Partition], steps: Sequence[Step], positions: np.ndarray) -> np.ndarray:
    """The global row ``positions`` (sorted) that the fitted row-removing ``steps`` keep in training."""
    masks = train_masks(parts, row_mask(positions, parts), steps)
    pieces = [p.offset + _unmask(m, p.rows) for p, m in zip(parts, masks, strict=True)]
    return np.concatenate(pieces).astype(np.int64) if pieces else np.empty(0, dtype=np.int64)


def _packed(rows: np.ndarray, n: int) -> Mask:
    flags = np.zeros(n, dtype=bool)
    flags[rows] = True
    return n, np.packbits(flags).tobytes()


def _filter_rows(part: Partition, mask: Mask, prefix: list[Step], step: Step) -> tuple[tuple[Any, ...], Any]:
    """Run a row-removing step's ``transform_train`` on one partition; returns ``((kept mask, rows in, rows out,
    touched), quarantined rows or None)``. A quarantine is written to a local temporary file and returned."""
    import shutil
    import tempfile

    frame = _load(part, mask, prefix)
    n = mask[0] if mask is not None else frame.height
    rows = _unmask(mask, n)
    work = copy.copy(step)
    tmp = None
    if getattr(work, "action", None) == "quarantine":
        tmp = tempfile.mkdtemp(prefix="assay-quarantine-")
        work.quarantine = str(Path(tmp) / "rows.parquet")  # type: ignore[attr-defined]
    try:
        with steps_quiet():  # this partition's counts: the whole data's are logged once, by fit_steps
            out = work.transform_train(frame.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias(ROW)))
        if isinstance(out, pl.LazyFrame):
            out = out.collect()
        if ROW not in out.columns:
            msg = f"{step.name}: this step drops unknown columns while removing rows; the Dask engine cannot run it"
            raise SpecError(msg)
        bad = None
        if tmp is not None:
            bad = pl.read_parquet(work.quarantine).drop(ROW)  # type: ignore[attr-defined]
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    kept = rows[out.get_column(ROW).to_numpy()]
    return (_packed(kept, n), frame.height, out.height, getattr(work, "touched_", None)), bad


def _write_quarantine(pieces: list[pl.DataFrame], path: str) -> int:
    """All partitions' quarantined rows, in partition order, to ``path`` (as the local step writes it)."""
    from assay.clean._outliers import _write_atomic

    frame = pl.concat(pieces, how="vertical_relaxed")
    _write_atomic(frame, Path(path))
    return frame.height


def _dedupe_keys(part: Partition, mask: Mask, i: int, prefix: list[Step], step: Step,
                 buckets: int) -> tuple[tuple[int, int], list[pl.DataFrame]]:
    """The key columns of a partition's rows with their place in the file, split into hash buckets."""
    frame = _load(part, mask, prefix)
    n = mask[0] if mask is not None else frame.height
    names = frame.columns
    key = [c for c in (step.state_["key"] or names) if c in names] or names
    keys = frame.select(key)
    bucket = keys.hash_rows(seed=0) % buckets
    keys = keys.with_columns(pl.lit(i, dtype=pl.Int64).alias(PART),
                             pl.Series(ROW, _unmask(mask, n), dtype=pl.Int64), bucket.alias("__bucket__"))
    split = keys.partition_by("__bucket__", as_dict=True, include_key=False)
    empty = keys.drop("__bucket__").clear()
    return (n, frame.height), [split.get((j,), empty) for j in range(buckets)]


def _dedupe_bucket(pieces: list[pl.DataFrame], keep: str) -> pl.DataFrame:
    """The (partition, row) of the rows ``unique`` keeps among one bucket's rows (in file order: pieces come in
    partition order, rows in order within each)."""
    frame = pl.concat(pieces, how="vertical_relaxed")
    key = [c for c in frame.columns if c not in (PART, ROW)]
    return frame.unique(subset=key, keep=keep, maintain_order=True).select(PART, ROW)  # type: ignore[arg-type]


def _getitem(values: list[Any], j: int) -> Any:
    return values[j]


def _remove_rows(client: Any, parts: Sequence[Partition], masks: list[Mask], prefix: list[Step], step: Step) -> None:
    """Decide the rows a fitted row-removing ``step`` keeps over all partitions; sets ``step.kept_`` and the local
    step's counters (``dropped_`` for dedupe, ``rows_removed_`` and ``touched_`` otherwise)."""
    from assay.clean._dedupe import DedupeStep

    parts = list(parts)
    shipped = _shippable(step)
    if isinstance(step, DedupeStep):
        # Exact duplicates across partitions: rows are hash-partitioned on their key, each bucket keeps what
        # ``unique(keep=..., maintain_order=True)`` keeps of its rows in file order (the local rule).
        buckets = max(1, min(len(parts), MAX_BUCKETS))
        futures = client.map(_dedupe_keys, parts, masks, list(range(len(parts))), prefix=prefix, step=shipped,
                             buckets=buckets, pure=False)
        sizes = client.gather(client.map(_first, futures, pure=False))
        pieces = client.map(_second, futures, pure=False)
        kept_rows = client.gather([
            client.submit(_dedupe_bucket, [client.submit(_getitem, p, j, pure=False) for p in pieces],
                          step.keep, pure=False)
            for j in range(buckets)])
        kept = pl.concat(kept_rows, how="vertical_relaxed")
        by_part = kept.partition_by(PART, as_dict=True)
        step.kept_ = {}
        for i, (part, (n, _)) in enumerate(zip(parts, sizes, strict=True)):
            rows = by_part.get((i,))
            step.kept_[part.index] = _packed(np.empty(0, dtype=np.int64) if rows is None
                                             else rows.get_column(ROW).to_numpy(), n)
        before = sum(h for _, h in sizes)
        step.dropped_ = before - kept.height
        if step.dropped_:
            key = step.state_["key"]
            log.warning("dedupe: removed %d duplicate row(s)%s", step.dropped_, f" by key {key}" if key else "")
        return
    futures = client.map(_filter_rows, parts, masks, prefix=prefix, step=shipped, pure=False)
    results = client.gather(client.map(_first, futures, pure=False))
    step.kept_ = {part.index: r[0] for part, r in zip(parts, results, strict=True)}
    step.rows_removed_ = sum(r[1] - r[2] for r in results)
    touched = [r[3] for r in results if r[3] is not None]
    if touched:
        step.touched_ = {k: sum(t.get(k, 0) for t in touched) for k in touched[0]}
        if any(step.touched_.values()) and hasattr(step, "touched_note"):
            log.warning(step.touched_note())  # the local engine's words
    if step.rows_removed_:
        log.warning(_removed_note(step))
    if getattr(step, "action", None) == "quarantine":
        bad = client.map(_second, futures, pure=False)
        client.submit(_write_quarantine, bad, str(step.quarantine), pure=False).result()


def _removed_note(step: Step) -> str:
    """The note of a step that removed training rows, in the words its own ``transform_train`` uses locally
    (``assay.clean._outliers``, ``assay.clean._missing``): said here once for all partitions."""
    n = step.rows_removed_
    if step.name == "outliers":
        return f"outliers ({step.method}, {step.action}): removed {n} row(s)"
    if step.name == "missing":
        return f"missing: removed {n} row(s) with more than {float(step.drop_rows):g} of their values missing"
    return f"{step.name}: removed {n} training row(s)"


def _write(part: Partition, mask: Mask, seeds: dict[int, Seeds], steps: list[Step], out_dir: str, train: bool,
           fn: Callable[[pl.DataFrame], pl.DataFrame] | None) -> int:
    frame = _load(part, mask, steps, train=train, seeds=seeds)
    if fn is not None:
        frame = fn(frame)
    path = Path(out_dir) / part.name
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    frame.write_parquet(tmp)
    tmp.replace(path)  # atomic: a task re-run after a worker died overwrites, never duplicates
    return frame.height


def write_partitions(
    client: Any,
    parts: Sequence[Partition],
    out_dir: str | Path,
    *,
    steps: Sequence[Step] = (),
    masks: Sequence[Mask] | None = None,
    train: bool = False,
    fn: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
) -> list[int]:
    """Transform each partition on a worker and write ``out_dir/part-NNNNN.parquet``; returns rows per partition."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    masks = train_masks(parts, masks, steps) if train else (list(masks) if masks is not None else [None] * len(parts))
    seeds = compute_seeds(client, parts, masks, steps, train=train)
    futures = client.map(_write, list(parts), masks, seeds, steps=[_shippable(s) for s in steps], out_dir=str(out),
                         train=train, fn=fn, pure=False)
    return [int(n) for n in client.gather(futures)]


def apply_steps(frame: pl.DataFrame, steps: Sequence[Step]) -> pl.DataFrame:
    """The predict-time transform of ``steps`` on one frame (what each partition runs)."""
    out: pl.DataFrame | pl.LazyFrame = frame
    for step in steps:
        out = step.transform(out)
    return out.collect() if isinstance(out, pl.LazyFrame) else out


# ---------------------------------------------------------------------------------------------------------------------
# Feature matrices persisted on the workers


def _schema_of(part: Partition, mask: Mask, steps: list[Step]) -> dict[str, pl.DataType]:
    # Column types do not depend on the rows around the partition: steps filling from neighbours run without them.
    return dict(_load(part, mask, steps, seeds={i: None for i, s in enumerate(steps) if needs_seeds(s)}).schema)


def _column_sums(part: Partition, mask: Mask, seeds: dict[int, Seeds], steps: list[Step],
                 features: list[str]) -> tuple[np.ndarray, np.ndarray]:
    from assay._fitted import feature_matrix

    X = feature_matrix(_load(part, mask, steps, seeds=seeds), features)
    finite = np.isfinite(X)
    return np.where(finite, X, 0.0).sum(axis=0), finite.sum(axis=0)


def _matrix(part: Partition, mask: Mask, seeds: dict[int, Seeds], steps: list[Step], features: list[str],
            fill: list[float], target: str | None, train: bool) -> tuple[np.ndarray, np.ndarray | None]:
    from assay._fitted import feature_matrix

    if train:
        frame = _load(part, mask, steps, seeds=seeds)
        y_frame = frame
    else:  # held-out rows: labels as they are in the data, features as the steps serve them (local engine's rule)
        y_frame = _load(part, mask, [])
        frame = _load(part, mask, steps, train=False, seeds=seeds)
    X = feature_matrix(frame, features, fill)
    if target is None:
        return X, None
    y = y_frame.get_column(target).to_numpy()
    return X, (y.astype(str) if y.dtype == object else y)


def _first(pair: tuple[Any, Any]) -> Any:
    return pair[0]


def _second(pair: tuple[Any, Any]) -> Any:
    return pair[1]


def transformed_schema(client: Any, parts: Sequence[Partition], steps: Sequence[Step],
                       masks: Sequence[Mask] | None = None) -> dict[str, pl.DataType]:
    """Column types after the fitted steps (from the first partition)."""
    mask = train_masks(parts[:1], None if masks is None else masks[:1], steps)[0]
    return client.submit(_schema_of, parts[0], mask, [_shippable(s) for s in steps], pure=False).result()


def column_means(client: Any, parts: Sequence[Partition], steps: Sequence[Step], features: list[str],
                 masks: Sequence[Mask] | None = None, *, seeds: list[dict[int, Seeds]] | None = None) -> list[float]:
    """Mean of each feature over finite values (0.0 for a column with none): the fill for values left missing.

    ``seeds``: those of the training rows (:func:`train_seeds`), computed here when not given."""
    masks = train_masks(parts, masks, steps)
    if seeds is None:
        seeds = compute_seeds(client, parts, masks, steps, train=True)
    futures = client.map(_column_sums, list(parts), masks, seeds, steps=[_shippable(s) for s in steps],
                         features=features, pure=False)
    sums, counts = np.zeros(len(features)), np.zeros(len(features))
    for s, c in client.gather(futures):
        sums += s
        counts += c
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
    return [float(v) if np.isfinite(v) else 0.0 for v in means]


# Matrices estimated above this share of the workers' summed memory limits are cached on local disks instead of
# held in memory. Half leaves room for the test matrices, the next fold's pieces and each task's working copies;
# Dask's own thresholds (spill at 60%, pause at 80%, restart at 95%) then never come near.
MEMORY_FRACTION = 0.5


def matrix_bytes(rows: int, n_features: int) -> int:
    """Estimated size of the float64 feature matrix plus an 8-byte label per row."""
    return int(rows) * (int(n_features) + 1) * 8


def choose_matrix_mode(client: Any, nbytes: int, *, fraction: float = MEMORY_FRACTION) -> tuple[str, str]:
    """``("memory" | "disk", reason)``: disk when ``nbytes`` exceeds ``fraction`` of the workers' memory limits.

    Workers without a limit (``memory_limit`` 0 or missing) count as unlimited: matrices then stay in memory.
    """
    workers = client.scheduler_info(n_workers=-1).get("workers", {}).values()
    limits = [int(w.get("memory_limit") or 0) for w in workers]
    if not limits or any(limit <= 0 for limit in limits):
        return "memory", f"feature matrices ≈ {_mb(nbytes)}, workers without a memory limit: held in memory"
    budget = fraction * sum(limits)
    where = f"{fraction:.0%} of the {len(limits)} workers' memory limits ({_mb(sum(limits))})"
    if nbytes > budget:
        return "disk", (f"feature matrices ≈ {_mb(nbytes)} > {where}: cached on the workers' local disks and "
                        "streamed through each iteration")
    return "memory", f"feature matrices ≈ {_mb(nbytes)} ≤ {where}: held in the workers' memory"


def _mb(nbytes: float) -> str:
    if nbytes >= 1e9:
        return f"{nbytes / 1e9:.2f} GB"
    return f"{nbytes / 1e6:.0f} MB" if nbytes >= 1e6 else f"{nbytes / 1e3:.0f} kB"


def build_matrices(
    client: Any,
    parts: Sequence[Partition],
    steps: Sequence[Step],
    features: list[str],
    fill: list[float],
    target: str | None,
    *,
    masks: Sequence[Mask] | None = None,
    train: bool = True,
    mode: str = "memory",
    cache: str | None = None,
    seeds: list[dict[int, Seeds]] | None = None,
) -> tuple[list[Any], list[Any] | None]:
    """Futures of the per-partition ``X`` (float64) and ``y`` arrays, computed once and reused by every iteration.

    ``mode="memory"`` keeps the arrays in the workers' memory. ``mode="disk"`` saves each one as ``.npy`` on the
    local disk of the worker that computed it and keeps only a :class:`DiskArray` handle in memory; every consumer
    memory-maps one partition at a time, so the matrices may be many times larger than the cluster's memory.
    ``cache`` names the disk cache (a fresh one by default) for :func:`drop_cached`. Either way, if a worker dies
    the lost pieces are recomputed from their partitions.
    """
    import uuid

    if mode not in ("memory", "disk"):
        msg = f"build_matrices: mode={mode!r} is not valid; choose 'memory' or 'disk'"
        raise SpecError(msg)
    masks = train_masks(parts, masks, steps) if train else (list(masks) if masks is not None else [None] * len(parts))
    if seeds is None:
        seeds = compute_seeds(client, parts, masks, steps, train=train)
    shipped = [_shippable(s) for s in steps]
    if mode == "disk":
        build = cache or uuid.uuid4().hex
        pairs = client.map(_matrix_to_disk, list(parts), masks, seeds, list(range(len(parts))), steps=shipped,
                           features=features, fill=fill, target=target, train=train, build=build, pure=False)
    else:
        pairs = client.map(_matrix, list(parts), masks, seeds, steps=shipped, features=features, fill=fill,
                           target=target, train=train, pure=False)
    X = client.map(_first, pairs, pure=False)
    y = client.map(_second, pairs, pure=False) if target is not None else None
    client.gather(client.map(len, X, pure=False))  # surfaces a failing partition here, with its error
    del pairs
    return X, y


# ---------------------------------------------------------------------------------------------------------------------
# Arrays cached on the workers' local disks (matrices bigger than the cluster's memory)


def _cache_root(worker: Any = None) -> Path:
    try:
        from distributed import get_worker

        base = Path((worker or get_worker()).local_directory)
    except ValueError:  # not inside a worker task (a direct call, e.g. from a test)
        import tempfile

        base = Path(tempfile.gettempdir())
    return base / "assay-cache"


class DiskArray:
    """A per-partition array saved as ``.npy`` on the disk of the worker that computed it, memory-mapped when used.

    This small object is what the Dask future holds (the worker's memory manager sees a few hundred bytes), so the
    matrices of a data set larger than the cluster's memory stay on local disks and each gradient iteration streams
    them through one partition at a time. It carries its recipe: when its file is gone (the worker died, or the task
    runs on another machine), :meth:`load` recomputes it from the source partition — or from its parent array for a
    derived one — and caches the result on the local disk of whichever worker asked.
    """

    def __init__(self, build: str, name: str, path: str, rows: int, recipe: tuple[Any, ...]) -> None:
        self.build, self.name, self.path, self.rows, self.recipe = build, name, path, rows, recipe

    def __len__(self) -> int:
        return self.rows

    def __repr__(self) -> str:
        return f"DiskArray({self.build}/{self.name}, rows={self.rows})"

    def load(self) -> np.ndarray:
        for candidate in (Path(self.path), _cache_root() / self.build / f"{self.name}.npy"):
            try:
                return _open_npy(candidate)
            except FileNotFoundError:
                continue
        value = self._recompute()
        return _open_npy(_save_npy(value, self.build, self.name))

    def _recompute(self) -> np.ndarray:
        kind, *args = self.recipe
        if kind == "matrix":
            part, mask, seeds, steps, features, fill, target, train, which = args
            return _matrix(part, mask, seeds, steps, features, fill, target, train)[which]
        parent, fn, kwargs = args
        return fn(parent.load(), **kwargs)


def _open_npy(path: Path) -> np.ndarray:
    out = np.load(path, mmap_mode="r", allow_pickle=False)
    # A zero-row partition: nothing to map; a plain empty array behaves the same everywhere.
    return np.asarray(out) if out.size == 0 else out


def _save_npy(value: np.ndarray, build: str, name: str) -> Path:
    import threading

    path = _cache_root() / build / f"{name}.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{name}.{os.getpid()}.{threading.get_ident()}.tmp.npy")
    np.save(tmp, np.ascontiguousarray(value), allow_pickle=False)
    tmp.replace(path)  # atomic: two tasks computing the same piece leave one whole file
    return path


def as_array(value: Any) -> Any:
    """The array behind a per-partition value (a :class:`DiskArray` is memory-mapped; anything else is returned)."""
    return value.load() if isinstance(value, DiskArray) else value


def _matrix_to_disk(part: Partition, mask: Mask, seeds: dict[int, Seeds], index: int, steps: list[Step],
                    features: list[str], fill: list[float], target: str | None, train: bool,
                    build: str) -> tuple[DiskArray | None, DiskArray | None]:
    X, y = _matrix(part, mask, seeds, steps, features, fill, target, train)
    args = (part, mask, seeds, steps, features, fill, target, train)
    out = []
    for which, (tag, value) in enumerate((("X", X), ("y", y))):
        if value is None:
            out.append(None)
            continue
        name = f"{index:05d}-{tag}"
        path = _save_npy(value, build, name)
        out.append(DiskArray(build, name, str(path), len(value), ("matrix", *args, which)))
    return out[0], out[1]


def _derive(parent: Any, fn: Callable[..., Any], tag: str, kwargs: dict[str, Any]) -> Any:
    """``fn(array, **kwargs)``, cached to local disk next to its parent when the parent is a :class:`DiskArray`."""
    if not isinstance(parent, DiskArray):
        return fn(parent, **kwargs)
    value = fn(parent.load(), **kwargs)
    if value is None:
        return None
    name = f"{parent.name}-{tag}"
    path = _save_npy(value, parent.build, name)
    return DiskArray(parent.build, name, str(path), len(value), ("derived", parent, fn, kwargs))


def map_arrays(client: Any, fn: Callable[..., Any], values: list[Any], tag: str, **kwargs: Any) -> list[Any]:
    """``fn`` over per-partition arrays on the workers; results of disk-cached inputs are disk-cached too."""
    return client.map(_derive, values, fn=fn, tag=tag, kwargs=kwargs, pure=False)


def _materialize(value: Any) -> Any:
    return np.array(value.load()) if isinstance(value, DiskArray) else value


def gather_arrays(client: Any, values: list[Any]) -> list[np.ndarray]:
    """The per-partition arrays themselves, brought to the client (read from the workers' disks if cached there)."""
    return client.gather(client.map(_materialize, values, pure=False))


def _drop_cache(build: str, dask_worker: Any = None) -> int:
    import shutil

    path = _cache_root(dask_worker) / build  # client.run passes the worker as ``dask_worker``
    if not path.exists():
        return 0
    shutil.rmtree(path, ignore_errors=True)
    return 1


def drop_cached(client: Any, builds: Sequence[str]) -> None:
    """Delete the disk-cached matrices of ``builds`` on every worker (after the fold that used them is scored)."""
    for build in builds:
        client.run(_drop_cache, build)


# ---------------------------------------------------------------------------------------------------------------------
# Data-parallel gradient descent for assay's linear models


def _unique(y: Any) -> np.ndarray:
    return np.unique(as_array(y))


def _encode(y: np.ndarray, classes: np.ndarray | None, kind: str) -> np.ndarray:
    if classes is None:
        return np.asarray(y, dtype=np.float64)
    idx = np.searchsorted(classes, y)
    return idx.astype(np.float64) if kind == "logistic" else idx.astype(np.intp)


def _sample_weight(y_enc: np.ndarray, per_class: np.ndarray | None) -> np.ndarray | None:
    return None if per_class is None else per_class[np.asarray(y_enc, dtype=np.intp)]


def _as_dtype(X: np.ndarray, dtype: str) -> np.ndarray:
    return np.ascontiguousarray(X, dtype=np.float32 if dtype == "float32" else np.float64)


def _group_loss_grad(X: list[np.ndarray], y: list[np.ndarray], sw: list[np.ndarray | None], w: np.ndarray,
                     kind: str, fit_intercept: bool) -> tuple[float, np.ndarray, float]:
    """Summed loss/gradient over the partitions one worker holds (one task per worker per iteration)."""
    from assay.models._linear import data_loss_grad

    loss, grad, weight = 0.0, np.zeros_like(w), 0.0
    for Xh, yh, sh in zip(X, y, sw, strict=True):
        if len(Xh):  # one partition mapped at a time when they are cached on disk
            Xi, yi, si = as_array(Xh), as_array(yh), as_array(sh)
            s, g, n = data_loss_grad(w, Xi, yi, kind=kind, fit_intercept=fit_intercept, sample_weight=si)  # type: ignore[arg-type]
            loss += s
            grad += g
            weight += n
    return loss, grad, weight


def _add_terms(a: tuple[float, np.ndarray, float], b: tuple[float, np.ndarray, float]) -> tuple[float, np.ndarray,
                                                                                                float]:
    return a[0] + b[0], a[1] + b[1], a[2] + b[2]


# From this many workers on, an iteration's per-worker (loss, gradient, weight) are summed pairwise on the workers
# (log2(M) rounds) instead of all M gradients travelling to the client; below it the extra rounds cost more than
# they save (a gradient is (d + 1) × k floats).
TREE_SUM_FROM = 8


def _sum_stats(y: Any) -> tuple[float, float]:
    y = as_array(y)
    return float(np.sum(y)), float(len(y))


class _DistributedObjective:
    """Sums ``data_loss_grad`` over the partitions held on the workers: one round trip per evaluation."""

    def __init__(self, client: Any, X: list[Any], y: list[Any], sw: list[Any], kind: str, fit_intercept: bool,
                 n_features: int, alpha_l2: float) -> None:
        self.client, self.X, self.y, self.sw = client, X, y, sw
        self.kind, self.fit_intercept, self.n_features, self.alpha_l2 = kind, fit_intercept, n_features, alpha_l2
        self.calls = 0
        self.seconds = 0.0
        self.tree_from = TREE_SUM_FROM

    def _groups(self) -> list[tuple[str | None, list[int]]]:
        """Partition indices grouped by the worker holding them, so each iteration is one task per worker."""
        where = self.client.who_has(self.X)
        groups: dict[str | None, list[int]] = {}
        for i, fut in enumerate(self.X):
            holders = where.get(fut.key) or [None]
            groups.setdefault(sorted(holders)[0], []).append(i)
        return list(groups.items())

    def data_terms(self, w: np.ndarray) -> tuple[float, np.ndarray, float]:
        start = time.perf_counter()
        futures = [
            self.client.submit(
                _group_loss_grad, [self.X[i] for i in idx], [self.y[i] for i in idx], [self.sw[i] for i in idx],
                w, self.kind, self.fit_intercept, workers=None if worker is None else [worker],
                allow_other_workers=worker is not None, pure=False,
            )
            for worker, idx in self._groups()
        ]
        if len(futures) >= self.tree_from:
            while len(futures) > 1:
                pairs = [self.client.submit(_add_terms, futures[i], futures[i + 1], pure=False)
                         for i in range(0, len(futures) - 1, 2)]
                futures = pairs + futures[len(futures) - len(futures) % 2:]
            loss, grad, weight = futures[0].result()
        else:
            loss, grad, weight = 0.0, np.zeros_like(w), 0.0
            for s, g, n in self.client.gather(futures):
                loss += s
                grad += g
                weight += n
        self.calls += 1
        self.seconds += time.perf_counter() - start
        return loss, grad, weight

    def __call__(self, w: np.ndarray) -> tuple[float, np.ndarray]:
        from assay.models._linear import penalized_loss_grad

        s, g, n = self.data_terms(w)
        return penalized_loss_grad(w, s, g, n, n_features=self.n_features, fit_intercept=self.fit_intercept,
                                   alpha_l2=self.alpha_l2)


def fit_linear(client: Any, X: list[Any], y: list[Any], estimator: Any, *, n_features: int,
               order: np.ndarray | None = None) -> Any:
    """Fit a :class:`~assay.models.LogisticRegressionGD` / ``LinearRegressionGD`` data-parallel.

    The data stay on the workers; each iteration sends the parameter vector out and sums the per-partition loss
    and gradient (:func:`assay.models._linear.data_loss_grad`) — the same objective as the local fit, so the result
    equals it up to floating-point summation order. Full-batch optimizers only (``"lbfgs"``, ``"gd"``,
    ``"momentum"``, ``"adam"``); mini-batches and early stopping train on one worker instead.
    """
    from assay.models._linear import LogisticRegressionGD

    est = estimator
    est._check_params()
    if est.batch_size is not None or est.early_stopping:
        return fit_on_worker(client, X, y, est, order=order)  # mini-batches depend on the row order
    start = time.perf_counter()
    mode = "disk" if client.submit(_is_disk, X[0], pure=False).result() else "memory"
    classifier = isinstance(est, LogisticRegressionGD)
    per_class = None
    if classifier:
        labels = client.gather(client.map(_unique, y, pure=False))
        classes = np.unique(np.concatenate(labels)) if labels else np.array([])
        if len(classes) < 2:
            msg = f"{type(est).__name__}: the target has only one class ({classes.tolist()}); a classifier needs 2"
            raise ModelError(msg)
        k = 1 if len(classes) == 2 else len(classes)
        kind = "logistic" if k == 1 else "multinomial"
        est.classes_ = classes
        y_enc = map_arrays(client, _encode, y, "enc", classes=classes, kind=kind)
        if est.class_weight is not None:
            counts = client.gather(client.map(_class_counts, y_enc, n_classes=len(classes), pure=False))
            total = np.sum(counts, axis=0)
            per_class = _class_weights(est.class_weight, classes, total)
    else:
        classes, k, kind = None, 1, "squared"
        y_enc = map_arrays(client, _encode, y, "enc", classes=None, kind=kind)
    sw = map_arrays(client, _sample_weight, y_enc, "weight", per_class=per_class)
    Xd = map_arrays(client, _as_dtype, X, est.dtype, dtype=est.dtype) if est.dtype != "float64" else list(X)
    d = n_features
    alpha_l2, alpha_l1 = est._alphas()
    objective = _DistributedObjective(client, Xd, y_enc, sw, kind, est.fit_intercept, d, alpha_l2)
    w0 = np.zeros((d + int(est.fit_intercept)) * k)
    if est.fit_intercept and kind == "squared":
        stats = client.gather(client.map(_sum_stats, y_enc, pure=False))
        w0[-1] = sum(s for s, _ in stats) / max(sum(n for _, n in stats), 1.0)
    if est.optimizer == "lbfgs":
        w, n_iter, curve = _lbfgs(objective, w0, est, alpha_l1, d, k)
    else:
        w, n_iter, curve = _first_order(objective, w0, est, alpha_l1, d)
    est._set_weights(w, d, k)
    if not classifier:
        est.coef_ = est.coef_[0]
        est.intercept_ = float(est.intercept_[0])
    est.n_features_in_ = d
    est.n_iter_ = n_iter
    est.loss_curve_ = curve
    est.fit_seconds_ = time.perf_counter() - start
    est.distributed_ = {"evaluations": objective.calls, "seconds_in_gradients": round(objective.seconds, 4),
                        "partitions": len(X), "matrices": mode}
    return est


def _class_counts(y_enc: Any, n_classes: int) -> np.ndarray:
    return np.bincount(np.asarray(as_array(y_enc), dtype=np.intp), minlength=n_classes)


def _is_disk(value: Any) -> bool:
    return isinstance(value, DiskArray)


def _class_weights(class_weight: Any, classes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """scikit-learn's ``compute_sample_weight`` per class, from counts (``balanced``: n / (k * count))."""
    if class_weight == "balanced":
        return counts.sum() / (len(classes) * np.maximum(counts, 1))
    weights = np.ones(len(classes))
    for j, cls in enumerate(classes.tolist()):
        weights[j] = float(class_weight.get(cls, 1.0))
    return weights


def _lbfgs(objective: _DistributedObjective, w0: np.ndarray, est: Any, alpha_l1: float, d: int,
           k: int) -> tuple[np.ndarray, int, list[float]]:
    """The local L-BFGS-B set-up (same options, same L1 split) with the objective summed over partitions."""
    import warnings

    from scipy import optimize
    from sklearn.exceptions import ConvergenceWarning

    fi = est.fit_intercept
    curve: list[float] = []
    if alpha_l1 > 0:
        m = w0.size
        mask = np.ones((d + int(fi), k))
        if fi:
            mask[d] = 0.0
        mask = mask.ravel()

        def fun(v: np.ndarray) -> tuple[float, np.ndarray]:
            f, g = objective(v[:m] - v[m:])
            f += alpha_l1 * float(mask @ (v[:m] + v[m:]))
            return f, np.concatenate([g + alpha_l1 * mask, -g + alpha_l1 * mask])

        x0 = np.concatenate([np.maximum(w0, 0), np.maximum(-w0, 0)])
        bounds = [(0, None) if p else (None, None) for p in np.concatenate([mask, mask])]
    else:
        fun, x0, bounds, m = objective, w0, None, w0.size

    def callback(intermediate_result: optimize.OptimizeResult) -> None:  # scipy passes the result by this name
        curve.append(float(intermediate_result.fun))

    res = optimize.minimize(
        fun, x0, jac=True, method="L-BFGS-B", bounds=bounds, callback=callback,
        options={"maxiter": int(est.max_iter), "gtol": est.tol, "ftol": 64 * np.finfo(float).eps, "maxcor": 20},
    )
    w = res.x[:m] - res.x[m:] if alpha_l1 > 0 else res.x
    if res.status == 1:
        warnings.warn(f"{type(est).__name__}: L-BFGS did not converge in max_iter={est.max_iter} iterations; raise "
                      "max_iter or scale the features", ConvergenceWarning, stacklevel=3)
    return w, max(int(res.nit), 1), curve or [float(res.fun)]


def _first_order(objective: _DistributedObjective, w0: np.ndarray, est: Any, alpha_l1: float,
                 d: int) -> tuple[np.ndarray, int, list[float]]:
    """Full-batch GD / momentum / Adam: the local update rules, one distributed gradient per iteration."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from assay.models._linear import _shape, _soft_threshold

    fi, lr, opt = est.fit_intercept, float(est.learning_rate), est.optimizer
    w = w0.copy()
    vel, m1, m2 = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    curve: list[float] = []
    best, since, epochs = np.inf, 0, 0
    for epoch in range(int(est.max_iter)):
        epochs = epoch + 1
        f, g = objective(w)
        gmax = float(np.abs(g).max())
        if opt == "gd":
            step, thresh = lr * g, lr * alpha_l1
        elif opt == "momentum":
            vel = est.momentum * vel - lr * g
            step, thresh = -vel, lr * alpha_l1
        else:
            m1 = beta1 * m1 + (1 - beta1) * g
            m2 = beta2 * m2 + (1 - beta2) * g * g
            denom = np.sqrt(m2 / (1 - beta2**epochs)) + eps
            step, thresh = lr * (m1 / (1 - beta1**epochs)) / denom, lr * alpha_l1 / denom
        w -= step
        if alpha_l1 > 0:
            _soft_threshold(w, thresh, d, fi)
        if not np.isfinite(f) or not np.all(np.isfinite(w)):
            msg = (f"{type(est).__name__}: the loss diverged at iteration {epochs} with {opt} (learning_rate={lr}); "
                   "lower learning_rate or scale the features first")
            raise ModelError(msg)
        if alpha_l1 > 0:
            rows, k = _shape(w, d, fi)
            f += alpha_l1 * float(np.abs(w.reshape(rows, k)[:d]).sum())
        curve.append(f)
        if f < best - est.tol:
            best, since = f, 0
        else:
            since += 1
        if (alpha_l1 == 0 and gmax <= est.tol) or since >= est.n_iter_no_change:
            break
    else:
        if int(est.max_iter) > 1:
            warnings.warn(f"{type(est).__name__}: {opt} stopped at max_iter={est.max_iter} before converging "
                          f"(tol={est.tol}); raise max_iter or learning_rate", ConvergenceWarning, stacklevel=3)
    return w, epochs, curve


# ---------------------------------------------------------------------------------------------------------------------
# Other models


def _concat_fit(est: Any, X: list[Any], y: list[Any] | None, order: np.ndarray | None = None) -> Any:
    Xa = np.concatenate([as_array(x) for x in X]) if X else np.empty((0, 0))
    ya = None if y is None else np.concatenate([as_array(v) for v in y])
    if order is not None:
        Xa, ya = Xa[order], (None if ya is None else ya[order])
    if ya is None:
        return est.fit(Xa)
    return est.fit(Xa, ya)


def fit_on_worker(client: Any, X: list[Any], y: list[Any] | None, estimator: Any, *,
                  order: np.ndarray | None = None) -> Any:
    """Fit ``estimator`` in one task on one worker (the partitions are moved there); returns the fitted copy.

    For models without a data-parallel algorithm; their training set must fit in one worker's memory. ``order``
    permutes the rows (laid end to end in partition order) before fitting: the local engine's row order when it
    differs from the file's (a time split trains on rows in time order), for models whose fit depends on it.
    """
    return client.submit(_concat_fit, estimator, X, y, order, pure=False).result()


def map_tasks(client: Any, fn: Callable[..., Any], items: Sequence[Any], **kwargs: Any) -> list[Any]:
    """Run ``fn(item, **kwargs)`` for every item as parallel tasks (CV folds, tuning trials); results in order."""
    return client.gather(client.map(fn, list(items), pure=False, **kwargs))


def _predict(X: Any, est: Any, task: str) -> tuple[np.ndarray, np.ndarray | None]:
    if len(X) == 0:
        return np.empty(0), None
    X = as_array(X)
    y = est.predict(X)
    proba = est.predict_proba(X) if task == "classification" and hasattr(est, "predict_proba") else None
    if task == "anomaly":  # the scores that roc_auc and average precision rank, as the local engine scores
        proba = est.score_samples(X)
    return y, proba


def predict_parts(client: Any, estimator: Any, X: list[Any], task: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Predictions (and class probabilities, or an anomaly detector's scores) for the rows held on the workers,
    concatenated in partition order."""
    est = client.submit(_identity, estimator, pure=False)
    results = client.gather(client.map(_predict, X, est=est, task=task, pure=False))
    ys = [r[0] for r in results if len(r[0])]
    probas = [r[1] for r in results if r[1] is not None]
    y = np.concatenate(ys) if ys else np.empty(0)
    return y, (np.concatenate(probas) if probas else None)


def _identity(value: Any) -> Any:
    return value


def fit_lightgbm(client: Any, X: list[Any], y: list[Any], estimator: Any, *, n_features: int) -> Any:
    """Train a LightGBM model with ``lightgbm.dask`` (data-parallel across workers); returns the local model.

    LightGBM's distributed learner builds histograms per worker and merges them, so trees differ slightly from a
    single-machine fit (bin edges come from each worker's sample); quality is equivalent, not identical.
    """
    import dask
    import dask.array as da
    import lightgbm as lgb

    from assay.exceptions import MissingDependencyError

    try:
        import lightgbm.dask as lgb_dask
    except ImportError as exc:  # pragma: no cover - depends on the installation
        msg = "LightGBM's Dask interface is unavailable; run: pip install 'assay[dask]'"
        raise MissingDependencyError(msg) from exc
    # lightgbm.dask needs the arrays in memory (a disk-cached matrix is read back here: it must fit the workers)
    X, y = client.map(_materialize, X, pure=False), client.map(_materialize, y, pure=False)
    sizes = client.gather(client.map(len, X, pure=False))
    keep = [i for i, n in enumerate(sizes) if n]
    label_kind = client.submit(_dtype_of, y[keep[0]], pure=False).result()
    Xd = da.concatenate([da.from_delayed(dask.delayed(X[i]), shape=(sizes[i], n_features), dtype=np.float64)
                         for i in keep])
    yd = da.concatenate([da.from_delayed(dask.delayed(y[i]), shape=(sizes[i],), dtype=label_kind) for i in keep])
    # lightgbm.dask sets the threads of each worker itself and warns about (then ignores) a user's n_jobs.
    params = {k: v for k, v in estimator.get_params().items() if k not in ("n_jobs", "num_threads")}
    if isinstance(estimator, lgb.LGBMClassifier):
        model = lgb_dask.DaskLGBMClassifier(client=client, **params)
    elif isinstance(estimator, lgb.LGBMRegressor):
        model = lgb_dask.DaskLGBMRegressor(client=client, **params)
    else:
        msg = f"fit_lightgbm expects an LGBMClassifier or LGBMRegressor, got {type(estimator).__name__}"
        raise SpecError(msg)
    import warnings

    with warnings.catch_warnings():
        # lightgbm.dask always derives num_threads from each worker and says so; nothing for the user to act on.
        warnings.filterwarnings("ignore", message="Parameter (num_threads|n_jobs|num_machines) will be ignored")
        with client.as_current():  # lightgbm.dask waits on futures through the default client
            model.fit(Xd, yd)
    return model.to_local()


def _dtype_of(y: np.ndarray) -> np.dtype:
    return y.dtype


def _kmeans_stats(X: Any, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    from sklearn.metrics import pairwise_distances_argmin_min

    k, d = centers.shape
    if len(X) == 0:
        return np.zeros((k, d)), np.zeros(k), 0.0
    X = as_array(X)
    labels, dist = pairwise_distances_argmin_min(X, centers)
    sums = np.zeros((k, d))
    np.add.at(sums, labels, X)
    return sums, np.bincount(labels, minlength=k).astype(np.float64), float(np.square(dist).sum())


def _sample_rows(X: Any, n: int, seed: int) -> np.ndarray:
    X = as_array(X)
    if len(X) <= n:
        return np.asarray(X)
    rng = np.random.default_rng(seed)
    return X[np.sort(rng.choice(len(X), size=n, replace=False))]


def fit_kmeans(client: Any, X: list[Any], n_clusters: int, *, seed: int = 0, max_iter: int = 300, tol: float = 1e-4,
               sample_rows: int = 50_000) -> tuple[np.ndarray, float, int]:
    """k-means on partitions: k-means++ seeds from a sample, then Lloyd iterations where each partition returns
    per-cluster sums and counts and the centres are updated here.

    Returns ``(centres, inertia, iterations)``. The sample is drawn proportionally from every partition.
    """
    from sklearn.cluster import kmeans_plusplus

    sizes = client.gather(client.map(len, X, pure=False))
    total = max(sum(sizes), 1)
    if total < n_clusters:
        msg = f"k-means: {total} rows are fewer than n_clusters={n_clusters}"
        raise ModelError(msg)
    quotas = [max(1, round(sample_rows * n / total)) if n else 0 for n in sizes]
    samples = client.gather(client.map(_sample_rows, X, quotas, [seed + i for i in range(len(X))], pure=False))
    sample = np.concatenate([s for s in samples if len(s)])
    centers, _ = kmeans_plusplus(sample, n_clusters, random_state=seed)
    inertia, it = np.inf, 0
    scale = float(np.mean(np.var(sample, axis=0))) or 1.0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        stats = client.gather(client.map(_kmeans_stats, X, centers=centers, pure=False))
        sums = sum(s for s, _, _ in stats)
        counts = sum(c for _, c, _ in stats)
        inertia = sum(i for _, _, i in stats)
        new = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], centers)
        shift = float(np.square(new - centers).sum())
        centers = new
        if shift <= tol * scale:
            break
    return centers, float(inertia), it


def fit_kmeans_auto(client: Any, X: list[Any], estimator: Any, *, sample_rows: int = 50_000) -> Any:
    """Fit a :class:`~assay.models.KMeansAuto` on partitions: k is chosen on a sample drawn from every partition (the
    estimator's own rule), then the centres are computed over all rows by :func:`fit_kmeans`.

    The fitted estimator predicts like a locally fitted one; its ``labels_`` are those of the sample (the labels of
    every training row stay on the workers).
    """
    from sklearn.cluster import KMeans

    sizes = client.gather(client.map(len, X, pure=False))
    total = max(sum(sizes), 1)
    seed = 0 if estimator.random_state is None else int(estimator.random_state)
    quotas = [max(1, round(sample_rows * n / total)) if n else 0 for n in sizes]
    samples = client.gather(client.map(_sample_rows, X, quotas, [seed + i for i in range(len(X))], pure=False))
    sample = np.concatenate([s for s in samples if len(s)])
    # submitted, not scattered: a result with lineage is recomputed if its worker dies
    chooser = fit_on_worker(client, [client.submit(_identity, sample, pure=False)], None, estimator)
    k = int(chooser.n_clusters_)
    centres, inertia, n_iter = fit_kmeans(client, X, k, seed=seed)
    # A scikit-learn KMeans holding these centres: fitted on the centres themselves from the centres, one step, so
    # every centre stays where the distributed iterations put it.
    inner = KMeans(n_clusters=k, init=centres, n_init=1, max_iter=1).fit(centres)
    inner.cluster_centers_ = centres
    inner.inertia_ = inertia
    inner.n_iter_ = n_iter
    est = chooser
    est.model_ = inner
    est.cluster_centers_ = centres
    est.inertia_ = float(inertia)
    est.labels_ = inner.predict(sample)
    return est
