"""Model figures stay readable with large target values: few, compact, non-overlapping tick labels."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from assay.viz._model_figures import coefficients_figure, compact_ticks, regression_figure


def _x_labels_overlap(ax) -> bool:
    renderer = ax.figure.canvas.get_renderer()
    boxes = sorted((t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()),
                   key=lambda b: b.x0)
    return any(a.x1 > b.x0 for a, b in itertools.pairwise(boxes))


@pytest.mark.parametrize("scale", [1.0, 1e5, 3e7])
def test_regression_figure_ticks_do_not_overlap(scale: float) -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(1.15, 0.3, 80) * scale
    pred = 0.5 * y + 0.57 * scale + rng.normal(0, 0.15, 80) * scale
    fig = regression_figure(y, pred, "salary")
    fig.canvas.draw()
    for ax in fig.axes:
        assert not _x_labels_overlap(ax), [t.get_text() for t in ax.get_xticklabels()]
        assert len([t for t in ax.get_xticklabels() if t.get_text()]) <= 8
    labels = [t.get_text() for t in fig.axes[1].get_xticklabels() if t.get_text()]
    if scale >= 1e5:  # large values carry a suffix instead of five or more digits
        assert all(label[-1] in "kMB" or label == "0" for label in labels), labels
        assert "RMSE" in fig.axes[2].get_title()
        assert "e+" not in fig.axes[2].get_title()


def test_coefficients_figure_compact_labels() -> None:
    fig = coefficients_figure({"feature_names": ["a", "b", "c"], "coef": [[26000.0, -21000.0, 3500.0]]}, None)
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert "20k" in labels
    assert "-20k" in labels or "\u221220k" in labels


def test_compact_ticks_keep_distinct_values() -> None:
    locs = [100_000, 102_500, 105_000, 107_500]
    labels = compact_ticks(locs)
    assert labels == ["100.0k", "102.5k", "105.0k", "107.5k"]
    assert len(set(labels)) == len(locs)


def test_long_names_that_differ_at_the_end_stay_apart_on_the_axes() -> None:
    import polars as pl

    from assay.viz import profile
    from assay.viz._figures import correlation_figure
    from assay.viz._model_figures import importance_figure

    names = [f"measurement_of_quantity_number_{i}_in_units" for i in range(12)]
    rng = np.random.default_rng(1)
    p = profile(pl.DataFrame({n: rng.normal(size=200) for n in names}))
    fig = correlation_figure(p["correlations"]["pearson"], "Pearson")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert len(set(labels)) == 12, labels
    assert labels[10].endswith("10_in_units")
    imp = importance_figure(names, np.arange(12.0), np.full(12, 0.1), "r2")
    shown = [t.get_text() for t in imp.axes[0].get_yticklabels()]
    assert len(set(shown)) == 12, shown


@pytest.mark.parametrize("rows", [400, 5000])  # scatter, and hexbin for many rows
def test_regression_figure_zooms_past_a_few_extreme_values(rows: int) -> None:
    rng = np.random.default_rng(1)
    y = rng.lognormal(5, 0.5, rows)
    pred = y * rng.normal(1, 0.1, rows)
    y[:2] = [95_000.0, 18_000.0]  # two sales far beyond the rest would squeeze every other point into a corner
    fig = regression_figure(y, pred, "销量")
    actual, residual, spread = fig.axes[:3]
    assert actual.get_xlim()[1] < 5_000
    assert residual.get_ylim()[1] < 5_000
    assert spread.get_xlim()[1] < 5_000
    assert [t.get_text() for t in actual.texts] == [f"2 of {rows:,} outside the view"]
    for ax in (residual, spread):  # the two, and at most a residual or two far out in the model's own errors
        (note,) = ax.texts
        assert 2 <= int(note.get_text().split()[0]) <= 2 + rows // 1000
    plain = regression_figure(y[2:], pred[2:], "销量")  # nothing extreme: the whole range, no note
    assert plain.axes[0].get_xlim()[1] >= y[2:].max()
    assert not [t for ax in plain.axes for t in ax.texts]
