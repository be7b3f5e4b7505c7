"""Reports on disk: profile.json/profile.html/figures, the training report, self-contained and readable."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from assay.viz import profile, write_profile, write_train_report
from assay.viz._style import setup_matplotlib

EXTERNAL = re.compile(r"""(src|href)\s*=\s*["']?(https?:)?//""", re.IGNORECASE)


def _self_contained(html: str) -> None:
    assert not EXTERNAL.search(html), EXTERNAL.search(html)
    assert "@import" not in html
    assert "<script src" not in html


def test_cjk_font_is_used_when_installed():
    from matplotlib import font_manager

    family = setup_matplotlib()
    names = {f.name for f in font_manager.fontManager.ttflist}
    if any("CJK" in n or "WenQuanYi" in n for n in names):
        assert family != "DejaVu Sans"
    else:
        assert family == "DejaVu Sans"


def test_write_profile_files_and_content(tmp_path: Path):
    rng = np.random.default_rng(0)
    n = 400
    df = pl.DataFrame({
        "收入（元）": rng.lognormal(8, 1, n),
        "城市": rng.choice(["北京", "上海", "广州", "深圳"], n),
        "product name that is really quite long indeed": rng.choice([f"商品 {i} with a long label" for i in range(50)],
                                                                    n),
        "score": rng.normal(size=n),
        "empty": pl.Series([None] * n, dtype=pl.Float64),
        "y": rng.integers(0, 2, n),
    })
    p = profile(df, target="y")
    html_path = write_profile(p, tmp_path / "out")
    assert html_path == tmp_path / "out" / "profile.html"
    loaded = json.loads((tmp_path / "out" / "profile.json").read_text(encoding="utf-8"))
    assert loaded["rows"] == n
    assert loaded["variables"]["城市"]["distinct"] == 4
    html = html_path.read_text(encoding="utf-8")
    _self_contained(html)
    assert "收入（元）" in html
    assert "every value is missing" in html
    assert html.count("data:image/svg+xml;base64,") >= 8
    figs = {p.name for p in (tmp_path / "out" / "figures").iterdir()}
    for stem in ("overview", "missing_matrix", "corr_pearson", "corr_spearman", "corr_cramers_v", "outliers",
                 "target_association", "col_001_", "col_002_product_name"):
        assert any(f.startswith(stem) and f.endswith(".png") for f in figs), stem
        assert any(f.startswith(stem) and f.endswith(".svg") for f in figs), stem
    assert not any(f.endswith(".tmp") for f in figs)


def test_write_profile_100k_categories(tmp_path: Path):
    codes = [f"类别{i}" for i in range(100_000)] + [f"类别{i}" for i in range(50_000)]
    frame = pl.DataFrame({"code": codes, "n": np.arange(len(codes)) % 7})
    html = write_profile(profile(frame), tmp_path).read_text(encoding="utf-8")
    _self_contained(html)
    assert "high cardinality" in html
    svg = (tmp_path / "figures" / "col_000_code.svg").read_text(encoding="utf-8")
    assert "top 20 of 100,000 values" in svg  # capped at the top 20 bars …
    assert "other (99,980 values)" in svg  # … plus one bar for the rest


BAD_FRAMES = {
    "all_null": pl.DataFrame({"a": pl.Series([None] * 30, dtype=pl.Float64), "b": [None] * 30}),
    "constant": pl.DataFrame({"a": [7.0] * 30, "b": ["同"] * 30, "c": [True] * 30}),
    "nan_inf_mixed": pl.DataFrame({
        "收入": [1.0, float("nan"), float("inf"), -float("inf"), None, 2.0] * 5,
        "混合": ["1", "2.5", "abc", None, "x", "7"] * 5,
        "only_inf": [float("inf")] * 30,
    }),
    # quartiles 3 and 1e308: the upper IQR fence overflows the float range (stored as null), as does the mean
    "float_range": pl.DataFrame({"值": [3.0, 1e308, float("inf"), 3.0, 1e308, None] * 5, "k": list(range(30))}),
}


@pytest.mark.parametrize("name", sorted(BAD_FRAMES))
def test_write_profile_bad_input(tmp_path: Path, name: str):
    p = profile(BAD_FRAMES[name])
    html = write_profile(p, tmp_path).read_text(encoding="utf-8")
    _self_contained(html)
    for w in p["warnings"]:  # every finding is in the report
        assert w["message"].replace("'", "&#39;") in html
    assert p["warnings"], name


@pytest.mark.parametrize("rows", [0, 1])
def test_write_profile_tiny(tmp_path: Path, rows: int):
    df = pl.DataFrame({"a": [1.0][:rows], "b": ["x"][:rows]}, schema={"a": pl.Float64, "b": pl.String})
    html = write_profile(profile(df), tmp_path).read_text(encoding="utf-8")
    _self_contained(html)
    assert ("no rows" in html) if rows == 0 else ("single row" in html)


def _classification_report(n_classes: int) -> dict:
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score

    X, y = make_classification(300, 6, n_informative=4, n_classes=n_classes, random_state=0)
    names = np.array(["猫", "dog", "bird"])[:n_classes]
    y = names[y]
    model = LogisticRegression(max_iter=500).fit(X[:200], y[:200])
    Xt, yt = X[200:], y[200:]
    return {
        "task": "classification", "target": "animal", "primary_metric": "accuracy", "model_name": "logreg",
        "leaderboard": [{"model": "logreg", "cv_mean": 0.9, "cv_std": 0.02, "accuracy_mean": 0.9,
                         "accuracy_std": 0.02}, {"model": "lgbm", "cv_mean": 0.85, "cv_std": float("nan")}],
        "cv_scores": {"logreg": [0.9, 0.88, 0.92], "lgbm": [0.84, 0.86, 0.85]},
        "test_metrics": {"accuracy": accuracy_score(yt, model.predict(Xt))},
        "y_test": yt, "y_pred": model.predict(Xt), "proba": model.predict_proba(Xt), "classes": list(model.classes_),
        "feature_names": [f"特征{i}" for i in range(6)], "X_test": Xt, "predict_fn": model.predict,
        "score_fn": accuracy_score,
        "coefficients": {"feature_names": [f"特征{i}" for i in range(6)], "coef": model.coef_.tolist(),
                         "intercept": model.intercept_.tolist()},
        "steps": [{"step": "scale", "params": {"method": "standard"}, "state": {}}],
        "learning_curve": {"train_sizes": [50, 100, 150], "train": [[0.95, 0.93], [0.92, 0.93], [0.91, 0.92]],
                           "test": [[0.8, 0.82], [0.85, 0.86], [0.88, 0.87]]},
    }


