"""Figures of a trained model: CV spread, ROC/PR, confusion matrix, calibration, permutation importance,
residuals, learning curve, coefficients, and the 2-D cluster map with its silhouette plot.

Every function takes plain arrays and lists (what ``assay train`` hands over) and returns a matplotlib ``Figure``,
or ``None`` when the inputs do not allow the picture (e.g. no probabilities for a ROC curve).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from assay.viz._style import ACCENT, MUTED, PALETTE, WARN, figure, short_label, short_labels

__all__ = [
    "anomaly_features_figure",
    "anomaly_figure",
    "calibration_figure",
    "cluster_figure",
    "coefficients_figure",
    "confusion_figure",
    "cv_spread_figure",
    "importance_figure",
    "learning_curve_figure",
    "permutation_importance",
    "regression_figure",
    "roc_pr_figure",
]

MAX_CURVES = 10  # one-vs-rest curves drawn for every class up to this many classes
CLASS_COLORS = [c for c in PALETTE if c not in ("#000000", "#999999")]  # beside a black average and grey chance
MAX_CONFUSION = 25  # classes in a confusion matrix; the rest are pooled into "other"
MAX_FEATURES = 25  # bars in importance / coefficient plots
MIN_CALIBRATION_ROWS = 10  # test rows a reliability diagram needs


def _color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def compact_ticks(locs: Sequence[float]) -> list[str]:
    """Tick labels for one axis: values of 10,000 and more with a k/M/B/T suffix and only the decimals the ticks
    need, so that five ticks fit under a narrow panel ("100000110000120000" is what plain labels did there).

    >>> compact_ticks([60000, 80000, 100000, 120000])
    ['60k', '80k', '100k', '120k']
    >>> compact_ticks([1_200_000, 1_400_000, 1_500_000])
    ['1.2M', '1.4M', '1.5M']
    >>> compact_ticks([-20000, 0, 20000])
    ['-20k', '0', '20k']
    >>> compact_ticks([0.5, 1.0, 1.5])
    ['0.5', '1.0', '1.5']
    """
    values = [float(v) for v in locs]
    big = max((abs(v) for v in values), default=0.0)
    scale, suffix = next(((s, x) for s, x in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))
                          if big >= max(s, 1e4)), (1.0, ""))
    scaled = [v / scale for v in values]
    # the fewest decimals (at most 6) that show every tick exactly
    digits = next((d for d in range(7) if all(abs(v - round(v, d)) <= 1e-9 * max(1.0, abs(v)) for v in scaled)), 6)
    return ["0" if abs(v) < 1e-12 else f"{v:,.{digits}f}{suffix}" for v in scaled]


def _number(x: float) -> str:
    """A value for a title: 4 significant digits, with a k/M/B/T suffix from 10,000 on.

    >>> _number(22876.4), _number(0.21364), _number(3_456_789.0)
    ('22.88k', '0.2136', '3.457M')
    """
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e4, "k")):
        if abs(x) >= scale:
            return f"{x / (1e3 if suffix == 'k' else scale):.4g}{suffix}"
    return f"{x:.4g}"


class _CompactFormatter:
    """A matplotlib tick formatter around :func:`compact_ticks` (built on first use: matplotlib loads lazily)."""

    @staticmethod
    def make() -> Any:
        from matplotlib.ticker import Formatter

        class Compact(Formatter):
            labels: dict[float, str] = {}  # noqa: RUF012 - replaced per axis in set_locs

            def set_locs(self, locs: Any) -> None:
                super().set_locs(locs)
                self.labels = dict(zip([float(v) for v in locs], compact_ticks(locs), strict=True))

            def __call__(self, x: float, pos: int | None = None) -> str:
                label = self.labels.get(float(x))
                return label if label is not None else compact_ticks([x])[0]

        return Compact()


def _readable_axes(*axes: Any, which: str = "xy") -> None:
    """At most ~6 ticks per axis on round steps; values of 10,000 and more labelled compactly (see
    :func:`compact_ticks`). Call it once the data is drawn: the choice depends on the axis limits."""
    from matplotlib.ticker import MaxNLocator

    for ax in axes:
        for name in which:
            axis = ax.xaxis if name == "x" else ax.yaxis
            if axis.get_scale() != "linear":
                continue
            axis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
            low, high = ax.get_xlim() if name == "x" else ax.get_ylim()
            if max(abs(low), abs(high)) >= 1e4:
                axis.set_major_formatter(_CompactFormatter.make())


def _direction(metric: str | None) -> str:
    """' (higher is better)' or ' (lower is better)' for a known metric, else nothing.

    >>> _direction("r2"), _direction("rmse"), _direction("custom")
    (' (higher is better)', ' (lower is better)', '')
    """
    from assay.evaluate._metrics import GREATER_IS_BETTER

    better = GREATER_IS_BETTER.get(metric or "")
    return "" if better is None else " (higher is better)" if better else " (lower is better)"


def cv_spread_figure(cv_scores: dict[str, Sequence[float]], metric: str | None) -> Any | None:
    """Box plot with the fold scores as dots, one row per model, in the leaderboard's order: best mean on top (by
    the median, a model ranked second by its mean was drawn above the leaderboard's best)."""
    items = [(m, np.asarray([s for s in scores if s is not None], dtype=float)) for m, scores in cv_scores.items()]
    items = [(m, s[np.isfinite(s)]) for m, s in items if len(s)]
    if not items:
        return None
    sign = 1.0 if _direction(metric) == " (lower is better)" else -1.0  # the best mean on top either way
    items.sort(key=lambda kv: sign * np.mean(kv[1]) if len(kv[1]) else np.inf)
    fig, ax = figure(7.0, max(2.2, 0.45 * len(items) + 1.2))
    data = [s for _, s in items]
    y = np.arange(1, len(items) + 1)
    ax.boxplot(data, positions=y, orientation="horizontal", widths=0.55, showfliers=False,
               medianprops={"color": WARN, "linewidth": 1.5}, boxprops={"color": "#46525f"},
               whiskerprops={"color": "#46525f"}, capprops={"color": "#46525f"})
    rng = np.random.default_rng(0)
    for yi, s in zip(y, data, strict=True):
        ax.scatter(s, yi + rng.uniform(-0.12, 0.12, len(s)), s=16, color=ACCENT, alpha=0.8, zorder=3)
    ax.set_yticks(y, short_labels([m for m, _ in items], 24))
    ax.invert_yaxis()
    ax.set_xlabel(f"{metric or 'score'} per fold{_direction(metric)}")
    ax.set_title("Cross-validation scores by model")
    ax.xaxis.grid(True)
    ax.set_axisbelow(True)
    return fig


