"""Imports of optional dependencies, done where they are used so that ``import assay`` stays light."""

from __future__ import annotations

import importlib
from types import ModuleType

from assay.exceptions import MissingDependencyError

__all__ = ["import_optional"]


def import_optional(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise an error that names the extra to install.

    >>> import_optional("json", "core").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        msg = f"{module} is needed for this feature but is not installed; run: pip install 'assay[{extra}]'"
        raise MissingDependencyError(msg) from exc
