"""``check_step``: the contract every cleaning step must keep (DESIGN §2.2), run by the test suite over every step.

The checks: the fitted state is plain JSON and a step rebuilt from it transforms identically; ``transform`` keeps
the row count and gives the same result on a DataFrame and a LazyFrame; one row transformed alone equals that row
of the transformed batch (for steps whose result does not depend on neighbouring rows); fitting on micro-batches,
on a lazy scan, through ``partial_fit`` and with ``fit_whole`` gives the same state as fitting on the whole frame
(to ``rtol`` for floating-point moments); and fitting on hostile data (NaN, ±inf, empty strings, Chinese column
names) does not crash.
"""

from __future__ import annotations

import json
import math
from typing import Any

import polars as pl
from polars.testing import assert_frame_equal

from assay.clean._base import Step

__all__ = ["assert_states_close", "check_step"]


def _clone(step: Step) -> Step:
    return type(step)(**step.get_params())


def assert_states_close(a: Any, b: Any, *, rtol: float = 1e-9, atol: float = 1e-12, path: str = "state") -> None:
    """Fail (AssertionError naming the path) unless two JSON states are equal, floats to ``rtol``/``atol``."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            msg = f"{path}: keys differ: {sorted(set(a) ^ set(b), key=str)[:10]}"
            raise AssertionError(msg)
        for key in a:
            assert_states_close(a[key], b[key], rtol=rtol, atol=atol, path=f"{path}[{key!r}]")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            msg = f"{path}: lengths differ ({len(a)} vs {len(b)})"
            raise AssertionError(msg)
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_states_close(x, y, rtol=rtol, atol=atol, path=f"{path}[{i}]")
    elif isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool) and not isinstance(
            b, bool):
        if not math.isclose(a, b, rel_tol=rtol, abs_tol=atol):
            msg = f"{path}: {a!r} != {b!r} (rtol={rtol})"
            raise AssertionError(msg)
    elif a != b:
        msg = f"{path}: {a!r} != {b!r}"
        raise AssertionError(msg)


def _collect(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    return frame.collect() if isinstance(frame, pl.LazyFrame) else frame


def _hostile(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with NaN/±inf in float columns, empty strings in text columns and two Chinese-named columns."""
    n = frame.height
    exprs = []
    for name, dtype in frame.schema.items():
        if dtype.is_float() and n >= 3:
            bad = pl.Series([float("nan"), float("inf"), float("-inf")] + [None] * (n - 3), dtype=dtype)
            exprs.append(pl.when(pl.int_range(pl.len()) < 3).then(pl.lit(bad)).otherwise(pl.col(name)).alias(name))
        elif dtype == pl.String and n >= 1:
            exprs.append(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("")).otherwise(pl.col(name)).alias(name))
    out = frame.with_columns(exprs) if exprs else frame
    return out.with_columns(
        (pl.int_range(pl.len()).cast(pl.Float64) * 1.5).alias("销售额"),
        pl.when(pl.int_range(pl.len()) % 2 == 0).then(pl.lit("北京")).otherwise(pl.lit("上海")).alias("城市"),
    )


def check_step(step: Step, frame: pl.DataFrame, *, target: str | None = None, rtol: float = 1e-9,
               rows: tuple[int, ...] | None = None) -> None:
    """Run the step contract on ``step`` (unfitted; it is cloned) with ``frame``; raise AssertionError on a breach.

    >>> import polars as pl
    >>> from assay.clean import ScaleStep
    >>> check_step(ScaleStep(), pl.DataFrame({"x": [1.0, 2.0, 4.0, 8.0], "y": [0, 1, 0, 1]}), target="y")
    """
    fitted = _clone(step).fit(frame, target=target)
    out = _collect(fitted.transform(frame))

    # 1. The state is plain JSON and a step rebuilt from it behaves identically.
    text = json.dumps(fitted.to_dict(), allow_nan=False, ensure_ascii=False)
    rebuilt = Step.from_dict(json.loads(text))
    assert type(rebuilt) is type(step), f"from_dict built {type(rebuilt).__name__}, not {type(step).__name__}"
    assert_frame_equal(_collect(rebuilt.transform(frame)), out)

    # 2. transform keeps every row and is the same on a DataFrame and a LazyFrame.
    assert out.height == frame.height, f"{step.name}: transform changed the row count {frame.height} -> {out.height}"
    assert_frame_equal(_collect(fitted.transform(frame.lazy())), out)

    # 3. One row alone equals that row of the batch (no batch-dependent behaviour at transform time).
    if getattr(fitted, "row_local", True) and frame.height:
        picks = rows if rows is not None else sorted({0, frame.height // 2, frame.height - 1})
        for i in picks:
            one = _collect(fitted.transform(frame.slice(i, 1)))
            assert_frame_equal(one, out.slice(i, 1), check_exact=True)

    # 4. Fitting on micro-batches, on a lazy scan and through partial_fit equals fitting on the whole frame.
    if frame.height >= 3:
        size = frame.height // 3 + 1
        batches = [frame.slice(i, size) for i in range(0, frame.height, size)]
        by_batches = _clone(step).fit(batches, target=target)
        assert_states_close(by_batches.state_, fitted.state_, rtol=rtol, path=f"{step.name} batches state")
        streamed = _clone(step)
        for batch in batches:
            streamed.partial_fit(batch, target=target)
        assert_states_close(streamed.state_, fitted.state_, rtol=rtol, path=f"{step.name} partial_fit state")
    lazy = _clone(step).fit(frame.lazy(), target=target)
    assert_states_close(lazy.state_, fitted.state_, rtol=rtol, path=f"{step.name} lazy state")
    whole = _clone(step).fit_whole(frame.lazy(), target=target)
    assert_states_close(whole.state_, fitted.state_, rtol=rtol, path=f"{step.name} fit_whole state")

    # 5. Hostile data: NaN, ±inf, empty strings and Chinese column names neither crash fit nor transform.
    hostile = _hostile(frame)
    tough = _clone(step).fit(hostile, target=target)
    json.dumps(tough.to_dict(), allow_nan=False, ensure_ascii=False)
    result = _collect(tough.transform(hostile))
    assert result.height == hostile.height, f"{step.name}: transform changed the row count on hostile data"