@pytest.mark.parametrize("n_classes", [2, 3])
def test_train_report_classification(tmp_path: Path, n_classes: int):
    path = write_train_report(tmp_path / "report.html", _classification_report(n_classes))
    html = path.read_text(encoding="utf-8")
    _self_contained(html)
    assert "could not be drawn" not in html
    names = {p.stem for p in (tmp_path / "figures").glob("*.png")}
    assert names == {"cv_spread", "roc_pr", "confusion_matrix", "calibration", "permutation_importance",
                     "learning_curve", "coefficients"}
    assert {p.stem for p in (tmp_path / "figures").glob("*.svg")} == names
    assert "logreg" in html
    assert "特征0" in html


def test_train_report_regression_and_clustering(tmp_path: Path):
    from sklearn.cluster import KMeans
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LinearRegression

    X, y = load_diabetes(return_X_y=True)
    model = LinearRegression().fit(X[:300], y[:300])
    report = {"task": "regression", "target": "progression", "primary_metric": "r2", "y_test": y[300:],
              "y_pred": model.predict(X[300:]), "X_test": X[300:], "predict_fn": model.predict,
              "coefficients": {"coef": [model.coef_.tolist()], "intercept": [float(model.intercept_)]},
              "feature_names": [f"f{i}" for i in range(X.shape[1])], "test_metrics": {"r2": 0.5, "rmse": 50.0}}
    html = write_train_report(tmp_path / "reg" / "report.html", report).read_text(encoding="utf-8")
    assert "could not be drawn" not in html
    assert {p.stem for p in (tmp_path / "reg" / "figures").glob("*.png")} == {
        "regression", "permutation_importance", "coefficients"}
    labels = KMeans(3, n_init=2, random_state=0).fit_predict(X)
    report = {"task": "clustering", "cluster_labels": labels, "X_test": X, "test_metrics": {"silhouette": 0.2}}
    html = write_train_report(tmp_path / "clu" / "report.html", report).read_text(encoding="utf-8")
    _self_contained(html)
    assert "could not be drawn" not in html
    assert (tmp_path / "clu" / "figures" / "clusters.png").exists()


def test_train_report_with_nothing(tmp_path: Path):
    html = write_train_report(tmp_path / "r.html", {}).read_text(encoding="utf-8")
    _self_contained(html)
    assert "No leaderboard" in html


def test_failed_figure_becomes_a_note(tmp_path: Path):
    def broken(_x):
        raise RuntimeError("model exploded")

    report = {"task": "regression", "X_test": np.ones((5, 2)), "y_test": np.ones(5), "predict_fn": broken}
    html = write_train_report(tmp_path / "r.html", report).read_text(encoding="utf-8")
    assert "could not be drawn: RuntimeError: model exploded" in html


def test_write_profile_inside_a_daemon_process(tmp_path: Path):
    """Dask and multiprocessing workers are daemonic and may not fork figure workers: drawing stays in-process."""
    import multiprocessing

    frame = pl.DataFrame({f"c{i}": np.arange(50.0) * (i + 1) for i in range(10)})
    # spawn, not fork: a forked copy of this test process would inherit Polars' thread pool without its threads
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=write_profile, args=(profile(frame), str(tmp_path)), kwargs={"workers": 2},
                        daemon=True)
    child.start()
    child.join(180)
    assert child.exitcode == 0
    assert (tmp_path / "profile.html").exists()
    assert len(list((tmp_path / "figures").glob("col_*.png"))) == 10


def _frame_for_figures() -> pl.DataFrame:
    rng = np.random.default_rng(1)
    n = 300
    return pl.DataFrame({
        **{f"x{i}": rng.normal(i, 1 + i, n) for i in range(8)},
        "城市": [c or None for c in rng.choice(["北京", "上海", "广州", ""], n).tolist()],
        "y": rng.integers(0, 2, n),
    })


def test_prepared_figure_process_draws_the_same_files(tmp_path: Path):
    from assay.viz import _report, prepare_figures

    p = profile(_frame_for_figures(), target="y")
    prepare_figures()
    assert _report._SERVER[0] is not None  # the figures below come from the forked process
    write_profile(p, tmp_path / "prepared")
    write_profile(p, tmp_path / "here", workers=1)
    prepared = sorted(f.name for f in (tmp_path / "prepared" / "figures").iterdir())
    here = sorted(f.name for f in (tmp_path / "here" / "figures").iterdir())
    assert prepared == here
    stems = {name.rsplit(".", 1)[0] for name in prepared}
    assert {"overview", "missing_matrix", "corr_pearson", "corr_cramers_v", "outliers", "target_association"} <= stems
    assert any(stem.startswith("col_008_") for stem in stems)
    assert len(prepared) == 2 * len(stems)  # each figure as PNG and SVG
    for name in prepared:  # the forked process draws with its caches of fonts, sizes and glyphs: the same bytes
        assert (tmp_path / "prepared" / "figures" / name).read_bytes() == \
            (tmp_path / "here" / "figures" / name).read_bytes(), name


def test_prepared_figure_process_raises_a_figure_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from assay.viz import _figures, prepare_figures

    def broken(_p):
        raise ValueError("overview exploded")

    p = profile(_frame_for_figures())
    monkeypatch.setattr(_figures, "overview_figure", broken)  # the forked process inherits the broken function
    prepare_figures()
    with pytest.raises(ValueError, match="overview exploded"):
        write_profile(p, tmp_path)


def test_unused_prepared_figure_process_lets_python_exit(tmp_path: Path):
    import subprocess
    import sys

    code = "from assay.viz import prepare_figures; prepare_figures(); print('ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_report_rewritten_into_the_same_folder(tmp_path: Path):
    p = profile(_frame_for_figures())
    write_profile(p, tmp_path, workers=1)
    first = {f.name: f.read_bytes() for f in (tmp_path / "figures").iterdir()}
    write_profile(p, tmp_path, workers=1)
    second = {f.name: f.read_bytes() for f in (tmp_path / "figures").iterdir()}
    assert first == second
    assert (tmp_path / "profile.html").stat().st_size > 0


def _svgs(folder: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in (folder / "figures").iterdir() if f.suffix == ".svg"}


def test_column_figures_drawn_during_the_profile_match(tmp_path: Path):
    from assay.viz import prepare_figures

    frame = _frame_for_figures()
    prepare_figures()
    p = profile(frame, target="y")  # hands the column figures to the prepared process
    write_profile(p, tmp_path / "prepared")
    write_profile(p, tmp_path / "here", workers=1)
    assert _svgs(tmp_path / "prepared") == _svgs(tmp_path / "here")
    pngs = sorted(f.name for f in (tmp_path / "prepared" / "figures").glob("*.png"))
    assert len(pngs) == len(_svgs(tmp_path / "prepared")) > 10


