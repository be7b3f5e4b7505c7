"""The table of step names used in specs and the CLI, mapped to their classes."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from assay.exceptions import SpecError, did_you_mean

__all__ = ["STEPS", "get_step", "make_step"]

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


def make_step(name: str, params: dict[str, Any]) -> Any:
    """The step ``name`` built with ``params`` (a spec's mapping), with an error naming an unknown option, the
    nearest valid one and all of them (rather than Python's "unexpected keyword argument")."""
    cls = get_step(name)
    options = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for key in params:
        if key not in options:
            hint = did_you_mean(str(key), options)
            msg = f"step {name!r} has no option {key!r}{hint} (options: {', '.join(options)})"
            raise SpecError(msg)
    annotations = {k: str(v.annotation) for k, v in inspect.signature(cls.__init__).parameters.items()}
    params = {key: _coerced(name, key, value, annotations.get(key, "")) for key, value in params.items()}
    try:
        return cls(**params)
    except TypeError as exc:
        msg = f"step {name!r}: {exc}"
        raise SpecError(msg) from None


_NUMBER_TYPES = ("float", "int", "float | None", "int | None", "float | str")


def _coerced(step: str, key: str, value: Any, annotation: str) -> Any:
    """A spec's value as the option takes it: one name where a list is taken is a list of it (``columns=price``
    was read letter by letter: "column 'p' not found"); a number option given text that is no number is refused
    here, naming the option, rather than failing with a traceback at fit."""
    if isinstance(value, str) and annotation.startswith(("list[", "Sequence[")):
        return [value]
    if annotation in ("str", "str | None") and isinstance(value, list | dict):
        # (by=[region] raised a TypeError deep in the fit: 'unhashable type: list')
        example = f" (e.g. {key}={value[0]})" if isinstance(value, list) and value else ""
        msg = f"step {step!r}: {key}={value!r} takes one value, not a {type(value).__name__}{example}"
        raise SpecError(msg)
    if annotation in _NUMBER_TYPES and isinstance(value, str):
        try:
            number = float(value) if annotation != "float | str" else value
        except ValueError:
            msg = f"step {step!r}: {key}={value!r} is not a number"
            raise SpecError(msg) from None
        value = int(number) if annotation.startswith("int") and float(number).is_integer() else number
    if annotation.startswith("int") and isinstance(value, float):
        if not value.is_integer():  # k=2.5 was taken as 2 (or as 2.5) without a word
            msg = f"step {step!r}: {key}={value!r} must be a whole number"
            raise SpecError(msg)
        value = int(value)
    return value
