"""The one error tree of assay.

Every error assay raises on purpose derives from :class:`AssayError`, itself a ``ValueError`` so that code which
already catches ``ValueError`` keeps working. The CLI turns any ``AssayError`` into a one-line message and exit
code 2; anything else is a bug and keeps its traceback.

::

    AssayError(ValueError)
    ├── SpecError              a pipeline spec or option is invalid (names the field and the fix)
    ├── SourceError            a source cannot be opened or read (names the file/URI, masks passwords)
    │   ├── SourceNotFoundError    the file, table or host does not exist
    │   ├── UnsupportedSourceError unknown extension or URI scheme
    │   ├── DecodeError            bytes that are not valid in any encoding tried
    │   └── EmptySourceError       a source with no rows or no columns
    ├── SchemaError            a column is missing, has the wrong type, or a target is unusable
    ├── NotFittedError(AssayError, AttributeError)   a step or model used before fit
    ├── ModelError             training or prediction failed in a model
    ├── ArtifactError          a model artifact is tampered, incomplete, or of an unknown format version
    ├── RegistryError          a model name, version or alias is unknown, or an operation is not allowed
    └── MissingDependencyError(AssayError, ImportError)   an optional extra is not installed
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "ArtifactError",
    "AssayError",
    "DecodeError",
    "EmptySourceError",
    "MissingDependencyError",
    "ModelError",
    "NotFittedError",
    "RegistryError",
    "RegistryNotFoundError",
    "SchemaError",
    "SourceError",
    "SourceNotFoundError",
    "SpecError",
    "UnsupportedSourceError",
    "did_you_mean",
]


class AssayError(ValueError):
    """Root of every error assay raises on purpose."""


class SpecError(AssayError):
    """A pipeline spec, CLI option or parameter is invalid."""


class SourceError(AssayError):
    """A data source cannot be opened or read."""


class SourceNotFoundError(SourceError):
    """The file, table, queue or host named by a source does not exist."""


class UnsupportedSourceError(SourceError):
    """The file extension or URI scheme is not one assay reads."""


class DecodeError(SourceError):
    """The bytes of a text source are not valid in any of the encodings tried."""


class EmptySourceError(SourceError):
    """A source has no rows or no columns."""


class SchemaError(AssayError):
    """A column is missing or unusable for what was asked."""


class NotFittedError(AssayError, AttributeError):
    """A step or model was used before ``fit``."""


class ModelError(AssayError):
    """A model failed to train or predict."""


class ArtifactError(AssayError):
    """A model artifact is tampered with, incomplete, or of a format this version cannot read."""


class RegistryError(AssayError):
    """A registry operation names something unknown or is not allowed."""


class RegistryNotFoundError(RegistryError):
    """No registry exists at the location given, and the operation does not create one."""


class MissingDependencyError(AssayError, ImportError):
    """An optional dependency is not installed."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or ``""`` when nothing is close.

    >>> did_you_mean("agee", ["age", "income"])
    "; did you mean 'age'?"
    >>> did_you_mean("zzz", ["age"])
    ''
    """
    close = difflib.get_close_matches(name, [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""
