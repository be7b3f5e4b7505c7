"""The ``dedupe`` step: remove duplicate training rows, exactly or by a key.

Removing rows is a training-time action, so it happens in ``transform_train`` (the first occurrence kept unless
``keep="last"``, order kept); ``transform`` returns rows unchanged, one out for one in. ``dropped_`` holds how many
rows the last ``transform_train`` on an in-memory frame removed. Training data given as a list of batches is
de-duplicated as a whole by ``transform_train_batches`` (a row repeated in a later batch goes too), as one frame of all
of them would be.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import polars as pl

from assay.clean._base import Frame, Step, resolve_columns
from assay.clean._stats import check_choice

__all__ = ["DedupeStep"]

log = logging.getLogger(__name__)


class DedupeStep(Step):
    """Drop duplicate rows in training data; ``key`` limits the comparison to some columns.

    Parameters
    ----------
    key:
        Columns that identify a row: rows equal in all of them are duplicates, whatever their other columns hold
        (default: every column, so only rows equal in every column). Key columns the data lacks are not compared.
    keep:
        Which row of each set of duplicates stays: the ``first`` or the ``last`` in row order. The rows kept stay
        in their order.

    Rows are removed in training only (``transform_train``, as ``assay clean`` does); ``transform`` keeps every
    row, so a model's predictions are one out for one in.

    >>> import polars as pl
    >>> df = pl.DataFrame({"id": [1, 1, 2], "v": ["a", "a", "b"]})
    >>> DedupeStep().fit(df).transform_train(df).height
    2
    """

    name = "dedupe"
    lazy_summary = True
    changes_rows = True

    def __init__(self, key: list[str] | None = None, *, keep: str = "first") -> None:
        self.key = key
        self.keep = keep

    def summarize(self, frame: Frame, target: str | None = None) -> dict[str, Any]:
        check_choice(self.name, "keep", self.keep, ["first", "last"])
        schema = frame.collect_schema()
        return {"key": resolve_columns(self.key, schema, [], step=self.name) if self.key else None}

    def merge(self, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        return a

    def finalize(self, summary: dict[str, Any]) -> dict[str, Any]:
        return {"key": summary["key"]}

    def _transform(self, frame: Frame) -> Frame:
        return frame

    def transform_train(self, frame: Frame) -> Frame:
        self._check_fitted()
        key = self.state_["key"]
        if key is not None:
            key = [c for c in key if c in frame.collect_schema().names()] or None
        out = frame.unique(subset=key, keep=self.keep, maintain_order=True)
        if isinstance(frame, pl.DataFrame):
            self.dropped_ = frame.height - out.height
            if self.dropped_:
                log.warning("dedupe: removed %d duplicate row(s)%s", self.dropped_, f" by key {key}" if key else "")
        return out

    def transform_train_batches(self, batches: Sequence[pl.DataFrame]) -> list[pl.DataFrame]:
        """De-duplicate batches together: the rows kept are those ``transform_train`` keeps of their concatenation,
        each left in its own batch (in order)."""
        import numpy as np

        self._check_fitted()
        batches = list(batches)
        if not batches:
            return []
        names = batches[0].columns
        key = [c for c in (self.state_["key"] or names) if c in names] or names
        keys = pl.concat([b.select(key) for b in batches], how="vertical_relaxed").with_row_index("__row__")
        kept = keys.unique(subset=key, keep=self.keep, maintain_order=True).get_column("__row__").to_numpy()
        mask = np.zeros(keys.height, dtype=bool)
        mask[kept] = True
        out, start = [], 0
        for batch in batches:
            out.append(batch.filter(pl.Series(mask[start:start + batch.height])))
            start += batch.height
        self.dropped_ = keys.height - int(mask.sum())
        if self.dropped_:
            log.warning("dedupe: removed %d duplicate row(s)%s", self.dropped_,
                        f" by key {key}" if self.state_["key"] else "")
        return out
