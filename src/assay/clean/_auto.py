"""Automatic cleaning defaults chosen from column types, used when a pipeline names no steps.

The steps decide their exact columns when they are fitted (a text column may turn out to hold numbers), so
``auto_steps`` only needs the schema. After the returned steps every feature column is numeric (Float64, an
integer type or Boolean) and free of nulls, NaN and ±inf, ready to become a float matrix. The target is passed to
each step's ``fit`` and is never transformed or dropped by them; its missing values are the pipeline's business.
"""

from __future__ import annotations

import polars as pl

from assay.clean._base import Step
from assay.clean._datetime import DatetimePartsStep
from assay.clean._encode import FrequencyEncoder, OneHotEncoder
from assay.clean._missing import MissingStep
from assay.clean._scale import ScaleStep
from assay.clean._stats import check_choice
from assay.clean._types import TypesStep
from assay.clean._useless import DropUselessStep

__all__ = ["MAX_ONEHOT_LEVELS", "auto_steps"]

# Text columns with at most this many distinct values are one-hot encoded; the rest are frequency encoded.
MAX_ONEHOT_LEVELS = 20
TASKS = ("auto", "classification", "regression", "clustering")


def auto_steps(schema: pl.Schema | dict[str, pl.DataType], *, target: str | None, task: str = "auto") -> list[Step]:
    """Sensible default steps for data with this schema.

    types (numeric/boolean/date text → typed) → drop_useless (all-missing, constant, unusable types, an exported
    row index) → datetime_parts → missing (numeric median, text ``"__missing__"``, boolean mode) → scale (standard)
    → onehot (≤ 20 levels) → frequency (the remaining text columns). For ``task="clustering"`` each one-hot block of
    L columns holds 1/sqrt(L) rather than 1 (``weight="sqrt_levels"``): in k-means distances over standardised
    numbers a raw one-hot categorical pulled the clusters onto its levels (silhouette chose k = 9 on three numeric
    blobs beside a noisy 3-level column).

    >>> import polars as pl
    >>> df = pl.DataFrame({"价格": ["1.5", "2", None, "4"], "城市": ["北京", "上海", None, "北京"], "y": [0, 1, 0, 1]})
    >>> out = df
    >>> for step in auto_steps(df.schema, target="y"):
    ...     out = step.fit(out, target="y").transform(out)
    >>> out.columns
    ['价格', 'y', '城市___missing__', '城市_上海', '城市_北京']
    >>> out.null_count().sum_horizontal().item()
    0
    """
    check_choice("auto_steps", "task", task, TASKS)
    del schema, target  # the steps pick their columns at fit time and are given the target there
    weight = "sqrt_levels" if task == "clustering" else "none"
    return [
        TypesStep(),
        DropUselessStep(unsupported=True),
        DatetimePartsStep(),
        MissingStep(strategy="median", categorical="constant"),
        ScaleStep(method="standard"),
        OneHotEncoder(max_levels=MAX_ONEHOT_LEVELS, weight=weight),
        FrequencyEncoder(),
    ]
