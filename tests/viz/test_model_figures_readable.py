"""The training report's figures as a reader meets them: many classes, Chinese labels, tiny test splits, wide data,
and the anomaly task's figures."""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assay.viz import _model_figures as M
from assay.viz import write_train_report


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")) if t.get_text()]


def _overlap(boxes) -> bool:
    return any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))


def _tick_boxes(ax, axis: str):
    renderer = ax.figure.canvas.get_renderer()
    labels = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return [t.get_window_extent(renderer) for t in labels if t.get_text() and t.get_visible()]


def _classifier(n_classes: int, rows: int, names=None, equal: bool = True):
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    weights = None if equal else list(np.linspace(2, 0.3, n_classes) / np.linspace(2, 0.3, n_classes).sum())
    X, y = make_classification(rows, 10, n_informative=8, n_classes=n_classes, n_clusters_per_class=1,
                               weights=weights, random_state=0)
    if names is not None:
        y = np.asarray(names, dtype=object)[y]
    cut = rows * 3 // 4
    model = LogisticRegression(max_iter=300).fit(X[:cut], y[:cut])
    return X[cut:], y[cut:], model


STATES = [f"state number {i}" for i in range(48)]
CITIES = ["北京市朝阳区", "上海市浦东新区", "广州市天河区", "深圳市南山区"] + [f"城市{i}号" for i in range(46)]


def test_roc_with_many_equally_frequent_classes_shows_the_hardest_and_the_average():
    X, y, model = _classifier(48, 6000, STATES)
    proba = model.predict_proba(X)
    classes = list(model.classes_)
    fig = M.roc_pr_figure(y, proba, classes)
    from sklearn.metrics import average_precision_score

    ap = {c: average_precision_score(y == c, proba[:, i]) for i, c in enumerate(classes)}
    hardest = sorted(ap, key=ap.get)[:len(M.CLASS_COLORS)]
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    shown = [text.split("  AUC")[0] for text in legend if not text.startswith("all ")]
    assert shown == hardest  # not the first eight in alphabetical order, which equal support used to give
    assert any(text.startswith("all 48 classes (micro-average)") for text in legend)
    assert "the 8 of 48 classes with the lowest AP" in fig._suptitle.get_text()
    assert f"{len(y):,} test rows" in fig._suptitle.get_text()


def test_confusion_matrix_of_many_classes_keeps_the_confused_ones_and_the_true_accuracy():
    X, y, model = _classifier(48, 6000, STATES, equal=False)
    pred = model.predict(X)
    fig = M.confusion_figure(y, pred, list(model.classes_))
    ax = fig.axes[0]
    # Pooling 24 classes into 'other' must not count 'other' confused with 'other' as right.
    assert ax.get_title() == f"Confusion matrix — accuracy {np.mean(y == pred):.3f}"
    shown = [t.get_text() for t in ax.get_yticklabels()]
    assert len(shown) == M.MAX_CONFUSION
    assert shown[-1] == "other"
    errors = {c: int(np.sum((y == c) & (pred != c)) + np.sum((pred == c) & (y != c))) for c in model.classes_}
    assert min(errors[c] for c in shown[:-1]) >= max(errors[c] for c in errors if c not in shown)
    assert any("with the most errors" in t for t in _texts(fig))
    counts = [t.get_text() for t in ax.texts if t.get_text().replace(",", "").isdigit()]
    assert counts  # the cells carry their counts at 25 classes too
    fig.canvas.draw()
    assert not _overlap(_tick_boxes(ax, "y"))


