"""Figures of a data profile: overview, one per column, missingness matrix, correlation heatmaps, outliers, target.

Each function takes (part of) the dict made by :func:`assay.viz.profile` and returns a matplotlib ``Figure`` or
``None`` when there is nothing to draw; saving is :func:`assay.viz._style.save_figure`. Long labels are cut, many
categories are capped at the top N with an "other" bar, and tick labels are rotated when they would overlap.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from assay.viz._style import (
    ACCENT,
    MUTED,
    PALETTE,
    WARN,
    figure,
    is_year_column,
    kept_figure,
    short_label,
    short_labels,
)

__all__ = [
    "column_figure",
    "correlation_figure",
    "missing_figure",
    "outliers_figure",
    "overview_figure",
    "target_association_figure",
]

MAX_BARS = 20
MAX_MATRIX_COLUMNS = 60
# A histogram's median, mean and fence lines end here (share of the axes' height): its key sits above them.
KEY_BELOW = 0.8

# The grids of axes of the profile's figures, and how many of each one profile draws at most besides one per column:
# a figure process makes that many blank figures ahead (see ``_style.make_figures_ahead``), in the order needed, each
# axes with about as many (x, y) ticks as it usually shows (a tick is made once, whichever figure it ends up in).
OVERVIEW_GRID: dict[str, Any] = {"ncols": 3, "width_ratios": [1, 1, 1.3]}
MISSING_GRID: dict[str, Any] = {"ncols": 2, "width_ratios": [4, 1], "sharey": True}
HEATMAP_GRID: dict[str, Any] = {"ncols": 2, "width_ratios": [1, 0.045]}
AHEAD = [(OVERVIEW_GRID, 1, [(7, 4)] * 3), (MISSING_GRID, 1, [(7, 4), (6, 0)]), ({}, 6, [(7, 12)]),
         (HEATMAP_GRID, 3, [(12, 12), (0, 5)])]


def _fmt(x: float | None) -> str:
    """A compact number for labels.

    >>> _fmt(1234567), _fmt(200000), _fmt(2843.7), _fmt(0.000123), _fmt(12), _fmt(-0.0), _fmt(1.5e307)
    ('1.23M', '200k', '2,844', '0.000123', '12', '0', '1.5e+307')
    """
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    ax = abs(x)
    if ax < 1e-12:
        return "0"
    if ax >= 1e15:  # past trillions a suffix no longer reads: 1.5e+307, not 1.5e+295T
        return f"{x:.3g}"
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e4, "k")):
        if ax >= size:
            return _scaled(x, 1e3 if suffix == "k" else size, suffix)
    if ax >= 999.5 or ax == int(ax):  # 999.7 is 1,000 (not 1e+03)
        return f"{x:,.0f}"
    return f"{x:.3g}"


def _scaled(x: float, size: float, suffix: str) -> str:
    """``x`` in units of ``size`` to 3 significant digits, moved to the next suffix when rounding reaches 1000
    (999,752 is 1M, not 1e+03k).

    >>> _scaled(999_752, 1e3, "k"), _scaled(999_499, 1e3, "k"), _scaled(999_999_999, 1e6, "M")
    ('1M', '999k', '1B')
    """
    text = f"{x / size:.3g}"
    bigger = {"k": (1e6, "M"), "M": (1e9, "B"), "B": (1e12, "T")}
    if abs(float(text)) >= 1000:
        return _scaled(x, *bigger[suffix]) if suffix in bigger else f"{x:.3g}"
    return f"{text}{suffix}"


def _share(pct: float, decimals: int = 1) -> str:
    """A percentage that does not round a share away: some is never '0.0%', not all never '100.0%'.

    >>> _share(0), _share(0.001), _share(12.345), _share(99.99), _share(100), _share(0.001, 2)
    ('0.0%', '<0.1%', '12.3%', '>99.9%', '100.0%', '<0.01%')
    """
    step = 10.0 ** -decimals
    if 0 < pct < step / 2:
        return f"<{step:.{decimals}f}%"
    if 100 - step / 2 <= pct < 100:
        return f">{100 - step:.{decimals}f}%"
    return f"{pct:.{decimals}f}%"


def _count_tick(v: float) -> str:
    """Row counts on an axis, all in one style: 0, 500, 8k, 16k, 1.2M.

    >>> [_count_tick(v) for v in (0, 500, 8000, 16000, 1_200_000)]
    ['0', '500', '8k', '16k', '1.2M']
    """
    av = abs(v)
    if av >= 1e6:
        return _scaled(v, 1e6, "M")
    if av >= 1e3:
        return _scaled(v, 1e3, "k")
    return _fmt(v)


def _count_axis(ax: Any, axis: str = "x") -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(MaxNLocator(nbins=5, integer=True))
    target.set_major_formatter(FuncFormatter(lambda v, _pos: _count_tick(v)))


def _barh(ax: Any, labels: list[str], values: list[float], colors: list[str] | str, total: float | None = None,
          pct_only: bool = False) -> None:
    """Horizontal bars, first item on top, each with its value (and share of ``total``) at the end."""
    y = np.arange(len(labels))
    ax.barh(y, values, color=colors, height=0.72)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.tick_params(axis="y", length=0, left=False)
    ax.spines["left"].set_visible(False)
    top = max(values) if values else 1
    for yi, val in zip(y, values, strict=True):
        if pct_only:
            text = _share(val)
        elif total:
            text = f"{_fmt(val)}  ({_share(100 * val / total)})"
        else:
            text = _fmt(val)
        ax.text(val + top * 0.01, yi, text, va="center", ha="left", fontsize=7.5, color="#46525f")
    ax.set_xlim(0, top * 1.28 if top > 0 else 1)
    ax.xaxis.grid(True)
    ax.set_axisbelow(True)


# ------------------------------------------------------------------------------------------------ overview


def overview_figure(p: dict[str, Any]) -> Any:
    """Columns by kind, rows (complete / with missing / duplicate) and the most-missing columns."""
    fig, (a1, a2, a3) = figure(12, 3.4, fit=True, **OVERVIEW_GRID)
    kinds = p.get("kinds") or {}
    if kinds:
        items = sorted(kinds.items(), key=lambda kv: -kv[1])
        _barh(a1, [k for k, _ in items], [n for _, n in items], [PALETTE[i % 9] for i in range(len(items))])
    else:
        a1.text(0.5, 0.5, "no columns", ha="center", va="center", transform=a1.transAxes)
    a1.set_title(f"{p['columns']:,} column{'' if p['columns'] == 1 else 's'} by kind")
    a1.set_xlabel("columns")
    _count_axis(a1)

    rows = p["rows"]
    complete = p.get("complete_rows")
    labels, values, colors = ["all rows"], [rows], [ACCENT]
    if complete is not None:
        labels += ["complete rows", "rows with missing"]
        values += [complete, rows - complete]
        colors += [PALETTE[2], PALETTE[1]]
    if p.get("duplicate_rows") is not None:
        labels.append("duplicate rows")
        values.append(p["duplicate_rows"])
        colors.append(WARN)
    _barh(a2, labels, values, colors, total=rows or None)
    a2.set_title(f"{rows:,} row{'' if rows == 1 else 's'}")
    a2.set_xlabel("rows")
    _count_axis(a2)

    variables = list(p.get("variables", {}).values())
    missing = sorted((v for v in variables if v["missing"]), key=lambda v: -v["missing_pct"])
    if missing:
        shown = missing[:12]
        _barh(a3, short_labels([v["name"] for v in shown], 22), [v["missing_pct"] for v in shown],
              [WARN if v["missing_pct"] >= 50 else PALETTE[1] for v in shown], pct_only=True)
        a3.set_xlim(0, 118)
        # How many are left out goes under the axis: beside the title, on the figure's last axes, it ran past the
        # figure's right edge (titles are not measured when the margins are fitted).
        a3.set_title("Missing values by column")
        a3.set_xlabel("missing (% of rows)" + (f"\nthe 12 of {len(missing)} columns with most" if len(missing) > 12
                                               else ""))
    else:
        a3.axis("off")
        # no rows: nothing is missing, nor present (the green all-clear said the data was complete)
        a3.text(0.5, 0.5, "no missing values" if p.get("rows") else "no rows", ha="center", va="center", fontsize=12,
                color=PALETTE[2] if p.get("rows") else MUTED, transform=a3.transAxes)
        a3.set_title("Missing values by column")
    return fig


# ------------------------------------------------------------------------------------------------ columns


def column_figure(v: dict[str, Any], rows: int) -> Any | None:
    """Histogram (numeric, datetime) or top-values bar (categorical, boolean); None when nothing to draw."""
    kind = v["kind"]
    few = v.get("top") and (v.get("distinct") or 99) <= 12 and v["dtype"].startswith(("Int", "UInt"))
    if kind == "numeric" and few:
        return _value_bars(v)
    if kind == "numeric" and v.get("histogram"):
        return _histogram(v)
    if kind == "datetime" and v.get("histogram"):
        return _time_histogram(v)
    if kind in ("categorical", "boolean") and v.get("top") is not None and (v.get("top") or v.get("missing")):
        return _top_values(v, rows)
    if kind == "numeric" and v.get("top"):
        return _top_values(v, rows)
    return None


def _histogram(v: dict[str, Any]) -> Any:
    h = v["histogram"]
    edges = np.asarray(h["edges"], dtype=float)
    counts = np.asarray(h["counts"], dtype=float)
    n_notes = (bool(h.get("below") or h.get("above")) + bool(v.get("outliers") and v["outliers"]["count"])
               + bool(v.get("missing")))
    fig, ax = kept_figure(5.6, 3.0 + 0.16 * n_notes, margins=(0.7, 0.2, 0.5 + 0.16 * n_notes, 0.32))
    ax.stairs(counts, edges, fill=True, color=ACCENT)  # one path, not one patch per bar: much cheaper to draw
    ax.set_xlim(edges[0], edges[-1])
    # The bars and the lines stay below the key in the top right corner (a line through it would strike it out).
    ax.set_ylim(0, max(1.0, counts.max()) * 1.3)
    # Ticks that tell their values apart; the key writes the median and mean as the ticks do.
    tick_text, base = (_fmt, None) if h.get("log") else _value_ticks(edges[0], edges[-1])
    if is_year_column(v) and not h.get("log"):  # 1986, not 1,986 (nor 1.99k)
        tick_text, base = _year, None
    q = v.get("quantiles", {})
    marks = [("median", q.get("p50"), "#1b2631", "-"), ("mean", v.get("mean"), WARN, "--")]
    key_y = 0.98
    for label, x, color, style in marks:
        if x is not None and edges[0] <= x <= edges[-1]:
            ax.axvline(x, ymax=KEY_BELOW, color=color, linestyle=style, linewidth=1.1)
            # The key as texts in the lines' colours rather than a legend: a legend lays out boxes, handles and
            # texts on every draw, about a tenth of drawing a histogram.
            ax.text(0.99, key_y, f"{label} {tick_text(x)}", transform=ax.transAxes, ha="right", va="top",
                    fontsize=8, color=color)
            key_y -= 0.085
    outl = v.get("outliers")
    if outl:
        for fence in (outl["low_fence"], outl["high_fence"]):
            if fence is not None and edges[0] <= fence <= edges[-1]:  # None: beyond the float range
                ax.axvline(fence, ymax=KEY_BELOW, color=MUTED, linestyle=":", linewidth=1)
    ax.set_title(short_label(v["name"], 60))
    ax.set_ylabel("rows")
    _count_axis(ax, "y")
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    if h.get("log"):
        from matplotlib.ticker import LogLocator, NullLocator

        ax.set_xscale("log")  # bins are log-spaced for a positive, heavily right-skewed column
        ax.xaxis.set_major_locator(LogLocator(numticks=8))
        ax.xaxis.set_minor_locator(NullLocator())  # dozens of minor ticks cost more to draw than the bars
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=7))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: tick_text(x)))
    ax.yaxis.grid(True)
    ax.set_axisbelow(True)
    what = f"value − {base}" if base is not None else "value"
    label = f"{short_label(v['name'], 40)} ({what}{', log scale' if h.get('log') else ''})"
    notes = []
    if h.get("below") or h.get("above"):
        notes.append(f"outside the axis: {_fmt(h.get('below', 0))} below, {_fmt(h.get('above', 0))} above")
    if outl and outl["count"]:
        notes.append(f"IQR outliers (dotted fences): {_fmt(outl['count'])} ({_share(outl['pct'])})")
    if v.get("missing"):  # the bars count the rows with a value: say how many have none (47 bars of 2,000 rows)
        notes.append(f"not drawn: {_fmt(v['missing'])} missing ({_share(v.get('missing_pct') or 0)})")
    ax.set_xlabel("\n".join([label, *notes]))
    return fig


def _year(x: float) -> str:
    """A year as it is written: no thousands separator, a decimal only for a mean between two years.

    >>> _year(1986.0), _year(1985.74)
    ('1986', '1985.7')
    """
    return f"{x:.0f}" if abs(x - round(x)) < 0.05 else f"{x:.1f}"


def _value_ticks(lo: float, hi: float) -> tuple[Callable[[float], str], str | None]:
    """How to write the ticks of a value axis from ``lo`` to ``hi`` so that no two read the same, and the value
    subtracted from each tick (for the axis label) when they are written as differences from it.

    Compact numbers (``_fmt``: 3 significant digits) where they tell the ticks apart; else as many decimals as the
    tick step needs, while that stays short; else (values far from zero that differ little: times in seconds since
    1970, 1e12 ± 3) each tick as its difference from the first tick, which the axis label gives in full. Three
    significant digits wrote every tick of 1,600,000,000-1,600,000,100 as '1.6B'.

    >>> f, base = _value_ticks(0, 100); [f(x) for x in (0, 50, 100)], base
    (['0', '50', '100'], None)
    >>> f, base = _value_ticks(0.4999995, 0.5000005); [f(x) for x in (0.4999996, 0.4999998)], base
    (['0.49999960', '0.49999980'], None)
    >>> f, base = _value_ticks(1_600_000_003, 1_600_000_100); [f(x) for x in (1_600_000_000, 1_600_000_020)], base
    (['0', '+20'], '1,600,000,000')
    >>> f, base = _value_ticks(1e12 - 3.2, 1e12 + 4.1); [f(x) for x in (1e12 - 1.5, 1e12 + 3)], base
    (['+8.5', '+13'], '999,999,999,990')
    """
    from matplotlib.ticker import MaxNLocator

    ticks = [t for t in MaxNLocator(nbins=7).tick_values(lo, hi) if lo <= t <= hi]
    if len(ticks) < 2 or len({_fmt(t) for t in ticks}) == len(ticks):
        return _fmt, None
    step = float(np.min(np.diff(ticks)))
    # as many decimals as the step has (0.25: two), not those of its power of ten (a step of 1.5 is no whole number)
    decimals = next((d for d in range(16) if abs(round(step, d) - step) <= step * 1e-6), 15)
    if len({f"{t:,.{decimals}f}" for t in ticks}) == len(ticks) and max(len(f"{t:,.{decimals}f}") for t in ticks) <= 10:
        return (lambda x: f"{x:,.{decimals}f}"), None
    # The base: ``lo`` rounded down to the power of ten of the axis' span, so it reads round (1,600,000,000).
    power = math.ceil(math.log10(hi - lo))
    base = math.floor(lo / 10.0**power) * 10.0**power

    def difference(x: float) -> str:
        d = x - base
        return "0" if abs(d) < step * 1e-6 else ("+" if d > 0 else "") + _fmt(d)

    return difference, f"{base:,.{max(0, -power)}f}"


def _value_bars(v: dict[str, Any]) -> Any:
    """A few distinct integers (years, counts, ratings): one bar per value, in value order."""
    top = sorted(v["top"], key=lambda t: t["value"])
    fig, ax = figure(5.6, 3.0, margins=(0.7, 0.2, 0.5, 0.32))
    x = np.arange(len(top))
    counts = [t["count"] for t in top]
    ax.bar(x, counts, color=ACCENT, width=0.7)
    ax.set_xticks(x, [str(t["value"]) for t in top])
    for xi, n in zip(x, counts, strict=True):
        ax.text(xi, n, _fmt(n), ha="center", va="bottom", fontsize=7.5, color="#46525f")
    ax.set_ylim(0, max(counts) * 1.15)
    ax.set_title(short_label(v["name"], 60))
    ax.set_xlabel(f"{short_label(v['name'], 40)} (value)")
    ax.set_ylabel("rows")
    _count_axis(ax, "y")
    ax.yaxis.grid(True)
    ax.set_axisbelow(True)
    return fig


def _time_histogram(v: dict[str, Any]) -> Any:
    import datetime as dt

    import matplotlib.dates as mdates

    h = v["histogram"]
    edges = [dt.datetime.fromisoformat(e) for e in h["edges"]]
    nums = mdates.date2num(edges)
    last = h.get("last_bar") if len(edges) > 2 else None  # a last bar of fewer months, ending with the data
    lines = ([f"last bar: {last} only, to the data's end {str(v.get('max') or h['edges'][-1])[:10]}"]
             if last else []) + ([f"not drawn: {_fmt(v['missing'])} missing ({_share(v.get('missing_pct') or 0)})"]
                                 if v.get("missing") else [])
    extra = 0.16 * len(lines)
    fig, ax = figure(5.6, 3.0 + extra, margins=(0.7, 0.2, 0.62 + extra, 0.32))
    # A last bar of fewer months than the label's 'rows per …' is as narrow as its months, and said below (drawn in
    # another style, a hatched second bar added about 40 ms to a figure of 75 ms).
    ax.stairs(h["counts"], nums, fill=True, color=ACCENT)
    ax.set_xlim(nums[0], nums[-1])
    locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_title(short_label(v["name"], 60))
    dtype = str(v.get("dtype") or "")
    what = "date" if dtype.startswith("Date") and not dtype.startswith("Datetime") else "date and time"
    ax.set_xlabel("\n".join([f"{short_label(v['name'], 40)} ({what})", *lines]))
    # A bar spans whole months or years (``bar``) over a long range, else a thirtieth of it: its width says what a
    # bar's height counts.
    per = h.get("bar") or (_duration((edges[1] - edges[0]).total_seconds()) if len(edges) > 1 else None)
    ax.set_ylabel(f"rows per {per}" if per else "rows")
    _count_axis(ax, "y")
    ax.yaxis.grid(True)
    ax.set_axisbelow(True)
    return fig


def _duration(seconds: float) -> str:
    """A time span in the largest unit it holds at least once, to 3 significant digits.

    >>> _duration(16 * 86400), _duration(1.33 * 365.25 * 86400), _duration(12000), _duration(90), _duration(0.5)
    ('16 days', '1.33 years', '3.33 hours', '1.5 minutes', '0.5 seconds')
    >>> _duration(86400), _duration(3600 * 24 * 999.99)
    ('1 day', '2.74 years')
    """
    size, unit = next(((size, unit) for size, unit in ((365.25 * 86400, "year"), (86400, "day"), (3600, "hour"),
                                                      (60, "minute")) if seconds >= size), (1, "second"))
    n = float(f"{seconds / size:.3g}")
    return f"{n:g} {unit}" + ("" if n == 1 else "s")


def _top_values(v: dict[str, Any], rows: int) -> Any:
    top = v.get("top") or []
    shown = top[:MAX_BARS]
    names = [t["value"] for t in shown]
    if v.get("kind") == "numeric":  # numbers as the column's table writes them: 2,321, not 2321.007972053962
        from assay.viz._report import fmt_apart

        names = [t.replace(",", "") if is_year_column(v) else t for t in fmt_apart(names)]
    labels = short_labels(names, 28)
    values = [t["count"] for t in shown]
    colors = [ACCENT] * len(shown)
    rest = v.get("count", 0) - sum(values)
    n_rest = (v.get("distinct") or 0) - len(shown)
    if rest > 0 and n_rest > 0:
        labels.append(f"other ({n_rest:,} values)")
        values.append(rest)
        colors.append(MUTED)
    if v.get("missing"):
        labels.append("(missing)")
        values.append(v["missing"])
        colors.append(PALETTE[1])
    height = max(1.6, 0.24 * len(labels) + 0.9)
    fig, ax = figure(5.6, height, fit=True)
    _barh(ax, labels, values, colors, total=rows or None)
    distinct = v.get("distinct")
    more = f" (top {len(shown)} of {distinct:,} values)" if distinct and distinct > len(shown) else ""
    ax.set_title(short_label(v["name"], 44))
    ax.set_xlabel("rows" + more)
    _count_axis(ax)
    return fig


# --------------------------------------------------------------------------------------------- missingness


def missing_figure(p: dict[str, Any]) -> Any | None:
    """Where values are missing: columns × row blocks of the sample, plus each column's missing share."""
    mm = p.get("missing_matrix") or {}
    frac = np.asarray(mm.get("fraction") or [], dtype=float)
    if frac.size == 0:
        return None
    names = mm["columns"]
    variables = p["variables"]
    # Only columns that miss something are drawn; a wall of complete rows says nothing.
    order = [i for i, name in enumerate(names) if variables[name]["missing"]]
    if not order:
        return None
    has = "has" if len(order) == 1 else "have"
    note = f" ({len(order)} of {len(names)} columns {has} gaps)" if len(order) < len(names) else ""
    if len(order) > MAX_MATRIX_COLUMNS:  # keep the columns with most missing, in their original order
        order = sorted(sorted(order, key=lambda i: -variables[names[i]]["missing_pct"])[:MAX_MATRIX_COLUMNS])
        note = f" (the {MAX_MATRIX_COLUMNS} of {len(names)} columns with most missing)"
    frac = frac[order]
    labels = short_labels([names[i] for i in order], 26)
    pct = [variables[names[i]]["missing_pct"] for i in order]
    height = min(16.0, max(2.6, 0.22 * len(order) + 1.3))
    fig, (ax, bx) = figure(11, height, fit=True, **MISSING_GRID)
    from matplotlib.colors import LinearSegmentedColormap

    cmap = LinearSegmentedColormap.from_list("missing", ["#eef3f8", "#1b2631"])
    from matplotlib.colors import PowerNorm

    # Square-root scale: a block with 5% missing is still visibly grey, not lost next to white.
    ax.imshow(frac, aspect="auto", cmap=cmap, norm=PowerNorm(0.5, vmin=0, vmax=1), interpolation="none")
    ax.set_yticks(range(len(labels)), labels)
    rows_per = mm.get("rows_per_block") or 1
    from matplotlib.ticker import MaxNLocator

    # Round row positions (0, 500, 1,000, …), placed where those rows are: block i holds rows [i, i + 1) x rows_per.
    total = frac.shape[1] * rows_per
    rows_at = [r for r in MaxNLocator(nbins=6, integer=True).tick_values(0, total) if 0 <= r <= total]
    ax.set_xticks([r / rows_per - 0.5 for r in rows_at], [_fmt(int(r)) for r in rows_at])
    ax.set_xlabel(f"row position in {'the sample' if p.get('sampled') else 'the data'} (dark = missing)")
    ax.set_title("Missing values: where" + note)
    ax.tick_params(length=0, left=False, bottom=False)
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    y = np.arange(len(order))
    bx.barh(y, pct, color=[WARN if x >= 50 else PALETTE[1] for x in pct], height=0.7)
    for yi, x in zip(y, pct, strict=True):
        bx.text(min(x, 100) + 2, yi, _share(x), va="center", fontsize=7, color="#46525f")
    bx.set_xlim(0, 130)  # room for the labels past a full bar; the scale itself stops at 100%
    bx.set_xticks([0, 25, 50, 75, 100])
    bx.set_xlabel("missing (% of rows)")
    bx.set_title("how much")
    bx.tick_params(axis="y", length=0, left=False)
    bx.spines["left"].set_visible(False)
    return fig