def test_missing_values_figure_is_handed_over_before_the_first_pass_with_its_final_input(
        monkeypatch: pytest.MonkeyPatch):
    from assay.viz import _report
    from assay.viz._profile import jsonable

    class Recorder:
        def __init__(self) -> None:
            self.calls: list[tuple[list[tuple], bool, bool]] = []

        def alive(self) -> bool:
            return True

        def draw_early(self, jobs: list[tuple], fresh: bool = False, last: bool = False) -> None:
            self.calls.append((jobs, fresh, last))

    recorder = Recorder()
    monkeypatch.setattr(_report, "_SERVER", [recorder])
    p = profile(_frame_for_figures(), target="y")  # in memory: the missing counts are known before the first pass
    first_jobs, fresh, _ = recorder.calls[0]
    assert [job[0] for job in first_jobs] == ["missing"]
    assert fresh
    overview_jobs = recorder.calls[1][0]
    assert [job[0] for job in overview_jobs] == ["overview", "missing"]
    # The same input as the overview stage's and the report's: the figure drawn first is the one written.
    assert overview_jobs[1] == first_jobs[0] == _report._missing_job(jsonable(p))
    assert first_jobs[0][3][0]["variables"]["城市"]["missing"] == p["variables"]["城市"]["missing"] > 0


def test_profile_changed_after_the_early_column_figures_is_drawn_as_written(tmp_path: Path):
    from assay.viz import prepare_figures

    prepare_figures()
    p = profile(_frame_for_figures())
    p["variables"]["x0"]["name"] = "renamed in the dict"  # the early figure of x0 no longer fits
    write_profile(p, tmp_path / "prepared")
    write_profile(p, tmp_path / "here", workers=1)
    assert _svgs(tmp_path / "prepared") == _svgs(tmp_path / "here")
    assert b"renamed in the dict" in _svgs(tmp_path / "prepared")["col_000_x0.svg"]


def test_histogram_on_a_kept_figure_matches_a_fresh_one():
    from assay.viz import _figures, _style

    rng = np.random.default_rng(3)
    p = profile(pl.DataFrame({
        "skewed": rng.lognormal(3, 1.5, 3000),  # log-scale bins, values above the axis
        "tailed": rng.standard_t(1.5, 3000) * 100,  # negative and positive, outliers and values outside the axis
        "plain": rng.uniform(-5, 5, 3000),  # no notes under the axis
    }))
    variables = p["variables"]
    assert variables["skewed"]["histogram"].get("log")

    def drawn(name: str) -> dict[str, bytes]:
        return _style.render_figure(_figures.column_figure(variables[name], p["rows"]))

    fresh = {}
    for name in variables:
        _style._KEPT.clear()
        fresh[name] = drawn(name)
    for order in (["skewed", "tailed", "plain", "skewed"], ["plain", "tailed", "tailed", "skewed", "plain"]):
        _style._KEPT.clear()
        for name in order:
            assert drawn(name) == fresh[name], (order, name)
    assert _style._KEPT  # the figures were kept and reused


def test_cached_font_lookups_follow_the_font_settings():
    import subprocess
    import sys

    # In a fresh interpreter: the cache is meant for the figure process, not for this one.
    code = """if True:
        import matplotlib
        from matplotlib import font_manager
        from matplotlib.font_manager import FontProperties
        from assay.viz._style import cache_font_lookups, setup_matplotlib

        setup_matplotlib()
        find = font_manager.fontManager._find_fonts_by_props
        props = [FontProperties(size=8), FontProperties(weight="bold", size=11), FontProperties(family="serif")]
        before = [find(p) for p in props]
        cache_font_lookups()
        cache_font_lookups()  # a second call changes nothing
        find = font_manager.fontManager._find_fonts_by_props
        assert [find(p) for p in props] == [find(p) for p in props] == before
        prop = FontProperties(size=8)
        find(prop)
        prop.set_family("monospace")  # changed after its lookup: not answered from the cache
        assert find(prop) == find(FontProperties(family="monospace", size=8)) != before[0]
        matplotlib.rcParams["font.family"] = ["monospace"]
        assert find(FontProperties(size=8)) != before[0]
        print("ok")
    """
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_cached_glyphs_and_layouts_draw_the_same_pictures():
    import subprocess
    import sys

    # In a fresh interpreter: the caches are meant for the figure process, not for this one.
    code = """if True:
        import numpy as np
        import polars as pl
        from assay.viz import _figures, _style, profile

        rng = np.random.default_rng(1)
        p = profile(pl.DataFrame({**{f"x{i}": rng.normal(i, 1 + i, 300) for i in range(8)},
                                  "城市": rng.choice(["北京", "上海", "广州"], 300).tolist(),
                                  "y": rng.integers(0, 2, 300)}), target="y")
        makers = [lambda: _figures.overview_figure(p),
                  lambda: _figures.column_figure(p["variables"]["城市"], p["rows"]),  # CJK: a fallback font
                  lambda: _figures.correlation_figure(p["correlations"]["pearson"], "r"),  # rotated labels
                  lambda: _figures.column_figure(p["variables"]["x3"], p["rows"])]

        def draw():
            return [_style.render_figure(make()) for make in makers]

        plain = draw()
        from matplotlib.backends.backend_agg import RendererAgg

        measure = RendererAgg.get_text_width_height_descent
        _style.cache_font_lookups()
        _style.cache_glyphs()
        _style.share_marker_styles()
        from matplotlib.markers import MarkerStyle

        from matplotlib.text import Text

        assert RendererAgg.draw_text._assay_cached  # matplotlib's drawing code is the one cache_glyphs follows
        assert Text._get_layout.__name__ == "text_layout"  # and its text layout the one cache_font_lookups keeps
        assert MarkerStyle._set_marker._assay_shared  # and its marker styles the ones share_marker_styles copies
        rotated = MarkerStyle("o").rotated(deg=10)
        again = MarkerStyle(rotated).rotated(deg=20)  # the copy's transform is its own: the original keeps 10°
        assert rotated.get_user_transform() != again.get_user_transform()
        assert rotated.get_user_transform() == MarkerStyle("o").rotated(deg=10).get_user_transform()
        assert draw() == plain  # every glyph rendered and kept
        assert draw() == plain  # every glyph from the cache
        # A text's size from its layout is matplotlib's measurement of it: wide and narrow, overhanging and
        # descending glyphs, kerned pairs, spaces, CJK from the fallback font, a missing glyph, nothing at all.
        import random
        import warnings

        from matplotlib.font_manager import FontProperties

        random.seed(0)
        letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;()%-_'/汉字北京…·≥jfwWAVTy"
        texts = ["", " ", "0", "Y4", "jq1", "tJcf", "AV Ta", "城市五仔区", "f3 (value)", "1,234 (0.62%)", "a\tb",
                 *("".join(random.choice(letters) for _ in range(random.randint(1, 30))) for _ in range(400))]
        renderer = RendererAgg(100, 100, 110)
        assert RendererAgg.get_text_width_height_descent.__name__ == "layout_size"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the glyph missing from every font
            for size, weight in ((7, "normal"), (7.5, "normal"), (8, "normal"), (9, "normal"), (11, "bold")):
                prop = FontProperties(family=["DejaVu Sans", _style.setup_matplotlib()], size=size, weight=weight)
                for text in texts:
                    assert renderer.get_text_width_height_descent(text, prop, False) == \
                        measure(renderer, text, prop, False), (text, size, weight)
        print("ok")
    """
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_png_is_the_picture_savefig_draws():
    import io

    from PIL import Image

    from assay.viz import _figures, _style

    p = profile(_frame_for_figures(), target="y")
    city = p["variables"]["城市"]
    for make in (lambda: _figures.overview_figure(p), lambda: _figures.column_figure(city, p["rows"])):
        ours = Image.open(io.BytesIO(_style.render_figure(make(), ("png",))["png"]))
        fig = make()
        _style._settle_layout(fig)
        buf = io.BytesIO()
        with _style.quiet_glyphs():
            fig.savefig(buf, format="png")
        theirs = Image.open(buf)
        assert ours.mode == "RGB"  # opaque: no alpha channel
        assert ours.info["dpi"] == pytest.approx(theirs.info["dpi"])
        assert ours.info["Software"] == "assay"
        assert np.array_equal(np.asarray(ours.convert("RGBA")), np.asarray(theirs.convert("RGBA")))