def roc_pr_figure(y_true: np.ndarray, proba: np.ndarray, classes: Sequence[Any]) -> Any | None:
    """ROC and precision–recall curves: the positive class (binary) or one-vs-rest per class (multi-class).

    With more than :data:`MAX_CURVES` classes the curves drawn are those of the classes the model separates worst
    (lowest average precision), with the micro-average over every class: the most frequent ones, drawn before, were
    the first ten in alphabetical order when the classes were equally frequent, and often all near-perfect.
    """
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

    proba = np.asarray(proba, dtype=float)
    y_true = np.asarray(y_true)
    if proba.ndim != 2 or proba.shape[0] != len(y_true) or proba.shape[1] != len(classes) or len(classes) < 2:
        return None
    binary = len(classes) == 2
    fig, (a1, a2) = figure(11 if binary else 13, 4.4, ncols=2)
    a1.plot([0, 1], [0, 1], color=MUTED, linestyle=":", linewidth=1, label="chance")
    present = [i for i in range(len(classes)) if 0 < int(np.sum(y_true == classes[i])) < len(y_true)]
    ap = {i: float(average_precision_score(y_true == classes[i], proba[:, i])) for i in present}
    many = not binary and len(present) > MAX_CURVES
    if binary:
        picks = [1] if 1 in ap else []
    elif many:  # the hardest classes, in order of their average precision
        picks = sorted(present, key=lambda i: (ap[i], -int(np.sum(y_true == classes[i]))))[:len(CLASS_COLORS)]
    else:  # in the classes' own order, so the legend reads 0, 1, 2 … rather than by how often each occurs
        picks = [i for i in range(len(classes)) if i in ap]
    if not picks:  # the test rows hold a single class: no curve can be drawn
        return None
    colors = CLASS_COLORS if many else PALETTE  # black is the micro-average's
    for n, i in enumerate(picks):
        color = colors[n % len(colors)]
        positive = y_true == classes[i]
        fpr, tpr, _ = roc_curve(positive, proba[:, i])
        prec, rec, _ = precision_recall_curve(positive, proba[:, i])
        name = short_label(classes[i], 18)
        roc_auc = auc(fpr, tpr)
        if binary:
            a1.plot(fpr, tpr, color=color, linewidth=1.6, label=f"{name}  AUC {roc_auc:.3f}")
            a2.plot(rec, prec, color=color, linewidth=1.6, label=f"{name}  AP {ap[i]:.3f}", drawstyle="steps-post")
            a2.axhline(positive.mean(), color=MUTED, linestyle=":", linewidth=1, label="chance")
        else:  # one legend for both panels, outside the plots: many classes would cover the curves
            a1.plot(fpr, tpr, color=color, linewidth=1.4)
            a2.plot(rec, prec, color=color, linewidth=1.4, label=f"{name}  AUC {roc_auc:.3f} · AP {ap[i]:.3f}",
                    drawstyle="steps-post")
    if many:  # every class at once: each row's probability of each class against whether it is that class
        index = {c: j for j, c in enumerate(classes)}
        onehot = np.zeros(proba.shape, dtype=bool)
        rows = [(r, index[v]) for r, v in enumerate(y_true.tolist()) if v in index]
        if rows:
            r, c = np.array(rows).T
            onehot[r, c] = True
        fpr, tpr, _ = roc_curve(onehot.ravel(), proba.ravel())
        prec, rec, _ = precision_recall_curve(onehot.ravel(), proba.ravel())
        micro = f"all {len(classes)} classes (micro-average)  AUC {auc(fpr, tpr):.3f} · " \
                f"AP {average_precision_score(onehot.ravel(), proba.ravel()):.3f}"
        a1.plot(fpr, tpr, color="#000000", linestyle="--", linewidth=1.8)
        a2.plot(rec, prec, color="#000000", linestyle="--", linewidth=1.8, label=micro, drawstyle="steps-post")
    kind = f"positive class '{short_label(classes[1], 20)}'" if binary else "one-vs-rest per class"
    if many:
        kind = f"one-vs-rest, the {len(picks)} of {len(classes)} classes with the lowest AP"
        if len(present) < len(classes):  # a class missing from the test rows has no curve, nor an AP to rank
            kind = (f"one-vs-rest, the {len(picks)} of the {len(present)} classes in the test rows (of "
                    f"{len(classes)}) with the lowest AP")
    a1.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.02))
    a1.set_title("ROC curve")
    a2.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
    a2.set_title("Precision–recall")
    fig.suptitle(f"{kind[0].upper() + kind[1:]} · {len(y_true):,} test rows", fontsize=10)
    if binary:
        a1.legend(loc="lower right")
        a2.legend(loc="best")  # a weak or rare positive class draws its precision low, where a fixed corner sits
    else:
        a1.legend(loc="lower right")
        a2.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), title="class (one-vs-rest)")
    for ax in (a1, a2):
        ax.grid(True)
        ax.set_aspect("equal")
    return fig


