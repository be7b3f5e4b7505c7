"""The look shared by every assay figure: fonts (CJK-capable when installed), colours, saving to PNG/SVG.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas directly, never through pyplot, so no
global figure registry fills up and no GUI backend is touched. Nothing here runs at import time of ``assay``.
"""

from __future__ import annotations

import base64
import io
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "PALETTE",
    "cache_font_lookups",
    "figure",
    "import_for_drawing",
    "kept_figure",
    "make_figures_ahead",
    "quiet_glyphs",
    "render_figure",
    "replace_file",
    "save_figure",
    "setup_matplotlib",
    "share_marker_styles",
    "short_label",
    "short_labels",
    "svg_data_uri",
    "warm_up",
    "write_figure",
]

# Colour-blind-safe (Okabe–Ito) with a calm blue first.
PALETTE = ["#3572b0", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9", "#c9b400", "#000000", "#999999",
           "#8c564b"]
ACCENT = "#3572b0"
MUTED = "#9aa5b1"
WARN = "#d55e00"

# Families tried in order; the first one matplotlib can find renders every label, Chinese included.
CJK_FAMILIES = ["Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK TC", "Source Han Sans SC",
                "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC", "SimHei"]
# Where Debian/Ubuntu put those fonts; used when matplotlib's font cache predates their installation.
_FONT_GLOBS = ["/usr/share/fonts/opentype/noto/NotoSansCJK-*.ttc", "/usr/share/fonts/truetype/wqy/*.tt[cf]",
               "/usr/share/fonts/opentype/noto/NotoSansCJK*.otf"]


