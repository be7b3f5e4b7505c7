"""Mergeable per-batch statistics shared by the cleaning steps.

Moments (count, mean, sum of squared deviations) merge exactly with Chan et al.'s parallel formula; category counts
add; quantiles use :class:`assay.clean._sketch.QuantileSummary`; a bottom-k hash sample keeps the ``k`` rows with the
smallest row hash, so the sample of merged batches is exactly the sample of the whole data (whatever the batching).
Nothing here knows about a particular step.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import polars as pl

from assay.clean._base import Frame
from assay.clean._sketch import QuantileSummary
from assay.exceptions import SpecError, did_you_mean

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "Moments",
    "canonical_choice",
    "category_counts",
    "check_choice",
    "collect_row",
    "finite",
    "group_key",
    "hash_sample",
    "merge_counts",
    "merge_hash_samples",
    "moments",
    "quantile_summaries",
    "to_float",
]

# Hash seed for the bottom-k samples: fixed so a sample is reproducible from run to run.
HASH_SEED = 20_240_601


def canonical_choice(value: Any, valid: Sequence[Any]) -> Any:
    """The valid spelling of ``value`` when it differs only in case, ``-``, ``_`` or spaces, else ``value``.

    >>> canonical_choice("yeo_johnson", ("standard", "yeo-johnson"))
    'yeo-johnson'
    >>> canonical_choice("Isolation-Forest", ("iqr", "isolation_forest"))
    'isolation_forest'
    >>> canonical_choice("z-score", ("zscore", "mad")), canonical_choice("bogus", ("zscore",))
    ('zscore', 'bogus')
    """
    if not isinstance(value, str) or value in valid:
        return value
    key = _choice_key(value)
    matches = [v for v in valid if isinstance(v, str) and _choice_key(v) == key]
    return matches[0] if len(matches) == 1 else value


def _choice_key(value: str) -> str:
    return re.sub(r"[-_\s]", "", value.lower())


def check_choice(step: str, param: str, value: Any, valid: Sequence[Any]) -> None:
    """Raise SpecError naming the valid values when ``value`` is not one of them."""
    if value not in valid:
        msg = (f"{step}: {param}={value!r} is not valid{did_you_mean(str(value), [str(v) for v in valid])}; "
               f"valid values: {', '.join(repr(v) for v in valid)}")
        raise SpecError(msg)


def check_at_least(step: str, param: str, value: Any, low: float, *, above: bool = False, hint: str = "") -> None:
    """Raise SpecError unless ``value`` is a number of at least ``low`` (above it with ``above``).

    >>> check_at_least("missing", "k", 0, 1)
    Traceback (most recent call last):
    assay.exceptions.SpecError: missing: k=0 must be at least 1
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not (number > low if above else number >= low):
        msg = f"{step}: {param}={value!r} must be {'above' if above else 'at least'} {low:g}{hint}"
        raise SpecError(msg)


def collect_row(frame: Frame, exprs: list[pl.Expr], engine: str = "auto") -> dict[str, Any]:
    """Evaluate aggregate expressions on a frame or lazy frame and return the single result row.

    ``engine="in-memory"`` suits data already in memory and order statistics: the streaming engine cuts columns
    into morsels, and Polars' quantiles over many chunks are several times slower than over one.
    """
    if not exprs:
        return {}
    out = frame.select(exprs)
    if isinstance(out, pl.LazyFrame):
        out = out.collect(engine=engine)
    return out.row(0, named=True)


def to_float(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.Float64)


def finite(name: str) -> pl.Expr:
    """A column as Float64 with NaN and ±inf turned into null, for null-ignoring aggregations (count, mean, var,
    quantile, …). Elementwise rather than a filter, so it streams and Polars evaluates it once for many aggregates."""
    x = to_float(name)
    return pl.when(x.is_finite()).then(x)


# -- moments ------------------------------------------------------------------------------------------------------
Moments = tuple[int, float, float, float | None, float | None]  # n, mean, m2, min, max


def _moment_exprs(columns: Sequence[str], value: Any) -> list[pl.Expr]:
    exprs: list[pl.Expr] = []
    for i, col in enumerate(columns):
        f = value(col)
        # Polars' population variance is a stable one-pass computation; n·var is the M2 that Chan's merge needs.
        exprs += [f.count().alias(f"{i}n"), f.mean().alias(f"{i}m"), (f.var(ddof=0) * f.count()).alias(f"{i}s"),
                  f.min().alias(f"{i}lo"), f.max().alias(f"{i}hi")]
    return exprs