def confusion_figure(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[Any] | None) -> Any | None:
    """Confusion matrix: colour = share of the true class (row), text = count."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) == 0:
        return None
    labels = list(classes) if classes is not None and len(classes) else list(np.unique(np.concatenate([y_true,
                                                                                                     y_pred])))
    acc = float(np.mean(y_true == y_pred))  # before pooling: two pooled classes confused are still an error
    note = ""
    if len(labels) > MAX_CONFUSION:
        # The classes the model confuses most, in their usual order, the rest pooled: by frequency, equally frequent
        # classes gave the first ones alphabetically, however well predicted.
        wrong = y_true != y_pred
        errors = {c: 0 for c in labels}
        for v in [*y_true[wrong].tolist(), *y_pred[wrong].tolist()]:
            if v in errors:
                errors[v] += 1
        support = {c: int(np.sum(y_true == c)) for c in labels}
        ranked = sorted(range(len(labels)), key=lambda i: (-errors[labels[i]], -support[labels[i]], i))
        keep_set = {labels[i] for i in ranked[:MAX_CONFUSION - 1]}
        keep = [c for c in labels if c in keep_set]
        other = "other"
        y_true = np.array([v if v in keep_set else other for v in y_true.tolist()], dtype=object)
        y_pred = np.array([v if v in keep_set else other for v in y_pred.tolist()], dtype=object)
        wrong_classes = sum(1 for c in keep if errors[c])
        note = (f" (the {len(keep)} of {len(labels)} classes with the most errors; the rest pooled as 'other')"
                if wrong_classes == len(keep) else
                f" (the {wrong_classes} of {len(labels)} classes in an error and the {len(keep) - wrong_classes} "
                "most frequent others; the rest pooled as 'other')")
        labels = [*keep, other]
    index = {c: i for i, c in enumerate(labels)}
    k = len(labels)
    ti = np.array([index.get(v, -1) for v in y_true.tolist()])
    pi = np.array([index.get(v, -1) for v in y_pred.tolist()])
    ok = (ti >= 0) & (pi >= 0)
    cm = np.bincount(ti[ok] * k + pi[ok], minlength=k * k).reshape(k, k)
    share = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    side = min(12.0, max(4.2, 0.42 * k + 2.0))
    fig, ax = figure(side + 0.8, side)
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    names = short_labels(list(labels), 22)  # 16 cut "Diversified financials" and most two-word classes
    ax.set_xticks(range(k), names, rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center",
                  rotation_mode="anchor")
    ax.set_yticks(range(k), names)
    if k <= MAX_CONFUSION:
        for i in range(k):
            for j in range(k):
                if cm[i, j] or k <= 10:  # a blank cell of a small matrix reads as missing; 0s only clutter big ones
                    ax.text(j, i, f"{cm[i, j]:,}", ha="center", va="center", fontsize=8 if k <= 10 else 6.5,
                            color="white" if share[i, j] > 0.55 else "#1b2631")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"Confusion matrix — accuracy {acc:.3f}")
    if note:
        ax.text(0.5, 1.0, note.strip(" ()"), transform=ax.transAxes, ha="center", va="bottom", fontsize=8.5,
                color="#46525f")
        ax.set_title(f"Confusion matrix — accuracy {acc:.3f}", pad=18)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    cbar = fig.colorbar(im, ax=ax, shrink=0.75, pad=0.02)
    cbar.set_label("share of the true class", fontsize=8)
    cbar.outline.set_visible(False)
    # One layout pass before the one every figure gets: a single pass placed the square matrix of twelve classes
    # named 'grade 1' … 'grade 12' so high that its title ran off the top of the picture; the second one settles.
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
    return fig


def calibration_figure(y_true: np.ndarray, proba: np.ndarray, classes: Sequence[Any]) -> Any | None:
    """Reliability diagram: predicted probability vs observed frequency, with how often each is predicted."""
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2 or proba.shape[0] != len(y_true) or len(classes) < 2 or len(y_true) < MIN_CALIBRATION_ROWS:
        return None
    if len(classes) == 2:
        p = proba[:, 1]
        hit = (np.asarray(y_true) == classes[1]).astype(float)
        what = f"P({short_label(classes[1], 16)})"
        observed = f"observed share of '{short_label(classes[1], 16)}'"
    else:  # top-label calibration: is the model right as often as its confidence says?
        top = proba.argmax(1)
        p = proba[np.arange(len(top)), top]
        hit = (np.asarray(classes, dtype=object)[top] == np.asarray(y_true, dtype=object)).astype(float)
        what = "confidence of the predicted class"
        observed = "observed share predicted right"
    # Ten equal-width bins (scikit-learn's calibration_curve default), each dot sized by its rows: bins of equal row
    # counts put most bins of a confident model at 0.99… and drew one line through three points on top of each other.
    edges = np.linspace(0.0, 1.0, 11)
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
    counts = np.bincount(idx, minlength=len(edges) - 1)
    used = counts > 0
    mean_p = np.bincount(idx, weights=p, minlength=len(counts))[used] / counts[used]
    freq = np.bincount(idx, weights=hit, minlength=len(counts))[used] / counts[used]
    fig, (ax, hx) = figure(5.8, 5.4, nrows=2, height_ratios=[3, 1], sharex=True)
    ax.plot([0, 1], [0, 1], color=MUTED, linestyle=":", linewidth=1, label="perfectly calibrated")
    # Wilson 95% intervals: a bin of one or two rows says little, and its bar shows it (rather than a zigzag line)
    m, z = counts[used], 1.96
    centre = (freq + z * z / (2 * m)) / (1 + z * z / m)
    half = z * np.sqrt(freq * (1 - freq) / m + z * z / (4 * m * m)) / (1 + z * z / m)
    ax.errorbar(mean_p, freq, yerr=[np.clip(freq - (centre - half), 0, None), np.clip(centre + half - freq, 0, None)],
                fmt="none", ecolor=ACCENT, elinewidth=1.0, alpha=0.6, capsize=2)
    ax.plot(mean_p, freq, color=ACCENT, linewidth=0.8, alpha=0.5)
    ax.scatter(mean_p, freq, s=14 + 180 * m / counts.max(), color=ACCENT, zorder=3, linewidths=0,
               label="model (dot area = rows, bar = 95% interval)")
    brier = float(np.mean((p - hit) ** 2))
    ax.set(ylabel=observed, xlim=(0, 1), ylim=(0, 1.02))
    # With more than two classes this is the top-label Brier score (of the confidence against right/wrong), not the
    # multiclass one summed over classes: near-random guessing among ten classes scores about 0.1 on it, not 0.9.
    kind = "Brier score" if len(classes) == 2 else "top-label Brier score"
    ax.set_title(f"Calibration — {kind} {brier:.3f}")
    legend = ax.legend(loc="upper left")
    for handle in legend.legend_handles:  # the key shows a middling dot, not the first bin's
        if hasattr(handle, "set_sizes"):
            handle.set_sizes([36])
    ax.grid(True)
    hx.hist(p, bins=20, range=(0, 1), color=ACCENT, alpha=0.85)
    hx.set(xlabel=f"predicted probability: {what}", ylabel="rows")
    return fig


IMPORTANCE_ROWS = 2000  # test rows that permutation importance shuffles at most (a seeded random choice past that)


def permutation_importance(predict_fn: Callable[[np.ndarray], Any], score_fn: Callable[[Any, Any], float],
                           X: np.ndarray, y: np.ndarray, *, repeats: int = 3, max_rows: int | None = None,
                           seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over ``repeats`` of the score drop when one column of ``X`` is shuffled.

    Hand-written rather than ``sklearn.inspection.permutation_importance`` because assay hands over a prediction
    function, not an estimator object; the algorithm is the same (Breiman 2001).

    >>> X = np.column_stack([np.arange(100.0), np.zeros(100)])
    >>> mean, _ = permutation_importance(lambda a: a[:, 0] > 49, lambda t, p: float(np.mean(t == p)), X,
    ...                                  np.arange(100) > 49)
    >>> bool(mean[0] > 0.3), float(mean[1])
    (True, 0.0)
    """
    rng = np.random.default_rng(seed)
    X = np.asarray(X)
    y = np.asarray(y)
    max_rows = IMPORTANCE_ROWS if max_rows is None else max_rows
    if len(X) > max_rows:
        keep = rng.choice(len(X), max_rows, replace=False)
        X, y = X[keep], y[keep]
    base = score_fn(y, predict_fn(X))
    drops = np.zeros((X.shape[1], repeats))
    work = X.copy()
    for j in range(X.shape[1]):
        original = work[:, j].copy()
        for r in range(repeats):
            work[:, j] = original[rng.permutation(len(original))]
            drops[j, r] = base - score_fn(y, predict_fn(work))
        work[:, j] = original
    return drops.mean(1), drops.std(1)


