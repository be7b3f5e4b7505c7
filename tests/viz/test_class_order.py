"""Classes named by numbers, or by text with numbers in it, are listed in natural order (1, 2, … 10, not 1, 10, 11,
2) in every figure and table of the reports, the probabilities and coefficients moved with their classes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from assay.viz import _style, profile
from assay.viz._train_report import build_train_report

NATURAL = [str(i) for i in range(1, 13)]
STRING_ORDER = sorted(NATURAL)  # '1', '10', '11', '12', '2', … as a model's classes_ of text labels come


def _drawn(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The figures the training report saves, by name."""
    figures: dict[str, Any] = {}
    save = _style.save_figure

    def keep(fig: Any, folder: Path, name: str) -> dict[str, Path]:
        figures[name] = fig
        return save(fig, folder, name)

    monkeypatch.setattr(_style, "save_figure", keep)
    return figures


def _report(classes: list[str], labels: list[str]) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    y_test = np.array(labels * 10, dtype=object)
    proba = rng.dirichlet(np.ones(len(classes)), len(y_test))
    column = {c: i for i, c in enumerate(classes)}
    # each row's own class likelier, by how far it is down the list: every class gets an AUC of its own
    own = np.array([column[v] for v in y_test])
    proba[np.arange(len(y_test)), own] += rng.uniform(0, 1, len(y_test)) * (own + 1) / len(classes)
    proba /= proba.sum(1, keepdims=True)
    y_pred = np.asarray(classes, dtype=object)[proba.argmax(1)]
    coef = np.arange(len(classes) * 3, dtype=float).reshape(len(classes), 3)
    return {"task": "classification", "classes": classes, "y_test": y_test, "y_pred": y_pred, "proba": proba,
            "coefficients": {"feature_names": ["a", "b", "c"], "coef": coef.tolist(),
                             "intercept": list(range(len(classes)))}}


@pytest.mark.parametrize(("classes", "natural"), [
    (STRING_ORDER, NATURAL),
    (sorted(f"grade {i}" for i in range(1, 13)), [f"grade {i}" for i in range(1, 13)]),
])
def test_numbered_classes_read_in_natural_order_in_every_figure_and_table(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, classes: list[str], natural: list[str]):
    figures = _drawn(monkeypatch)
    report = _report(classes, classes)
    context = build_train_report(report, tmp_path)
    cm = figures["confusion_matrix"].axes[0]
    assert [t.get_text() for t in cm.get_yticklabels()] == natural
    assert [t.get_text() for t in cm.get_xticklabels()] == natural
    assert [t.get_text() for t in figures["coefficients"].axes[0].get_yticklabels()] == natural
    table = context["coef_table"]
    assert table["heads"] == natural
    # each class keeps its own coefficients and intercept: class c's row was [3k, 3k + 1, 3k + 2], k its old place
    where = {c: k for k, c in enumerate(classes)}
    first = {row[0]: row[1:] for row in table["rows"]}["a"]
    assert first == [3.0 * where[c] for c in natural]
    assert table["intercept"] == [where[c] for c in natural]


def test_the_curves_are_listed_in_natural_order_each_of_its_own_class(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch):
    """Ten classes (one curve each): the legend reads 1, 2, … 10 and each class's AUC is that of its own column."""
    from sklearn.metrics import roc_auc_score

    classes = sorted(str(i) for i in range(1, 11))
    figures = _drawn(monkeypatch)
    report = _report(classes, classes)
    build_train_report(report, tmp_path)
    legend = [t.get_text().split(" ·")[0] for t in figures["roc_pr"].axes[1].get_legend().get_texts()]
    aucs = {c: roc_auc_score(report["y_test"] == c, report["proba"][:, i]) for i, c in enumerate(classes)}
    assert len(set(np.round(list(aucs.values()), 3))) == len(classes)  # (a mix-up would show)
    assert legend == [f"{c}  AUC {aucs[c]:.3f}" for c in NATURAL[:10]]


def test_a_binary_models_positive_class_stays_its_second(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """'10' before '9' in a binary model's classes: the curves are of its positive class '9'; the matrix reads 9, 10."""
    figures = _drawn(monkeypatch)
    build_train_report(_report(["10", "9"], ["10", "9"]), tmp_path)
    assert figures["roc_pr"].axes[0].get_legend().get_texts()[1].get_text().startswith("9  AUC")
    assert [t.get_text() for t in figures["confusion_matrix"].axes[0].get_yticklabels()] == ["9", "10"]


def test_equally_frequent_values_are_listed_in_natural_order_in_the_profile():
    order = [5, 12, 1, 10, 3, 8, 2, 11, 4, 7, 6, 9]  # the data's own order of first appearance
    df = pl.DataFrame({"grade": [f"grade {i}" for i in order] * 5, "month": [str(i) for i in order] * 5})
    p = profile(df, target="month")
    assert [t["value"] for t in p["variables"]["grade"]["top"]] == [f"grade {i}" for i in range(1, 13)]
    assert [c["value"] for c in p["target_summary"]["classes"]] == NATURAL


def test_equally_frequent_month_names_are_listed_in_calendar_order():
    months = ["Mar", "Nov", "Jan", "Oct", "Feb", "Dec", "Apr", "Sep", "May", "Aug", "Jun", "Jul"]
    p = profile(pl.DataFrame({"month": months * 4}))
    assert [t["value"] for t in p["variables"]["month"]["top"]] == [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