@cache
def setup_matplotlib() -> str:
    """Select the Agg backend and a CJK-capable fallback font; return that font's family (DejaVu Sans if none)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    family = next((f for f in CJK_FAMILIES if f in names), None)
    if family is None:
        import glob

        for pattern in _FONT_GLOBS:
            for path in sorted(glob.glob(pattern)):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):  # an unreadable font file is simply skipped
                    continue
        names = {f.name for f in font_manager.fontManager.ttflist}
        family = next((f for f in CJK_FAMILIES if f in names), None)
    # DejaVu Sans first, the CJK font as fallback for the glyphs DejaVu lacks: Latin text (almost every label) is
    # then laid out and rasterised from a small TrueType font instead of a 20 MB CFF collection (5-10% of the
    # drawing time), while Chinese labels still render through matplotlib's per-glyph font fallback.
    families = ["DejaVu Sans"] + ([family] if family else [])
    matplotlib.rcParams.update({
        "font.family": [*families, "sans-serif"],  # concrete names: matplotlib falls back glyph by glyph along them
        "font.sans-serif": families,
        "axes.unicode_minus": False,  # CJK fonts often lack U+2212; a hyphen always renders
        # Tick labels give their values whole: scores between 0.99999 and 1 read "10.0" under a corner note
        # "1e-6+9.9999e-1" with an offset, which no reader decodes.
        "axes.formatter.useoffset": False,
        # Glyph outlines as drawn, without the font's hinting program: FreeType runs that program for every glyph
        # each time a text is measured, laid out or drawn, which made laying out and measuring text (a third of
        # drawing a profile's figures) twice as slow. The letters are a shade softer, as most screens draw them.
        "text.hinting": "no_hinting",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titlesize": 11,
        "axes.titleweight": "bold",
        # A fixed title height: the automatic one measures every tick label of the axes again on each draw to
        # dodge top-side ticks, which these figures never have.
        "axes.titley": 1.0,
        "axes.titlepad": 6.0,
        "axes.labelsize": 9,
        "xtick.labelsize": 8,
        "ytick.labelsize": 8,
        "legend.fontsize": 8,
        "legend.frameon": False,
        "axes.grid": False,
        "grid.color": "#e5e8ec",
        "grid.linewidth": 0.8,
        "axes.edgecolor": "#6b7785",
        "axes.labelcolor": "#26323f",
        "xtick.color": "#46525f",
        "ytick.color": "#46525f",
        "text.color": "#1b2631",
        # Text stays text in SVG: a third of the size, faster to write, selectable; browsers draw it with the
        # listed families or their own CJK font. PNGs carry the exact rendering.
        "svg.fonttype": "none",
        "svg.hashsalt": "assay",  # stable ids: the same figure gives the same bytes
        "figure.dpi": 110,
        "savefig.dpi": 110,
        "path.simplify": True,
        "agg.path.chunksize": 10_000,
    })
    return family or families[0]


def import_for_drawing() -> None:
    """Import matplotlib without the parts a process that only draws assay figures never uses; only for such a
    process (the figure process), before anything imports matplotlib there.

    Importing matplotlib builds, for each of its ~100 artist classes, the signature and docstring of its ``set()``
    method (the list of every property, for ``help()``): a third of the import's CPU time, spent on help texts
    nobody reads in a drawing process. The classes keep the marker matplotlib checks (``set()`` works as usual,
    keyword checking included, since it forwards to ``Artist.set``); only ``help(Artist.set)`` shows less. The 3D
    toolkit, which ``matplotlib.projections`` imports to register the "3d" projection, is not imported either
    (no assay figure is 3D). Does nothing when matplotlib is already imported, or is not the version this was
    written for (matplotlib 3.11's ``_update_set_signature_and_docstring``).
    """
    import sys

    if "matplotlib.artist" in sys.modules:
        return
    import matplotlib.artist

    artist = matplotlib.artist.Artist
    if hasattr(artist, "_update_set_signature_and_docstring"):

        def mark_set(cls: type) -> None:
            cls.set._autogenerated_signature = True  # what matplotlib looks for to give a subclass its own set()

        artist._update_set_signature_and_docstring = classmethod(mark_set)
    blocked = "mpl_toolkits.mplot3d" not in sys.modules
    if blocked:
        sys.modules["mpl_toolkits.mplot3d"] = None  # type: ignore[assignment]  # an ImportError, caught by matplotlib
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Unable to import Axes3D")
            import matplotlib.figure
            from matplotlib.backends import backend_agg  # noqa: F401
    finally:
        if blocked:
            del sys.modules["mpl_toolkits.mplot3d"]  # importable again, should anything ask for it


@cache
def warm_up() -> None:
    """Load fonts, text layout and both backends once by drawing a tiny figure (a fresh process's first figure
    costs several times a later one; forked figure workers then start warm)."""
    fig, ax = figure(1.0, 1.0, fit=True)
    ax.set_title("Aa 汉字 0.5")
    ax.plot([0, 1], [0, 1])
    render_figure(fig)  # both files, as every figure is drawn


def cache_font_lookups() -> None:
    """Remember which font files each text style resolves to, and each text's size; only for a process that just
    draws figures.

    matplotlib looks the fonts of a text up again on every measurement and draw: one search per family of
    ``font.family`` (three here), each on a copy of the text's font properties, about 7% of drawing a profile's
    figures. The answer depends only on the properties and the font settings, and both are the key here. A text's
    size is measured once per renderer (the PNG's, then the SVG's): the same tick labels and titles recur in
    many figures, and the size depends only on the kind of renderer, its resolution, the text, its properties and
    the font settings, the key of a second cache. A text's layout (its box and the place of each line, before it
    is moved to its position) is worked out several times per draw: to place the axis labels, to find the tight
    box, to draw; it depends only on the renderer, the text and the properties of the text read by
    ``Text._get_layout`` (matplotlib 3.11), the key of a third cache (texts that wrap, use TeX or turn with their
    transform are laid out as usual). Not done in a caller's own process (its matplotlib stays untouched); the
    figure process calls it before drawing.
    """
    import matplotlib
    import matplotlib.text as mtext
    from matplotlib import font_manager

    manager = font_manager.fontManager
    find = getattr(manager, "_find_fonts_by_props", None)
    measure = getattr(mtext, "_get_text_metrics_with_cache", None)
    if find is None or measure is None or getattr(find, "_assay_cached", False):
        return
    rc = matplotlib.rcParams
    keys = [f"font.{k}" for k in ("family", "style", "variant", "weight", "stretch", "size", "serif", "sans-serif",
                                  "cursive", "fantasy", "monospace")] + ["text.hinting", "text.hinting_factor"]
    found: dict[tuple[Any, ...], Any] = {}
    sizes: dict[tuple[Any, ...], Any] = {}

    # The settings as stored: RcParams is a dict whose own item lookup only adds the handling of deprecated names.
    get = dict.__getitem__ if isinstance(rc, dict) else type(rc).__getitem__

    def settings() -> tuple[Any, ...]:
        return tuple([tuple(v) if v.__class__ is list else v for v in [get(rc, k) for k in keys]])

    def cached(prop: Any, *args: Any, **kwargs: Any) -> Any:
        key = (prop, args, tuple(sorted(kwargs.items())), settings())
        try:
            return found[key]
        except (KeyError, TypeError):  # TypeError: an unhashable argument, looked up as usual
            pass
        paths = find(prop, *args, **kwargs)
        with suppress(TypeError):
            # A copy as the key: the caller may change its font properties later.
            found[(prop.copy() if hasattr(prop, "copy") else prop, *key[1:])] = paths
        return paths

    def text_size(renderer: Any, text: str, prop: Any, ismath: Any, dpi: float) -> Any:
        if ismath == "TeX":
            return measure(renderer, text, prop, ismath, dpi)
        # The vector backends draw through a wrapper: the renderer inside tells them apart.
        kind = (type(renderer), type(getattr(renderer, "_renderer", None)), renderer.dpi)
        key = (kind, text, prop, ismath, dpi, settings())
        try:
            return sizes[key]
        except KeyError:
            pass
        size = measure(renderer, text, prop, ismath, dpi)
        sizes[(kind, text, prop.copy(), ismath, dpi, key[-1])] = size
        return size

    layout = getattr(mtext.Text, "_get_layout", None)
    layouts: dict[tuple[Any, ...], Any] = {}

    def text_layout(self: Any, renderer: Any) -> Any:
        if self._wrap or self._usetex or self._transform_rotates_text:
            return layout(self, renderer)
        kind = (type(renderer), type(getattr(renderer, "_renderer", None)), renderer.dpi)
        key = (kind, self.get_figure(root=True).dpi, self._text, self._fontproperties, self._linespacing,
               self._rotation, self._rotation_mode, self._horizontalalignment, self._verticalalignment,
               self._multialignment, self._parse_math, settings())
        try:
            bbox, lines, corner = layouts[key]
        except KeyError:
            bbox, lines, corner = layout(self, renderer)
            layouts[(*key[:3], self._fontproperties.copy(), *key[4:])] = (bbox.frozen(), list(lines), corner)
        return bbox.frozen(), list(lines), corner  # copies: a caller may change what it is given

    cached._assay_cached = True  # type: ignore[attr-defined]
    manager._find_fonts_by_props = cached
    mtext._get_text_metrics_with_cache = text_size
    if layout is not None and all(hasattr(mtext.Text(), name) for name in (
            "_wrap", "_usetex", "_transform_rotates_text", "_text", "_fontproperties", "_linespacing", "_rotation",
            "_rotation_mode", "_horizontalalignment", "_verticalalignment", "_multialignment", "_parse_math")):
        mtext.Text._get_layout = text_layout


def cache_glyphs() -> None:
    """Lay out each text and rasterise each glyph once in the PNGs; only for a process that just draws figures.

    matplotlib's Agg renderer shapes every text it draws and renders every glyph anew through FreeType, a quarter
    of drawing a profile's PNGs. Half the glyphs recur (digits, tick labels, axis names), and a glyph's bitmap
    depends only on the font, its size, the resolution, the rotation and where it falls within a pixel: moved by
    whole pixels it is the same bitmap, moved. So the layout of each text and the bitmap of each glyph at each
    sub-pixel offset are kept; the pixels written are those matplotlib writes (a test compares them). The drawing
    code follows ``RendererAgg.draw_text`` and ``_draw_text_glyphs_and_boxes`` of matplotlib 3.11; where those are
    missing (another matplotlib), nothing is changed.

    A text's size is measured from the same layout (with unhinted glyphs, as :func:`setup_matplotlib` sets them):
    matplotlib's measurement shapes the text once more (``FT2Font.set_text``), a tenth of drawing a profile's
    figures. Its numbers are those of ``set_text`` (a test compares them): the width is where the pen ends (the last
    glyph's place plus its advance, rounded as the layout rounds advances), the height and descent those of the
    glyphs' outlines, each glyph's outline box and advance looked up once per font, size and resolution.
    """
    import math

    import numpy as np
    from matplotlib.backends import backend_agg

    renderer_class = backend_agg.RendererAgg
    draw_text = renderer_class.draw_text
    if getattr(draw_text, "_assay_cached", False) or not all(
            hasattr(x, name) for x, name in ((backend_agg, "get_hinting_flag"), (backend_agg, "RenderMode"),
                                             (renderer_class, "_prepare_font"),
                                             (renderer_class, "_draw_text_glyphs_and_boxes"))):
        return
    hinting, modes = backend_agg.get_hinting_flag, backend_agg.RenderMode
    layouts: dict[tuple[Any, ...], Any] = {}
    bitmaps: dict[tuple[Any, ...], tuple[Any, int, int]] = {}

    def cached_draw_text(self: Any, gc: Any, x: float, y: float, s: str, prop: Any, angle: float,
                         ismath: Any = False, mtext: Any = None) -> Any:
        if ismath:
            return draw_text(self, gc, x, y, s, prop, angle, ismath, mtext)
        font = self._prepare_font(prop)
        flags = hinting()
        features = mtext.get_fontfeatures() if mtext is not None else None
        language = mtext.get_language() if mtext is not None else None
        size = prop.get_size_in_points()
        key = (font, size, self.dpi, s, flags, tuple(features) if features else features, language)
        items = layouts.get(key)
        if items is None:
            items = layouts[key] = font._layout(s, flags=flags, features=features, language=language)
        cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        matrix = (0x10000 * np.array([[cos, -sin], [sin, cos]])).round().astype(int)  # no slant, no stretch
        antialiased = gc.get_antialiased()
        mode = modes.NORMAL if antialiased else modes.MONO
        height = int(self.height)
        for item in items:
            # The glyph's origin in 1/64 pixel, FreeType's y upwards: its whole pixels and the rest.
            px = round(0x40 * (x + item.x * cos - item.y * sin))
            py = round(0x40 * (self.height - y + item.x * sin + item.y * cos))
            glyph = (item.ft_object, size, self.dpi, item.glyph_index, angle, px & 63, py & 63, flags, antialiased)
            drawn = bitmaps.get(glyph)
            if drawn is None:
                ft = item.ft_object
                ft.set_size(size, self.dpi)
                ft._set_transform(matrix, [px, py])
                bitmap = ft._render_glyph(item.glyph_index, flags, mode)
                buffer = np.array(bitmap.buffer)  # a copy: FreeType reuses its own
                if not antialiased:
                    buffer *= 0xFF
                drawn = bitmaps[glyph] = (buffer, bitmap.left - (px >> 6), bitmap.top - (py >> 6))
            buffer, left, top = drawn
            self._renderer.draw_text_image(buffer, left + (px >> 6), height - (top + (py >> 6)) + buffer.shape[0], 0,
                                           gc)
        return None

    cached_draw_text._assay_cached = True  # type: ignore[attr-defined]
    renderer_class.draw_text = cached_draw_text

    from matplotlib.ft2font import LoadFlags

    measure = renderer_class.get_text_width_height_descent
    glyph_sizes: dict[tuple[Any, ...], tuple[int, int, int]] = {}

    def layout_size(self: Any, s: str, prop: Any, ismath: Any) -> tuple[float, float, float]:
        flags = hinting()
        if ismath or flags != LoadFlags.NO_HINTING:
            return measure(self, s, prop, ismath)
        font = self._prepare_font(prop)
        size = prop.get_size_in_points()
        key = (font, size, self.dpi, s, flags, None, None)  # the layout cached_draw_text draws, without features
        items = layouts.get(key)
        if items is None:
            items = layouts[key] = font._layout(s, flags=flags)
        if not items:
            return 0.0, 0.0, 0.0
        low, high, end = 1 << 30, -(1 << 30), 0  # in 1/64 pixel, as FreeType counts
        for item in items:
            glyph = (item.ft_object, size, self.dpi, item.glyph_index)
            known = glyph_sizes.get(glyph)
            if known is None:
                loaded = item.ft_object.load_glyph(item.glyph_index, flags)
                known = glyph_sizes[glyph] = (loaded.bbox[1], loaded.bbox[3], (loaded.linearHoriAdvance + 512) >> 10)
            y = round(item.y * 64)
            low, high = min(low, y + known[0]), max(high, y + known[1])
            end = round(item.x * 64) + known[2]
        return end / 64.0, (high - low) / 64.0, -low / 64.0

    renderer_class.get_text_width_height_descent = layout_size


def share_marker_styles() -> None:
    """Let a copied marker style share the parts of the style it copies; only for a process that just draws figures.

    Every tick of an axis after its first is made by copying the first one's lines, and each copy of a line
    deep-copies its marker style (the tick mark's path and transforms): half of making a tick, and a profile's
    figures make a few hundred ticks. Marker styles are not changed in place once made (matplotlib 3.11 makes a new
    one for every change), except the transform that ``rotated()`` and ``scaled()`` give a copy, which is copied
    still; so the copy shares the rest. Where ``MarkerStyle._set_marker`` is missing (another matplotlib), nothing
    is changed.
    """
    import copy

    from matplotlib.markers import MarkerStyle

    set_marker = getattr(MarkerStyle, "_set_marker", None)
    if set_marker is None or getattr(set_marker, "_assay_shared", False):
        return

    def shared_set_marker(self: Any, marker: Any) -> None:
        if not isinstance(marker, MarkerStyle):
            set_marker(self, marker)
            return
        state = dict(vars(marker))
        if state.get("_user_transform") is not None:
            state["_user_transform"] = copy.deepcopy(state["_user_transform"])
        self.__dict__ = state

    shared_set_marker._assay_shared = True  # type: ignore[attr-defined]
    MarkerStyle._set_marker = shared_set_marker


@contextmanager
def quiet_glyphs() -> Iterator[None]:
    """Silence matplotlib's 'Glyph ... missing from font' warnings (a missing glyph draws as a box, no more)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*[Gg]lyph .* missing from")
        warnings.filterwarnings("ignore", message=r".*Matplotlib currently does not support .* natively")
        warnings.filterwarnings("ignore", message=r".*findfont: .*")
        yield


def figure(width: float, height: float, *, margins: tuple[float, float, float, float] | None = None,
           fit: bool = False, square: bool = False, **subplots: Any) -> tuple[Any, Any]:
    """A new (figure, axes) pair on the Agg canvas; ``subplots`` go to ``Figure.subplots``.

    Without ``margins`` the constrained layout places everything (safe for labels of any length). With
    ``margins`` = (left, right, bottom, top) in inches the axes are placed directly: for the many small
    single-axes figures whose labels are numbers, this skips the layout solver, a quarter of their drawing time.
    With ``fit`` the margins are measured once, when the figure is rendered (:func:`fit_margins`): for figures on
    one grid of axes whose tick labels do not depend on the size of the axes (fixed ticks, or a locator with a
    fixed number of bins), where the constrained layout's second measurement finds what the first one did. With
    ``fit`` and ``square`` (one row of axes) the figure's width is then set so that the first axes are as wide as
    they are high: ``width`` is only a first guess.
    """
    setup_matplotlib()
    made = _AHEAD.get(_grid_key(subplots)) if margins or fit else None
    if made:
        fig, axes = made.pop()
        fig.set_size_inches(width, height)
    else:
        fig, axes = _new_figure(width, height, "constrained" if not (margins or fit) else None, subplots)
    if margins:
        left, right, bottom, top = margins
        fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height)
    elif fit:
        fig._assay_fit = "square" if square else True
    return fig, axes


def _new_figure(width: float, height: float, layout: str | None, subplots: dict[str, Any]) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(**subplots) if subplots else fig.add_subplot()


# Blank figures made by :func:`make_figures_ahead`, by the grid of their axes; :func:`figure` takes them.
_AHEAD: dict[tuple[Any, ...] | None, list[tuple[Any, Any]]] = {}


def _grid_key(subplots: dict[str, Any]) -> tuple[Any, ...] | None:
    """The arguments of ``Figure.subplots`` as a key; None (no key) for arguments that cannot be one."""
    try:
        key = tuple(sorted((name, tuple(v) if isinstance(v, list) else v) for name, v in subplots.items()))
        hash(key)
    except TypeError:
        return None
    return key


def make_figures_ahead(grids: Sequence[tuple[Any, ...]], stop: Any, made: dict[Any, int] | None = None) -> bool:
    """Make blank figures of the given grids (``Figure.subplots`` arguments, how many of each, and optionally how
    many x and y ticks to make on each of their axes) for later :func:`figure` calls with ``margins`` or ``fit`` and
    the same grid, until ``stop()`` says to; only for a process that just draws figures. True when every figure asked
    for is made.

    ``made``: how many of each grid were made by earlier calls (kept up to date here), so that a call after some of
    them were taken goes on with the rest instead of making the taken ones again; without it, each grid is made up
    to ``count`` blank figures.

    Making a figure and its axes is a few milliseconds of matplotlib setting up axes, spines and transforms, which
    do not depend on the figure's size: a figure process makes them while it waits for the data of the first
    figures, and :func:`figure` only sets a made figure's size. So are the ticks (a quarter millisecond each, a
    hundred or more a profile): an axis makes its ticks when it first needs them, the first one from its settings and
    each further one as a copy of the first, which later settings (``tick_params``, tick labels) change alike; a
    figure only draws as many ticks as it places, whatever number its axis holds.
    """
    setup_matplotlib()
    for subplots, count, *ticks in grids:
        key = _grid_key(subplots)
        if key is None:
            continue
        blank = _AHEAD.setdefault(key, [])
        while (made.get(key, 0) if made is not None else len(blank)) < count:
            if stop():
                return False
            fig, axes = _new_figure(6.4, 4.8, None, subplots)
            for ax, (nx, ny) in zip(fig.axes, ticks[0] if ticks else [], strict=False):
                ax.xaxis.get_major_ticks(nx)
                ax.yaxis.get_major_ticks(ny)
            blank.append((fig, axes))
            if made is not None:
                made[key] = made.get(key, 0) + 1
    return True


FIT_PAD = 3 / 72  # inches around the decorations of each axes, the constrained layout's default pad


def fit_margins(fig: Any, square: bool = False) -> None:
    """Place the axes of a figure built on one grid so that everything drawn around them (tick labels, axis
    labels, titles, texts, legends, colorbars) fits in the figure, :data:`FIT_PAD` from its edges and from each
    other: each axes' decorations are measured once, the margins and the gaps between the grid's cells set to
    what they need.

    The constrained layout measures every axes twice (the decorations may change size once the axes have moved)
    and solves for the positions, a sixth of drawing a profile's figures; for the profile's figures, whose tick
    labels do not depend on the size of the axes, the second measurement finds the same sizes. As in the
    constrained layout, the widths of titles and axis labels are left out (a long one does not squeeze the axes).

    ``square`` (one row of axes): the figure's width is set so that the first axes are as wide as they are high, the
    others as wide as their width ratios make them, the margins and gaps kept (text is sized in points, so the
    labels measure the same in a wider figure). Each axes is then measured from where it is drawn now (axes with a
    fixed aspect may be narrower than their cell until the width is set).
    """
    renderer = fig.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    pad = FIT_PAD * fig.dpi
    grid = None
    need: dict[str, dict[int, float]] = {"left": {}, "right": {}, "bottom": {}, "top": {}}
    for ax in fig.axes:
        spec = ax.get_subplotspec()
        if spec is None or not ax.get_visible() or not ax.get_in_layout():
            continue
        cell = spec.get_topmost_subplotspec()
        if grid is None:
            grid = cell.get_gridspec()
        elif cell.get_gridspec() is not grid:
            return  # axes on several grids: left where they are
        box = cell.get_position(fig).transformed(fig.transFigure)  # the grid cell, in pixels
        tight = ax.get_tightbbox(renderer, for_layout_only=True)
        if tight is None:
            continue
        if square:
            box = ax.get_position(original=False).transformed(fig.transFigure)
        for side, index, overhang in (("left", cell.colspan.start, box.x0 - tight.x0),
                                      ("right", cell.colspan.stop - 1, tight.x1 - box.x1),
                                      ("bottom", cell.rowspan.stop - 1, box.y0 - tight.y0),
                                      ("top", cell.rowspan.start, tight.y1 - box.y1)):
            need[side][index] = max(need[side].get(index, 0.0), overhang, 0.0)
    if grid is None:
        return
    nrows, ncols = grid.get_geometry()
    left = need["left"].get(0, 0.0) + pad
    right = need["right"].get(ncols - 1, 0.0) + pad
    bottom = need["bottom"].get(nrows - 1, 0.0) + pad
    top = need["top"].get(0, 0.0) + pad
    wgap = max((need["right"].get(j, 0.0) + need["left"].get(j + 1, 0.0) + 2 * pad for j in range(ncols - 1)),
               default=0.0)
    if square and nrows == 1:
        if bottom + top > height / 2:
            bottom, top = bottom * height / 2 / (bottom + top), top * height / 2 / (bottom + top)
        ratios = grid.get_width_ratios() or [1] * ncols
        width = left + right + wgap * (ncols - 1) + (height - bottom - top) * sum(ratios) / ratios[0]
        fig.set_size_inches(width / fig.dpi, height / fig.dpi)
    # Room for the axes: at least half the figure; very long labels give up space (and may be cut) first.
    for size, lo, hi in ((width, "left", "right"), (height, "bottom", "top")):
        total = {"left": left, "right": right, "bottom": bottom, "top": top}
        if total[lo] + total[hi] > size / 2:
            shrink = size / 2 / (total[lo] + total[hi])
            left, right = (left * shrink, right * shrink) if lo == "left" else (left, right)
            bottom, top = (bottom * shrink, top * shrink) if lo == "bottom" else (bottom, top)
    hgap = max((need["bottom"].get(i, 0.0) + need["top"].get(i + 1, 0.0) + 2 * pad for i in range(nrows - 1)),
               default=0.0)
    inner_w, inner_h = width - left - right, height - bottom - top
    # A gap as matplotlib's grids give it: wspace times the mean cell width.
    wspace = wgap * ncols / max(inner_w - wgap * (ncols - 1), 1.0) if ncols > 1 else None
    hspace = hgap * nrows / max(inner_h - hgap * (nrows - 1), 1.0) if nrows > 1 else None
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height,
                        wspace=wspace, hspace=hspace)


