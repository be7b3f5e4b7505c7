"""The ``dedupe`` step: remove duplicate training rows, exactly or by a key.

Removing rows is a training-time action, so it happens in ``transform_train`` (first occurrence kept, order kept);
``transform`` returns rows unchanged, one out for one in. ``dropped_`` holds how many rows the last
``transform_train`` on an in-memory frame removed.
"""

from __future__ import annotations

import logging
from typing import Any

import polars as pl

from assay.clean._base import Frame, Step, resolve_columns
from assay.clean._stats import check_choice

__all__ = ["DedupeStep"]

log = logging.getLogger(__name__)


class DedupeStep(Step):
    """Drop duplicate rows in training data; ``key`` limits the comparison to some columns.

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
                log.info("dedupe: removed %d duplicate row(s)%s", self.dropped_, f" by key {key}" if key else "")
        return out
