"""Registry: the model artifact format and (with the store) versions, aliases and lineage."""

from __future__ import annotations

from assay.registry._artifact import FORMAT, FORMAT_VERSION, read_manifest, verify_artifact, write_artifact
from assay.registry._profile import drift_report, profile_frame
from assay.registry._store import DEFAULT_REGISTRY, ModelVersion, Registry, open_registry

__all__ = [
    "DEFAULT_REGISTRY",
    "FORMAT",
    "FORMAT_VERSION",
    "ModelVersion",
    "Registry",
    "drift_report",
    "open_registry",
    "profile_frame",
    "read_manifest",
    "verify_artifact",
    "write_artifact",
]