@pytest.mark.parametrize("names", [STATES, CITIES], ids=["latin", "chinese"])
def test_many_class_figures_draw_every_glyph_and_keep_labels_apart(names, tmp_path: Path):
    X, y, model = _classifier(len(names), 6000, names)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 'Glyph … missing from font(s)' would be a box in place of a character
        figs = [M.roc_pr_figure(y, model.predict_proba(X), list(model.classes_)),
                M.confusion_figure(y, model.predict(X), list(model.classes_))]
        for fig in figs:
            fig.canvas.draw()
    legend = figs[0].axes[1].get_legend()
    renderer = figs[0].canvas.get_renderer()
    assert not _overlap([t.get_window_extent(renderer) for t in legend.get_texts()])
    cm = figs[1].axes[0]
    assert not _overlap(_tick_boxes(cm, "y"))
    # x labels are turned 45°: their anchors must be further apart than the labels are tall
    xs = sorted(b.x1 for b in _tick_boxes(cm, "x"))
    height = max(t.get_size() for t in cm.get_xticklabels()) * figs[1].dpi / 72
    assert min(b - a for a, b in itertools.pairwise(xs)) > height


def test_importance_of_a_hundred_features_lists_only_those_that_matter():
    names = [f"sensor_reading_channel_{i:03d}" for i in range(100)]
    mean = np.zeros(100)
    mean[[3, 50, 97]] = [0.2, 0.1, 0.05]
    fig = M.importance_figure(names, mean, np.zeros(100), "accuracy")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [names[3], names[50], names[97]]
    assert ax.get_xlabel().endswith("(97 of 100 features changed nothing and are not drawn)")
    fig.canvas.draw()
    assert not _overlap(_tick_boxes(ax, "y"))
    renderer = fig.canvas.get_renderer()
    assert not [t for t in ax.texts if t.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))]
    assert M.importance_figure(names, np.zeros(100), np.zeros(100), "accuracy") is None


def _tiny_report() -> dict:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = np.where(X[:, 0] > 0, "yes", "no")
    model = LogisticRegression().fit(X[:24], y[:24])
    Xt, yt = X[24:], y[24:]
    return {"task": "classification", "target": "answer", "y_test": yt, "y_pred": model.predict(Xt),
            "proba": model.predict_proba(Xt), "classes": list(model.classes_), "X_test": Xt,
            "predict_fn": lambda a: np.full(len(a), "yes"), "feature_names": ["a", "b", "c"]}


def test_a_tiny_test_split_says_which_figures_it_leaves_out(tmp_path: Path):
    html = write_train_report(tmp_path / "r.html", _tiny_report()).read_text(encoding="utf-8")
    figures = {p.stem for p in (tmp_path / "figures").glob("*.png")}
    assert "calibration" not in figures
    assert "Calibration is not drawn: 6 test rows, it needs at least 10." in html
    # a model that ignores its inputs: no empty bar chart, a sentence instead
    assert "permutation_importance" not in figures
    assert "Permutation feature importance is not drawn" in html
    assert "No learning curve" in html


def test_calibration_of_a_confident_model_spreads_its_points():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    X, y = load_digits(return_X_y=True)
    model = LogisticRegression(max_iter=2000).fit(X[:1400], y[:1400])
    proba = model.predict_proba(X[1400:])
    fig = M.calibration_figure(y[1400:], proba, list(model.classes_))
    from matplotlib.collections import PathCollection

    (dots,) = [c for c in fig.axes[0].collections if isinstance(c, PathCollection)]
    xs = np.asarray(dots.get_offsets())[:, 0]
    # most rows sit above 0.99: bins of equal row counts drew three points on one spot; equal widths keep them apart
    assert len(xs) >= 5
    assert np.diff(np.sort(xs)).min() > 0.03
    sizes = dots.get_sizes()
    assert sizes.max() > 5 * sizes.min()  # a bin of many rows weighs visibly more than a bin of one
    (bars,) = [c for c in fig.axes[0].collections if c is not dots]  # 95% intervals: wide where rows are few
    spans = np.array([abs(seg[1][1] - seg[0][1]) for seg in bars.get_segments()])
    sizes_order = np.argsort(sizes)
    assert spans[sizes_order[0]] > spans[sizes_order[-1]]
    assert fig.axes[0].get_ylabel() == "observed share predicted right"
    binary = M.calibration_figure(y[1400:] == 3, np.column_stack([1 - proba[:, 3], proba[:, 3]]), [False, True])
    assert binary.axes[0].get_ylabel() == "observed share of 'True'"