def test_png_at_a_savefig_dpi_of_its_own(monkeypatch: pytest.MonkeyPatch):
    import io

    import matplotlib
    from PIL import Image

    from assay.viz import _figures, _style

    p = profile(_frame_for_figures())
    setup_matplotlib()  # before the change below, which it would undo
    monkeypatch.setitem(matplotlib.rcParams, "savefig.dpi", 55)
    png = Image.open(io.BytesIO(_style.render_figure(_figures.overview_figure(p), ("png",))["png"]))
    assert png.size == (12 * 55, round(3.4 * 55))


def test_png_with_a_savefig_colour_of_its_own(monkeypatch: pytest.MonkeyPatch):
    import io

    import matplotlib
    from PIL import Image

    from assay.viz import _figures, _style

    p = profile(_frame_for_figures())
    setup_matplotlib()  # before the change below, which it would undo
    monkeypatch.setitem(matplotlib.rcParams, "savefig.facecolor", "#ff0000")
    png = Image.open(io.BytesIO(_style.render_figure(_figures.overview_figure(p), ("png",))["png"]))
    assert png.convert("RGB").getpixel((0, 0)) == (255, 0, 0)  # the background savefig would paint


def test_figure_process_starts_before_polars_is_imported(tmp_path: Path):
    import subprocess
    import sys

    src = tmp_path / "d.csv"
    pl.DataFrame({"x": [1.0, 2.5, None, 4.0] * 20, "c": ["a", "b", "b", None] * 20}).write_csv(src)
    code = (
        "import sys\n"
        "from assay.viz import prepare_figures\n"
        "prepare_figures()\n"
        "print(sorted(m for m in ('polars', 'matplotlib') if m in sys.modules))\n"
        "from assay.viz import profile, write_profile\n"
        f"write_profile(profile({str(src)!r}), {str(tmp_path / 'out')!r})\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert len(list((tmp_path / "out" / "figures").glob("*.svg"))) >= 3


def test_figures_drawn_here_and_in_forked_processes_match(tmp_path: Path):
    p = profile(_frame_for_figures(), target="y")
    write_profile(p, tmp_path / "shared", workers=2)  # this process draws too, besides one forked process
    write_profile(p, tmp_path / "here", workers=1)
    assert _svgs(tmp_path / "shared") == _svgs(tmp_path / "here")
    assert sorted(f.name for f in (tmp_path / "shared" / "figures").glob("*.png")) == \
        sorted(f.name for f in (tmp_path / "here" / "figures").glob("*.png"))


def test_figure_process_imports_matplotlib_without_set_help_or_3d():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from assay.viz._style import figure, import_for_drawing, render_figure\n"
        "import_for_drawing()\n"
        "print('mpl_toolkits.mplot3d' in sys.modules)\n"
        "fig, ax = figure(2.0, 2.0)\n"
        "line, = ax.plot([0, 1], [0, 1])\n"
        "line.set(color='red', linewidth=2)\n"  # set() of each artist class works as before
        "print(line.get_color(), line.get_linewidth())\n"
        "try:\n"
        "    line.set(colour='red')\n"
        "except AttributeError:\n"
        "    print('refused')\n"
        "data = render_figure(fig)\n"
        "print(data['png'][:4] == b'\\x89PNG', b'<svg' in data['svg'])\n"
    )
    done = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:4] == ["False", "red 2.0", "refused", "True True"]


def _svg_shapes(svg: bytes, scale: float) -> list[tuple[str, list[float], str]]:
    """Each drawn element of an SVG: its tag, its lengths (coordinates, widths, font sizes) times ``scale``, its
    text and angles; ids, references and number formatting left out."""
    import xml.etree.ElementTree as ET

    number = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")
    shapes = []
    for el in ET.fromstring(svg).iter():
        tag = el.tag.rsplit("}", 1)[-1]
        if tag in ("path", "use", "text", "rect"):
            values = " ".join(v for k, v in sorted(el.attrib.items()) if not k.endswith(("id", "href")))
            angles = re.findall(r"rotate\((-?[\d.]+)", values)
            values = re.sub(r"url\(#\w+\)|#[0-9a-f]{6}|font-weight: \d+|rotate\(-?[\d.]+", "", values)  # not lengths
            shapes.append((tag, [scale * float(x) for x in number.findall(values)], f"{el.text or ''} {angles}"))
    return shapes