# Figures kept for reuse by :func:`kept_figure`, by shape; a figure is in here only while nobody draws on it.
_KEPT: dict[tuple[Any, ...], tuple[Any, Any, tuple[Any, Any]]] = {}


def kept_figure(width: float, height: float, margins: tuple[float, float, float, float]) -> tuple[Any, Any]:
    """Like ``figure(width, height, margins=margins)``, but a figure of that shape that :func:`render_figure` has
    released before is emptied and handed out again instead of building a new one.

    For the many single-axes figures of one shape (the column histograms): their axes, ticks and Agg canvas are
    built once per process instead of once per figure (a third of drawing such a figure). Only the axes' lines,
    patches and texts are removed; the caller sets everything else (limits, scale, locators, labels) each time.
    """
    key = (width, height, margins)
    kept = _KEPT.pop(key, None)
    if kept is None:
        fig, ax = figure(width, height, margins=margins)
        # Where the axis labels go by themselves (render_figure pins them after the first format).
        auto = (ax.xaxis.label.get_transform(), ax.yaxis.label.get_transform())
    else:
        fig, ax, auto = kept
        for artist in [*ax.lines, *ax.patches, *ax.texts]:
            artist.remove()
        ax.set_xscale("linear")
        for axis, transform in zip((ax.xaxis, ax.yaxis), auto, strict=True):
            axis.label.set_transform(transform)
            axis._autolabelpos = True  # undoes set_label_coords: placed beside the tick labels again
            vars(axis).pop("_get_ticklabel_bboxes", None)  # undoes _freeze_axis_labels's shortcut
    fig._assay_kept = (key, auto)
    return fig, ax