def test_residual_histogram_bins_follow_the_row_count():
    rng = np.random.default_rng(0)
    for n, most in ((30, 10), (2000, 40)):
        y = rng.normal(size=n)
        fig = M.regression_figure(y, y + rng.normal(0, 0.3, n), "y")
        assert len(fig.axes[2].patches) <= most
    assert len(fig.axes[2].patches) == 40


def test_binary_coefficients_say_which_class_a_positive_weight_favours():
    fig = M.coefficients_figure({"feature_names": ["a", "b"], "coef": [[1.0, -2.0]]}, ["benign", "malignant"])
    assert "positive favours 'malignant'" in fig.axes[0].get_xlabel()


def test_cluster_map_axes_say_how_much_variance_they_hold():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(0, 3, 300), rng.normal(0, 1, 300), rng.normal(0, 0.1, 300)])
    fig = M.cluster_figure(X, (X[:, 0] > 0).astype(int))
    xlabel = fig.axes[0].get_xlabel()
    assert xlabel.startswith("principal component 1 (")
    assert xlabel.endswith("% of the variance)")
    assert int(xlabel.split("(")[1].split("%")[0]) > 80


def _anomaly_data(rows: int = 600, planted: int = 12):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 4))
    X[:planted, 2] += 8.0  # rows far out on the third feature only
    return X


def test_anomaly_figure_marks_the_threshold_and_the_flagged_rows():
    from assay.models._anomaly import IsolationForestDetector

    X = _anomaly_data()
    det = IsolationForestDetector(contamination=0.02).fit(X)
    scores, flags = det.score_samples(X), det.predict(X) == 1
    fig = M.anomaly_figure(scores, flags, X, det.threshold_, "iforest")
    hist, pmap = fig.axes
    k = int(flags.sum())
    assert hist.get_title() == f"Anomaly scores — {k} of 600 test rows flagged ({k / 600:.1%})"
    lines = [ln for ln in hist.get_lines() if ln.get_label().startswith("threshold")]
    assert len(lines) == 1
    assert lines[0].get_xdata()[0] == pytest.approx(det.threshold_)
    assert "isolation forest" in hist.get_xlabel()
    legend = [t.get_text() for t in pmap.get_legend().get_texts()]
    assert legend == [f"normal ({600 - k})", f"flagged ({k})"]
    assert "% of the variance" in pmap.get_xlabel()
    # with more rows than the map draws, every flagged row is still on it
    fig = M.anomaly_figure(scores, flags, X, det.threshold_, "iforest", max_points=100)
    flagged_dots = fig.axes[1].collections[1]
    assert len(flagged_dots.get_offsets()) == k
    assert len(fig.axes[1].collections[0].get_offsets()) == 100 - k


def test_anomaly_features_figure_names_the_feature_that_differs():
    X = _anomaly_data()
    flags = np.zeros(600, dtype=bool)
    flags[:12] = True
    fig = M.anomaly_features_figure(X, flags, ["温度", "pressure", "振动", "speed"])
    assert fig.axes[0].get_yticklabels()[0].get_text() == "振动"
    assert "12 flagged rows" in fig.axes[0].get_title()
    X[5, 1] = np.nan  # a missing value does not blank the feature
    assert M.anomaly_features_figure(X, flags, ["a", "b", "c", "d"]) is not None
    assert M.anomaly_features_figure(X, np.zeros(600, dtype=bool), ["a", "b", "c", "d"]) is None


def test_anomaly_report_has_its_figures_and_reads_the_detectors_threshold(tmp_path: Path):
    from assay.models._anomaly import RobustZDetector

    X = _anomaly_data()
    det = RobustZDetector().fit(X[:480])
    Xt = X[480:]
    Xt[:3, 2] += 8.0
    report = {"task": "anomaly", "model_name": "robust_anomaly", "y_pred": det.predict(Xt),
              "proba": det.score_samples(Xt), "X_test": Xt, "feature_names": ["a", "b", "c", "d"],
              "predict_fn": det.predict, "test_metrics": {"anomaly_rate": 0.025}}
    html = write_train_report(tmp_path / "r.html", report).read_text(encoding="utf-8")
    assert "could not be drawn" not in html
    assert {p.stem for p in (tmp_path / "figures").glob("*.png")} == {"anomaly_scores", "anomaly_features"}
    svg = (tmp_path / "figures" / "anomaly_scores.svg").read_text(encoding="utf-8")
    assert "threshold 3.5" in svg  # RobustZDetector's cut-off, read off the fitted detector
    assert "largest robust z-score" in svg


