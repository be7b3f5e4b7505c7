"""Comparisons shared by the engine tests."""

from __future__ import annotations

import math
from typing import Any

# Moments and means are summed in another order on the cluster: relative differences stay near 1e-14.
STATE_RTOL = 1e-9


def assert_same_state(local: Any, dist: Any, path: str = "state", rtol: float = STATE_RTOL) -> None:
    """Counts, strings, lists and keys equal exactly; floats within ``rtol``."""
    if isinstance(local, dict):
        assert isinstance(dist, dict), path
        assert sorted(map(str, local)) == sorted(map(str, dist)), path
        for key in local:
            assert_same_state(local[key], dist[key], f"{path}.{key}", rtol)
    elif isinstance(local, list | tuple):
        assert len(local) == len(dist), path
        for i, (a, b) in enumerate(zip(local, dist, strict=True)):
            assert_same_state(a, b, f"{path}[{i}]", rtol)
    elif isinstance(local, float) and not isinstance(dist, bool):
        assert isinstance(dist, float | int), path
        if math.isnan(local):
            assert math.isnan(dist), path
        else:
            assert math.isclose(local, dist, rel_tol=rtol, abs_tol=1e-12), f"{path}: {local} != {dist}"
    else:
        assert local == dist, f"{path}: {local!r} != {dist!r}"


def assert_same_result(local: Any, dist: Any, *, tol: float, model: str = "logreg") -> None:
    """Two training results (local engine, Dask engine): the same fitted step states, CV scores of ``model``
    within ``tol`` and test metrics within ``tol`` (absolute or relative)."""
    import pytest

    for a, b in zip(local.model.steps, dist.model.steps, strict=True):
        assert_same_state(a.state_, b.state_, a.name)
    assert dist.cv_scores[model] == pytest.approx(local.cv_scores[model], abs=tol)
    for metric, value in local.test_metrics.items():
        if value is not None:
            assert dist.test_metrics[metric] == pytest.approx(value, abs=tol, rel=tol), metric


def make_steps(steps: list[dict[str, Any]]) -> list[Any]:
    """Step objects from spec entries such as ``{"step": "missing", "strategy": "median"}``."""
    from assay.clean import get_step

    out = []
    for item in steps:
        params = dict(item)
        out.append(get_step(params.pop("step"))(**params))
    return out