def save_figure(fig: Any, directory: Path, name: str, formats: tuple[str, ...] = ("png", "svg")) -> dict[str, Path]:
    """Write ``fig`` as ``directory/name.<fmt>`` for each format and release it; return the paths."""
    return write_figure(render_figure(fig, formats), directory, name)


def render_figure(fig: Any, formats: tuple[str, ...] = ("png", "svg")) -> dict[str, bytes]:
    """``fig`` as the bytes of each format's file; the figure is released."""
    data: dict[str, bytes] = {}
    for ax in _all_axes(fig.axes):
        for axis in (ax.xaxis, ax.yaxis):
            if not axis.label.get_text():
                # An axis without a label: pinned, so that no draw measures the tick labels to place nothing.
                axis.set_label_coords(0.5, 0.5)
    with quiet_glyphs():
        _settle_layout(fig)
        if formats == ("png", "svg") and _own_canvas(fig):
            data = _png_and_svg(fig)  # one drawing for both files; the SVG drawn again when it must be
        for i, fmt in enumerate(formats):
            if fmt not in data:
                if fmt == "png":
                    data[fmt] = _png(fig)
                else:
                    buf = io.BytesIO()
                    fig.savefig(buf, format=fmt, metadata=_metadata(fmt))
                    data[fmt] = buf.getvalue()
            if i == 0 and len(data) < len(formats):
                _freeze_axis_labels(fig)
        data = {fmt: data[fmt] for fmt in formats}
    kept = getattr(fig, "_assay_kept", None)
    if kept is not None:
        del fig._assay_kept
        _KEPT[kept[0]] = (fig, fig.axes[0], kept[1])
    else:
        # The pixel buffer (megabytes) is freed now; the rest goes with the figure. Not fig.clear(): that resets
        # every axes to a fresh state first, a few milliseconds a figure for nothing.
        vars(fig.canvas).pop("renderer", None)
    return data


