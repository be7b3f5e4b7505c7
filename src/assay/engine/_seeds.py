"""Steps whose result for a row depends on neighbouring rows, on partitions: the ``missing`` step's ``ffill``,
``bfill`` and ``interpolate`` (``row_local`` is False).

The local engine fills a gap from the rows around it in the whole frame; a partition transformed alone cannot see
the rows of the others. So before such a step is applied on the cluster, one pass over the partitions (each read
through the steps before it, as the step will see it) collects per column and group the boundary rows: the last and
first known value (for ``interpolate`` with ``order_by``, the known value latest and earliest in time), the rows per
group (for ``interpolate`` by position) and the range of times (to check the time order). On the client these become,
for each partition, *seed* rows: the nearest known values before it (``before``) and after it (``after``) from the
other partitions. Each partition is then transformed as ``before + partition + after`` and the seeds are dropped,
which gives every row the neighbours it has in the whole frame:

- ``ffill``: the seed before is, per column and group, the last known value of all earlier partitions — however
  many whole partitions without a value lie between; ``bfill`` the same from the end;
- ``interpolate`` (by position): both seeds, each with its position among the rows of its group over all
  partitions; the step interpolates by that position, so the distances are those of the whole frame;
- ``interpolate`` with ``order_by``: the seeds are the known values nearest in time from the other partitions. That
  is exact when, in each group, the partitions follow one another in time (no partition holds a time earlier than a
  time of an earlier partition); otherwise the step is refused with a :class:`~assay.exceptions.SpecError`, since the
  nearest points in time of a row could lie anywhere in the data.

A seed row is a whole row of the step's input, so one row can seed several columns: for each column the seed that
counts is still the nearest, because any seed row that is nearer and has the value would itself be the nearest.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from assay.exceptions import SpecError

__all__ = ["Seeds", "check_steps", "compute_seeds", "seeded_transform"]

ROW = "__assay_seed_row__"
GROUP = "__assay_seed_group__"
RANK = "__assay_seed_rank__"
TIME = "__assay_seed_time__"
POS = "__assay_seed_pos__"
SEQUENTIAL = ("ffill", "bfill", "interpolate")


@dataclass
class Seeds:
    """One partition's context for one step: rows of the step's input from the partitions before and after it.

    ``offsets`` (``interpolate`` by position only): per group, the position over all partitions of the group's
    first row in this partition; the seed frames then carry their own positions in a ``POS`` column.
    """

    before: pl.DataFrame
    after: pl.DataFrame
    offsets: dict[str, int] | None = None

    def __bool__(self) -> bool:
        return bool(self.before.height or self.after.height)


def needs_seeds(step: Any) -> bool:
    return not getattr(step, "row_local", True)


def check_steps(steps: Sequence[Any], *, train: bool = True) -> None:
    """Refuse what the Dask engine cannot run like the local engine: a step depending on its neighbours other than
    the ``missing`` step, or (for training rows) a step removing rows after one: its rows are removed before every
    step here. Predict-time transforms keep every row, so there such a step is no matter."""
    from assay.clean._missing import MissingStep

    for i, step in enumerate(steps):
        if not needs_seeds(step):
            continue
        if not isinstance(step, MissingStep):
            msg = (f"{step.name}: this step fills rows from their neighbours and the Dask engine can only do that for "
                   "the 'missing' step; run it on the local engine")
            raise SpecError(msg)
        later = [s.name for s in steps[i + 1:] if s.changes_rows] if train else []
        if later:
            msg = (f"{step.name}: {step.strategy}/{step.categorical} fills from neighbouring rows, and the step(s) "
                   f"{', '.join(repr(n) for n in later)} after it remove training rows; on the Dask engine rows are "
                   "removed before the steps run, so the neighbours would differ from the local engine's. Put the "
                   "row-removing step(s) before it, or use the local engine")
            raise SpecError(msg)


def _kinds(step: Any, schema: pl.Schema | None = None) -> dict[str, str]:
    """The step's columns filled from neighbours (those in ``schema``), with how (``ffill``, ``bfill`` or
    ``interpolate``): numbers by ``strategy``, other columns by ``categorical`` (as ``MissingStep._filled``)."""
    state = step.state_
    numeric = set(state["numeric"])
    out = {}
    for col in state["columns"]:
        if schema is not None and col not in schema:
            continue
        kind = step.strategy if col in numeric else step.categorical
        if kind in SEQUENTIAL:
            out[col] = kind
    return out


def _timed(step: Any, kind: str) -> bool:
    return kind == "interpolate" and bool(step.order_by)


def _group(step: Any) -> pl.Expr:
    from assay.clean._stats import group_key

    return group_key(step.by) if step.by else pl.lit("")


def _time(step: Any) -> pl.Expr:
    # The step's own reading of the time column (MissingStep._sequential): a number, or null when unknown.
    when = pl.col(step.order_by).to_physical().cast(pl.Float64)
    return pl.when(when.is_finite()).then(when)


def boundary(frame: pl.DataFrame, step: Any) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int], pl.DataFrame]:
    """What one partition contributes (worker side): ``(info, rows, counts, ranges)``.

    ``info`` has one line per (column, group, side): ``side`` ``last`` is the last known value (latest in time when
    interpolating by time), ``first`` the first; ``rows`` holds those rows of the step's input with their place;
    ``counts`` is the rows per group; ``ranges`` the earliest and latest time per group.
    """
    from assay.clean._missing import _is_missing

    schema = frame.schema
    kinds = _kinds(step, schema)
    tokens = list(step.tokens or [])
    timed = any(_timed(step, k) for k in kinds.values())
    work = frame.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias(ROW), _group(step).alias(GROUP))
    work = work.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).over(GROUP).alias(RANK),
                             (_time(step) if timed else pl.lit(None, dtype=pl.Float64)).alias(TIME))
    pieces = []
    for col, kind in kinds.items():
        known = ~_is_missing(col, schema[col], tokens)
        order = [ROW]
        if _timed(step, kind):
            known = known & pl.col(TIME).is_not_null()
            order = [TIME, ROW]
        sides = [s for s, kinds_of in (("last", ("ffill", "interpolate")), ("first", ("bfill", "interpolate")))
                 if kind in kinds_of]
        found = work.filter(known).group_by(GROUP).agg(
            [getattr(pl.col(ROW).sort_by(order), side)().alias(side) for side in sides])
        for side in sides:
            pieces.append(found.select(pl.lit(col).alias("col"), pl.col(GROUP).alias("group"),
                                       pl.lit(side).alias("side"), pl.col(side).alias("row")))
    info = pl.concat(pieces) if pieces else pl.DataFrame(schema={"col": pl.String, "group": pl.String,
                                                                 "side": pl.String, "row": pl.Int64})
    info = info.join(work.select(pl.col(ROW).alias("row"), pl.col(TIME).alias("time")), on="row", how="left")
    rows = work.filter(pl.col(ROW).is_in(info.get_column("row").unique().implode()))
    counts = dict(work.group_by(GROUP).len().iter_rows())
    ranges = (work.filter(pl.col(TIME).is_not_null()).group_by(GROUP)
              .agg(pl.col(TIME).min().alias("lo"), pl.col(TIME).max().alias("hi")))
    return info, rows, counts, ranges


def _boundary(part: Any, mask: Any, seeds: dict[int, Seeds], steps: list[Any], j: int,
              train: bool) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int], pl.DataFrame]:
    from assay.engine._dask import _load

    return boundary(_load(part, mask, steps[:j], train=train, seeds=seeds), steps[j])


def _check_time_order(step: Any, ranges: list[pl.DataFrame], parts: Sequence[Any]) -> None:
    """Interpolating by time from seeds is exact when, per group, each partition's times are not earlier than any
    time of an earlier partition."""
    latest: dict[str, tuple[float, int]] = {}
    for p, frame in enumerate(ranges):
        for group, lo, hi in frame.iter_rows():
            seen = latest.get(group)
            if seen is not None and lo < seen[0]:
                where = f" of group {group!r} ({step.by})" if step.by else ""
                msg = (f"{step.name}: interpolate with order_by={step.order_by!r} on the Dask engine needs the rows "
                       f"in time order across partitions: partition {parts[p].index} holds a time{where} earlier "
                       f"than partition {parts[seen[1]].index} does. Sort the source by {step.order_by!r} (within "
                       "each group) before training, or run on the local engine")
                raise SpecError(msg)
            if seen is None or hi >= seen[0]:
                latest[group] = (hi, p)


def _select(step: Any, infos: list[pl.DataFrame], present: list[dict[str, int]], side: str,
            forward: bool) -> list[list[tuple[int, int]]]:
    """Per partition, the (partition, row) of the nearest known value of each column and of each group it holds
    (``present``) on ``side`` of it: a running best over the partitions before it (``forward``) or after it."""
    kinds = _kinds(step)
    timed = {col: _timed(step, kind) for col, kind in kinds.items()}
    best: dict[tuple[str, str], tuple[Any, ...]] = {}
    out: list[list[tuple[int, int]]] = [[] for _ in infos]
    order = range(len(infos)) if forward else range(len(infos) - 1, -1, -1)
    for p in order:
        # Only the groups this partition holds: with many groups, a partition's seeds stay about its own size.
        chosen = (best.get((col, group)) for col in kinds for group in present[p])
        out[p] = sorted({(k[-2], k[-1]) for k in chosen if k is not None})
        for col, group, row, time in infos[p].filter(pl.col("side") == side).select(
                "col", "group", "row", "time").iter_rows():
            key = (time, p, row) if timed.get(col) else (p, row)
            old = best.get((col, group))
            if old is None or (key > old if forward else key < old):
                best[(col, group)] = key
    return out


def _frame(chosen: list[tuple[int, int]], rows: list[pl.DataFrame], offsets: list[dict[str, int]] | None,
           template: pl.DataFrame) -> pl.DataFrame:
    pieces = []
    for q in sorted({q for q, _ in chosen}):
        wanted = [r for p, r in chosen if p == q]
        piece = rows[q].filter(pl.col(ROW).is_in(wanted))
        if offsets is not None:
            start = pl.col(GROUP).replace_strict(offsets[q], default=0, return_dtype=pl.Int64)
            piece = piece.with_columns((start + pl.col(RANK)).alias(POS))
        pieces.append(piece)
    if not pieces:
        return template
    out = pl.concat(pieces, how="diagonal_relaxed")
    return out.drop(ROW, GROUP, RANK, TIME)


def _combine(step: Any, parts: Sequence[Any], results: list[tuple[Any, ...]]) -> list[Seeds]:
    infos = [r[0] for r in results]
    rows = [r[1] for r in results]
    kinds = _kinds(step)
    if any(_timed(step, k) for k in kinds.values()):
        _check_time_order(step, [r[3] for r in results], parts)
    positional = any(k == "interpolate" and not step.order_by for k in kinds.values())
    offsets: list[dict[str, int]] | None = None
    if positional:
        offsets, running = [], {}
        for r in results:
            offsets.append({group: running.get(group, 0) for group in r[2]})  # the groups it holds (and seeds from)
            for group, n in r[2].items():
                running[group] = running.get(group, 0) + n
    present = [r[2] for r in results]
    before = _select(step, infos, present, "last", forward=True)
    after = _select(step, infos, present, "first", forward=False)
    template = rows[0].clear().drop(ROW, GROUP, RANK, TIME)
    if positional:
        template = template.with_columns(pl.lit(None, dtype=pl.Int64).alias(POS))
    return [Seeds(_frame(before[p], rows, offsets, template), _frame(after[p], rows, offsets, template),
                  None if offsets is None else offsets[p]) for p in range(len(parts))]


def compute_seeds(client: Any, parts: Sequence[Any], masks: Sequence[Any], steps: Sequence[Any],
                  *, train: bool) -> list[dict[int, Seeds]]:
    """For each partition, ``{step index: Seeds}`` for every step that fills from neighbouring rows (one pass over
    the partitions per such step; none when every step is row-local). ``masks`` and ``train`` are those the steps
    will be applied with: the seeds come from the same rows the local engine's frame would hold."""
    from assay.engine._dask import _shippable

    seeds: list[dict[int, Seeds]] = [{} for _ in parts]
    if not any(needs_seeds(s) for s in steps):
        return seeds
    check_steps(steps, train=train)
    shipped = [_shippable(s) for s in steps]
    for j, step in enumerate(steps):
        if not needs_seeds(step):
            continue
        seeds = _seeds_for(client, parts, masks, seeds, shipped, j, train)
    return seeds


