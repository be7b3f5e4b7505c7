"""Sources: everything assay reads, named by one URI (files, SQL, HTTP APIs, streams).

>>> from assay.sources import parse_uri
>>> parse_uri("redis://localhost:6379/orders")[0]
'redis'
"""

from __future__ import annotations

from assay.sources._base import SCHEMES, Source, mask_uri, open_source, parse_uri, read_source
from assay.sources._files import DEFAULT_NULL_VALUES, FileSource
from assay.sources._ingest import IngestStats, ingest
from assay.sources._sinks import open_sink, scan_dataset

__all__ = ["DEFAULT_NULL_VALUES", "SCHEMES", "FileSource", "IngestStats", "Source", "ingest", "mask_uri",
           "open_sink", "open_source", "parse_uri", "read_source", "scan_dataset"]