def _own_canvas(fig: Any) -> bool:
    """Whether ``savefig(format="png")`` draws the figure's own canvas: no resolution, size or colours of its own."""
    import matplotlib

    rc = matplotlib.rcParams
    dpi = rc["savefig.dpi"]
    dpi = fig.dpi if dpi == "figure" else float(dpi)
    return not (dpi != fig.dpi or rc["savefig.transparent"] or rc["savefig.bbox"] or
                (rc["savefig.facecolor"], rc["savefig.edgecolor"]) != ("auto", "auto"))


def _png(fig: Any) -> bytes:
    """``fig`` as PNG: the picture ``savefig(format="png")`` writes, without the alpha channel when every pixel is
    opaque (the usual white background: a tenth smaller), encoded by :func:`_encode_png`."""
    if not _own_canvas(fig):
        # savefig would draw another canvas than the figure's own (resolution, size or colours of its own)
        out = io.BytesIO()
        fig.savefig(out, format="png", metadata=_metadata("png"), pil_kwargs={"compress_level": 1})
        return out.getvalue()
    canvas = fig.canvas
    canvas.draw()  # what savefig draws, without its bookkeeping (figure colours, sizes, layout) around it
    renderer = canvas.get_renderer()
    return _encode_png(renderer.buffer_rgba(), int(renderer.width), int(renderer.height), fig.dpi, _metadata("png"))


def _png_and_svg(fig: Any) -> dict[str, bytes]:
    """``fig`` as PNG and SVG from one drawing: each drawing call goes to the Agg renderer and to an SVG renderer.

    Drawing the figure is mostly matplotlib walking its artists (ticks, texts, transforms, layout of each text) in
    Python; drawing it once for both files saves that walk for the SVG, about two thirds of writing an SVG. The
    artists see the Agg renderer alone (its size, resolution and text measurements), so the PNG is the picture
    :func:`_png` draws, pixel for pixel. The SVG renderer draws in the same pixels, its coordinate system scaled to
    the figure's size in points (``viewBox``), its line widths, dashes and font sizes converted from points.

    An image is drawn twice: resampled to the PNG's pixels, and as ``savefig`` writes it into an SVG, its data
    unresampled with the transform that places it (:func:`_draw_image_twice`). A figure whose images ``savefig``
    would resample or merge in an SVG (more than one image in an axes, an interpolation, a non-affine transform) is
    not tried at all; only the SVG is returned empty-handed (left to ``savefig``) when the figure holds anything
    else this SVG would not draw as ``savefig`` does: rasterised artists, filters, math text or TeX, hatches,
    Gouraud shading.
    """
    axes = _all_axes(fig.axes)
    if any(artist.get_rasterized() for ax in axes for artist in (*ax.images, *ax.collections)):
        return {}  # (a colorbar's many colours): the SVG would come from savefig after all
    images = [image for ax in axes for image in ax.images]
    if images and not all(len(image.axes.images) == 1 and not fig.images and image._check_unsampled_image() and
                          image.get_transform().is_affine for image in images):
        return {}
    from matplotlib.backends.backend_svg import RendererSVG

    canvas = fig.canvas
    agg = canvas.get_renderer()
    agg.clear()
    width, height = fig.bbox.width, fig.bbox.height
    out = io.StringIO()
    svg = RendererSVG(width, height, out, image_dpi=72, metadata=_metadata("svg"))
    scale = fig.dpi / 72.0  # pixels per point
    svg.new_gc = _pixel_gc_factory(scale)
    both = _PngAndSvg(agg, svg, scale)
    for image in images:
        image.draw = _draw_image_twice(image, both, svg)  # this figure only: removed below
    try:
        fig.draw(both)
    finally:
        for image in images:
            vars(image).pop("draw", None)
    data = {"png": _encode_png(agg.buffer_rgba(), int(agg.width), int(agg.height), fig.dpi, _metadata("png"))}
    if both.unsupported is None:
        svg.finalize()
        text = out.getvalue()
        # The size in points, as savefig writes it; the viewBox (in pixels) scales the drawing to it.
        size = f'width="{_svg_number(width)}pt" height="{_svg_number(height)}pt"'
        if text.count(size, 0, 1000) == 1:  # the header as matplotlib writes it (else: left to savefig)
            points = f'width="{_svg_number(width / scale)}pt" height="{_svg_number(height / scale)}pt"'
            data["svg"] = text.replace(size, points, 1).encode("utf-8")
    return data