# -------------------------------------------------------------------------------------------- correlation


def correlation_figure(block: dict[str, Any], title: str, signed: bool = True) -> Any | None:
    """A heatmap of a correlation/association matrix; values written in the cells when there is room."""
    cols = block.get("columns") or []
    if len(cols) < 2:
        return None
    mat = np.array([[np.nan if x is None else x for x in row] for row in block["matrix"]], dtype=float)
    k = len(cols)
    side = min(13.0, max(4.6, 0.36 * k + 2.2))
    # Laid out by one measurement of the labels, the figure as wide as makes the matrix square; the colour scale
    # in a narrow second column.
    fig, (ax, cax) = figure(side + 1.0, side, fit=True, square=True, **HEATMAP_GRID)
    cmap = "RdBu_r" if signed else "Blues"
    ax.imshow(np.ma.masked_invalid(mat), cmap=cmap, vmin=-1 if signed else 0, vmax=1,
                   interpolation="none")
    labels = short_labels(cols, 20)
    ax.set_xticks(range(k), labels, rotation=45 if k > 3 else 0, ha="right" if k > 3 else "center",
                  rotation_mode="anchor")
    ax.set_yticks(range(k), labels)
    ax.tick_params(length=0, left=False, bottom=False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if k <= 16:
        # In a big matrix only values worth reading are written: a wall of "0.00" hides the few strong pairs.
        floor = 0.0 if k <= 6 else 0.1
        for i in range(k):
            for j in range(k):
                if i != j and np.isfinite(mat[i, j]) and abs(mat[i, j]) >= floor:
                    dark = abs(mat[i, j]) > 0.6
                    ax.text(j, i, f"{mat[i, j]:.2f}".replace("-0.00", "0.00"), ha="center", va="center",
                            fontsize=7 if k > 10 else 8, color="white" if dark else "#1b2631")
        if floor:
            ax.set_xlabel(f"values written where |value| ≥ {floor}", fontsize=7.5, color="#5c6773")
    # The colour scale drawn as an image of its colours rather than by ``fig.colorbar``: the PNG and the SVG then
    # come from one drawing (a colorbar's colours are rasterised apart for an SVG, or else written as 256 shapes,
    # four times the file).
    low = -1 if signed else 0
    cax.imshow(np.linspace(low, 1, 256)[:, None], cmap=cmap, vmin=low, vmax=1, aspect="auto", origin="lower",
               extent=(0, 1, low, 1), interpolation="none")
    cax.set_xticks([])
    cax.yaxis.tick_right()
    cax.set_yticks([-1, -0.5, 0, 0.5, 1] if signed else [0, 0.25, 0.5, 0.75, 1])  # 5 labels read as well as 9
    cax.tick_params(labelsize=7)
    for spine in cax.spines.values():
        spine.set_visible(False)
    ax.set_title(title + (f" — {k} of {block['of']} columns" if block.get("of") else ""))
    return fig


# -------------------------------------------------------------------------------------------- outliers


def outliers_figure(p: dict[str, Any]) -> Any | None:
    """IQR-rule outliers per numeric column: share below the low fence and above the high fence."""
    items = [(name, o) for name, o in (p.get("outliers") or {}).items() if o]
    if not items:
        return None
    items.sort(key=lambda kv: -kv[1]["pct"])
    shown = items[:30]
    labels = short_labels([n for n, _ in shown], 24)
    low = [100 * o["low"] / max(1, p["variables"][n].get("finite") or 1) for n, o in shown]
    high = [100 * o["high"] / max(1, p["variables"][n].get("finite") or 1) for n, o in shown]
    height = max(2.2, 0.26 * len(shown) + 1.2)
    fig, ax = figure(7.5, height, fit=True)
    y = np.arange(len(shown))
    ax.barh(y, low, color=PALETTE[5], height=0.7, label="below Q1 − 1.5·IQR")
    ax.barh(y, high, left=low, color=WARN, height=0.7, label="above Q3 + 1.5·IQR")
    top = max([a + b for a, b in zip(low, high, strict=True)] + [0.1])
    for yi, (_n, o), a, b in zip(y, shown, low, high, strict=True):
        ax.text(a + b + top * 0.01, yi, f"{o['count']:,} ({_share(o['pct'], 2)})", va="center", fontsize=7.5,
                color="#46525f")
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, top * 1.35)
    ax.tick_params(axis="y", length=0, left=False)
    ax.spines["left"].set_visible(False)
    ax.set_xlabel("outliers (% of finite values)")
    more = f" (top 30 of {len(items)})" if len(items) > 30 else ""
    ax.set_title("Outliers by the IQR rule" + more)
    ax.legend(loc="lower right")
    ax.xaxis.grid(True)
    ax.set_axisbelow(True)
    return fig


