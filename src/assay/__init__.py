"""assay: from raw data to a deployed, watched model.

The public face of the package. Heavy or optional libraries are imported where they are used, never here.
"""

from __future__ import annotations

from assay._version import __version__
from assay.exceptions import AssayError
from assay.sources import open_source, read_source

load = read_source

__all__ = ["AssayError", "__version__", "load", "open_source"]