def _all_axes(axes: list[Any]) -> list[Any]:
    """``axes`` and every axes placed inside them (``inset_axes``), which ``Figure.axes`` does not list."""
    found = []
    for ax in axes:
        found += [ax, *_all_axes(ax.child_axes)]
    return found


def _draw_image_twice(image: Any, both: _PngAndSvg, svg: Any) -> Any:
    """A ``draw`` for one image of a figure drawn by :func:`_png_and_svg`: the image resampled for the PNG (as the
    Agg renderer draws it), then drawn by the SVG renderer itself, which writes its data unresampled as
    ``savefig`` does."""
    draw = type(image).draw

    def draw_both(renderer: Any) -> None:
        if renderer is not both:
            draw(image, renderer)
            return
        both.images_allowed = True
        try:
            draw(image, both)
        finally:
            both.images_allowed = False
        draw(image, svg)

    return draw_both


def _svg_number(x: float) -> str:
    from matplotlib.backends.backend_svg import _short_float_fmt

    return _short_float_fmt(x)


@cache
def _pixel_gc_class() -> type:
    from matplotlib.backend_bases import GraphicsContextBase

    class PixelGC(GraphicsContextBase):
        """A graphics context that gives its widths and dashes in pixels (``scale`` per point) to an SVG renderer
        drawing in pixels."""

        scale = 1.0

        def get_linewidth(self) -> float:
            return self._linewidth * self.scale

        def get_dashes(self) -> tuple[float, Any]:
            offset, dashes = self._dashes
            if dashes is None:
                return offset, dashes
            return (offset or 0) * self.scale, [d * self.scale for d in dashes]

        def get_hatch_linewidth(self) -> float:
            return self._hatch_linewidth * self.scale

    return PixelGC


def _pixel_gc_factory(scale: float) -> Any:
    cls = _pixel_gc_class()

    def new_gc() -> Any:
        gc = cls()
        gc.scale = scale
        return gc

    return new_gc


class _PngAndSvg:
    """A renderer for :func:`_png_and_svg`: every drawing call goes to the Agg renderer and to the SVG renderer;
    everything else (size, resolution, text measurements, options) is the Agg renderer's.

    ``unsupported`` names the first thing drawn that the SVG renderer would not draw as ``savefig`` does, if any.
    """

    def __init__(self, agg: Any, svg: Any, scale: float) -> None:
        self._agg = agg
        self._svg = svg
        self._scale = scale
        self._flip = agg.flipy() != svg.flipy()
        self.unsupported: str | None = None
        self.images_allowed = False  # an image drawn here goes to the PNG only; the SVG draws it itself

    def __getattr__(self, name: str) -> Any:
        return getattr(self._agg, name)

    def _gc(self, gc: Any) -> Any:
        svg_gc = self._svg.new_gc()
        svg_gc.copy_properties(gc)
        if gc.get_hatch() is not None:
            self.unsupported = self.unsupported or "hatch"
        return svg_gc

    def open_group(self, s: str, gid: Any = None) -> None:
        self._agg.open_group(s, gid)
        self._svg.open_group(s, gid)

    def close_group(self, s: str) -> None:
        self._agg.close_group(s)
        self._svg.close_group(s)

    def draw_path(self, gc: Any, path: Any, transform: Any, rgbFace: Any = None) -> None:
        self._agg.draw_path(gc, path, transform, rgbFace)
        self._svg.draw_path(self._gc(gc), path, transform, rgbFace)

    def draw_markers(self, gc: Any, marker_path: Any, marker_trans: Any, path: Any, trans: Any,
                     rgbFace: Any = None) -> None:
        self._agg.draw_markers(gc, marker_path, marker_trans, path, trans, rgbFace)
        self._svg.draw_markers(self._gc(gc), marker_path, marker_trans, path, trans, rgbFace)

    def draw_path_collection(self, gc: Any, *args: Any, **kwargs: Any) -> None:
        self._agg.draw_path_collection(gc, *args, **kwargs)
        self._svg.draw_path_collection(self._gc(gc), *args, **kwargs)

    def draw_quad_mesh(self, gc: Any, *args: Any, **kwargs: Any) -> None:
        self._agg.draw_quad_mesh(gc, *args, **kwargs)
        self._svg.draw_quad_mesh(self._gc(gc), *args, **kwargs)

    def draw_text(self, gc: Any, x: float, y: float, s: str, prop: Any, angle: float, ismath: Any = False,
                  mtext: Any = None) -> None:
        self._agg.draw_text(gc, x, y, s, prop, angle, ismath, mtext)
        if ismath:
            self.unsupported = self.unsupported or "math text"
            return
        svg_prop = prop.copy()
        svg_prop.set_size(prop.get_size_in_points() * self._scale)
        if self._flip:  # Text.draw gave y as Agg counts it (both count from the top in matplotlib 3.11)
            y = self._svg.height - y
        self._svg.draw_text(self._gc(gc), x, y, s, svg_prop, angle, ismath, mtext)

    def draw_tex(self, gc: Any, *args: Any, **kwargs: Any) -> None:
        self.unsupported = self.unsupported or "TeX"
        self._agg.draw_tex(gc, *args, **kwargs)

    def draw_image(self, gc: Any, *args: Any, **kwargs: Any) -> None:
        if not self.images_allowed:
            self.unsupported = self.unsupported or "image"
        self._agg.draw_image(gc, *args, **kwargs)

    def draw_gouraud_triangles(self, gc: Any, *args: Any, **kwargs: Any) -> None:
        self.unsupported = self.unsupported or "Gouraud shading"
        self._agg.draw_gouraud_triangles(gc, *args, **kwargs)

    def start_rasterizing(self) -> None:
        self.unsupported = self.unsupported or "rasterised artists"
        self._agg.start_rasterizing()

    def stop_rasterizing(self) -> None:
        self._agg.stop_rasterizing()

    def start_filter(self) -> None:
        self.unsupported = self.unsupported or "filters"
        self._agg.start_filter()

    def stop_filter(self, filter_func: Any) -> None:
        self._agg.stop_filter(filter_func)