def _all_finite(row: dict[str, Any], i: int) -> bool:
    """Whether raw aggregates saw only finite values: NaN (or +inf with -inf) makes the mean NaN, +inf the max,
    -inf the min; an empty column has no values to worry about."""
    return all(row[f"{i}{k}"] is None or math.isfinite(row[f"{i}{k}"]) for k in ("m", "lo", "hi"))


def moments(frame: Frame, columns: Sequence[str], engine: str = "auto") -> dict[str, Moments]:
    """Count, mean, sum of squared deviations, min and max of the finite values of each column.

    One pass over the plain values first; only columns where that pass met NaN or ±inf are aggregated again over
    their finite values. Reading every column through :func:`finite` up front costs about twice as much, and
    cleaned data (after ``missing``) rarely holds a non-finite value.
    """
    row = collect_row(frame, _moment_exprs(columns, to_float), engine=engine)
    redo = [col for i, col in enumerate(columns) if not _all_finite(row, i)]
    if redo:
        again = collect_row(frame, _moment_exprs(redo, finite), engine=engine)
        index = {col: i for i, col in enumerate(columns)}
        for j, col in enumerate(redo):
            for k in ("n", "m", "s", "lo", "hi"):
                row[f"{index[col]}{k}"] = again[f"{j}{k}"]
    out: dict[str, Moments] = {}
    for i, col in enumerate(columns):
        n = int(row[f"{i}n"] or 0)
        out[col] = (n, float(row[f"{i}m"] or 0.0) if n else 0.0, float(row[f"{i}s"] or 0.0) if n else 0.0,
                    row[f"{i}lo"], row[f"{i}hi"])
    return out


def merge_moments(a: Moments, b: Moments) -> Moments:
    """Chan et al.'s pairwise update: exact up to floating-point rounding, independent of the batching."""
    na, ma, sa, loa, hia = a
    nb, mb, sb, lob, hib = b
    if na == 0:
        return b
    if nb == 0:
        return a
    n = na + nb
    delta = mb - ma
    mean = ma + delta * nb / n
    m2 = sa + sb + delta * delta * na * nb / n
    return n, mean, m2, min(loa, lob), max(hia, hib)


def merge_moment_dicts(a: dict[str, Moments], b: dict[str, Moments]) -> dict[str, Moments]:
    return {k: merge_moments(a[k], b[k]) if k in a and k in b else a.get(k, b.get(k)) for k in {**a, **b}}


def std_of(m: Moments, ddof: int = 0) -> float | None:
    """The standard deviation of merged moments; 0.0 when it is rounding noise next to the values' size.

    Equal values added in another order leave ``m2`` at a few ulps, not 0: a column of 11.72 (every row given the
    same out-of-fold target mean, say) measured a spread of 1.8e-15, and dividing by it turned a new row's 11.9 into
    1e14. Below 1e-12 of the largest magnitude the spread is taken as none, as for a constant column.

    >>> std_of((3, 11.72, 3 * (1.8e-15) ** 2, 11.72, 11.72)), std_of((2, 0.5, 0.5, 0.0, 1.0))
    (0.0, 0.5)
    """
    n, mean, m2, lo, hi = m
    if n - ddof <= 0:
        return None
    std = math.sqrt(max(m2, 0.0) / (n - ddof))
    size = max(abs(mean or 0.0), abs(lo or 0.0), abs(hi or 0.0))
    return 0.0 if std <= 1e-12 * size else std


# -- quantiles ----------------------------------------------------------------------------------------------------
def quantile_summaries(frame: pl.DataFrame, columns: Sequence[str]) -> dict[str, QuantileSummary]:
    return {c: QuantileSummary.of(frame.get_column(c).cast(pl.Float64).to_numpy()) for c in columns}


def merge_quantile_dicts(a: dict[str, QuantileSummary], b: dict[str, QuantileSummary]) -> dict[str, QuantileSummary]:
    return {k: a[k].merge(b[k]) if k in a and k in b else a.get(k, b.get(k)) for k in {**a, **b}}


# -- categories ---------------------------------------------------------------------------------------------------
def category_counts(frame: Frame, columns: Sequence[str]) -> dict[str, dict[str, int]]:
    """Counts of each non-null value (as text) per column; nulls are counted under the key ``None``."""
    out: dict[str, dict[str, int]] = {}
    for col in columns:
        vc = frame.select(pl.col(col).cast(pl.String).alias("v")).group_by("v").agg(pl.len().alias("n"))
        if isinstance(vc, pl.LazyFrame):
            vc = vc.collect()
        out[col] = dict(zip(vc.get_column("v").to_list(), vc.get_column("n").to_list(), strict=True))
    return out