def target_association_figure(p: dict[str, Any]) -> Any | None:
    """How strongly each feature goes with the target; bars over the leakage limit are red."""
    assoc = p.get("target_association") or {}
    items = [(n, a) for n, a in assoc.items() if a.get("value") is not None]
    if not items:
        return None
    shown = items[:25]
    labels = short_labels([n for n, _ in shown], 24)
    values = [a["value"] for _, a in shown]
    leak = [a["value"] > 0.95 or a.get("determines_target") or a.get("separates_classes") for _, a in shown]
    measures = sorted({a["measure"] for _, a in shown})
    colors = [WARN if bad else PALETTE[measures.index(a["measure"]) % 3 * 2] for (_, a), bad in
              zip(shown, leak, strict=True)]
    height = max(2.2, 0.26 * len(shown) + 1.2)
    fig, ax = figure(7.5, height, fit=True)
    _barh(ax, labels, values, colors)
    ax.set_xlim(0, 1.2)  # room for the values beside the bars; no association is past 1, nor is a tick
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.axvline(0.95, color=WARN, linestyle=":", linewidth=1)
    ax.set_xlabel("association with the target (0 none … 1 perfect)")
    top = f" (top {len(shown)} of {len(items)})" if len(items) > len(shown) else ""
    ax.set_title(f"Association with target '{short_label(p['target'], 30)}'{top}")
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(color=PALETTE[measures.index(m) % 3 * 2], label=m) for m in measures]
    if any(leak):
        handles.append(Patch(color=WARN, label="possible leakage"))
    handles.append(Line2D([], [], color=WARN, linestyle=":", linewidth=1, label="leakage limit 0.95"))
    ax.legend(handles=handles, loc="lower right")
    return fig
