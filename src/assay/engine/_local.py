"""Engine selection: the table of engine names and the function that runs a spec on each.

``local`` is :func:`assay.pipeline.run`'s own in-process path (Polars); ``dask`` is :func:`assay.engine.run_dask`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assay.exceptions import SpecError, did_you_mean

__all__ = ["ENGINES", "get_engine"]

# name -> "module:function" that runs a PipelineSpec and returns a TrainResult.
ENGINES: dict[str, str] = {
    "local": "assay.pipeline:run",
    "dask": "assay.engine._run:run_dask",
}


def get_engine(name: str) -> Callable[..., Any]:
    """The run function of engine ``name``.

    >>> get_engine("dask").__name__
    'run_dask'
    """
    import importlib

    target = ENGINES.get(name)
    if target is None:
        msg = f"unknown engine {name!r}{did_you_mean(name, ENGINES)}; valid engines: {', '.join(ENGINES)}"
        raise SpecError(msg)
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)