def importance_figure(names: Sequence[str], mean: np.ndarray, std: np.ndarray, metric: str) -> Any | None:
    """Horizontal bars of permutation importance with ±std whiskers, most important on top."""
    if len(names) == 0:
        return None
    mean, std = np.asarray(mean, dtype=float), np.asarray(std, dtype=float)
    moved = np.flatnonzero((mean != 0) | (std != 0))  # a feature whose shuffling never changed the score: no bar
    if not len(moved):
        return None
    order = moved[np.argsort(-mean[moved], kind="stable")][:MAX_FEATURES]
    fig, ax = figure(7.0, max(2.2, 0.28 * len(order) + 1.3))
    y = np.arange(len(order))
    colors = [ACCENT if mean[i] > 0 else MUTED for i in order]
    ax.barh(y, mean[order], xerr=std[order], color=colors, height=0.7, error_kw={"ecolor": "#46525f",
                                                                                   "capsize": 2, "lw": 0.8})
    ax.set_yticks(y, short_labels([names[i] for i in order], 28))
    ax.invert_yaxis()
    ax.axvline(0, color="#46525f", linewidth=0.8)
    ax.set_xlabel(f"drop in {metric} when the feature is shuffled")
    more = f" (top {len(order)} of {len(names)} features)" if len(moved) > len(order) else ""
    ax.set_title("Permutation feature importance" + more)
    if len(moved) < len(names):  # said under the axis label: inside the axes it covered the last bar
        still = len(names) - len(moved)
        verbs = "changed nothing and is not drawn" if still == 1 else "changed nothing and are not drawn"
        ax.set_xlabel(f"drop in {metric} when the feature is shuffled\n({still:,} of {len(names):,} features "
                      f"{verbs})")
    ax.xaxis.grid(True)
    ax.set_axisbelow(True)
    ax.tick_params(axis="y", length=0)
    return fig