def test_png_and_svg_drawn_at_once_are_the_files_savefig_writes():
    import io

    from assay.viz import _figures, _style

    p = profile(_frame_for_figures(), target="y")
    makers = {"overview": lambda: _figures.overview_figure(p),  # constrained layout, several axes
              "histogram": lambda: _figures.column_figure(p["variables"]["x3"], p["rows"]),  # dashed lines
              "cjk bars": lambda: _figures.column_figure(p["variables"]["城市"], p["rows"]),
              "legend": lambda: _figures.outliers_figure(p),
              "image": lambda: _figures.missing_figure(p),  # the image's data unresampled in the SVG
              "heatmap": lambda: _figures.correlation_figure(p["correlations"]["pearson"], "r")}  # two images
    # Texts are placed with the PNG's measurements of their size, savefig's SVG with its own: a fraction of a point
    # apart; so is a legend, which is laid out around its texts. Everything else is where savefig puts it.
    tolerance = {"text": 0.6, "legend": 1.5}
    for what, make in makers.items():
        fig = make()
        ours = _style.render_figure(fig)
        fig = make()
        _style._settle_layout(fig)
        png, svg = io.BytesIO(), io.BytesIO()
        with _style.quiet_glyphs():
            fig.savefig(png, format="png")
            fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": "assay"})
        assert np.array_equal(_rgba(ours["png"]), _rgba(png.getvalue())), what
        theirs = svg.getvalue()
        assert theirs.split(b"viewBox")[0] == ours["svg"].split(b"viewBox")[0], what  # the same size in points
        # The same shapes, texts and sizes, ours in pixels of 1/110 inch rather than points.
        mine, others = _svg_shapes(ours["svg"], 72 / 110), _svg_shapes(theirs, 1.0)
        assert [(tag, len(v), text) for tag, v, text in mine] == [(tag, len(v), text) for tag, v, text in others]
        for (tag, a, text), (_, b, _) in zip(mine, others, strict=True):
            assert a == pytest.approx(b, abs=tolerance.get(what, tolerance.get(tag, 0.01))), (what, tag, text)
        mine, others = _svg_images(ours["svg"], 72 / 110), _svg_images(theirs, 1.0)
        assert len(mine) == len(others) == {"image": 1, "heatmap": 2}.get(what, 0), what
        for (data, a), (theirs_data, b) in zip(mine, others, strict=True):
            assert data == theirs_data, what  # the same pixels, placed at the same spot
            assert a == pytest.approx(b, abs=0.01), what


def test_svg_of_what_one_drawing_cannot_write_comes_from_savefig():
    import io

    from assay.viz import _figures, _style

    math = profile(pl.DataFrame({"$x^2$": [1.0, 2.0, 4.0, 8.0] * 10}))  # a column name matplotlib reads as math

    def rasterised() -> object:
        fig, ax = _style.figure(4.0, 3.0)
        fig.colorbar(ax.imshow(np.arange(12.0).reshape(3, 4)), ax=ax)  # its 256 colours rasterised in an SVG
        return fig

    makers = {"rasterised colorbar": rasterised,
              "math text": lambda: _figures.column_figure(math["variables"]["$x^2$"], math["rows"])}
    for what, make in makers.items():
        fig = make()
        assert fig is not None
        ours = _style.render_figure(fig)
        fig = make()
        _style._settle_layout(fig)
        _style._png(fig)  # savefig's SVG in render_figure follows the PNG, whose draw places the axis labels
        _style._freeze_axis_labels(fig)
        svg = io.BytesIO()
        with _style.quiet_glyphs():
            fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": "assay"})
        assert ours["svg"] == svg.getvalue(), what


def _svg_images(svg: bytes, scale: float) -> list[tuple[str, list[float]]]:
    """Each image of an SVG: its data and the numbers of its transform (the lengths times ``scale``)."""
    import xml.etree.ElementTree as ET

    images = []
    for el in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}image"):
        data = next(v for k, v in el.attrib.items() if k.endswith("href"))
        m = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", el.attrib["transform"])]
        images.append((data, [scale * x for x in m] + [float(el.attrib["width"]), float(el.attrib["height"])]))
    return images


def _rgba(png: bytes) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def test_profile_page_escapes_what_comes_from_the_data(tmp_path: Path):
    name = "<img src=x onerror=alert(1)>"
    df = pl.DataFrame({name: ["<b>bold</b>", "a & b", "it's \"quoted\""] * 10, "x": [1.0, 2.0, None] * 10})
    html = write_profile(profile(df), tmp_path, workers=1).read_text(encoding="utf-8")
    assert "<img src=x" not in html
    assert "<b>bold" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # the column's heading, figure's alt text and warnings
    assert "&lt;b&gt;bold&lt;/b&gt;" in html  # the sample rows
    assert "a &amp; b" in html
    assert "it&#39;s &#34;quoted&#34;" in html
    assert html.startswith("<!DOCTYPE html>")
    assert html.endswith("</html>")


def test_fitted_margins_keep_every_label_inside_and_apart():
    """Figures laid out by one measurement (no layout engine): every tick label, axis label, title and text lies
    inside the figure, axes of one figure do not run into each other, and the axes get about the room the
    constrained layout gives them."""
    from assay.viz import _figures, _style

    rng = np.random.default_rng(3)
    n = 400
    long = {f"measurement_of_the_quantity_number_{i}_in_standard_units": rng.normal(0, 10 ** (i % 5), n)
            for i in range(14)}
    frame = pl.DataFrame({
        **long,
        "城市": rng.choice([f"城市{chr(0x4E00 + 37 * i)}{chr(0x4E00 + 53 * i)}区" for i in range(50)], n),
        "销售额（元）": [None if i % 7 == 0 else float(v) for i, v in enumerate(rng.lognormal(5, 1, n))],
        "y": rng.integers(0, 2, n),
    })
    p = profile(frame, target="y")
    makers = {"overview": lambda: _figures.overview_figure(p),
              "missing": lambda: _figures.missing_figure(p),
              "cjk bars": lambda: _figures.column_figure(p["variables"]["城市"], p["rows"]),
              "outliers": lambda: _figures.outliers_figure(p),
              "target": lambda: _figures.target_association_figure(p)}
    for what, make in makers.items():
        fig = make()
        assert fig is not None, what
        assert fig.get_layout_engine() is None, what
        _style._settle_layout(fig)  # as render_figure lays it out
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        inside = fig.bbox.padded(0.5)
        boxes = [ax.get_tightbbox(renderer) for ax in fig.axes]
        for box in boxes:
            assert inside.x0 <= box.x0, (what, box)
            assert box.x1 <= inside.x1, (what, box)
            assert inside.y0 <= box.y0, (what, box)
            assert box.y1 <= inside.y1, (what, box)
        for i, a in enumerate(fig.axes):
            for b in fig.axes[i + 1:]:
                assert a.bbox.x1 < b.bbox.x0 or b.bbox.x1 < a.bbox.x0, what  # side by side, not on each other
        # The same figure under the constrained layout: the fitted axes are about as large.
        ref = make()
        ref.set_layout_engine("constrained")  # run by _settle_layout instead of the fitted margins
        _style._settle_layout(ref)
        for ours, theirs in zip(fig.axes, ref.axes, strict=True):
            assert ours.bbox.width == pytest.approx(theirs.bbox.width, rel=0.15), what
            assert ours.bbox.height == pytest.approx(theirs.bbox.height, rel=0.1), what


