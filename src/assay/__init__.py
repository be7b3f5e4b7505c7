"""assay: from raw data to a deployed, watched model.

>>> import assay
>>> sorted(assay.__all__)[:3]
['AssayError', 'Model', 'Pipeline']

The public face of the package. Heavy or optional libraries (scikit-learn, LightGBM, Dask, FastAPI, database
drivers) are imported where they are used, never by ``import assay``.
"""

from __future__ import annotations

from assay._fitted import Model, load_model
from assay._version import __version__
from assay.exceptions import AssayError
from assay.pipeline import Pipeline, TrainResult, run, train
from assay.sources import open_source, read_source

#: Read a whole source (path or URI) into a Polars frame: ``assay.load("data.csv")``.
load = read_source

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