def _robust_view(values: np.ndarray) -> tuple[float, float] | None:
    """Axis limits that leave out only values far from the rest — more than the middle 99%'s width beyond it — when
    they would squeeze the others into a corner (the whole range over three times that width); else None."""
    lo, hi = (float(v) for v in np.quantile(values, [0.005, 0.995]))
    core = hi - lo
    if core <= 0 or float(values.max() - values.min()) <= 3 * core:
        return None
    near = values[(values >= lo - core) & (values <= hi + core)]
    first, last = float(near.min()), float(near.max())
    return first - 0.05 * (last - first), last + 0.05 * (last - first)


def _outside_note(ax: Any, n: int, total: int) -> None:
    if n:
        ax.text(0.99, 0.02, f"{n:,} of {total:,} outside the view", transform=ax.transAxes, ha="right", va="bottom",
                fontsize=8, color=MUTED)


def regression_figure(y_true: np.ndarray, y_pred: np.ndarray, target: str | None) -> Any | None:
    """Predicted vs actual, residuals vs predicted and the residual distribution.

    When a few extreme values would squeeze every other point into a corner, each panel leaves them out of its view
    and says how many points fall outside.
    """
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    ok = np.isfinite(y_true) & np.isfinite(y_pred)
    y_true, y_pred = y_true[ok], y_pred[ok]
    if len(y_true) < 2:
        return None
    resid = y_true - y_pred
    n = len(y_true)
    unit = short_label(target or "target", 20)
    fig, (a1, a2, a3) = figure(13, 4.2, ncols=3)
    dense = n > 3000
    both = _robust_view(np.concatenate([y_true, y_pred]))
    lo, hi = both or (float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max())))
    x2 = _robust_view(y_pred)
    y2 = _robust_view(resid)
    if dense:
        # Rows per hexagon on a log scale, from a visible light blue: on a linear scale from white, a skewed target
        # (diamond prices) drew one dark spot where most rows are and left the rest of its rows all but invisible.
        import matplotlib as mpl
        from matplotlib.colors import LogNorm

        shades = mpl.colors.ListedColormap(mpl.colormaps["Blues"](np.linspace(0.3, 1.0, 256)))
        for ax, (x, y), extent in (
            (a1, (y_true, y_pred), (lo, hi, lo, hi) if both else None),
            (a2, (y_pred, resid), (*(x2 or (y_pred.min(), y_pred.max())), *(y2 or (resid.min(), resid.max())))
             if x2 or y2 else None),
        ):
            cells = ax.hexbin(x, y, gridsize=50, cmap=shades, norm=LogNorm(), mincnt=1, extent=extent)
            fig.colorbar(cells, ax=ax, fraction=0.05, pad=0.02).set_label("rows per hexagon", fontsize=8)
    else:
        a1.scatter(y_true, y_pred, s=10, alpha=0.6, color=ACCENT, linewidths=0)
        a2.scatter(y_pred, resid, s=10, alpha=0.6, color=ACCENT, linewidths=0)
    a1.plot([lo, hi], [lo, hi], color=WARN, linestyle="--", linewidth=1.1, label="perfect prediction")
    if both:
        a1.set_xlim(lo, hi)
        a1.set_ylim(lo, hi)
        _outside_note(a1, int(((y_true < lo) | (y_true > hi) | (y_pred < lo) | (y_pred > hi)).sum()), n)
    if x2 or y2:
        out = np.zeros(n, dtype=bool)
        if x2:
            a2.set_xlim(*x2)
            out |= (y_pred < x2[0]) | (y_pred > x2[1])
        if y2:
            a2.set_ylim(*y2)
            out |= (resid < y2[0]) | (resid > y2[1])
        _outside_note(a2, int(out.sum()), n)
    ss_res = float((resid ** 2).sum())
    ss_tot = float(((y_true - y_true.mean()) ** 2).sum())
    r2 = 1 - ss_res / ss_tot if ss_tot > 0 else float("nan")
    a1.set(xlabel=f"actual {unit}", ylabel=f"predicted {unit}")
    # R² divides by the spread of the actual values: with none (all equal) it is not defined, not 'nan'
    a1.set_title(f"Predicted vs actual — R² {r2:.3f}" if np.isfinite(r2) else
                 "Predicted vs actual — R² undefined (every actual value is the same)")
    a1.legend(loc="upper left")
    a2.axhline(0, color=WARN, linestyle="--", linewidth=1.1)
    a2.set(xlabel=f"predicted {unit}", ylabel=f"residual (actual − predicted, {unit})")
    a2.set_title("Residuals vs predicted")
    a3.hist(resid, bins=int(np.clip(np.sqrt(n), 10, 40)), color=ACCENT, range=y2)  # ~√n bins: few rows, few bins
    if y2:
        a3.set_xlim(*y2)
        _outside_note(a3, int(((resid < y2[0]) | (resid > y2[1])).sum()), n)
    a3.axvline(0, color=WARN, linestyle="--", linewidth=1.1)
    rmse = float(np.sqrt(np.mean(resid ** 2)))
    a3.set(xlabel=f"residual ({unit})", ylabel="rows")
    a3.set_title(f"Residual distribution — RMSE {_number(rmse)}")
    _readable_axes(a1, a2)
    _readable_axes(a3, which="x")
    for ax in (a1, a2, a3):
        ax.grid(True)
        ax.set_axisbelow(True)
    return fig