def test_figures_made_ahead_draw_what_new_figures_draw(monkeypatch: pytest.MonkeyPatch):
    from assay.viz import _figures, _style

    p = profile(_frame_for_figures(), target="y")
    makers = [lambda: _figures.overview_figure(p), lambda: _figures.missing_figure(p),
              lambda: _figures.correlation_figure(p["correlations"]["pearson"], "r"),
              lambda: _figures.column_figure(p["variables"]["x3"], p["rows"]),  # a kept histogram's first figure
              lambda: _figures.column_figure(p["variables"]["城市"], p["rows"]),
              lambda: _figures.outliers_figure(p), lambda: _figures.target_association_figure(p)]
    monkeypatch.setattr(_style, "_AHEAD", {})
    monkeypatch.setattr(_style, "_KEPT", {})
    new = [_style.render_figure(make()) for make in makers]
    monkeypatch.setattr(_style, "_KEPT", {})
    _style.make_figures_ahead(_figures.AHEAD, stop=lambda: False)
    made = {key: len(figures) for key, figures in _style._AHEAD.items()}
    assert sorted(made.values()) == [1, 1, 3, 6]
    assert [_style.render_figure(make()) for make in makers] == new  # only the size set: the same pictures
    assert all(len(_style._AHEAD[key]) < n for key, n in made.items())  # each grid's figures were taken
    _style.make_figures_ahead(_figures.AHEAD, stop=lambda: True)
    assert all(len(_style._AHEAD[key]) < n for key, n in made.items())  # stopped: none made


def test_figures_made_ahead_go_on_where_they_stopped(monkeypatch: pytest.MonkeyPatch):
    from assay.viz import _figures, _style

    monkeypatch.setattr(_style, "_AHEAD", {})
    made: dict = {}
    calls = iter([False, True])  # stopped after the first figure
    assert not _style.make_figures_ahead(_figures.AHEAD, stop=lambda: next(calls, True), made=made)
    assert sum(made.values()) == 1
    (key, figures), = ((k, f) for k, f in _style._AHEAD.items() if f)
    figures.pop()  # taken by a figure meanwhile: not made again
    assert _style.make_figures_ahead(_figures.AHEAD, stop=lambda: False, made=made)
    assert sorted(made.values()) == [1, 1, 3, 6]
    assert len(_style._AHEAD[key]) == made[key] - 1
    assert sum(map(len, _style._AHEAD.values())) == sum(made.values()) - 1


def test_figures_say_what_they_leave_out_and_keep_their_keys_clear():
    from assay.viz import _figures

    rng = np.random.default_rng(3)
    wide = pl.DataFrame({f"sensor_{i:03d}": rng.normal(size=300) for i in range(45)})
    p = profile(wide.with_columns(pl.when(pl.int_range(0, 300) % 7 == 0).then(None).otherwise(pl.col("sensor_000"))
                                  .alias("sensor_000")))
    heat = _figures.correlation_figure(p["correlations"]["pearson"], "Pearson")
    assert heat.axes[0].get_title() == "Pearson — 40 of 45 columns"
    matrix = _figures.missing_figure(p)
    where, how_much = matrix.axes[:2]
    rows = [t.get_text() for t in where.get_xticklabels()]
    assert rows == ["0", "50", "100", "150", "200", "250", "300"]  # round row positions
    assert [t.get_text() for t in how_much.get_xticklabels()][-1] == "100"  # a share stops at 100%
    hist = _figures.column_figure(p["variables"]["sensor_001"], p["rows"])
    ax = hist.axes[0]
    lines = [line for line in ax.get_lines() if line.get_xdata()[0] == line.get_xdata()[1]]  # the vertical ones
    assert lines
    assert all(max(line.get_ydata()) <= 0.8 for line in lines)  # they end below the key's texts
    assert min(t.get_position()[1] for t in ax.texts) > 0.8


def test_target_association_says_how_many_it_shows_and_what_the_dotted_line_is():
    from assay.viz import _figures

    setup_matplotlib()
    rng = np.random.default_rng(3)
    n = 300
    frame = pl.DataFrame({**{f"g{i:02d}": rng.normal(size=n) for i in range(30)}, "y": rng.integers(0, 2, n)})
    fig = _figures.target_association_figure(profile(frame, target="y"))
    ax = fig.axes[0]
    assert ax.get_title() == "Association with target 'y' (top 25 of 30)"
    assert "leakage limit 0.95" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_one_row_and_one_column_are_counted_in_the_singular(tmp_path: Path):
    from assay.viz._figures import overview_figure

    p = profile(pl.DataFrame({"a": [1.5]}))
    html = write_profile(p, tmp_path).read_text(encoding="utf-8")
    assert re.search(r'<div class="sub">1 row × 1 column\b', html)
    titles = [ax.get_title() for ax in overview_figure(p).axes]
    assert "1 column by kind" in titles
    assert "1 row" in titles


@pytest.mark.parametrize(("value", "label"), [(999_752, "1M"), (1_000_248, "1M"), (999_499, "999k"),
                                              (999_999_999, "1B"), (-999_752, "-1M"), (999.7, "1,000"),
                                              (1e15 - 1, "1e+15")])
def test_counts_that_round_up_to_a_thousand_take_the_next_suffix(value: float, label: str):
    from assay.viz._figures import _count_tick, _fmt

    assert _fmt(value) == label
    if abs(value) < 1e12:
        assert "e+" not in _count_tick(value)


def test_sampled_profile_says_the_column_charts_count_every_row(tmp_path: Path):
    """Each column's chart is counted over every row; only correlations and the missing-values map come from the
    sample. The header said 'figures and correlations from a random sample', under histograms of all 2,000 rows."""
    rng = np.random.default_rng(0)
    df = pl.DataFrame({"x": rng.normal(size=2_000), "y": rng.normal(size=2_000)})
    p = profile(df, sample_rows=500)
    assert sum(p["variables"]["x"]["histogram"]["counts"]) == 2_000
    html = write_profile(p, tmp_path / "out").read_text(encoding="utf-8")
    header = html.split("</header>")[0]
    assert "figures and correlations from" not in header
    assert "statistics and column charts from all rows" in header
    assert "correlations and the missing-values map from a random sample of 500 of 2,000 rows" in header
    assert "rows sampled for correlations" in html
    assert "figure sample" not in html


def test_missing_values_map_title_agrees_with_one_column():
    from assay.viz._figures import missing_figure

    df = pl.DataFrame({"a": [1.0, None, 3.0, 4.0], "b": [1, 2, 3, 4], "c": ["x", "y", "z", "w"]})
    fig = missing_figure(profile(df))
    titles = [ax.get_title() for ax in fig.axes]
    assert "Missing values: where (1 of 3 columns has gaps)" in titles


