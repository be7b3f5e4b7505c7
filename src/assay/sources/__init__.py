"""Sources: everything assay reads, named by one URI (files, SQL, HTTP APIs, streams).

>>> from assay.sources import parse_uri
>>> parse_uri("redis://localhost:6379/orders")[0]
'redis'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.sources._base import SCHEMES, Source, mask_uri, open_source, parse_uri, read_source
from assay.sources._files import DEFAULT_NULL_VALUES, FileSource
from assay.sources._sinks import open_sink, scan_dataset

if TYPE_CHECKING:
    from assay.sources._ingest import IngestStats, ingest

__all__ = ["DEFAULT_NULL_VALUES", "SCHEMES", "FileSource", "IngestStats", "Source", "ingest", "mask_uri",
           "open_sink", "open_source", "parse_uri", "read_source", "scan_dataset"]


def __getattr__(name: str) -> Any:
    # Ingestion (and the asyncio stream clients under it) loads when first asked for: reading a file or a table
    # does not pay for it (about 15 ms of every `assay profile`).
    if name in ("IngestStats", "ingest"):
        from assay.sources import _ingest

        return getattr(_ingest, name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