def test_anomaly_histogram_bins_meet_at_the_threshold_and_the_legend_leaves_the_map_clear():
    from assay.models._anomaly import IsolationForestDetector

    X = _anomaly_data()
    det = IsolationForestDetector(contamination=0.02).fit(X)
    fig = M.anomaly_figure(det.score_samples(X), det.predict(X) == 1, X, det.threshold_, "iforest")
    hist, pmap = fig.axes
    edges = {round(p.get_x(), 9) for p in hist.patches} | {round(p.get_x() + p.get_width(), 9) for p in hist.patches}
    assert round(det.threshold_, 9) in edges  # no bar holds rows from both sides of the threshold
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert not pmap.get_legend().get_window_extent(renderer).overlaps(pmap.get_window_extent(renderer))


def test_anomaly_with_a_label_column_draws_no_importance_against_the_labels(tmp_path: Path):
    from assay.models._anomaly import IsolationForestDetector

    X = _anomaly_data()
    det = IsolationForestDetector(contamination=0.02).fit(X[:480])
    report = {"task": "anomaly", "y_test": np.where(np.arange(120) < 3, "fraud", "ok"), "y_pred": det.predict(X[480:]),
              "proba": det.score_samples(X[480:]), "X_test": X[480:], "predict_fn": det.predict}
    html = write_train_report(tmp_path / "r.html", report).read_text(encoding="utf-8")
    assert "could not be drawn" not in html  # was: 'Mix of label input types (string and number)'
    assert not (tmp_path / "figures" / "permutation_importance.png").exists()
    assert (tmp_path / "figures" / "anomaly_scores.png").exists()


def test_anomaly_report_without_labels_shows_no_empty_metrics(tmp_path: Path):
    from assay.models._anomaly import IsolationForestDetector

    X = _anomaly_data()
    det = IsolationForestDetector(contamination=0.02).fit(X[:480])
    report = {"task": "anomaly", "primary_metric": "roc_auc", "model_name": "iforest",
              "leaderboard": [{"model": "iforest", "cv_mean": None, "cv_std": None, "roc_auc_mean": None,
                               "roc_auc_std": None, "anomaly_rate_mean": 0.02, "anomaly_rate_std": 0.01,
                               "vs_best_p": None, "folds": 5}],
              "test_metrics": {"anomaly_rate": 0.025, "roc_auc": None, "average_precision": float("nan")},
              "y_pred": det.predict(X[480:]), "proba": det.score_samples(X[480:]), "X_test": X[480:]}
    html = write_train_report(tmp_path / "r.html", report).read_text(encoding="utf-8")
    assert "ranked by roc_auc" not in html
    assert '<div class="k">anomaly_rate</div>' in html
    assert '<div class="k">roc_auc</div>' not in html
    assert '<div class="k">average_precision</div>' not in html
    assert "<th class=\"n\">anomaly_rate</th>" in html
    assert "<th class=\"n\">roc_auc</th>" not in html
    assert "vs_best_p" not in html


def test_a_test_split_of_one_class_has_no_roc_and_says_so(tmp_path: Path):
    p = np.linspace(0.05, 0.95, 20)[:, None]
    proba = np.hstack([1 - p, p])
    assert M.roc_pr_figure(np.array(["a"] * 20), proba, ["a", "b"]) is None  # was a warning, then an empty chart
    report = {"task": "classification", "y_test": np.array(["a"] * 20), "y_pred": np.array(["a"] * 20),
              "proba": proba, "classes": ["a", "b"]}
    html = write_train_report(tmp_path / "r.html", report).read_text(encoding="utf-8")
    assert "ROC and precision–recall curves are not drawn: the 20 test rows hold one class only (a)." in html
    assert not (tmp_path / "figures" / "roc_pr.png").exists()