def _encode_png(rgba: Any, width: int, height: int, dpi: float, text: dict[str, str]) -> bytes:
    """8-bit RGBA pixels (rows top to bottom) as a PNG file: RGB when every pixel is opaque, every row with the
    "up" filter, zlib level 1, ``dpi`` and ``text`` stored in the file.

    Written here with NumPy and zlib rather than with Pillow: Pillow tries all five PNG filters on every row and
    keeps the best, which is most of a chart's encoding time; the "up" filter alone gives files of the same size
    for these flat-coloured pictures, at a third of the time (measured on a profile's figures). Any PNG reader
    decodes the same pixels.
    """
    import struct
    import zlib

    import numpy as np

    pixels = np.frombuffer(rgba, dtype=np.uint8).reshape(height, width * 4)
    opaque = int(pixels[:, 3::4].min()) == 255
    rows = pixels
    if opaque:  # each pixel's three colour bytes, copied as one 3-byte item (many times faster than byte by byte)
        colours = np.frombuffer(rgba, dtype=np.dtype([("rgb", "V3"), ("alpha", "u1")]))["rgb"]
        rows = np.ascontiguousarray(colours).view(np.uint8).reshape(height, width * 3)
    filtered = np.empty((height, rows.shape[1] + 1), dtype=np.uint8)
    filtered[:, 0] = 2  # "up": each byte minus the one above it, modulo 256 (the first row: minus zero)
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    per_metre = int(dpi / 0.0254 + 0.5)  # as Pillow stores a resolution
    parts = [b"\x89PNG\r\n\x1a\n",
             chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2 if opaque else 6, 0, 0, 0)),
             chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1)),
             *(chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1")) for key, value in text.items()),
             chunk(b"IDAT", zlib.compress(filtered, 1)),
             chunk(b"IEND", b"")]
    return b"".join(parts)