def test_shares_next_to_bars_and_in_tables_are_not_rounded_away():
    """One value of 100,000 drew as '1  (0.0%)' beside its bar, and 99,999 missing of 100,000 read '100.0%'."""
    from assay.viz._figures import column_figure, missing_figure
    from assay.viz._report import fmt_pct

    n = 100_000
    df = pl.DataFrame({
        "c": ["a"] * (n - 1) + ["b"],
        "m": pl.Series([None] * (n - 1) + [1.0], dtype=pl.Float64),
    })
    p = profile(df)
    texts = [t.get_text() for t in column_figure(p["variables"]["c"], n).axes[0].texts]
    assert "1  (<0.1%)" in texts
    assert "100k  (>99.9%)" in texts
    shares = [t.get_text() for t in missing_figure(p).axes[1].texts]
    assert shares == [">99.9%"]
    assert fmt_pct(p["variables"]["m"]["missing_pct"]) == ">99.9%"
    assert fmt_pct(100.0) == "100.0%"
    assert fmt_pct(0.001) == "0.001%"


def test_tiny_profiles_say_why_a_column_has_no_figure_and_show_rows_once(tmp_path: Path):
    """With no rows a column is not 'every value is missing'; with fewer rows than the preview its rows are shown once,
    not again as 'Random rows'."""
    empty = pl.DataFrame({"a": [], "b": []}, schema={"a": pl.String, "b": pl.Float64})
    html = write_profile(profile(empty), tmp_path / "zero").read_text(encoding="utf-8")
    assert "no figure: the data has no rows" in html
    assert "every value is missing" not in html
    three = pl.DataFrame({"a": ["x", "y", "z"], "b": [1.0, 2.0, None], "c": [None, None, None]})
    html = write_profile(profile(three), tmp_path / "three").read_text(encoding="utf-8")
    sample = html.split('<section id="sample">')[1]
    assert "Random rows" not in sample
    assert "<h3>All rows</h3>" in sample
    assert sample.count("<td>x</td>") == 1
    assert "no figure: every value is missing" in html  # column c: three rows, all missing
    wide = pl.DataFrame({"a": [str(i) for i in range(40)]})
    sample = write_profile(profile(wide), tmp_path / "forty").read_text(encoding="utf-8").split('id="sample"')[1]
    assert "<h3>First rows</h3>" in sample
    assert "<h3>Random rows</h3>" in sample


def test_target_association_says_it_comes_from_the_sample_and_ends_its_axis_at_one(tmp_path: Path):
    from assay.viz._figures import target_association_figure

    rng = np.random.default_rng(0)
    n = 3_000
    x = rng.normal(size=n)
    df = pl.DataFrame({"x": x, "noise": rng.normal(size=n), "y": np.where(x + rng.normal(size=n) > 0, "a", "b")})
    p = profile(df, target="y", sample_rows=1_000)
    ticks = target_association_figure(p).axes[0].get_xticks()
    assert ticks.max() == pytest.approx(1.0)
    html = write_profile(p, tmp_path).read_text(encoding="utf-8")
    target = html.split('<section id="target">')[1].split("</section>")[0]
    assert "Association with the target computed on a random sample of 1,000 of 3,000 rows" in target


def test_date_histogram_says_how_long_a_bar_is():
    """30 bars over 478 months: a bar's height counted rows per ~16 months, and the axis only said 'rows'."""
    from assay.viz._figures import column_figure

    days = pl.date_range(pl.date(2000, 1, 1), pl.date(2000, 1, 31), "1d", eager=True)
    p = profile(pl.DataFrame({"d": days}))
    ax = column_figure(p["variables"]["d"], p["rows"]).axes[0]
    assert ax.get_ylabel() == "rows per 1 day"
    minutes = pl.datetime_range(pl.datetime(2020, 1, 1), pl.datetime(2020, 1, 1, 5), "1m", eager=True)
    p = profile(pl.DataFrame({"t": minutes}))
    ax = column_figure(p["variables"]["t"], p["rows"]).axes[0]
    assert ax.get_ylabel() == "rows per 10 minutes"


def test_histogram_ticks_of_values_far_from_zero_read_apart():
    """Seconds since 1970 over 100 seconds were ticked '1.6B' eight times (three significant digits), and the key
    read 'median 1.6B'; the ticks now give each value's difference from a round base named in the axis label."""
    from assay.viz._figures import column_figure

    rng = np.random.default_rng(0)
    df = pl.DataFrame({"epoch": 1_600_000_000 + rng.uniform(0, 100, 3_000), "small": rng.normal(0, 1, 3_000)})
    p = profile(df)
    ax = column_figure(p["variables"]["epoch"], p["rows"]).axes[0]
    ax.figure.canvas.draw()
    lo, hi = ax.get_xlim()
    labels = [t.get_text() for t, x in zip(ax.get_xticklabels(), ax.get_xticks(), strict=True) if lo <= x <= hi]
    assert len(labels) >= 4
    assert len(set(labels)) == len(labels)
    assert ax.get_xlabel().startswith("epoch (value − 1,600,000,000)")
    keys = [t.get_text() for t in ax.texts]
    assert any(k.startswith("median +") for k in keys)
    ax = column_figure(p["variables"]["small"], p["rows"]).axes[0]
    assert ax.get_xlabel().startswith("small (value)")


def test_column_table_tells_close_quantiles_apart(tmp_path: Path):
    """Latitudes within one city: min, quantiles and max all read '37.77' to four significant digits."""
    rng = np.random.default_rng(0)
    lat = 37.7749 + rng.uniform(-0.0004, 0.0004, 2_000)
    p = profile(pl.DataFrame({"lat": lat}))
    html = write_profile(p, tmp_path).read_text(encoding="utf-8")
    table = html.split('id="col-0"')[1].split("</table>")[0]
    cells = re.findall(r'<td class="n">([^<]*)</td>', table)
    v = p["variables"]["lat"]
    low = [float(x) for x in next(c for c in cells if c.count("·") == 2).split("·")]
    assert low == pytest.approx([v["quantiles"][k] for k in ("p1", "p5", "p25")], abs=1e-5)
    assert len(set(low)) == 3
    extremes = [float(x) for x in next(c for c in cells if c.count(" / ") == 1 and "." in c).split(" / ")]
    assert extremes == pytest.approx([v["min"], v["max"]], abs=1e-5)
    assert extremes[0] != extremes[1]