def test_edge_cases_read_as_sentences_not_as_nan():
    fig = M.regression_figure(np.ones(50), np.ones(50), "y")
    assert fig.axes[0].get_title() == "Predicted vs actual — R² undefined (every actual value is the same)"
    x = np.linspace(-2, 2, 40)[:, None]
    fig = M.cluster_figure(x, (x[:, 0] > 0).astype(int))
    assert fig.axes[0].get_title() == "Clusters along the only feature"
    assert fig.axes[0].get_xlabel() == "the only feature (no second dimension)"


def test_anomaly_scores_far_out_are_counted_beside_the_view():
    rng = np.random.default_rng(0)
    scores = np.r_[rng.normal(1, 0.3, 500), [10_000.0]]
    flags = scores > 3.5
    fig = M.anomaly_figure(scores, flags, None, 3.5, "robust_anomaly")
    ax = fig.axes[0]
    assert ax.get_xlim()[1] < 100  # the one far score does not squeeze the 500 others into one bar
    assert "1 row beyond the view → up to 10k" in [t.get_text() for t in ax.texts]
    low = ax.patches[0].get_x()
    assert low <= scores.min()  # the low end is never cut


def test_confusion_note_of_a_nearly_perfect_model_says_how_many_classes_had_errors():
    y = np.repeat(np.array(STATES, dtype=object), 3)
    pred = y.copy()
    pred[[0, 10, 20]] = pred[[30, 40, 50]]  # three rows wrong: three true classes, three others predicted
    fig = M.confusion_figure(y, pred, STATES)
    note = [t for t in _texts(fig) if "pooled" in t]
    assert note == ["the 6 of 48 classes in an error and the 18 most frequent others; the rest pooled as 'other'"]


def _drawn_clusters(rows: int, features: int, centers: int) -> tuple[Any, Any, np.ndarray, np.ndarray]:
    """A cluster figure of generated blobs, drawn: (figure, renderer, X, labels)."""
    from sklearn.datasets import make_blobs

    X, labels = make_blobs(rows, n_features=features, centers=centers, random_state=0)
    fig = M.cluster_figure(X, labels)
    fig.canvas.draw()
    return fig, fig.canvas.get_renderer(), X, labels


def test_many_clusters_keep_the_legend_off_the_map_and_are_numbered_where_colours_repeat():
    fig, renderer, X, labels = _drawn_clusters(3000, 6, 15)
    cmap = fig.axes[0]
    assert not cmap.get_legend().get_window_extent(renderer).overlaps(cmap.get_window_extent(renderer))
    assert sorted(int(t.get_text()) for t in cmap.texts) == list(range(15))
    few = M.cluster_figure(X[labels < 3], labels[labels < 3])
    assert not few.axes[0].texts  # ten colours or fewer: the legend alone tells them apart


def test_silhouette_cluster_numbers_sit_left_of_the_axis():
    fig, renderer, _, _ = _drawn_clusters(600, 4, 4)
    sil = fig.axes[1]
    left = sil.get_window_extent(renderer).x0
    numbers = [t for t in sil.get_yticklabels() if t.get_text()]
    assert [t.get_text() for t in numbers] == ["0", "1", "2", "3"]
    assert all(t.get_window_extent(renderer).x1 <= left for t in numbers)
    label = sil.yaxis.label.get_window_extent(renderer)
    assert not any(label.overlaps(t.get_window_extent(renderer)) for t in numbers)


def test_silhouette_numbers_of_forty_clusters_do_not_overlap():
    from sklearn.datasets import make_blobs

    X, labels = make_blobs(4000, n_features=4, centers=40, random_state=0)
    fig = M.cluster_figure(X, labels)
    fig.canvas.draw()
    boxes = _tick_boxes(fig.axes[1], "y")
    assert len(boxes) >= 15
    assert not _overlap(boxes)


