"""Fault injection for server tests, loaded by the server with ``--wrap faults:wrap``.

The wrapper reads the JSON file named by ``$ASSAY_FAULTS`` before every batch: ``{"mode": "raise" | "nan" |
"sleep", "seconds": s, "versions": [v, ...]}`` makes the listed versions (all when omitted) fail in that way; ``{}``
makes them healthy again. The test process rewrites the file to switch faults on and off while the server runs.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np
import polars as pl


class Faulty:
    def __init__(self, model: Any, name: str, version: int) -> None:
        self.model = model
        self.name = name
        self.version = version

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.model, attr)

    def _fault(self) -> dict[str, Any]:
        try:
            with open(os.environ["ASSAY_FAULTS"], encoding="utf-8") as fh:
                spec = json.load(fh)
        except (OSError, ValueError, KeyError):
            return {}
        versions = spec.get("versions")
        if versions is not None and self.version not in versions:
            return {}
        return spec

    def predict(self, frame: pl.DataFrame) -> pl.DataFrame:
        spec = self._fault()
        mode = spec.get("mode")
        if mode == "raise":
            msg = f"injected failure in v{self.version}"
            raise RuntimeError(msg)
        if mode == "sleep":
            time.sleep(float(spec.get("seconds", 0.2)))
        out = self.model.predict(frame)
        if mode == "nan":
            out = out.with_columns(pl.col(c).fill_null(0) * np.nan for c in out.columns if out[c].dtype.is_float())
        return out


def wrap(model: Any, name: str, version: int) -> Any:
    return Faulty(model, name, version)