def learning_curve_figure(curve: dict[str, Any], metric: str | None) -> Any | None:
    """Training and validation score against the number of training rows, with ±std bands."""
    sizes = np.asarray(curve.get("train_sizes") or [], dtype=float)
    if len(sizes) < 2:
        return None
    fig, ax = figure(6.4, 4.0)
    for key, label, color in (("train", "training", ACCENT), ("test", "validation", WARN)):
        vals = curve.get(key)
        if vals is None:
            continue
        arr = np.asarray(vals, dtype=float)
        mean = arr.mean(1) if arr.ndim == 2 else arr
        ax.plot(sizes, mean, marker="o", color=color, linewidth=1.6, label=label)
        if arr.ndim == 2 and arr.shape[1] > 1:
            std = arr.std(1)
            ax.fill_between(sizes, mean - std, mean + std, color=color, alpha=0.15, linewidth=0)
    xlabel = "training rows"
    sampled, whole = curve.get("sampled"), curve.get("training_rows")
    if sampled and whole and sampled < whole:  # the axis ends well short of the rows the model was trained on
        xlabel += f" (drawn from a sample of {sampled:,} of the {whole:,})"
    ax.set(xlabel=xlabel, ylabel=f"{metric or 'score'}{_direction(metric)}")
    ax.set_title("Learning curve")
    ax.legend(loc="best")  # a fixed corner sat on the validation curve of a hard task (low scores on the right)
    ax.grid(True)
    return fig