def union(a: Sequence[str], b: Sequence[str]) -> list[str]:
    """``a``'s columns, then those only ``b`` has: batches disagree when a column is all null (type Null) in one."""
    seen = set(a)
    return [*a, *(c for c in b if c not in seen)]


def merge_counts(a: dict[Any, int], b: dict[Any, int]) -> dict[Any, int]:
    out = dict(a)
    for key, n in b.items():
        out[key] = out.get(key, 0) + n
    return out


def group_key(by: str) -> pl.Expr:
    """The group a row belongs to, as text (JSON object keys are text); null groups become the empty key ``""``."""
    return pl.col(by).cast(pl.String).fill_null("")


# -- bottom-k hash sample -----------------------------------------------------------------------------------------
def hash_sample(frame: Frame, columns: Sequence[str], k: int) -> pl.DataFrame:
    """The ``k`` distinct rows with the smallest row hash, each with its number of copies (``__n__``) and its hash
    (``__hash__``): mergeable (:func:`merge_hash_samples`), batching-independent.

    Identical rows hash alike, so a bottom-k of the rows themselves would hold every copy of the first few values
    and none of the others (a column of sizes or counts repeats its values): a sample of a handful of values.
    Distinct rows with their counts are a fair sample, which :func:`sample_matrix` spreads back over ``k`` rows.
    """
    if not columns:
        return pl.DataFrame(schema={"__hash__": pl.UInt64, "__n__": pl.Int64})
    # Floats are hashed as Float32: values that differ only in their last bits (the same data scaled by statistics
    # merged in another order, as on another engine) pick the same rows. The sample keeps the values themselves.
    schema = frame.collect_schema()
    keys = [pl.col(c).cast(pl.Float32) if schema[c] == pl.Float64 else pl.col(c) for c in columns]
    h = pl.struct(keys).hash(seed=HASH_SEED).alias("__hash__")
    # Only rows whose hash is among the k smallest distinct ones are grouped (grouping every row by all its columns
    # took six times as long as the hashing).
    hashes = pl.col("__hash__")
    out = (frame.select([*[pl.col(c) for c in columns], h])
           .filter(hashes <= hashes.unique().bottom_k(k).max())
           .group_by([*columns, "__hash__"]).agg(pl.len().cast(pl.Int64).alias("__n__"))
           .sort(["__hash__", *columns], nulls_last=True).head(k))
    return out.collect() if isinstance(out, pl.LazyFrame) else out


def merge_hash_samples(a: pl.DataFrame, b: pl.DataFrame, k: int) -> pl.DataFrame:
    both = pl.concat([_with_counts(a), _with_counts(b)], how="diagonal_relaxed")
    keys = [c for c in both.columns if c != "__n__"]
    values = [c for c in keys if c != "__hash__"]
    return (both.group_by(keys).agg(pl.col("__n__").sum()).select(both.columns)
            .sort(["__hash__", *values], nulls_last=True).head(k))


def _with_counts(sample: pl.DataFrame) -> pl.DataFrame:
    return sample if "__n__" in sample.columns else sample.with_columns(pl.lit(1, dtype=pl.Int64).alias("__n__"))


def sample_matrix(sample: pl.DataFrame, columns: Sequence[str], k: int | None = None) -> np.ndarray:
    """The sample as a float matrix in a canonical row order (sorted by hash, then values), each distinct row
    repeated in proportion to its count (``__n__``): every copy when the counts add up to at most ``k`` rows, else
    ``k`` rows shared out by largest remainder."""
    import numpy as np

    sample = _with_counts(sample)
    ordered = sample.sort(["__hash__", *columns], nulls_last=True)
    matrix = ordered.select([to_float(c) for c in columns]).to_numpy().astype(np.float64, copy=False)
    counts = ordered.get_column("__n__").to_numpy().astype(np.int64)
    total = int(counts.sum())
    if k is not None and total > k:
        share = counts * (k / total)
        copies = np.floor(share).astype(np.int64)
        left = k - int(copies.sum())
        if left > 0:  # the largest remainders, the first in canonical order on a tie
            copies[np.argsort(-(share - copies), kind="stable")[:left]] += 1
        counts = copies
    return np.repeat(matrix, counts, axis=0)


