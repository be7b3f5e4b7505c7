"""Pictures of data and models: the data profile, model diagnostics and the self-contained HTML reports.

>>> import polars as pl
>>> from assay.viz import profile
>>> profile(pl.DataFrame({"a": [1, 2, 2]}))["variables"]["a"]["distinct"]
2
"""

from __future__ import annotations

from assay.viz._profile import profile
from assay.viz._report import prepare_figures, write_profile, write_train_report

__all__ = ["prepare_figures", "profile", "write_profile", "write_train_report"]
