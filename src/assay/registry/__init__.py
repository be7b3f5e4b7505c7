"""Registry: the model artifact format and (with the store) versions, aliases and lineage."""

from __future__ import annotations

from assay.registry._artifact import FORMAT, FORMAT_VERSION, read_manifest, verify_artifact, write_artifact

__all__ = ["FORMAT", "FORMAT_VERSION", "read_manifest", "verify_artifact", "write_artifact"]
