"""Writing reports: ``profile.json`` + ``profile.html`` + figures, and the training report ``report.html``.

Each HTML file is self-contained: CSS inline, every figure embedded as a base64 SVG ``data:`` URI, no scripts or
fonts fetched from anywhere, so it opens offline and can be mailed as one file. The same figures are written next
to it as PNG and SVG files for slides and documents.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import multiprocessing
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["prepare_figures", "write_profile", "write_train_report"]


def write_profile(profile: dict[str, Any], out_dir: str | Path, *,
                  progress: Callable[[str, float], None] | None = None, workers: int | None = None) -> Path:
    """Write ``profile.json``, ``profile.html`` and ``figures/*.png|svg`` into ``out_dir``; return the HTML path.

    Figures are drawn by ``workers`` processes (default: one per CPU, at most 4; ``ASSAY_FIGURE_WORKERS``
    overrides; 1 draws in this process).
    """
    from assay.viz._profile import jsonable

    notify = progress or (lambda _m, _f: None)
    out = Path(out_dir)
    figdir = out / "figures"
    out.mkdir(parents=True, exist_ok=True)
    p = jsonable(profile)

    def write_json() -> None:
        _atomic_write(out / "profile.json", json.dumps(p, indent=1, ensure_ascii=False, allow_nan=False))

    variables = p.get("variables", {})
    jobs = [*_overview_jobs(p)[:1], *_column_jobs(variables, p["rows"]), *_overview_jobs(p)[1:],
            *_correlation_jobs(p.get("correlations") or {}), _outliers_job(p)]
    if p.get("target"):
        jobs.append(("target_association", "target_association", "target_association_figure",
                     ({"target": p["target"], "target_association": p.get("target_association")},)))

    page: list[Any] = []

    def meanwhile() -> None:
        # profile.json and the page around the figures are written while the figures are drawn (they are asked for
        # first): only the figures are put in once they are there.
        write_json()
        col_warnings: dict[str, list[dict[str, Any]]] = {}
        for w in p.get("warnings", []):
            if w.get("column") is not None:
                col_warnings.setdefault(w["column"], []).append(w)
        from assay import __version__

        page.extend(_profile_html(p, col_warnings, _load_template("style.css"), __version__))

    server, _SERVER[0] = _SERVER[0], None
    drawn = None
    if server is not None:
        drawn = server.draw(jobs, figdir, workers, notify, meanwhile=meanwhile)
    if drawn is None:
        page.clear()
        drawn = _draw_all(jobs, figdir, workers, notify, meanwhile=meanwhile)
    if not page:  # (drawn without forking after all, before it was called)
        meanwhile()
    figs = {key: uri for key, uri in drawn.items() if not key.startswith("col:")}
    figs.update({key: uri for key, uri in drawn.items() if key.startswith("col:") and uri})
    html = "".join(part if isinstance(part, str) else part(figs) for part in page)
    path = out / "profile.html"
    _atomic_write(path, html)
    notify("report written", 1.0)
    return path


def prepare_figures() -> None:
    """Start the figure process now, so that a later :func:`write_profile` draws at once.

    A fresh process spends half a second or more importing matplotlib and loading fonts before its first figure. Called
    before :func:`assay.viz.profile`, this forks a process that does that while the profile is computed (which keeps
    one core busy); ``profile`` hands it each figure's data as soon as it is final, and the next ``write_profile`` in
    this process the rest. Optional: without it, ``write_profile`` warms up matplotlib itself. Does nothing where
    processes cannot be forked.

    Best called before Polars is imported (``from assay.viz import prepare_figures`` does not import it): the figure
    process then loads matplotlib while this one loads Polars. NumPy, which both need, is imported here first, once.
    """
    if _SERVER[0] is not None and _SERVER[0].alive():
        return
    import numpy  # noqa: F401  (imported once for both processes, before the fork)

    _SERVER[0] = _FigureServer.start()


class _FigureServer:
    """A forked process that warms up matplotlib, draws the figures it is sent early (one at a time, into memory),
    then the rest of one report's figures (together with a forked helper process per further CPU).

    Forked rather than started with multiprocessing's ``forkserver`` or ``spawn``: those re-import the caller's
    main module in every process (for the command line, all of assay and Polars) before the first figure.
    """

    def __init__(self, proc: Any, conn: Any) -> None:
        self.proc = proc
        self.conn = conn

    @classmethod
    def start(cls) -> _FigureServer | None:
        if "fork" not in multiprocessing.get_all_start_methods() or multiprocessing.current_process().daemon:
            return None
        import atexit
        import warnings

        ctx = multiprocessing.get_context("fork")
        try:
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(theirs, ours), name="assay-figures")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # Python ≥ 3.12 warns on fork with threads
                proc.start()
        except OSError:
            return None
        theirs.close()
        server = cls(proc, ours)
        # Runs before multiprocessing's own exit handler, which waits for its children: an unused server sees
        # its pipe close and exits instead of waiting for figures forever.
        atexit.register(server.stop)
        return server

    def alive(self) -> bool:
        return self.proc.is_alive() and not self.conn.closed

    def draw_early(self, jobs: list[Job], fresh: bool = False, last: bool = False) -> None:
        """Draw ``jobs`` from now on, one at a time into memory, besides those sent before (``fresh``: instead of
        those not drawn yet); :meth:`draw` uses them when given the same jobs. ``last``: the profile's last figures
        before the report (the helper processes of the report start now)."""
        try:
            self.conn.send(("early", jobs, fresh, last))
        except OSError:
            self.stop()

    def draw(self, jobs: list[tuple[str, str, str, tuple[Any, ...]]], figdir: Path, workers: int | None,
             notify: Callable[[str, float], None], meanwhile: Callable[[], Any] | None = None,
             ) -> dict[str, str | None] | None:
        """The figures' data URIs by key, as :func:`_draw_all` gives; None when the process is gone."""
        try:
            self.conn.send(("draw", jobs, figdir, workers))
        except OSError:
            self.stop()
            return None
        if meanwhile is not None:
            meanwhile()
        try:
            while True:
                msg = self.conn.recv()
                if msg[0] == "progress":
                    notify(msg[1], msg[2])
                elif msg[0] == "done":
                    return msg[1]
                else:
                    raise msg[1]
        except (EOFError, OSError):  # the process died (killed, out of memory): draw here instead
            return None
        finally:
            self.stop()

    def stop(self) -> None:
        if not self.conn.closed:
            self.conn.close()
        if self.proc.pid is not None and self.proc.exitcode is None:
            self.proc.join(timeout=10)
            if self.proc.exitcode is None:
                self.proc.kill()
                self.proc.join()


_SERVER: list[_FigureServer | None] = [None]


def figures_ready(stage: str, part: dict[str, Any]) -> None:
    """Called by :func:`assay.viz.profile` as parts of the profile become final: a prepared figure process draws
    their figures while the profile goes on.

    ``stage`` is ``"missing"`` (the variables' missing counts and the missingness matrix, when they are known
    before the rest: data in memory), ``"overview"`` (rows, columns, kinds, duplicates, complete rows, the
    variables' missing counts and the missingness matrix), ``"columns"`` (the variables' final statistics, with
    outliers) or ``"correlations"`` (the ``correlations`` block). The first call of a profile is ``"missing"`` or
    ``"overview"``. ``part`` holds the keys of the profile dict that the stage's figures read; a figure is reused by
    :func:`write_profile` (or by a later stage) only when its input is exactly the same.
    """
    server = _SERVER[0]
    if server is None or not server.alive():
        return
    from assay.viz._profile import jsonable

    part = jsonable(part)
    if stage == "missing":
        jobs = [_missing_job(part)]
    elif stage == "overview":
        jobs = _overview_jobs(part)
    elif stage == "columns":
        variables = part["variables"]
        outliers = {name: v["outliers"] for name, v in variables.items() if v.get("outliers")}
        jobs = [*_column_jobs(variables, part["rows"]), _outliers_job({"outliers": outliers, "variables": variables})]
    else:
        jobs = _correlation_jobs(part["correlations"] or {})
    server.draw_early(jobs, fresh=stage in ("missing", "overview"), last=stage == "correlations")


Job = tuple[str, str, str, tuple[Any, ...]]  # (key in the page, file name, drawing function in _figures, arguments)


def _column_jobs(variables: dict[str, dict[str, Any]], rows: int) -> list[Job]:
    return [(f"col:{name}", f"col_{v['index']:03d}_{_slug(name)}", "column_figure", (v, rows))
            for name, v in variables.items()]


def _overview_jobs(p: dict[str, Any]) -> list[Job]:
    """The overview and missingness figures, each given only the parts of the profile it reads."""
    missing = {name: {"name": v["name"], "missing": v["missing"], "missing_pct": v["missing_pct"]}
               for name, v in p.get("variables", {}).items()}
    overview = {key: p.get(key) for key in ("columns", "rows", "kinds", "complete_rows", "duplicate_rows")}
    return [("overview", "overview", "overview_figure", ({**overview, "variables": missing},)), _missing_job(p)]


def _missing_job(p: dict[str, Any]) -> Job:
    """The missingness figure, given only the parts of the profile it reads."""
    missing = {name: {"name": v["name"], "missing": v["missing"], "missing_pct": v["missing_pct"]}
               for name, v in p.get("variables", {}).items()}
    matrix = {"missing_matrix": p.get("missing_matrix"), "sampled": p.get("sampled")}
    return ("missing", "missing_matrix", "missing_figure", ({**matrix, "variables": missing},))


def _correlation_jobs(corr: dict[str, Any]) -> list[Job]:
    jobs = []
    for key, title, signed in (("pearson", "Pearson correlation (linear)", True),
                               ("spearman", "Spearman correlation (rank)", True),
                               ("cramers_v", "Cramér's V (categorical association)", False)):
        if corr.get(key):
            jobs.append((f"corr_{key}", f"corr_{key}", "correlation_figure", (corr[key], title, signed)))
    return jobs


def _outliers_job(p: dict[str, Any]) -> Job:
    outliers = p.get("outliers") or {}
    finite = {name: {"finite": p["variables"][name].get("finite")} for name in outliers}
    return ("outliers", "outliers", "outliers_figure", ({"outliers": outliers, "variables": finite},))


def _serve(conn: Any, parents_end: Any) -> None:
    """The figure process: warm up; draw the figures sent early, one at a time into memory (the profile still uses
    the other core); then draw the rest of one report's figures and send their data URIs back."""
    import signal

    # Ctrl-C is for the parent: this process ends when the parent's end of the pipe closes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parents_end.close()  # the pipe must close when the parent exits, without a figure request
    from assay.viz._style import cache_font_lookups, cache_glyphs, import_for_drawing, share_marker_styles, warm_up

    import_for_drawing()
    warm_up()
    cache_font_lookups()  # this process and its workers only draw assay figures
    cache_glyphs()
    share_marker_styles()
    import gc

    # Everything loaded so far lives until the end: the collector stops scanning it on each full collection, and
    # the forked workers do not copy the pages it would write its bookkeeping to (as the gc documentation
    # suggests for processes that fork workers). The collector runs from here on even if the parent had it off
    # while importing (``assay profile`` does): drawing leaves reference cycles behind.
    gc.freeze()
    gc.enable()
    queue: list[Job] = []
    early: dict[str, tuple[tuple[str, str, str, tuple[Any, ...]], dict[str, bytes] | None]] = {}
    ahead = True
    made_ahead: dict[Any, int] = {}
    helpers: tuple[Any, int] | None = None
    sent: dict[str, tuple[Job, Any]] = {}  # figures drawn early by the helper processes: their jobs and futures
    try:
        while True:
            if ahead and not queue and not conn.poll():
                # Waiting for data: blank figures for the profile's figures made meanwhile, until it comes (and
                # again whenever this process waits, until they are all made).
                from assay.viz._figures import AHEAD
                from assay.viz._style import make_figures_ahead

                ahead = not make_figures_ahead(AHEAD, stop=conn.poll, made=made_ahead)
                continue
            if queue and helpers is not None and sum(not f.done() for _, f in sent.values()) < helpers[1]:
                job = queue.pop(0)  # one at a time to each helper process, as the report's figures go later
                sent[job[0]] = (job, helpers[0].submit(_draw_in_memory, job))
                continue
            if queue and not conn.poll():
                # In the order the figures became ready: the correlation heatmaps, ready last and among the
                # costliest, are mostly left to the report, whose drawing processes share them out (the one being
                # drawn here when the report comes delays the report's start: better a small one).
                job = queue.pop(0)
                try:
                    early[job[0]] = (job, _draw_in_memory(job))
                except Exception:  # drawn again with the report, which then reports the error
                    early.pop(job[0], None)
                continue
            msg = conn.recv()
            if msg[0] == "draw":
                _, jobs, figdir, workers = msg
                break
            _, jobs, fresh, last = msg
            if last and helpers is None:
                # The profile is about done: the report's drawing processes are forked now and draw figures
                # while it finishes, rather than when the report comes (when the other core would wait for them).
                helpers = _start_helpers(_default_workers() - 1)
            if fresh:
                queue.clear()  # a newer profile: its figures replace those not drawn yet
            keys = {job[0] for job in jobs}
            # A figure drawn already for the very same input (the missing values, drawn before the overview came)
            # is not drawn again.
            queue = [job for job in queue if job[0] not in keys] + [
                job for job in jobs if job[0] not in early or early[job[0]][0] != job]
    except (EOFError, OSError):
        if helpers is not None:
            # Waits for the helper processes to take their stop signal: without waiting this process exited first,
            # and the helpers (holding the call queue's other end themselves) waited for work forever.
            helpers[0].shutdown(wait=True, cancel_futures=True)
        return

    def progress(message: str, fraction: float) -> None:
        conn.send(("progress", message, fraction))

    try:
        drawn = _finish_drawing(early, jobs, figdir, workers, progress, helpers, sent)
    except OSError as exc:
        if not conn.closed and not isinstance(exc, BrokenPipeError):
            _send_error(conn, exc)
        return  # a broken pipe: the parent is gone (interrupted), nobody to answer
    except Exception as exc:  # handed to the parent, which raises it
        _send_error(conn, exc)
        return
    with contextlib.suppress(BrokenPipeError):
        conn.send(("done", drawn))


def _send_error(conn: Any, exc: BaseException) -> None:
    import pickle
    import traceback

    try:
        pickle.dumps(exc)
    except Exception:  # an exception that cannot cross the pipe travels as its text
        exc = RuntimeError("".join(traceback.format_exception(exc)))
    with contextlib.suppress(BrokenPipeError):  # the parent is gone (interrupted)
        conn.send(("error", exc))


def _finish_drawing(early: dict[str, tuple[tuple[str, str, str, tuple[Any, ...]], dict[str, bytes] | None]],
                    jobs: list[tuple[str, str, str, tuple[Any, ...]]], figdir: Path, workers: int | None,
                    notify: Callable[[str, float], None], helpers: tuple[Any, int] | None = None,
                    sent: dict[str, tuple[Job, Any]] | None = None) -> dict[str, str | None]:
    """Every figure of ``jobs``: those drawn early for the very same arguments are written, the rest drawn (with
    ``helpers``, a pool of drawing processes and their number, when one was started; ``sent``: the jobs given to
    them early, by key, with their futures)."""
    from assay.viz._style import svg_data_uri, write_figure

    done: dict[str, str | None] = {}
    rest = []
    ready = []
    coming = []  # drawn early by a helper process, maybe not yet done
    for job in jobs:
        drawn_early = early.get(job[0])
        given = (sent or {}).get(job[0])
        if drawn_early is not None and drawn_early[0] == job:
            data = drawn_early[1]
            done[job[0]] = svg_data_uri(data["svg"]) if data else None
            if data:
                ready.append((data, job[1]))
        elif given is not None and given[0] == job:
            coming.append(given)
        else:
            rest.append(job)
    n = len(jobs)

    def write_ready() -> None:  # once the other drawing processes have started
        for data, name in ready:
            write_figure(data, figdir, name)

    def progress(_message: str, fraction: float) -> None:
        i = len(done) + round((fraction - 0.86) / 0.13 * len(rest))
        notify(f"drawing figures ({i}/{n})", 0.86 + 0.13 * i / n)

    if not rest and helpers is not None:
        helpers[0].shutdown(wait=False)  # (what they were given is still drawn)
    drawn = _draw_all(rest, figdir, workers, progress, meanwhile=write_ready, helpers=helpers) if rest else {}
    if not rest:
        write_ready()
    for job, future in coming:  # done by now, unless the drawing processes had nothing more to draw
        try:
            data = future.result()
        except Exception:  # (a helper process died): drawn here
            drawn[job[0]] = _draw_one(job, figdir)[1]
            continue
        done[job[0]] = svg_data_uri(data["svg"]) if data else None
        if data:
            write_figure(data, figdir, job[1])
    return {job[0]: done[job[0]] if job[0] in done else drawn.get(job[0]) for job in jobs}


def _draw_in_memory(job: tuple[str, str, str, tuple[Any, ...]]) -> dict[str, bytes] | None:
    from assay.viz import _figures
    from assay.viz._style import render_figure

    _key, _filename, function, args = job
    with _extreme_values_quiet():
        fig = getattr(_figures, function)(*args)
        return None if fig is None else render_figure(fig)


def _draw_one(job: tuple[str, str, str, tuple[Any, ...]], figdir: Path) -> tuple[str, str | None]:
    from assay.viz import _figures
    from assay.viz._style import save_figure, svg_data_uri

    key, filename, function, args = job
    with _extreme_values_quiet():
        fig = getattr(_figures, function)(*args)
        if fig is None:
            return key, None
        paths = save_figure(fig, figdir, filename)
    return key, svg_data_uri(paths["svg"])


def _extreme_values_quiet() -> Any:
    """matplotlib sums and transforms the bars' coordinates: for a column reaching ±1e308 that overflows to inf,
    harmlessly (the figure is drawn), but NumPy would print an overflow warning for it on the user's terminal."""
    import numpy as np

    return np.errstate(over="ignore", invalid="ignore")


# Rough drawing cost of each kind of figure relative to a one-column figure (measured CPU time).
_COST = {"correlation_figure": 4, "overview_figure": 4, "outliers_figure": 3, "target_association_figure": 3,
         "missing_figure": 2}


def _default_workers() -> int:
    return int(os.environ.get("ASSAY_FIGURE_WORKERS", "0")) or min(4, os.cpu_count() or 1)


def _start_helpers(count: int) -> tuple[Any, int] | None:
    """A pool of ``count`` forked drawing processes for :func:`_draw_all`, started now; None if none can be."""
    if count < 1 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    import concurrent.futures as cf
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # Python ≥ 3.12 warns on fork with threads
            pool = cf.ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("fork"))
            pool.submit(int)  # with fork, the first task starts every process
    except OSError:
        return None
    return pool, count


def _draw_all(jobs: list[Job], figdir: Path, workers: int | None, notify: Callable[[str, float], None],
              meanwhile: Callable[[], Any] | None = None, helpers: tuple[Any, int] | None = None,
              ) -> dict[str, str | None]:
    """Draw every figure: here, and in forked processes when there are enough figures to pay off.

    ``workers`` counts the drawing processes, this one included. ``meanwhile`` is called in this process before it
    starts drawing (while the forked processes already draw). ``helpers``: a pool started before
    (:func:`_start_helpers`) and its number of processes, used when that is the number wanted, else shut down.
    """
    from assay.viz._style import warm_up

    if workers is None:
        workers = _default_workers()
    # A forked process pays off from about two column figures' worth of drawing.
    workers = max(1, min(workers, sum(_COST.get(job[2], 1) for job in jobs) // 2))
    # A daemonic process (a Dask or multiprocessing worker) may not have children: draw in it.
    can_fork = "fork" in multiprocessing.get_all_start_methods() and not multiprocessing.current_process().daemon
    results: dict[str, str | None] = {}
    # Biggest figures first, so that no process is left with a heatmap while the others idle.
    pending = sorted(jobs, key=lambda job: -_COST.get(job[2], 1))
    done = 0

    def drawn(key: str, uri: str | None) -> None:
        nonlocal done
        results[key] = uri
        done += 1
        notify(f"drawing figures ({done}/{len(jobs)})", 0.86 + 0.13 * done / len(jobs))

    if helpers is not None and helpers[1] != workers - 1:
        helpers[0].shutdown(wait=False)
        helpers = None
    if workers > 1 and can_fork:
        import concurrent.futures as cf
        import threading
        import warnings

        warm_up()  # before forking: every child inherits loaded fonts and backends instead of loading its own
        lock = threading.Lock()
        futures: list[Any] = []

        def take() -> Job | None:
            with lock:
                return pending.pop(0) if pending else None

        # Fork, not spawn: a spawned worker would spend longer importing matplotlib than drawing. The children
        # only draw and write files (no Polars, no threads of their own), which is what makes fork safe here.
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # Python ≥ 3.12 warns on fork with threads
                ctx = multiprocessing.get_context("fork")
                with helpers[0] if helpers else cf.ProcessPoolExecutor(max_workers=workers - 1, mp_context=ctx) as pool:

                    def feed(_finished: Any = None) -> None:
                        # Each forked process holds one figure to draw and one queued; a finished one brings the
                        # next, so that the processes and this one share out the figures as they go. The last few
                        # are given one at a time (a queued one could leave this process waiting at the end). Under
                        # the lock: once this process finds nothing left to take, every figure given away is listed.
                        with lock:
                            held = 2 if len(pending) > 2 * (workers - 1) else 1
                            if not pending or sum(not f.done() for f in futures) >= held * (workers - 1):
                                return
                            job = pending.pop(0)
                            try:
                                future = pool.submit(_draw_one, job, figdir)
                            except (RuntimeError, cf.process.BrokenProcessPool):  # shut down: drawn here instead
                                pending.insert(0, job)
                                return
                            futures.append(future)
                        future.add_done_callback(feed)

                    for _ in range(2 * (workers - 1)):
                        feed()
                    if meanwhile is not None:
                        meanwhile()
                    while (job := take()) is not None:
                        drawn(*_draw_one(job, figdir))
                        for future in [f for f in futures if f.done()]:
                            futures.remove(future)
                            drawn(*future.result())
                    while futures:
                        drawn(*futures.pop(0).result())
        except (OSError, cf.process.BrokenProcessPool):  # no processes allowed here: draw the rest in this one
            pending = [job for job in jobs if job[0] not in results]
    elif meanwhile is not None:
        meanwhile()
    for job in pending:  # every figure when drawn here only
        drawn(*_draw_one(job, figdir))
    return {job[0]: results.get(job[0]) for job in jobs}


def _profile_html(p: dict[str, Any], col_warnings: dict[str, list[dict[str, Any]]], css: str, version: str
                  ) -> list[str | Callable[[dict[str, str | None]], str]]:
    """The page ``profile.html``: overview, warnings, one block per column, missing values, correlations,
    outliers, target and sample rows, every figure an ``<img>`` with its SVG inline.

    The page comes in parts to be joined: texts, and for each place that shows a figure (or says why there is none)
    a function of the figures' data URIs by key (``"col:<name>"`` for a column's figure), so that the page is
    written while the figures are still being drawn.

    Written in Python rather than as a template: importing the template engine and compiling a template took a
    twentieth of the whole ``assay profile`` command's CPU time for one page. Every value from the data (column
    names, values, messages, the source's name) is escaped; the rest is assay's own text.
    """
    from markupsafe import escape

    from assay.viz._style import is_year_column

    def e(x: Any) -> str:
        return str(escape(x))

    def num(x: Any) -> str:
        return e(fmt_num(x))

    def pct(x: Any) -> str:
        return e(fmt_pct(x))

    def cell(x: Any) -> str:
        return e(fmt_cell(x))

    def kind(w: dict[str, Any]) -> str:
        return e(w["type"]).replace("_", " ")

    def img(alt: str, uri: Any) -> str:
        return f'<img class="fig" alt="{alt}" src="{e(uri)}">'

    def row(head: str, value: str) -> str:
        return f'<tr><th>{head}</th><td class="n">{value}</td></tr>'

    out: list[str | Callable[[dict[str, str | None]], str]] = []
    add = out.append
    source, target = p.get("source"), p.get("target")
    add('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n')
    add(f'<meta name="generator" content="assay {e(version)}">\n')
    add("<title>Data profile" + (f" — {e(source)}" if source else "") + "</title>\n")
    add(f"<style>{css}</style>\n</head>\n<body>\n<header>\n")
    add("  <h1>Data profile" + (f": {e(source)}" if source else "") + "</h1>\n")
    rows, cols = p.get("rows"), p.get("columns")
    add(f'  <div class="sub">{num(rows)} row{"" if rows == 1 else "s"} × {num(cols)} column{"" if cols == 1 else "s"}')
    if target:
        add(f" · target <b>{e(target)}</b>")
    # Each column's chart, the overview and the outliers chart count all rows; only what needs rows side by side
    # (correlations, the missing-values map, the target association, the sample rows) comes from the sample.
    add(f"    · statistics and column charts from {e(p.get('statistics_from'))} · correlations and the "
        f"missing-values map from {e(p.get('figures_from'))}\n")
    if p.get("distinct_approximate"):
        add("· distinct counts are HyperLogLog estimates")
    add("</div>\n</header>\n<nav>\n")
    warnings = p.get("warnings") or []
    add(f'  <a href="#overview">Overview</a><a href="#warnings">Warnings ({len(warnings)})</a>\n'
        '  <a href="#columns">Columns</a><a href="#missing">Missing values</a><a href="#correlations">Correlations'
        '</a>\n  <a href="#outliers">Outliers</a>')
    if target:
        add('<a href="#target">Target</a>')
    add('<a href="#sample">Sample rows</a>\n</nav>\n<main>\n')

    # ------------------------------------------------------------------------------------------------ overview
    cards = [(num(p.get("rows")), "rows"), (num(p.get("columns")), "columns"),
             (pct(p.get("missing_cells_pct")), f"missing cells ({num(p.get('missing_cells'))})"),
             (num(p.get("duplicate_rows")), f"duplicate rows ({pct(p.get('duplicate_rows_pct'))})"),
             (num(p.get("complete_rows")), "complete rows"),
             (num(p.get("sample_rows")),
              "rows sampled for correlations" if p.get("sampled") else "rows used for correlations")]
    add('<section id="overview">\n  <h2>Overview</h2>\n  <div class="cards">\n')
    for value, key in cards:
        add(f'    <div class="card"><div class="v">{value}</div><div class="k">{key}</div></div>\n')
    add('  </div>\n  <p class="note">Column kinds: ')
    for k, n in (p.get("kinds") or {}).items():
        add(f'<span class="tag">{e(k)} {e(n)}</span>')
    add("</p>\n")
    add(lambda figs: img("overview", figs["overview"]) if figs.get("overview") else "")
    add("</section>\n\n")

    # ------------------------------------------------------------------------------------------------ warnings
    add('<section id="warnings">\n  <h2>Warnings</h2>\n')
    if warnings:
        add('  <ul class="warn">')
        for w in warnings:
            add(f'    <li><span class="tag {e(w["severity"])}">{kind(w)}</span>{e(w["message"])}</li>')
        add("  </ul>\n")
    else:
        add('<p class="none">Nothing to warn about: no constant, empty, ID-like, skewed or mixed-type columns '
            "found.</p>")
    add("</section>\n\n")

    # ------------------------------------------------------------------------------------------------- columns
    variables = p.get("variables") or {}
    add('<section id="columns">\n  <h2>Columns</h2>\n')
    if not variables:
        add('<p class="none">The data has no columns.</p>')
    for name, v in variables.items():
        if name.strip():
            heading = e(name)
        else:
            heading = '<span class="none">(no name' + (f": &quot;{e(name)}&quot;" if name else "") + ")</span>"
        add(f'  <div class="col" id="col-{e(v["index"])}">\n    <div>\n      <h3>{heading}</h3>\n'
            f'      <p><span class="tag">{e(v["kind"])}</span><span class="tag info">{e(v["dtype"])}</span>\n')
        for w in col_warnings.get(name, []):
            add(f'<span class="tag {e(w["severity"])}">{kind(w)}</span>')
        add("</p>\n      <table>\n")
        missing = f"{num(v.get('missing'))} ({pct(v.get('missing_pct'))})"
        add(f"        {row('non-missing', num(v.get('count')))}\n        {row('missing', missing)}\n")
        if v.get("distinct") is not None:
            head = "distinct" + (" (≈)" if v.get("distinct_approximate") else "")
            add(row(head, f"{num(v['distinct'])} ({pct(v.get('distinct_pct'))})"))
        q = v.get("quantiles")
        if v["kind"] in ("numeric", "id-like") and q:
            median = "median" + (" (quantiles from the sample)" if v.get("quantiles_from") == "sample" else "")
            # Mean, extremes and quantiles with as many digits as tell them apart (latitudes 37.7749 … 37.7751 all
            # read '37.77' to four significant digits)
            keys = ("mean", "min", "max", "p1", "p5", "p25", "p50", "p75", "p95", "p99")
            located = dict(zip(keys, fmt_apart([v.get(k) if k in ("mean", "min", "max") else q.get(k) for k in keys]),
                               strict=True))
            if is_year_column(v):  # 1986, not 1,986
                located = {k: t.replace(",", "") for k, t in located.items()}
            loc = {k: e(t) for k, t in located.items()}
            for head, value in (
                    ("mean ± std", f"{loc['mean']} ± {num(v.get('std'))}"),
                    ("min / max", f"{loc['min']} / {loc['max']}"),
                    ("p1 · p5 · p25", f"{loc['p1']} · {loc['p5']} · {loc['p25']}"),
                    (median, loc["p50"]),
                    ("p75 · p95 · p99", f"{loc['p75']} · {loc['p95']} · {loc['p99']}"),
                    ("skewness", num(v.get("skew"))),
                    ("zeros / negative", f"{num(v.get('zeros'))} / {num(v.get('negative'))}")):
                add(f"        {row(head, value)}\n")
            if v.get("nan") or v.get("inf"):
                add(row("NaN / ±inf", f"{num(v.get('nan'))} / {num(v.get('inf'))}"))
            if v.get("outliers"):
                add(row("IQR outliers", f"{num(v['outliers'].get('count'))} ({pct(v['outliers'].get('pct'))})"))
        if v["kind"] == "boolean" and "true" in v:
            add(row("true", f"{num(v['true'])} ({pct(v.get('true_pct'))})"))
        if v["kind"] == "datetime":
            # a date and time as people write it: 2009-05-23 09:30:00, not ISO's 2009-05-23T09:30:00
            add(row("first", _text(v, "min").replace("T", " ", 1)) + row("last", _text(v, "max").replace("T", " ", 1)))
        if v.get("length"):
            length = v["length"]
            add(row("length min / mean / max",
                    f"{num(length.get('min'))} / {num(length.get('mean'))} / {num(length.get('max'))}"))
        if v.get("blank"):
            add(row("blank strings", num(v["blank"])))
        add("      </table>\n")
        if v.get("top") and v["kind"] in ("text", "id-like"):
            add("<details><summary>most frequent values</summary><table>\n")
            for t in v["top"][:10]:
                add(f'<tr><td>{cell(t.get("value"))}</td><td class="n">{num(t.get("count"))}</td></tr>')
            add("</table></details>")
        add("    </div>\n    <div>")
        add(lambda figs, key=f"col:{name}", name=name, v=v: img(e(name), figs[key]) if figs.get(key) else
            f'<p class="none">{e(_why_no_figure(v))}</p>')
        add("</div>\n  </div>\n")
    add("</section>\n\n")

    # ------------------------------------------------------------------------------------------ missing values
    add('<section id="missing">\n  <h2>Missing values</h2>\n')
    per_block = (p.get("missing_matrix") or {}).get("rows_per_block")
    # a count of rows is whole: '~117 rows' (blocks of 116 or 117), not '~116.8 rows'
    per_block = num(round(per_block) if isinstance(per_block, (int, float)) else per_block)
    matrix_note = (f'  <p class="note">Each row of the matrix is a column; each cell is a block of ~{per_block} '
                   "consecutive rows" + (" of the sample" if p.get("sampled") else "") + ", darker when more of its "
                   "values are missing.</p>\n")
    if p.get("rows") and p.get("missing_cells") == 0:
        no_matrix = '<p class="none">No missing values in any column.</p>\n'
    else:
        no_matrix = '<p class="none">No rows to show.</p>'
    add(lambda figs: img("missing values", figs["missing"]) + "\n" + matrix_note if figs.get("missing") else
        no_matrix)
    add("</section>\n\n")

    # ------------------------------------------------------------------------------------------- correlations
    note = (p.get("correlations") or {}).get("note")
    add('<section id="correlations">\n  <h2>Correlations</h2>\n'
        f'  <p class="note">Computed on {e(p.get("figures_from"))}, over rows where both values are present.'
        + (f" {e(note)}." if note else "") + '</p>\n  <div class="grid2">\n')
    add(lambda figs: "".join(img(key, figs[key]) for key in ("corr_pearson", "corr_spearman", "corr_cramers_v")
                             if figs.get(key)))
    add("  </div>\n")
    add(lambda figs: "" if figs.get("corr_pearson") or figs.get("corr_cramers_v") else
        '<p class="none">Fewer than two numeric (or two categorical) columns with variation: no correlation matrix.'
        "</p>")
    add("</section>\n\n")

    # ------------------------------------------------------------------------------------------------ outliers
    add('<section id="outliers">\n  <h2>Outliers</h2>\n')
    table = ['  <div class="scroll"><table><tr><th>column</th><th class="n">low fence</th><th class="n">high fence'
             '</th><th class="n">below</th><th class="n">above</th><th class="n">share</th></tr>\n']
    for name, o in (p.get("outliers") or {}).items():
        table.append(f'<tr><td>{e(name)}</td><td class="n">{num(o.get("low_fence"))}</td><td class="n">'
                     f'{num(o.get("high_fence"))}</td><td class="n">{num(o.get("low"))}</td><td class="n">'
                     f'{num(o.get("high"))}</td><td class="n">{pct(o.get("pct"))}</td></tr>')
    table.append("  </table></div>\n")
    outliers_table = "".join(table)
    add(lambda figs: img("outliers", figs["outliers"]) + "\n" + outliers_table if figs.get("outliers") else
        '<p class="none">No numeric columns with finite values.</p>')
    add("</section>\n\n")

    # -------------------------------------------------------------------------------------------------- target
    if target:
        add(f'<section id="target">\n  <h2>Target: {e(target)}</h2>\n')
        classes = (p.get("target_summary") or {}).get("classes")
        if classes:
            add('<table><tr><th>class</th><th class="n">rows</th><th class="n">share</th></tr>\n')
            for c in classes:
                add(f'<tr><td>{cell(c.get("value"))}</td><td class="n">{num(c.get("count"))}</td>'
                    f'<td class="n">{pct(c.get("pct"))}</td></tr>')
            add("</table>")
        add(lambda figs: img("target association", figs["target_association"])
            + f'\n  <p class="note">Association with the target computed on {e(p.get("figures_from"))}, over rows '
            "where both values are present.</p>\n" if figs.get("target_association") else "")
        add("</section>\n")
    add("\n")

    # ----------------------------------------------------------------------------------------------- sample rows
    preview = p.get("preview") or {}
    add('<section id="sample">\n  <h2>Sample rows</h2>\n')
    parts = [("First rows", "head"), ("Random rows", "random")]
    if p.get("rows") and p["rows"] <= len(preview.get("head") or []):  # every row is among the first: no second copy
        parts = [("All rows", "head")]
    for title, key in parts:
        add(f"  <h3>{title}</h3>\n")
        if preview.get(key):
            add('<div class="scroll"><table><tr>' + "".join(f"<th>{e(c)}</th>" for c in preview.get("columns") or [])
                + "</tr>\n")
            for values in preview[key]:
                add("<tr>" + "".join(f"<td>{cell(x)}</td>" for x in values) + "</tr>")
            add("</table></div>\n")
        else:
            add('<p class="none">no rows</p>')
    add(f"</section>\n</main>\n<footer>assay {e(version)} · profile format {e(p.get('assay_profile_version'))} · "
        "figures also in figures/ as PNG and SVG</footer>\n</body>\n</html>")
    return out


def _text(d: dict[str, Any], key: str) -> str:
    """A value as text for the page, escaped; nothing when the key is absent."""
    from markupsafe import escape

    return str(escape(d[key])) if key in d else ""


def write_train_report(path: str | Path, report: dict[str, Any]) -> Path:
    """Write the training report (leaderboard, test metrics, model diagnostics) as one self-contained HTML file."""
    from assay.viz._train_report import build_train_report

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    context = build_train_report(report, path.parent / "figures")
    _atomic_write(path, _render("train.html.j2", **context))
    return path


# ------------------------------------------------------------------------------------------------ helpers


def _why_no_figure(v: dict[str, Any]) -> str:
    kind = v["kind"]
    if kind == "empty":
        return "no figure: every value is missing" if v.get("missing") else "no figure: the data has no rows"
    if kind == "id-like":
        return "no figure: an identifier (almost every value is different)"
    if kind == "text":
        return "no figure: free text (almost every value is different)"
    if kind == "other":
        return f"no figure for values of type {v['dtype']}"
    if kind == "numeric" and v.get("no_histogram"):
        return f"no figure: {v['no_histogram']}"
    if kind == "numeric" and not v.get("histogram"):
        return "no figure: a single distinct value" if v.get("distinct") == 1 else "no figure: no finite values"
    return "no figure: a single distinct value" if v.get("distinct") == 1 else "no figure"


def _slug(name: str) -> str:
    """A file-name-safe form of a column name: letters (Chinese too) and digits, runs of anything else as '_'.

    >>> _slug("Bill Length (mm)"), _slug("收入（元）"), _slug("a/b:c")
    ('bill_length_mm', '收入_元', 'a_b_c')
    """
    return re.sub(r"[\W_]+", "_", str(name).lower()).strip("_")[:40]


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    from assay.viz._style import replace_file

    tmp.write_text(text, encoding="utf-8")
    replace_file(tmp, path)


def fmt_num(x: Any) -> str:
    """Numbers for tables: thousands separators for integers, 4 significant digits otherwise.

    >>> fmt_num(1234567), fmt_num(3.14159265), fmt_num(None), fmt_num(0.000012345), fmt_num(14530.25)
    ('1,234,567', '3.142', '–', '1.234e-05', '14,530')
    """
    if _absent(x):
        return "–"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if not math.isfinite(x):
            return str(x)
        if x == int(x) and abs(x) < 1e15:
            return f"{int(x):,}"
        return f"{x:.4g}" if abs(x) < 1000 else f"{x:,.0f}"
    return str(x)


def fmt_apart(values: list[Any]) -> list[str]:
    """Numbers of one column for a table, each as :func:`fmt_num` writes it unless two different values would read
    the same: then all with the fewest significant digits that tell every different value apart (up to 15).

    >>> fmt_apart([37.77491, 37.77502, 37.7751, None])
    ['37.7749', '37.7750', '37.7751', '–']
    >>> fmt_apart([1000.0, 1_600_000_000.2, 1_600_000_000.4])
    ['1,000', '1,600,000,000.2', '1,600,000,000.4']
    >>> fmt_apart([3.14159, 2.0, 7])
    ['3.142', '2', '7']
    """
    texts = [fmt_num(x) for x in values]
    numbers = [(x, t) for x, t in zip(values, texts, strict=True)
               if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)]
    if len({t for _, t in numbers}) == len({x for x, _ in numbers}):
        return texts

    def sig(x: float, digits: int) -> str:
        if x == 0:
            return "0"
        decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
        return f"{x:,.0f}" if x == int(x) else f"{x:,.{decimals}f}"

    for digits in range(5, 16):
        if len({sig(x, digits) for x, _ in numbers}) == len({x for x, _ in numbers}):
            break
    return [sig(x, digits) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else t
            for x, t in zip(values, texts, strict=True)]


def _absent(x: Any) -> bool:
    """None, or a key the template asked for that this profile does not have (a jinja2 Undefined)."""
    if x is None:
        return True
    # An Undefined exists only once a template has been rendered, so jinja2 is imported then; the profile page,
    # written without templates, does not import it (a few per cent of the command's CPU time) to format numbers.
    jinja2 = sys.modules.get("jinja2")
    return jinja2 is not None and isinstance(x, jinja2.Undefined)


def fmt_metric(x: Any) -> str:
    """Scores with a fixed 4 decimals so a column of them lines up; big values (RMSE in dollars) as numbers.

    >>> fmt_metric(0.083041), fmt_metric(1.0), fmt_metric(12345.678), fmt_metric(None)
    ('0.0830', '1.0000', '12,346', '–')
    """
    if isinstance(x, float) and math.isfinite(x) and abs(x) < 1000:
        return f"{x:.4f}"
    if isinstance(x, float) and math.isfinite(x):
        return f"{x:,.0f}"
    return fmt_num(x)


def fmt_pct(x: Any) -> str:
    if _absent(x):
        return "–"
    if 99.95 <= x < 100:  # not all: 99,999 of 100,000 missing is not '100.0%'
        return ">99.9%"
    return f"{x:.1f}%" if x >= 0.1 or x == 0 else f"{x:.2g}%"


def fmt_cell(x: Any) -> str:
    if _absent(x):
        return "∅"
    if isinstance(x, float):
        return fmt_num(x)
    text = str(x)
    return text if len(text) <= 60 else text[:59] + "…"


def _render(template: str, **context: Any) -> str:
    import markupsafe

    from assay import __version__

    css = markupsafe.Markup(_load_template("style.css"))  # our own stylesheet: not user data, not escaped
    return _template(template).render(css=css, version=__version__, **context)


def _template(name: str) -> Any:
    """A compiled template; compiled once per process (jinja2's environment keeps it)."""
    return _environment().get_template(name)


@functools.cache
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_load_template),
        autoescape=True,  # column names and values are user data: escape them
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.ChainableUndefined,
    )
    env.filters.update(num=fmt_num, pct=fmt_pct, cell=fmt_cell, metric=fmt_metric)
    return env


def _load_template(name: str) -> str:
    # The templates are files next to this module in any ordinary installation; importlib.resources (20 ms of
    # imports) is only needed when the package is not on the file system (a zip archive).
    path = Path(__file__).with_name("templates") / name
    if path.is_file():
        return path.read_text(encoding="utf-8")
    from importlib import resources

    return resources.files("assay.viz").joinpath("templates", name).read_text(encoding="utf-8")
