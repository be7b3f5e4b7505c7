"""The table of step names used in specs and the CLI, mapped to their classes."""

from __future__ import annotations

import importlib

from assay.exceptions import SpecError, did_you_mean

__all__ = ["STEPS", "get_step"]

# name -> "module:Class". One line per step; a new step is added here and to the contract-suite list.
STEPS: dict[str, str] = {
    "types": "assay.clean._types:TypesStep",
    "text": "assay.clean._types:TextStep",
    "drop_useless": "assay.clean._useless:DropUselessStep",
    "dedupe": "assay.clean._dedupe:DedupeStep",
    "missing": "assay.clean._missing:MissingStep",
    "outliers": "assay.clean._outliers:OutlierStep",
    "scale": "assay.clean._scale:ScaleStep",
    "onehot": "assay.clean._encode:OneHotEncoder",
    "ordinal": "assay.clean._encode:OrdinalEncoder",
    "frequency": "assay.clean._encode:FrequencyEncoder",
    "target": "assay.clean._encode:TargetEncoder",
    "datetime_parts": "assay.clean._datetime:DatetimePartsStep",
    "cluster": "assay.clean._cluster:ClusterStep",
}


def get_step(name: str) -> type:
    target = STEPS.get(name)
    if target is None:
        msg = f"unknown step {name!r}{did_you_mean(name, STEPS)}; valid steps: {', '.join(sorted(STEPS))}"
        raise SpecError(msg)
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)