def _seeds_for(client: Any, parts: Sequence[Any], masks: Sequence[Any], seeds: list[dict[int, Seeds]],
               shipped: list[Any], j: int, train: bool) -> list[dict[int, Seeds]]:
    """``seeds`` with those of step ``j`` added (the steps before it run with theirs)."""
    futures = client.map(_boundary, list(parts), list(masks), seeds, steps=shipped, j=j, train=train, pure=False)
    per_part = _combine(shipped[j], parts, client.gather(futures))
    return [{**s, j: c} for s, c in zip(seeds, per_part, strict=True)]


def seeded_transform(step: Any, frame: pl.DataFrame, seeds: Seeds | None) -> pl.DataFrame:
    """``step.transform`` of one partition with the rows around it (worker side): ``before + frame + after``,
    transformed together, the seeds dropped again."""
    if not seeds:
        out = step.transform(frame)
        return out.collect() if isinstance(out, pl.LazyFrame) else out
    body = frame
    work = step
    if seeds.offsets is not None:
        # Interpolation by position over all partitions: the step interpolates by this column (as it does by an
        # order_by time column) instead of by the row's place in the partition.
        start = _group(step).replace_strict(seeds.offsets, default=0, return_dtype=pl.Int64)
        body = frame.with_columns((start + pl.int_range(pl.len(), dtype=pl.Int64).over(_group(step))).alias(POS))
        work = copy.copy(step)
        work.order_by = POS
    columns = body.columns
    combined = pl.concat([seeds.before.select(columns), body, seeds.after.select(columns)], how="vertical_relaxed")
    out = work.transform(combined)
    out = out.collect() if isinstance(out, pl.LazyFrame) else out
    out = out.slice(seeds.before.height, frame.height)
    return out.drop(POS) if POS in out.columns else out


class Seeded:
    """A fitted step that transforms one partition with its seeds (for :class:`~assay._fitted.Model` at predict
    time); every other attribute is the step's."""

    def __init__(self, step: Any, seeds: Seeds) -> None:
        self.step = step
        self.seeds = seeds

    def transform(self, frame: Any) -> pl.DataFrame:
        if isinstance(frame, pl.LazyFrame):
            frame = frame.collect()
        return seeded_transform(self.step, frame, self.seeds)

    def __getattr__(self, name: str) -> Any:
        if name in ("step", "seeds") or name.startswith("__"):  # not set yet (a copy or unpickling in progress)
            raise AttributeError(name)
        return getattr(self.step, name)


class Validate:
    """The model's input check as a first step, so seeds for predicting are rows as the model's steps see them."""

    name = "validate"
    row_local = True
    changes_rows = False

    def __init__(self, model: Any) -> None:
        self.model = model

    def transform(self, frame: pl.DataFrame) -> pl.DataFrame:
        return self.model.read_input(frame)[0] if frame.height else self.model.validate(frame)

    transform_train = transform