def coefficients_figure(coef: dict[str, Any], classes: Sequence[Any] | None) -> Any | None:
    """Coefficients of a linear model: bars (one output) or a class × feature heatmap (several)."""
    names = coef.get("feature_names") or []
    c = np.atleast_2d(np.asarray(coef.get("coef") or [], dtype=float))
    if c.size == 0 or not names or c.shape[1] != len(names):
        return None
    order = np.argsort(-np.abs(c).max(0))[:MAX_FEATURES]
    labels = short_labels([names[i] for i in order], 26)
    more = f" (largest {MAX_FEATURES} of {len(names)})" if len(names) > MAX_FEATURES else ""
    if c.shape[0] == 1:
        vals = c[0, order]
        fig, ax = figure(7.0, max(2.2, 0.28 * len(order) + 1.3))
        y = np.arange(len(order))
        ax.barh(y, vals, color=[ACCENT if v >= 0 else WARN for v in vals], height=0.7)
        ax.set_yticks(y, labels)
        ax.invert_yaxis()
        ax.axvline(0, color="#46525f", linewidth=0.8)
        towards = f"; positive favours '{short_label(classes[1], 16)}'" if classes is not None and len(classes) == 2 \
            else ""
        ax.set_xlabel(f"coefficient (on the model's scaled inputs{towards})")
        ax.set_title("Model coefficients" + more)
        _readable_axes(ax, which="x")
        ax.xaxis.grid(True)
        ax.set_axisbelow(True)
        return fig
    sub = c[:, order]
    lim = float(np.abs(sub).max()) or 1.0
    rows = short_labels(list(classes or range(c.shape[0])), 16)[: c.shape[0]]
    fig, ax = figure(min(14.0, 0.42 * len(order) + 3.0), max(2.6, 0.42 * len(rows) + 2.2))
    im = ax.imshow(sub, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(len(order)), labels, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_ylabel("class")
    ax.set_xlabel("model input")
    ax.set_title("Model coefficients per class" + more)
    ax.tick_params(length=0)
    cbar = fig.colorbar(im, ax=ax, shrink=0.8, pad=0.02)
    cbar.set_label("coefficient", fontsize=8)
    cbar.outline.set_visible(False)
    return fig


def cluster_figure(X: np.ndarray | None, labels: np.ndarray, X_2d: np.ndarray | None = None,
                   max_points: int = 5000, seed: int = 0) -> Any | None:
    """2-D PCA map coloured by cluster, and the silhouette plot of the clusters."""
    from sklearn.metrics import silhouette_samples

    labels = np.asarray(labels)
    if X_2d is None:
        if X is None or len(X) < 3:
            return None

        X_2d, share = _pca_2d(np.asarray(X), seed)
    else:
        share = (float("nan"), float("nan"))
    X_2d = np.asarray(X_2d, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(labels), max_points, replace=False) if len(labels) > max_points else np.arange(len(labels))
    uniq = list(np.unique(labels))
    fig, (a1, a2) = figure(12, 4.8, ncols=2)
    for n, k in enumerate(uniq):
        m = labels[idx] == k
        a1.scatter(X_2d[idx][m, 0], X_2d[idx][m, 1], s=9, alpha=0.7, color=_color(n), linewidths=0,
                   label=f"cluster {k} ({int((labels == k).sum()):,})")
    if share is not None and np.isnan(share[0]):  # a projection handed over: its variance shares are not known
        a1.set(xlabel="principal component 1", ylabel="principal component 2")
    else:
        _pc_labels(a1, share)
    a1.set_title("Clusters along the only feature" if share is None else
                 "Clusters on the first two principal components")
    # beside the map: on it, 'best' still covered a cluster once they fill every corner
    # in columns of at most 18: one column of 40 clusters was taller than the figure and collapsed the layout
    a1.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), markerscale=2, ncols=-(-len(uniq) // 18),
              fontsize=8 if len(uniq) <= 18 else 7, columnspacing=1.0, handletextpad=0.3)
    if len(uniq) > len(PALETTE):  # colours repeat: each cluster's number at its middle tells them apart
        from matplotlib import patheffects

        for k in uniq:
            m = labels[idx] == k
            if m.any():
                cx, cy = np.median(X_2d[idx][m], axis=0)
                a1.text(cx, cy, str(k), ha="center", va="center", fontsize=9, fontweight="bold", color="#1b2631",
                        path_effects=[patheffects.withStroke(linewidth=2.5, foreground="white")])
    a1.grid(True)
    space = np.nan_to_num(np.asarray(X, dtype=float))[idx] if X is not None else X_2d[idx]
    if len(uniq) >= 2 and len(idx) > len(uniq):
        sil = silhouette_samples(space, labels[idx])
        y0, middles = 0, []
        for n, k in enumerate(uniq):
            s = np.sort(sil[labels[idx] == k])[::-1]  # (on the inverted axis: each band widest at its top)
            a2.fill_betweenx(np.arange(y0, y0 + len(s)), 0, s, color=_color(n), alpha=0.85, linewidth=0)
            middles.append(y0 + len(s) / 2)
            y0 += len(s) + max(2, len(idx) // 100)
        a2.axvline(sil.mean(), color=WARN, linestyle="--", linewidth=1.1)
        a2.set(xlabel="silhouette coefficient (−1 … 1, higher = better separated)", ylabel="rows by cluster")
        # the cluster numbers as tick labels: as texts at x = -0.02 they sat on the axis line and under the label
        step = -(-len(uniq) // 20)  # at most ~20 numbers fit the panel's height
        a2.set_yticks(middles[::step], [short_label(k, 12) for k in uniq][::step])
        a2.tick_params(axis="y", length=0)
        # cluster 0 on top, as in the map's key; the mean in the title (a key in the corner covered cluster 0's band)
        a2.invert_yaxis()
        a2.set_title(f"Silhouette plot — mean {sil.mean():.3f} (dashed)")
    else:
        a2.axis("off")
        a2.text(0.5, 0.5, "a silhouette needs two or more clusters", ha="center", va="center",
                transform=a2.transAxes)
    return fig


def _pca_2d(X: np.ndarray, seed: int = 0) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Rows of ``X`` on its first two principal components, and the share of the variance each one holds (None
    when there is a single column, drawn as it is on a flat line)."""
    from sklearn.decomposition import PCA

    Xf = np.nan_to_num(np.asarray(X, dtype=float))
    if Xf.shape[1] < 2:
        return np.column_stack([Xf[:, 0], np.zeros(len(Xf))]), None
    pca = PCA(n_components=2, random_state=seed).fit(Xf)
    share = pca.explained_variance_ratio_
    return pca.transform(Xf), (float(share[0]), float(share[1]))


def _pc_labels(ax: Any, share: tuple[float, float] | None) -> None:
    if share is None:
        ax.set(xlabel="the only feature (no second dimension)", ylabel="")
        ax.set_yticks([])
        return
    ax.set(xlabel=f"principal component 1 ({share[0]:.0%} of the variance)",
           ylabel=f"principal component 2 ({share[1]:.0%} of the variance)")


SCORE_NAMES = {  # what the anomaly score of each detector is, for the axis
    "iforest": "isolation forest score (0–1, higher = more unusual)",
    "robust_anomaly": "largest robust z-score over the features (higher = more unusual)",
}


def anomaly_figure(scores: np.ndarray, flagged: np.ndarray, X: np.ndarray | None = None,
                   threshold: float | None = None, model: str | None = None, max_points: int = 5000,
                   seed: int = 0, rows: str = "test rows") -> Any | None:
    """The anomaly scores' histogram with the threshold marked, and the rows on their first two principal components
    with the flagged ones highlighted (the map only when ``X`` is given); ``rows`` says which rows these are."""
    scores = np.asarray(scores, dtype=float)
    flagged = np.asarray(flagged).astype(bool)
    if scores.ndim != 1 or len(scores) != len(flagged) or len(scores) < 2:
        return None
    ok = np.isfinite(scores)
    n, k = len(scores), int(flagged.sum())
    with_map = X is not None and np.asarray(X).ndim == 2 and len(X) == n and len(X) >= 3
    fig, axes = figure(13 if with_map else 7.0, 4.6, ncols=2 if with_map else 1)
    hx = axes[0] if with_map else axes
    view = _robust_view(scores[ok])
    # the low end is always shown (normal rows); only a far high tail may leave the view
    lo, hi = float(scores[ok].min()), max(view[1], float(np.quantile(scores[ok], 0.995))) if view else \
        float(scores[ok].max())
    if threshold is not None and np.isfinite(threshold):
        lo, hi = min(lo, threshold), max(hi, threshold)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    width = (hi - lo) / int(np.clip(np.sqrt(ok.sum()) * 2, 10, 60))
    if threshold is not None and np.isfinite(threshold):  # the threshold on a bin edge: no bar straddles it
        lo = threshold - np.ceil((threshold - lo) / width - 1e-9) * width
    edges = lo + width * np.arange(int(np.ceil((hi - lo) / width - 1e-9)) + 1)
    edges[0], edges[-1] = min(edges[0], scores[ok].min()), max(edges[-1], hi)  # rounding must not drop an end value
    hx.hist([scores[ok & ~flagged], scores[ok & flagged]], bins=edges, stacked=True,
            color=[ACCENT, WARN], label=[f"normal ({n - k:,})", f"flagged ({k:,})"])
    if threshold is not None and np.isfinite(threshold):
        hx.axvline(threshold, color="#1b2631", linestyle="--", linewidth=1.2, label=f"threshold {_number(threshold)}")
    beyond = ok & (scores > edges[-1])
    if beyond.any():  # the far tail is left out of the bins; say how far it goes
        m = int(beyond.sum())
        hx.text(0.99, 0.02, f"{m:,} row{'s' if m > 1 else ''} beyond the view → up to {_number(scores[beyond].max())}",
                transform=hx.transAxes, ha="right", va="bottom", fontsize=8, color="#46525f",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.5})
    hx.set(xlabel=f"anomaly score: {SCORE_NAMES.get(model or '', 'higher = more unusual')}", ylabel="rows")
    hx.set_title(f"Anomaly scores — {k:,} of {n:,} {rows} flagged ({k / n:.1%})")
    hx.legend(loc="best")
    _readable_axes(hx, which="x")
    hx.yaxis.grid(True)
    hx.set_axisbelow(True)
    if with_map:
        mx = axes[1]
        X_2d, share = _pca_2d(np.asarray(X), seed)
        rng = np.random.default_rng(seed)
        idx = np.arange(n)
        if n > max_points:  # every flagged row stays on the map; normal rows are drawn to make up the rest
            normal = np.flatnonzero(~flagged)
            keep = rng.choice(normal, max(max_points - k, 0), replace=False) if len(normal) > max_points - k else normal
            idx = np.sort(np.concatenate([np.flatnonzero(flagged), keep]))
        f = flagged[idx]
        mx.scatter(X_2d[idx][~f, 0], X_2d[idx][~f, 1], s=9, alpha=0.5, color=MUTED, linewidths=0,
                   label=f"normal ({n - k:,})")
        if k:
            mx.scatter(X_2d[idx][f, 0], X_2d[idx][f, 1], s=26, alpha=0.9, color=WARN, edgecolors="#1b2631",
                       linewidths=0.5, label=f"flagged ({k:,})", zorder=3)
        _pc_labels(mx, share)
        mx.set_title("Rows on the first two principal components")
        # beside the map, not on it: 'best' still covered a flagged row when they sit in every corner
        mx.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), markerscale=1.5)
        mx.grid(True)
        mx.set_axisbelow(True)
    return fig


def anomaly_features_figure(X: np.ndarray, flagged: np.ndarray, names: Sequence[str]) -> Any | None:
    """The features whose values set the flagged rows apart most: the difference of the flagged rows' mean from the
    normal rows' mean, in standard deviations of the normal rows (of all rows where the normal ones do not vary).
    None when no row, or every row, is flagged."""
    X = np.asarray(X, dtype=float)
    flagged = np.asarray(flagged).astype(bool)
    if X.ndim != 2 or len(X) != len(flagged) or not flagged.any() or flagged.all() or X.shape[1] == 0:
        return None
    names = list(names) if names is not None and len(names) == X.shape[1] else [f"x{i}" for i in range(X.shape[1])]
    mean0, sd = _mean_sd(X[~flagged])
    mean1, _ = _mean_sd(X[flagged])
    _, sd_all = _mean_sd(X)
    scale = np.where(sd > 0, sd, np.where(sd_all > 0, sd_all, 1.0))
    diff = np.nan_to_num((mean1 - mean0) / scale)
    order = np.argsort(-np.abs(diff), kind="stable")[:MAX_FEATURES]
    order = order[np.abs(diff[order]) > 0]
    if not len(order):
        return None
    fig, ax = figure(7.0, max(2.2, 0.28 * len(order) + 1.3))
    y = np.arange(len(order))
    ax.barh(y, diff[order], color=[WARN if v > 0 else ACCENT for v in diff[order]], height=0.7)
    ax.set_yticks(y, short_labels([names[i] for i in order], 28))
    ax.invert_yaxis()
    ax.axvline(0, color="#46525f", linewidth=0.8)
    ax.set_xlabel("flagged rows' mean − normal rows' mean (in standard deviations of the normal rows)")
    more = f" (top {len(order)} of {len(names)} features)" if len(names) > len(order) else ""
    ax.set_title(f"What sets the {int(flagged.sum()):,} flagged rows apart{more}")
    _readable_axes(ax, which="x")
    ax.xaxis.grid(True)
    ax.set_axisbelow(True)
    ax.tick_params(axis="y", length=0)
    return fig


def _mean_sd(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations leaving out missing values (0 for a column with none present)."""
    present = ~np.isnan(X)
    count = np.maximum(present.sum(0), 1)
    mean = np.where(present, X, 0.0).sum(0) / count
    sd = np.sqrt((np.where(present, X - mean, 0.0) ** 2).sum(0) / count)
    return mean, sd