def json_float(value: float | None) -> float | None:
    """A float that JSON can carry: NaN and ±inf become None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# -- exact quantiles of a whole in-memory frame -------------------------------------------------------------------
class ExactQuantiles:
    """Exact quartiles, median and MAD of one column of a whole frame (:func:`exact_quantiles`).

    Used by :func:`assay.clean.fit_steps` when the data sits in memory: selecting the order statistics is an order
    of magnitude faster than feeding millions of values through a KLL sketch. It answers like
    :class:`~assay.clean._sketch.QuantileSummary` (``quantiles``, ``mad``, ``n``) but holds only the answers, so it
    cannot be merged with more batches. ``total`` is the sum of the values, which comes free with the pass.
    """

    __slots__ = ("_mad", "_q", "filled", "n", "total")

    PROBS = (0.25, 0.5, 0.75)

    def __init__(self, n: int, q: dict[float, float | None], mad: float | None, total: float = 0.0,
                 filled: ExactQuantiles | None = None) -> None:
        self.n, self._q, self._mad, self.total = n, q, mad, total
        # The column once its missing values are replaced by its median (``exact_quantiles(filled=...)``), or None.
        self.filled = filled

    def has(self, probs: Sequence[float]) -> bool:
        """Whether every quantile in ``probs`` is known."""
        return all(p in self._q for p in probs)

    def quantiles(self, qs: list[float]) -> list[float | None]:
        return [self._q[q] for q in qs]

    def mad(self, center: float) -> float | None:
        return self._mad

    def merge(self, other: object) -> ExactQuantiles:
        msg = ("this step was fitted on a whole in-memory frame with exact quantiles (fit_steps); it cannot "
               "be extended with more batches; fit it on batches (a list of frames) to use partial_fit afterwards")
        raise SpecError(msg)


# Strided sample that brackets the wanted ranks in _order_stats (sorting it costs about a millisecond).
_SAMPLE = 32_768


def _order_stats(series: pl.Series, ranks: Sequence[int]) -> dict[int, float]:
    """The values at the given 0-based ranks of ``series`` sorted ascending (finite values, no nulls).

    Hand-written (Floyd and Rivest's sampling selection) because Polars copies the whole column for every quantile
    and needs it contiguous first: here a strided sample brackets each wanted rank, one pass counts the values below
    each bracket and keeps those inside it, and only those few are sorted — about 2.5x less CPU than three Polars
    quantiles on a 5M-row column, and no copy of it. Exact whatever the sample: a rank that falls outside its
    bracket (data ordered against the stride) is selected from the whole column instead.

    Sorting and selection are Polars' own, so fitting needs no NumPy (importing it costs more than a fit's sorts).
    """
    n = series.len()
    wanted = sorted(set(ranks))
    if n <= 4 * _SAMPLE:
        ordered = series.sort().gather(wanted).to_list()
        return {r: float(v) for r, v in zip(wanted, ordered, strict=True)}
    sample = series.gather_every(n // _SAMPLE).sort()
    m = sample.len()
    brackets: list[tuple[float, float, list[int]]] = []
    for r in wanted:
        share = r / (n - 1)
        centre = share * (m - 1)
        half = 5.0 * math.sqrt(m * share * (1.0 - share)) + 2.0  # 5 standard deviations of a sample rank, and some
        lo, hi = int(centre - half), math.ceil(centre + half)
        a = float(sample[lo]) if lo > 0 else -math.inf
        b = float(sample[hi]) if hi < m - 1 else math.inf
        if brackets and a <= brackets[-1][1]:
            brackets[-1] = (brackets[-1][0], max(b, brackets[-1][1]), [*brackets[-1][2], r])
        else:
            brackets.append((a, b, [r]))
    x = pl.col(series.name)
    frame = series.to_frame()
    below = frame.select([(x < a).sum().alias(str(i)) for i, (a, _, _) in enumerate(brackets)]).row(0)
    kept = frame.filter(pl.any_horizontal([x.is_between(a, b) for a, b, _ in brackets])).to_series()
    out: dict[int, float] = {}
    missed: list[int] = []
    for (a, b, rs), count in zip(brackets, below, strict=True):
        inside = kept.filter(kept.is_between(a, b)) if len(brackets) > 1 else kept  # merged brackets are disjoint
        found = [(r, r - int(count)) for r in rs if 0 <= r - int(count) < inside.len()]
        missed += [r for r in rs if not 0 <= r - int(count) < inside.len()]
        if found:
            out.update(zip([r for r, _ in found], _select(inside, [k for _, k in found]), strict=True))
    if missed:  # rare: the data defeated the sample
        import numpy as np

        chosen = np.partition(series.to_numpy(), missed)
        out.update({r: float(chosen[r]) for r in missed})
    return out


def _select(values: pl.Series, ks: list[int]) -> list[float]:
    """The values at 0-based positions ``ks`` (ascending) of ``values`` sorted ascending.

    A few neighbouring positions (the usual case: the one or two ranks a quantile reads) are selected rather than
    sorted: the ``max(ks) + 1`` smallest values, of those the top few, sorted; Polars' sort is several times slower.
    """
    lo, hi = ks[0], ks[-1]
    if hi - lo > 64:
        ordered = values.sort()
        return [float(ordered[k]) for k in ks]
    top = values.bottom_k(hi + 1).top_k(hi - lo + 1).sort()
    return [float(top[k - lo]) for k in ks]


def _linear(value_at: dict[int, float], n: int, q: float) -> float:
    """Polars' "linear" quantile ``q`` of ``n`` sorted values, from the values at ranks ``int((n - 1) * q)`` and
    the one after it: the same arithmetic, so the same float to the last bit."""
    index = (n - 1) * q
    lo = int(index)
    a = value_at[lo]
    if lo + 1 >= n or index == lo:
        return a
    b = value_at[lo + 1]
    return a if a == b else (index - lo) * (b - a) + a


def _linear_ranks(n: int, q: float) -> tuple[int, ...]:
    """The ranks ``_linear`` reads."""
    lo = int((n - 1) * q)
    return (lo, lo + 1) if lo + 1 < n else (lo,)


def exact_quantiles(frame: Frame, columns: Sequence[str], *, mad: bool = False,
                    probs: Sequence[float] = ExactQuantiles.PROBS,
                    filled: Sequence[float] = ()) -> dict[str, ExactQuantiles]:
    """Exact linear-interpolated quantiles (and MAD about the median) of the finite values of each column, equal to
    Polars' ``quantile(q, "linear")`` to the last bit.

    One column at a time, a few at a time on threads (Polars and NumPy release the GIL), so the extra memory stays a
    few columns; the order statistics come from :func:`_order_stats`.

    ``filled`` (with 0.5 in ``probs``) also gives the quantiles of each column after its missing values (null, NaN,
    ±inf) are replaced by its median, as ``ExactQuantiles.filled``: what the ``missing`` step outputs, read off the
    same order statistics, which spares the next step (IQR outliers) a pass per column. Sorted, the filled column is
    the sorted finite values with the copies of the median inserted at rank ``n // 2`` (the median lies between the
    values ranked ``n // 2 - 1`` and ``n // 2``), so each of its ranks is a rank of the finite values or the median.
    """
    def one(col: str) -> ExactQuantiles:
        values = frame.select(to_float(col).alias("v"))
        if isinstance(values, pl.LazyFrame):
            values = values.collect(engine="streaming")
        height = values.height
        series = values.to_series().drop_nulls()
        del values
        # NaN and ±inf are missing, not values. A finite sum proves there are none (NaN or ±inf would make it NaN
        # or ±inf), which spares a filtering copy; an overflowing sum only costs that copy.
        total = float(series.sum() or 0.0)
        if not math.isfinite(total):
            series = series.filter(series.is_finite())
            total = float(series.sum() or 0.0)
        n = series.len()
        if not n:
            return ExactQuantiles(0, dict.fromkeys(probs), None, total)
        missing, j = height - n, n // 2

        def finite_rank(i: int) -> int | None:  # rank i of the filled column as a rank of the finite values
            return i if i < j else None if i < j + missing else i - missing

        fill = tuple(filled) if 0.5 in probs else ()
        ranks = {r for q in probs for r in _linear_ranks(n, q)}
        ranks |= {r for q in fill for i in _linear_ranks(height, q) if (r := finite_rank(i)) is not None}
        stats = _order_stats(series, sorted(ranks))
        qs: dict[float, float | None] = {q: _linear(stats, n, q) for q in probs}
        spread = None
        if mad:
            series = series.rechunk()  # Polars' median of a chunked column sorts it
            spread = float((series - series.median()).abs().median())
        after = None
        if fill:
            median = float(qs[0.5])  # type: ignore[arg-type]
            at = {i: median if (r := finite_rank(i)) is None else stats[r]
                  for q in fill for i in _linear_ranks(height, q)}
            after = ExactQuantiles(height, {q: _linear(at, height, q) for q in fill}, None, total + missing * median)
        return ExactQuantiles(n, qs, spread, total, after)

    with ThreadPoolExecutor(max_workers=max(1, min(len(columns), pl.thread_pool_size()))) as pool:
        return dict(zip(columns, pool.map(one, columns), strict=True))