def write_figure(data: dict[str, bytes], directory: Path, name: str) -> dict[str, Path]:
    """Write :func:`render_figure`'s bytes as ``directory/name.<fmt>``; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for fmt, content in data.items():
        path = directory / f"{name}.{fmt}"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(content)
        replace_file(tmp, path)
        paths[fmt] = path
    return paths


def replace_file(tmp: Path, path: Path) -> None:
    """Move a finished ``tmp`` to ``path``: readers see the old file, no file, or the whole new one.

    An existing ``path`` is removed first: renaming over an existing file makes ext4 write the new file's data out
    before the rename returns (its ``auto_da_alloc`` guard), 1-2 ms a file, which re-running a report into the same
    folder paid for every figure.
    """
    path.unlink(missing_ok=True)
    tmp.replace(path)


def _settle_layout(fig: Any) -> None:
    """Run the figure's layout engine once, then remove it: every format is drawn once, in the same layout.

    With an engine attached, each ``savefig`` first draws the whole figure without output so that the engine can
    measure it, and the engine runs again inside the real draw: three to four passes over every text per format
    instead of one. Positions are fractions of the figure, so a layout computed at the figure's resolution holds
    at every resolution.
    """
    fit = vars(fig).pop("_assay_fit", False)
    if fit and fig.get_layout_engine() is None:  # (a matplotlibrc may ask for one)
        fit_margins(fig, square=fit == "square")
    else:
        engine = fig.get_layout_engine()
        if engine is not None:
            engine.execute(fig)
            fig.set_layout_engine(None)
            if fig.get_layout_engine() is not None:  # a matplotlibrc asks for an automatic layout: keep ours frozen
                fig.set_layout_engine("none")
    _titles_inside(fig)


def _titles_inside(fig: Any) -> None:
    """Keep each axes' title inside the figure: moved sideways where it would run past an edge, cut with an ellipsis
    where it is wider than the figure. Layouts leave titles' widths out (a long one does not squeeze the axes), so a
    long column name over a chart with wide tick labels ran past the right edge, its end and its ellipsis lost.
    """
    renderer = None
    width = fig.bbox.width
    pad = FIT_PAD * fig.dpi
    for ax in fig.axes:
        title = ax.title
        text = title.get_text()
        if not text or not title.get_visible() or title.get_ha() != "center":
            continue
        title.set_x(0.5)  # where matplotlib puts it (a kept figure's axes may come back with a title moved here)
        renderer = renderer or fig.canvas.get_renderer()
        box = title.get_window_extent(renderer)
        if box.x0 >= pad - 0.5 and box.x1 <= width - pad + 0.5:
            continue
        room = width - 2 * pad
        for _ in range(6):  # cut in proportion to the overflow, then re-measure
            if box.width <= room or len(text) <= 2:
                break
            text = text[:max(1, int(len(text) * room / box.width) - 2)].rstrip() + "…"
            title.set_text(text)
            box = title.get_window_extent(renderer)
        axes_box = ax.get_window_extent(renderer)
        if axes_box.width <= 0:
            continue
        centre = min(max((box.x0 + box.x1) / 2, pad + box.width / 2), width - pad - box.width / 2)
        title.set_x((centre - axes_box.x0) / axes_box.width)


def _freeze_axis_labels(fig: Any) -> None:
    """Pin each axis label where the last draw put it, in inches, so later draws skip placing it again.

    Placing an axis label measures every tick label of the axis (a good part of drawing a small figure); the result
    is the same for every format because positions scale with the resolution. Labels on the top or right side are
    left automatic.
    """
    import matplotlib
    from matplotlib.ticker import FixedFormatter, FuncFormatter, NullFormatter
    from matplotlib.transforms import blended_transform_factory

    no_offset = (FixedFormatter, FuncFormatter, NullFormatter)
    dpi = matplotlib.rcParams["savefig.dpi"]
    dpi = fig.dpi if dpi == "figure" else float(dpi)
    for ax in fig.axes:
        if ax.xaxis.get_label_position() == "bottom" and ax.xaxis.label.get_text():
            x, y = ax.xaxis.label.get_position()  # x in axes fraction, y in pixels of the last draw
            ax.xaxis.set_label_coords(x, y / dpi, transform=blended_transform_factory(ax.transAxes,
                                                                                      fig.dpi_scale_trans))
        if ax.yaxis.get_label_position() == "left" and ax.yaxis.label.get_text():
            x, y = ax.yaxis.label.get_position()
            ax.yaxis.set_label_coords(x / dpi, y, transform=blended_transform_factory(fig.dpi_scale_trans,
                                                                                      ax.transAxes))
        for axis in (ax.xaxis, ax.yaxis):
            if not getattr(axis, "_autolabelpos", True) and isinstance(axis.major.formatter, no_offset) and \
                    not axis.major.formatter.get_offset():
                # Each draw measures every tick label once more, only to place the label (pinned now) and the
                # offset text ("1e6", which these formatters never write). Undone by kept_figure.
                axis._get_ticklabel_bboxes = _no_tick_label_boxes


def _no_tick_label_boxes(_ticks: Any, _renderer: Any) -> tuple[list[Any], list[Any]]:
    return [], []


def _metadata(fmt: str) -> dict[str, Any]:
    # No creation date: re-running on the same data rewrites identical files.
    if fmt == "svg":
        return {"Date": None, "Creator": "assay"}
    if fmt == "png":
        return {"Software": "assay"}
    return {}


def svg_data_uri(svg: Path | bytes) -> str:
    """An SVG file (or its bytes) as a ``data:`` URI for an ``<img>`` (each image keeps its own ids: no clashes in
    one page)."""
    content = svg if isinstance(svg, bytes) else svg.read_bytes()
    return "data:image/svg+xml;base64," + base64.b64encode(content).decode("ascii")


def png_data_uri(fig: Any) -> str:
    """A figure rendered straight to a base64 PNG ``data:`` URI."""
    buf = io.BytesIO()
    with quiet_glyphs():
        fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def short_labels(values: Sequence[Any], width: int = 24) -> list[str]:
    """:func:`short_label` of each value, unless that makes different values look the same (names that differ only
    past ``width``): then each is cut in the middle, keeping as much of its end as tells them apart.

    >>> short_labels([f"measurement_of_quantity_{i}_in_units" for i in (1, 2, 10)], 20)
    ['measurem…_1_in_units', 'measurem…_2_in_units', 'measurem…10_in_units']
    >>> short_labels(["short", "names"], 20)
    ['short', 'names']
    """
    labels = [short_label(v, width) for v in values]
    texts = [re.sub(r"\s+", " ", str(v)).strip() if v is not None else "(missing)" for v in values]
    if len(set(labels)) == len(set(texts)):
        return labels
    # Keep the whole part where the names differ and what they share after it ('12_in_units', not '2_in_units').
    prefix = _shared_start([str(t) for t in texts])
    suffix = _shared_start([t[::-1] for t in texts])
    differ = max(len(t) - min(prefix, len(t) - suffix) - suffix for t in texts)
    first = suffix + differ
    for tail in range(min(first, width - 3), width - 2):
        cut = [_middle_cut(t, width, tail) for t in texts]
        if len(set(cut)) == len(set(texts)):
            return cut
    return labels


def _shared_start(texts: list[str]) -> int:
    """How many leading characters all ``texts`` share."""
    n = min(map(len, texts), default=0)
    for i in range(n):
        if len({t[i] for t in texts}) > 1:
            return i
    return n


def _middle_cut(text: str, width: int, tail: int) -> str:
    """``text`` in ``width`` display columns: its start, '…', and its last ``tail`` columns (CJK count double)."""
    widths = [_char_width(ch) for ch in text]
    if sum(widths) <= width:
        return text
    end, used = len(text), 0
    while end > 0 and used + widths[end - 1] <= tail:
        end -= 1
        used += widths[end]
    head, room = 0, width - 1 - used
    while head < end and widths[head] <= room:
        room -= widths[head]
        head += 1
    return text[:head] + "…" + text[end:]


def short_label(value: Any, width: int = 24) -> str:
    """A label cut to ``width`` characters (CJK characters count double) with an ellipsis.

    >>> short_label("a fairly long category name indeed", 12)
    'a fairly lo…'
    >>> short_label("北京市朝阳区建国路", 10)
    '北京市朝…'
    >>> short_label(None)
    '(missing)'
    """
    if value is None:
        return "(missing)"
    text = re.sub(r"\s+", " ", str(value)).strip() or repr(str(value))
    widths = [_char_width(ch) for ch in text]
    if sum(widths) <= width:
        return text
    used = 0
    for i, w in enumerate(widths):
        if used + w > width - 1:
            return text[:i] + "…"
        used += w
    return text


def _char_width(ch: str) -> int:
    # East Asian wide characters take two columns on screen and in a label.
    return 2 if "\u2e80" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" or "\uff00" <= ch <= "\uffef" else 1


_CALENDAR = {name: i for names in (
    ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november",
     "december"),
    ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
    for i, full in enumerate(names, 1) for name in (full, full[:3])}


def natural_key(value: Any) -> tuple[Any, ...]:
    """A sort key that puts class labels in the order a reader expects: numbers (and text that is a number) by
    value, before other text, which is compared with its runs of digits as numbers ('grade 2' before 'grade 10');
    names of months and weekdays in calendar order; a missing value last. String order gave 1, 10, 11, 12, 2 … in
    a confusion matrix of months.

    >>> sorted(["10", "2", "1", "11"], key=natural_key)
    ['1', '2', '10', '11']
    >>> sorted(["grade 10", "Grade 9", "grade 2", None, "a"], key=natural_key)
    ['a', 'grade 2', 'Grade 9', 'grade 10', None]
    >>> sorted([2.5, "1", 10, -3, "x1"], key=natural_key)
    [-3, '1', 2.5, 10, 'x1']
    >>> sorted(["Mar", "Dec", "Jan", "Feb"], key=natural_key), sorted(["Sunday", "Monday"], key=natural_key)
    (['Jan', 'Feb', 'Mar', 'Dec'], ['Monday', 'Sunday'])
    """
    if value is None or (isinstance(value, float) and value != value):
        return (2, 0.0, (), "")
    text = str(value)
    if not isinstance(value, str):
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            number = None
        if number is not None and number == number:
            return (0, number, (), text)
    else:
        try:
            number = float(text.strip())
        except ValueError:
            number = None
        if number is not None and number == number and abs(number) != float("inf"):
            return (0, number, (), text)
    folded = text.strip().casefold()
    if folded in _CALENDAR:
        return (1, 0.0, ("", _CALENDAR[folded], ""), text)
    parts = re.split(r"(\d+)", folded)
    return (1, 0.0, tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), text)


def natural_order(values: Sequence[Any]) -> list[int]:
    """The positions of ``values`` in :func:`natural_key` order (equal keys keep their order).

    >>> natural_order(["1", "10", "11", "2"])
    [0, 3, 1, 2]
    """
    return sorted(range(len(values)), key=lambda i: natural_key(values[i]))


_YEAR_NAME = re.compile(r"(?i)(year|yr|jahr|ann[ée]e|año|anno|年)")


def is_year_column(v: dict[str, Any]) -> bool:
    """Whether a profiled numeric column holds calendar years (its name says year, its values are whole numbers
    from 1000 to 2999): they are written 1986, not 1,986.

    >>> is_year_column({"name": "Year", "kind": "numeric", "dtype": "Int64", "min": 1963, "max": 2008})
    True
    >>> is_year_column({"name": "年份", "kind": "numeric", "dtype": "Float64", "min": 1999.0, "max": 2008.0})
    True
    >>> is_year_column({"name": "price", "kind": "numeric", "dtype": "Int64", "min": 1963, "max": 2008})
    False
    >>> is_year_column({"name": "years_of_service", "kind": "numeric", "dtype": "Int64", "min": 0, "max": 40})
    False
    """
    lo, hi = v.get("min"), v.get("max")
    if v.get("kind") != "numeric" or not isinstance(lo, (int, float)) or not isinstance(hi, (int, float)):
        return False
    return 1000 <= lo <= hi <= 2999 and float(lo).is_integer() and float(hi).is_integer() \
        and bool(_YEAR_NAME.search(str(v.get("name") or "")))