def test_roc_legend_of_a_few_classes_follows_the_class_order():
    X, y, model = _classifier(6, 3000, ["f", "e", "d", "c", "b", "a"], equal=False)  # 'f' the most frequent
    fig = M.roc_pr_figure(y, model.predict_proba(X), list(model.classes_))
    legend = [t.get_text().split("  ")[0] for t in fig.axes[1].get_legend().get_texts()]
    assert legend == ["a", "b", "c", "d", "e", "f"]


def test_confusion_matrix_shows_two_word_class_names_whole():
    names = ["Diversified financials", "Oil & gas operations", "Food drink & tobacco", "Banking"]
    y = np.repeat(np.array(names, dtype=object), 5)
    fig = M.confusion_figure(y, y, names)
    fig.canvas.draw()
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert not _overlap(_tick_boxes(ax, "y"))
    renderer = fig.canvas.get_renderer()
    assert all(b.x0 >= 0 for b in _tick_boxes(ax, "y"))  # not cut at the figure's edge
    assert all(b.y0 >= 0 for b in _tick_boxes(ax, "x"))
    assert fig.bbox.contains(*ax.xaxis.label.get_window_extent(renderer).min)


def test_score_axes_say_which_way_is_better():
    fig = M.cv_spread_figure({"a": [3.0, 3.2], "b": [1.0, 1.1]}, "rmse")
    assert fig.axes[0].get_xlabel() == "rmse per fold (lower is better)"
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["b", "a"]  # the lowest error on top
    fig = M.cv_spread_figure({"a": [0.3, 0.32], "b": [0.1, 0.11]}, "r2")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["a", "b"]
    curve = {"train_sizes": [10, 20], "train": [[0.9, 0.9], [0.9, 0.9]], "test": [[0.5, 0.6], [0.7, 0.7]]}
    assert M.learning_curve_figure(curve, "f1_macro").axes[0].get_ylabel() == "f1_macro (higher is better)"
    assert M.learning_curve_figure(curve, "my_metric").axes[0].get_ylabel() == "my_metric"


def _points_under_legend(ax) -> int:
    ax.figure.canvas.draw()
    box = ax.get_legend().get_window_extent(ax.figure.canvas.get_renderer())
    lines = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
    drawn = [ax.transData.transform(line.get_xydata()) for line in lines]
    # the segments between the points too, not only the markers
    steps = np.linspace(0, 1, 20)
    points = np.vstack([a + t * (b - a) for xy in drawn for a, b in itertools.pairwise(xy) for t in steps])
    return int(sum(box.contains(x, y) for x, y in points))


def test_learning_curve_legend_leaves_a_low_validation_curve_clear():
    # 50 hard classes: training scores fall from 0.85, validation stays near 0.1, ending at the lower right.
    sizes = [100, 340, 580, 820, 1060]
    curve = {"train_sizes": sizes, "train": [[0.85], [0.35], [0.26], [0.23], [0.22]],
             "test": [[0.07], [0.1], [0.11], [0.12], [0.14]]}
    fig = M.learning_curve_figure(curve, "f1_macro")
    assert _points_under_legend(fig.axes[0]) == 0


def test_precision_recall_legend_leaves_a_rare_class_curve_clear():
    rng = np.random.default_rng(0)
    y = np.where(rng.random(2000) < 0.03, "fraud", "ok")
    p = np.clip(0.3 * (y == "fraud") + rng.random(2000) * 0.7, 0, 1)  # weak: precision stays low at every recall
    fig = M.roc_pr_figure(y, np.column_stack([1 - p, p]), ["ok", "fraud"])
    assert _points_under_legend(fig.axes[1]) == 0


def test_learning_curve_of_a_sample_says_so_on_its_axis():
    curve = {"train_sizes": [1333, 4333, 7333, 10333, 13333], "train": [[0.99]] * 5,
             "test": [[0.94], [0.97]] + [[0.98]] * 3, "sampled": 20_000, "training_rows": 43_152}
    fig = M.learning_curve_figure(curve, "r2")
    assert fig.axes[0].get_xlabel() == "training rows (drawn from a sample of 20,000 of the 43,152)"
    del curve["sampled"]
    assert M.learning_curve_figure(curve, "r2").axes[0].get_xlabel() == "training rows"


