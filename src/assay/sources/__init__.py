"""Sources: everything assay reads, named by one URI (files, SQL, HTTP APIs, streams).

>>> from assay.sources import parse_uri
>>> parse_uri("redis://localhost:6379/orders")[0]
'redis'
"""

from __future__ import annotations

from assay.sources._base import SCHEMES, Source, mask_uri, open_source, parse_uri, read_source
from assay.sources._files import DEFAULT_NULL_VALUES, FileSource

__all__ = ["DEFAULT_NULL_VALUES", "SCHEMES", "FileSource", "Source", "mask_uri", "open_source", "parse_uri",
           "read_source"]
