"""assay: from raw data to a deployed, watched model.

>>> import assay
>>> sorted(assay.__all__)[:3]
['AssayError', 'Model', 'Pipeline']

The public face of the package. Heavy or optional libraries (scikit-learn, LightGBM, Dask, FastAPI, database
drivers) are imported where they are used, never by ``import assay``. The names below are bound on first use
(``assay.Model`` imports the model code then), so ``from assay.clean import ...`` or ``from assay.sources import
...`` does not pay for the pipeline, the model artifacts and NumPy.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from assay._version import __version__
from assay.exceptions import AssayError

if TYPE_CHECKING:
    from assay._fitted import Model, load_model
    from assay.pipeline import Pipeline, TrainResult, run, train
    from assay.sources import open_source, read_source

    load = read_source

# Public name -> (module, attribute), imported on first access.
_LAZY: dict[str, tuple[str, str]] = {
    "Model": ("assay._fitted", "Model"),
    "load_model": ("assay._fitted", "load_model"),
    "Pipeline": ("assay.pipeline", "Pipeline"),
    "TrainResult": ("assay.pipeline", "TrainResult"),
    "run": ("assay.pipeline", "run"),
    "train": ("assay.pipeline", "train"),
    "open_source": ("assay.sources", "open_source"),
    "read_source": ("assay.sources", "read_source"),
    #: Read a whole source (path or URI) into a Polars frame: ``assay.load("data.csv")``.
    "load": ("assay.sources", "read_source"),
}

__all__ = [
    "AssayError",
    "Model",
    "Pipeline",
    "TrainResult",
    "__version__",
    "load",
    "load_model",
    "open_source",
    "run",
    "train",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value  # later lookups skip this function
        return value
    if not name.startswith("__") and importlib.util.find_spec(f"assay.{name}") is not None:
        return importlib.import_module(f"assay.{name}")  # a submodule, as when ``import assay`` loaded it
    msg = f"module 'assay' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