def test_dense_regression_panels_show_their_sparse_rows():
    # A skewed target: most rows cheap, a long tail of dear ones, as diamond prices are.
    rng = np.random.default_rng(0)
    actual = np.exp(rng.normal(7.5, 1.0, 10_000))
    predicted = actual * np.exp(rng.normal(0, 0.1, 10_000))
    fig = M.regression_figure(actual, predicted, "price")
    for ax in fig.axes[:2]:
        cells = ax.collections[0]
        rgb = cells.get_facecolors()[:, :3]
        # every hexagon that holds a row is drawn darker than the white page (Blues starts at white)
        assert (rgb @ np.array([0.299, 0.587, 0.114])).max() < 0.85
    assert len(fig.axes) == 5  # three panels and the two hexagon scales


def test_calibration_title_names_the_top_label_brier_score_of_many_classes():
    """Of ten classes the figure scores the confidence of the predicted class against right/wrong: near-random
    guessing scores about 0.1 there (0.9 as the multiclass Brier score), so its title says which score it is."""
    rng = np.random.default_rng(0)
    n, k = 600, 10
    y = rng.integers(0, k, n)
    proba = rng.dirichlet(np.full(k, 20.0), n)  # a model that knows nothing
    fig = M.calibration_figure(y, proba, list(range(k)))
    title = fig.axes[0].get_title()
    assert title.startswith("Calibration — top-label Brier score 0.")
    top = proba.max(1)
    hit = (proba.argmax(1) == y).astype(float)
    assert title.endswith(f"{np.mean((top - hit) ** 2):.3f}")
    binary = M.calibration_figure(y == 3, np.column_stack([1 - proba[:, 3], proba[:, 3]]), [False, True])
    assert binary.axes[0].get_title().startswith("Calibration — Brier score ")


def test_importance_note_of_one_unchanged_feature_is_singular():
    fig = M.importance_figure(["a", "b", "c"], np.array([0.2, 0.0, 0.1]), np.array([0.01, 0.0, 0.02]), "r2")
    assert fig.axes[0].get_xlabel().endswith("(1 of 3 features changed nothing and is not drawn)")


def test_scores_near_one_are_ticked_whole_not_with_an_offset():
    """r2 between 0.99999 and 1 (a leaking feature) was ticked '8.6 … 10.0' under the corner note '1e-6+9.9999e-1'."""
    curve = {"train_sizes": [20, 70, 120, 170, 220],
             "train": [[0.999994], [0.999998], [0.999999], [1.0], [1.0]],
             "test": [[0.999991], [0.999996], [0.999998], [1.0], [0.999999]]}
    fig = M.learning_curve_figure(curve, "r2")
    fig.canvas.draw()
    ax = fig.axes[0]
    assert ax.yaxis.get_offset_text().get_text() == ""
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert labels
    assert all(float(t) == pytest.approx(1.0, abs=1e-4) for t in labels)
    fig = M.cv_spread_figure({"a": [0.999991, 0.999996], "b": [0.999998, 1.0]}, "r2")
    fig.canvas.draw()
    assert fig.axes[0].xaxis.get_offset_text().get_text() == ""


def test_importance_caption_says_when_it_shuffles_a_sample_of_the_test_rows(tmp_path: Path):
    """Past 2,000 test rows permutation importance shuffles a random 2,000; the caption said 'on the test split'."""
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    for n, said in ((5_000, "(3 repeats; on a random 2,000 of its 5,000 rows)."), (500, "(3 repeats).")):
        X = rng.normal(size=(n, 3))
        y = X @ np.array([1.0, 0.5, 0.0]) + rng.normal(0, 0.1, n)
        model = LinearRegression().fit(X, y)
        report = {"task": "regression", "target": "y", "primary_metric": "r2", "y_test": y, "X_test": X,
                  "y_pred": model.predict(X), "predict_fn": model.predict, "feature_names": ["a", "b", "c"]}
        html = write_train_report(tmp_path / str(n) / "report.html", report).read_text(encoding="utf-8")
        assert f"How much R² on the test split drops when one feature&#39;s values are shuffled {said}" in html