def test_overview_titles_stay_inside_the_figure_with_many_missing_columns():
    """'Missing values by column (top 12 of 80)' ran past the right edge of the overview figure ('of 8')."""
    from assay.viz import _figures, _style

    rng = np.random.default_rng(0)
    n = 500
    df = pl.DataFrame({f"很长的列名称_with_mixed_text_{i:03d}": np.where(rng.random(n) < 0.3, None, rng.normal(size=n))
                       for i in range(80)})
    fig = _figures.overview_figure(profile(df))
    _style._settle_layout(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        box = ax.title.get_window_extent(renderer)
        assert box.x0 >= 0, ax.get_title()
        assert box.x1 <= fig.bbox.width, ax.get_title()
    assert fig.axes[2].get_xlabel() == "missing (% of rows)\nthe 12 of 80 columns with most"


def test_histogram_says_how_many_rows_it_leaves_out_as_missing():
    """A column missing in 1,953 of 2,000 rows drew 47 values as bars of 'rows' and said nothing of the rest."""
    from assay.viz._figures import column_figure

    rng = np.random.default_rng(0)
    x = np.where(rng.random(2_000) < 0.977, np.nan, rng.normal(size=2_000))
    p = profile(pl.DataFrame({"x": x, "full": rng.normal(size=2_000)}).fill_nan(None))
    v = p["variables"]["x"]
    ax = column_figure(v, p["rows"]).axes[0]
    assert ax.get_xlabel().endswith(f"not drawn: {v['missing']:,} missing ({v['missing_pct']:.1f}%)")
    assert "missing" not in column_figure(p["variables"]["full"], p["rows"]).axes[0].get_xlabel()


def test_date_histogram_says_how_many_rows_it_leaves_out_as_missing():
    from assay.viz._figures import column_figure

    days = pl.date_range(pl.date(2000, 1, 1), pl.date(2000, 3, 31), "1d", eager=True)
    p = profile(pl.DataFrame({"d": days}).with_columns(pl.when(pl.int_range(pl.len()) % 3 == 0).then(None)
                                                       .otherwise(pl.col("d")).alias("d")))
    v = p["variables"]["d"]
    assert v["missing"] == 31
    ax = column_figure(v, p["rows"]).axes[0]
    assert ax.get_xlabel() == "d (date)\nnot drawn: 31 missing (34.1%)"


@pytest.mark.parametrize("name", ["a_really_really_long_column_name_that_goes_on_and_on_" * 4, "x" * 300,
                                  "很长的中文列名称" * 12])
def test_long_column_name_titles_stay_inside_their_figure(name: str):
    """A 60-character title ran past the right edge of a column chart, its end (and the ellipsis saying it was cut)
    lost; over a bar chart with wide value labels even a shorter one did."""
    from assay.viz import _figures, _style

    df = pl.DataFrame({name: ["v" * 200] * 30 + ["w"] * 20, "n": np.arange(50) * 1.5}).rename({"n": name[:-1] + "n"})
    p = profile(df)
    for v in p["variables"].values():
        fig = _figures.column_figure(v, p["rows"])
        _style._settle_layout(fig)
        fig.canvas.draw()
        box = fig.axes[0].title.get_window_extent(fig.canvas.get_renderer())
        assert box.x0 >= 0
        assert box.x1 <= fig.bbox.width
        assert fig.axes[0].get_title().endswith("…")


def test_long_names_and_messages_wrap_inside_the_page():
    """A 300-character column name in a warning ran the page sideways: headings, notes and warnings wrap anywhere."""
    from assay.viz._report import _load_template

    css = _load_template("style.css")
    for rule in ("ul.warn li {", "h2 {", ".note {", "header h1 {", "header .sub {"):
        body = css.split(rule, 1)[1].split("}", 1)[0]
        assert "overflow-wrap:anywhere" in body, rule


@pytest.mark.parametrize("kind", ["date", "datetime"])
def test_a_monthly_series_gets_bars_of_whole_months(kind):
    """478 month ends in 30 even bars held 15 or 16 months in turn: a steady series drawn with dips."""
    from assay.viz._figures import column_figure

    ends = pl.date_range(pl.date(1967, 7, 1), pl.date(2007, 4, 1), "1mo", eager=True).dt.offset_by("-1d")
    column = ends if kind == "date" else ends.cast(pl.Datetime("us"))
    p = profile(pl.DataFrame({"month": column}))
    h = p["variables"]["month"]["histogram"]
    assert h["bar"] == "16 months"
    assert h["counts"][:-1] == [16] * 29
    assert h["counts"][-1] == 14  # the last bar holds the data's last 14 months ...
    assert h["last_bar"] == "14 months"
    assert h["edges"][-1].startswith("2007-04-01")  # ... and ends with them, not 2 months past the data's end
    assert h["edges"][0].startswith("1967-06-01")
    ax = column_figure(p["variables"]["month"], p["rows"]).axes[0]
    assert ax.get_ylabel() == "rows per 16 months"
    assert "last bar: 14 months only, to the data's end 2007-03-31" in ax.get_xlabel()
    # First days of the month fall inside their bar, not on an edge (bars close on the right).
    firsts = pl.date_range(pl.date(1980, 1, 1), pl.date(2019, 12, 1), "1mo", eager=True)
    h = profile(pl.DataFrame({"m": firsts}))["variables"]["m"]["histogram"]
    assert h["counts"] == [16] * 30
    assert "last_bar" not in h  # a full last bar is not called short


def test_a_date_histogram_does_not_draw_a_bar_past_the_last_date():
    """Daily data to 2024-03-05 in bars of 10 months drew its last bar to 2025-01-01, ten months without data."""
    from assay.viz._figures import column_figure

    days = pl.date_range(pl.date(2000, 1, 1), pl.date(2024, 3, 5), "1d", eager=True)
    p = profile(pl.DataFrame({"day": days, "at": days.cast(pl.Datetime("ms")).dt.offset_by("23h")}))
    for name in ("day", "at"):
        v = p["variables"][name]
        h = v["histogram"]
        assert h["bar"] == "10 months"
        assert h["edges"][-2][:10] == "2024-03-01"
        assert h["edges"][-1][:10] == "2024-04-01"
        assert h["last_bar"] == "1 month"
        assert sum(h["counts"]) == len(days)  # the last day's values, up to its last hour, are in the last bar
        assert h["counts"][-1] == 5
        ax = column_figure(v, p["rows"]).axes[0]
        assert ax.get_xlim()[1] == pytest.approx(19814)  # 2024-04-01 in matplotlib's days since 1970
        assert "1 month only, to the data's end 2024-03-05" in ax.get_xlabel()


def test_a_count_among_the_metrics_is_a_whole_number(tmp_path: Path):
    """A clustering's leaderboard and test cards read 'n_clusters 2.0000 ± 0.0000'."""
    report = {"task": "clustering", "primary_metric": "silhouette",
              "leaderboard": [{"model": "kmeans", "cv_mean": 0.42, "cv_std": 0.06, "silhouette_mean": 0.42,
                               "silhouette_std": 0.06, "n_clusters_mean": 2.0, "n_clusters_std": 0.0}],
              "test_metrics": {"silhouette": 0.2191, "n_clusters": 2.0}}
    html = write_train_report(tmp_path / "r.html", report).read_text(encoding="utf-8")
    assert '<div class="v">2</div><div class="k">n_clusters</div>' in html
    assert '<div class="v">0.2191</div>' in html  # scores keep their four decimals
    assert "2 ± 0" in html
    assert "2.0000" not in html
