"""check_step over every registered cleaning step, on an in-memory frame, micro-batches and an out-of-core scan."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from assay.clean import STEPS, Step, get_step
from assay.testing import check_step
from assay.testing._steps import assert_states_close

from .conftest import make_mixed

NUMERIC = ["x", "n", "销售额"]
TEXT = ["c", "g", "label"]

# (id, step name, params, target). Every registered step must appear (test_every_step_is_covered).
CASES: list[tuple[str, str, dict, str | None]] = [
    ("types", "types", {}, "y"),
    ("types-forced", "types", {"kinds": {"n": "text"}, "formats": {"day": "%Y-%m-%d"}, "categorical": ["g"]}, "y"),
    ("text", "text", {"columns": TEXT}, "y"),
    ("drop_useless", "drop_useless", {"unsupported": True}, "y"),
    ("dedupe", "dedupe", {"key": ["c", "g"]}, "y"),
    ("missing-median", "missing", {}, "y"),
    ("missing-mean-indicator", "missing", {"strategy": "mean", "indicator": True, "max_missing": 0.04}, "y"),
    ("missing-mode-constant", "missing", {"strategy": "mode", "categorical": "constant"}, "y"),
    ("missing-groupwise", "missing", {"by": "g"}, "y"),
    ("missing-knn", "missing", {"strategy": "knn", "columns": NUMERIC, "k": 3}, "y"),
    ("missing-interpolate-time", "missing", {"strategy": "interpolate", "order_by": "ts", "columns": ["x"]}, "y"),
    ("missing-ffill", "missing", {"strategy": "ffill", "categorical": "ffill"}, "y"),
    ("missing-drop-rows", "missing", {"drop_rows": 0.0, "tokens": ["?"]}, "y"),
    ("outliers-iqr-clip", "outliers", {}, "y"),
    ("outliers-zscore-replace", "outliers", {"method": "zscore", "action": "replace", "threshold": 2.0}, "y"),
    ("outliers-mad-flag", "outliers", {"method": "mad", "action": "flag"}, "y"),
    ("outliers-iqr-group-drop", "outliers", {"by": "g", "action": "drop"}, "y"),
    ("outliers-forest-flag", "outliers", {"method": "isolation_forest", "action": "flag", "columns": NUMERIC}, "y"),
    ("outliers-forest-group-drop", "outliers", {"method": "isolation_forest", "action": "drop", "by": "g",
                                                "columns": ["x", "销售额"]}, "y"),
    ("scale-standard", "scale", {}, "y"),
    ("scale-minmax", "scale", {"method": "minmax"}, "y"),
    ("scale-robust", "scale", {"method": "robust"}, "y"),
    ("scale-maxabs", "scale", {"method": "maxabs"}, "y"),
    ("scale-log1p", "scale", {"method": "log1p"}, "y"),
    ("scale-yeo-johnson", "scale", {"method": "yeo-johnson"}, "y"),
    ("onehot", "onehot", {}, "y"),
    ("onehot-rare", "onehot", {"min_frequency": 0.1, "columns": ["c"]}, "y"),
    ("onehot-weighted", "onehot", {"weight": "sqrt_levels"}, "y"),
    ("ordinal", "ordinal", {}, "y"),
    ("frequency", "frequency", {}, "y"),
    ("target-numeric", "target", {"columns": ["c", "g"]}, "y"),
    ("target-classes", "target", {"columns": ["c"]}, "label"),
    ("datetime_parts", "datetime_parts", {"parts": ["year", "month", "weekday", "hour", "is_weekend", "epoch",
                                                    "elapsed_days"]}, "y"),
    ("datetime_parts-default", "datetime_parts", {}, "y"),
    ("cluster", "cluster", {"columns": NUMERIC, "k": 3}, "y"),
]


def _prepared(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Steps that expect typed input get the mixed frame after the types step (as in a real pipeline)."""
    if name in ("datetime_parts",):
        return get_step("types")().fit(frame, target="y").transform(frame)
    return frame


def test_every_step_is_covered() -> None:
    assert {name for _, name, _, _ in CASES} == set(STEPS)


@pytest.mark.parametrize(("case", "name", "params", "target"), CASES, ids=[c[0] for c in CASES])
def test_check_step(case: str, name: str, params: dict, target: str | None,
                    as_backend: Callable[[pl.DataFrame], object]) -> None:
    frame = _prepared(name, make_mixed())
    step: Step = get_step(name)(**params)
    reference = get_step(name)(**params).fit(frame, target=target)
    on_backend = step.fit(as_backend(frame), target=target)
    assert_states_close(on_backend.state_, reference.state_, path=f"{case} on {as_backend.kind}")  # type: ignore[attr-defined]
    if as_backend.kind == "frame":  # type: ignore[attr-defined]
        check_step(get_step(name)(**params), frame, target=target)


def test_check_step_catches_a_batch_dependent_step() -> None:
    class Centre(Step):
        """Subtracts the batch mean at transform time: exactly what the contract forbids."""

        name = "scale"

        def finalize(self, summary: object) -> dict:
            return {}

        def _transform(self, frame: pl.DataFrame) -> pl.DataFrame:
            return frame.with_columns(pl.col("x") - pl.col("x").mean())

    with pytest.raises(AssertionError):
        check_step(Centre(), pl.DataFrame({"x": [1.0, 2.0, 6.0]}))


def test_check_step_catches_non_json_state(tmp_path: Path) -> None:
    class Leaky(Step):
        name = "scale"

        def finalize(self, summary: object) -> dict:
            return {"path": tmp_path}

        def _transform(self, frame: pl.DataFrame) -> pl.DataFrame:
            return frame

    with pytest.raises(TypeError):
        check_step(Leaky(), pl.DataFrame({"x": [1.0, 2.0, 6.0]}))


@pytest.mark.parametrize(("case", "name", "params", "target"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("rows", [0, 1])
def test_empty_and_one_row_frames(case: str, name: str, params: dict, target: str | None, rows: int) -> None:
    """A 0-row or 1-row input fits and transforms (a defined, possibly trivial, state), without crashing."""
    frame = _prepared(name, make_mixed()).head(rows)
    step = get_step(name)(**params).fit(frame, target=target)
    out = step.transform(frame)
    assert out.height == rows
    Step.from_dict(step.to_dict()).transform(_prepared(name, make_mixed()).head(3))