def test_confusion_matrix_writes_its_empty_cells_as_zero_when_small():
    """A binary model that never predicts 'no' for a 'yes': that cell reads 0, not blank (as if unknown)."""
    y = np.array(["yes"] * 6 + ["no"] * 4, dtype=object)
    pred = np.array(["yes"] * 6 + ["no", "no", "yes", "yes"], dtype=object)
    fig = M.confusion_figure(y, pred, ["no", "yes"])
    cells = sorted(t.get_text() for t in fig.axes[0].texts if t.get_text().isdigit())
    assert cells == ["0", "2", "2", "6"]
    many = [f"c{i}" for i in range(12)]
    fig = M.confusion_figure(np.array(many, dtype=object), np.array(many, dtype=object), many)
    assert sorted(t.get_text() for t in fig.axes[0].texts if t.get_text().isdigit()) == ["1"] * 12


def test_confusion_matrix_title_stays_inside_the_picture():
    """Twelve classes 'grade 1' … 'grade 12': one layout pass put the title's top past the picture's top edge."""
    from assay.viz._style import _settle_layout

    names = [f"grade {i}" for i in range(1, 13)]
    rng = np.random.default_rng(0)
    y = rng.choice(names, 300)
    fig = M.confusion_figure(y, np.where(rng.random(300) < 0.5, y, rng.choice(names, 300)), names)
    _settle_layout(fig)
    fig.canvas.draw()
    box = fig.axes[0].title.get_window_extent(fig.canvas.get_renderer())
    assert box.y1 <= fig.bbox.height - 2


def test_cv_spread_lists_models_in_the_leaderboards_order():
    """lgbm leads the leaderboard by its mean 0.472; rf, with the higher median, was drawn on top of it."""
    folds = {"lgbm": [0.35, 0.37, 0.41, 0.50, 0.73], "rf": [0.30, 0.46, 0.46, 0.51, 0.61],
             "logreg": [0.25, 0.30, 0.35, 0.44, 0.47]}
    assert np.mean(folds["lgbm"]) > np.mean(folds["rf"])
    assert np.median(folds["lgbm"]) < np.median(folds["rf"])
    fig = M.cv_spread_figure(folds, "f1_macro")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["lgbm", "rf", "logreg"]


def test_precision_recall_curves_are_steps_and_the_title_counts_the_classes_tested():
    """A class of one test row drew a straight line from (0, 0) to (1, 0.25), a precision no threshold gives; and
    'the 8 of 15 classes with the lowest AP' left out that 3 of the 15 were not among the test rows at all."""
    names = [f"class {i}" for i in range(15)]
    rng = np.random.default_rng(0)
    y = np.array([names[i % 12] for i in range(240)], dtype=object)  # classes 12-14 have no test rows
    proba = rng.dirichlet(np.ones(15), len(y))
    fig = M.roc_pr_figure(y, proba, names)
    curves = [line for line in fig.axes[1].get_lines() if line.get_label() != "chance"]
    assert curves
    assert all(line.get_drawstyle() == "steps-post" for line in curves)
    assert "the 8 of the 12 classes in the test rows (of 15) with the lowest AP" in fig._suptitle.get_text()


def test_silhouette_lists_clusters_top_down_as_the_key_does_and_its_mean_covers_no_band():
    from sklearn.datasets import make_blobs

    X, labels = make_blobs(600, 4, centers=5, random_state=0)
    fig = M.cluster_figure(X, labels)
    sil = fig.axes[1]
    assert sil.yaxis_inverted()  # the first cluster on top
    assert next(t.get_text() for t in sil.get_yticklabels()) == "0"
    assert sil.get_legend() is None  # (the key with the mean sat on the bottom cluster's band)
    assert "mean" in sil.get_title()
