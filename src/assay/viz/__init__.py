"""Pictures of data and models: the data profile, model diagnostics and the self-contained HTML reports.

>>> import polars as pl
>>> from assay.viz import profile
>>> profile(pl.DataFrame({"a": [1, 2, 2]}))["variables"]["a"]["distinct"]
2

``prepare_figures`` is importable without NumPy and Polars (``from assay.viz import prepare_figures``): called
first, it starts the figure process before Polars is loaded, so that it loads matplotlib on the other core while
this process imports Polars. The other names load the profiling code on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from assay.viz._report import prepare_figures

if TYPE_CHECKING:
    from assay.viz._profile import profile
    from assay.viz._report import write_profile, write_train_report

__all__ = ["prepare_figures", "profile", "write_profile", "write_train_report"]

_LAZY = {"profile": "assay.viz._profile", "write_profile": "assay.viz._report",
         "write_train_report": "assay.viz._report"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'assay.viz' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # bound once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
