"""Cleaning steps: fit on frames, lazy scans or batches into a small JSON state; transform with Polars expressions.

The names here are the public face; step names used in specs and the CLI are in :data:`STEPS`.
"""

from __future__ import annotations

from assay.clean._auto import auto_steps
from assay.clean._base import Step
from assay.clean._chain import fit_steps, fit_transform_steps
from assay.clean._cluster import ClusterStep
from assay.clean._datetime import DatetimePartsStep
from assay.clean._dedupe import DedupeStep
from assay.clean._encode import FrequencyEncoder, OneHotEncoder, OrdinalEncoder, TargetEncoder
from assay.clean._missing import MissingStep
from assay.clean._outliers import OutlierStep
from assay.clean._registry import STEPS, get_step
from assay.clean._run import StepChange, clean, load_steps, save_steps
from assay.clean._scale import ScaleStep
from assay.clean._split import split_by, train_test_split
from assay.clean._types import TextStep, TypesStep
from assay.clean._useless import DropUselessStep

__all__ = [
    "STEPS",
    "ClusterStep",
    "DatetimePartsStep",
    "DedupeStep",
    "DropUselessStep",
    "FrequencyEncoder",
    "MissingStep",
    "OneHotEncoder",
    "OrdinalEncoder",
    "OutlierStep",
    "ScaleStep",
    "Step",
    "StepChange",
    "TargetEncoder",
    "TextStep",
    "TypesStep",
    "auto_steps",
    "clean",
    "fit_steps",
    "fit_transform_steps",
    "get_step",
    "load_steps",
    "save_steps",
    "split_by",
    "train_test_split",
]
