"""The model artifact: a directory with a manifest, audited before anything in it is used.

Layout::

    model/
      manifest.json      format name + version, library versions, task, target, input schema, features,
                         classes, metrics, source lineage, the spec, and the SHA-256 of every other file
      steps.json         fitted cleaning steps ({"step", "params", "state"} each, plain JSON)
      estimator/         the model payload written by assay.models.save_estimator (JSON, LightGBM text, skops)

Reading checks, in order: the manifest parses and names this format; its version is one this assay reads (a newer
one is refused, never half-loaded); every listed file exists and matches its hash; no payload file is read before
that. Writing goes to a temporary sibling directory that is renamed into place, so a crash never leaves half an
artifact where a good one was.
"""

from __future__ import annotations

import getpass
import json
import os
import platform
import re
import shutil
import socket
import tempfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from assay.exceptions import ArtifactError
from assay.sources._base import hash_file

__all__ = [
    "FORMAT", "FORMAT_VERSION", "absolute_local_uri", "created_by", "library_versions", "lineage_uri",
    "read_manifest", "verify_artifact", "without_secrets", "write_artifact",
]

FORMAT = "assay-model"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_LIBRARIES = ("polars", "numpy", "pyarrow", "scikit-learn", "lightgbm", "scipy")


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries a model's behaviour depends on."""
    from assay import __version__

    out = {"python": platform.python_version(), "assay": __version__}
    for name in _LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover - all are dependencies
            continue
    return out


def created_by() -> str:
    """``user@host`` of whoever runs this process, for lineage records."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry inside some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


# Query options that carry a secret (as assay.sources masks them in messages): never written into lineage.
_SECRET_OPTIONS = frozenset({"password", "pwd", "passwd", "token", "api_key", "apikey"})
_VARIABLE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


def lineage_uri(uri: str) -> str:
    """``uri`` as a model's lineage records it: a local file, folder or glob by its absolute path (a relative one
    means nothing once the model is used from another directory), any other URI as given but without its password
    or secret query options (a ``${VAR}`` reference is no secret and stays).

    >>> lineage_uri("postgresql://bob:secret@db/sales?table=t&password=x")
    'postgresql://bob@db/sales?table=t'
    >>> lineage_uri("https://api.example.com/v1/rows?token=abc&page=1")
    'https://api.example.com/v1/rows?page=1'
    >>> lineage_uri("postgresql://bob:${PGPASS}@db/sales")
    'postgresql://bob:${PGPASS}@db/sales'
    """
    from assay.sources import parse_uri

    if parse_uri(uri)[0] == "file" and not uri.startswith("file://"):
        return absolute_local_uri(uri)
    return without_secrets(uri)


def without_secrets(uri: str) -> str:
    """A (non-file) URI without its password and secret query options.

    >>> without_secrets("mysql://ann:pw@db:3306/shop?table=orders")
    'mysql://ann@db:3306/shop?table=orders'
    """
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(uri)
    netloc = parts.netloc
    if parts.password is not None and not _VARIABLE.fullmatch(parts.password):
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}@{host}"
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(k.lower() in _SECRET_OPTIONS for k, _ in pairs):
        query = urlencode([(k, v) for k, v in pairs if k.lower() not in _SECRET_OPTIONS], safe="/:,*")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def absolute_local_uri(uri: str) -> str:
    """The absolute form of a local path as assay.sources reads it (which may end in ``?options``, and may be a
    glob); anything that names no local file (a URI, a frame's description, another library's name) stays as it
    is."""
    import glob

    def found(path: str) -> bool:
        return os.path.exists(path) or (glob.has_magic(path) and bool(glob.glob(path, recursive=True)))

    full = os.path.expanduser(uri)
    if found(full):
        return os.path.abspath(full)
    for cut in [i for i, ch in enumerate(uri) if ch == "?"][::-1]:  # 'part-?.csv?separator=;' as the reader does
        before = os.path.expanduser(uri[:cut])
        if found(before):
            return f"{os.path.abspath(before)}{uri[cut:]}"
    return uri


def write_artifact(
    path: str | Path,
    *,
    manifest: dict[str, Any],
    steps: list[dict[str, Any]],
    write_payload: Any,
) -> Path:
    """Write an artifact atomically at ``path``.

    ``write_payload(directory)`` writes the estimator files into ``directory`` and returns their JSON meta, stored
    in the manifest under ``"estimator"``.
    """
    path = Path(path)
    source = manifest.get("source")
    if isinstance(source, dict) and isinstance(source.get("uri"), str):
        # (written in the process that read the data, so a relative path is still relative to where it was read)
        manifest = {**manifest, "source": {**source, "uri": lineage_uri(source["uri"])}}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        (tmp / "steps.json").write_text(json.dumps(steps, ensure_ascii=False, indent=1), encoding="utf-8")
        payload_dir = tmp / "estimator"
        payload_dir.mkdir()
        estimator_meta = write_payload(payload_dir)
        files = {
            p.relative_to(tmp).as_posix(): hash_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()
        }
        full = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "created_by": created_by(),
            "library_versions": library_versions(),
            **manifest,
            "estimator": estimator_meta,
            "files": files,
        }
        (tmp / MANIFEST).write_text(json.dumps(full, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of the artifact at ``path``, checked for format and version (files not yet verified)."""
    path = Path(path)
    file = path / MANIFEST
    if not path.exists():
        msg = f"model artifact not found: {path}"
        raise ArtifactError(msg)
    if not file.is_file():
        inside = path / "model"
        hint = (f"; did you mean {inside} (assay train writes the model there, beside metrics.json and the report)?"
                if (inside / MANIFEST).is_file() else "; pass the model directory written by assay train")
        msg = f"{path} is not an assay model artifact (no {MANIFEST}){hint}"
        raise ArtifactError(msg)
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        msg = f"{file} is not valid JSON ({exc}); the artifact is damaged"
        raise ArtifactError(msg) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        msg = f"{file} does not describe an assay model (format is {manifest.get('format')!r}, expected {FORMAT!r})"
        raise ArtifactError(msg)
    version = manifest.get("format_version")
    if not isinstance(version, int) or version < 1:
        msg = f"{file} has an invalid format_version {version!r}"
        raise ArtifactError(msg)
    if version > FORMAT_VERSION:
        msg = (
            f"model at {path} uses artifact format {version}, newer than this assay reads (up to {FORMAT_VERSION}); "
            f"upgrade assay (pip install -U assay) to load it"
        )
        raise ArtifactError(msg)
    return manifest


def verify_artifact(path: str | Path) -> dict[str, Any]:
    """Check every file's SHA-256 against the manifest; return the manifest. Nothing is loaded before this passes."""
    path = Path(path)
    manifest = read_manifest(path)
    files = manifest.get("files")
    if not isinstance(files, dict) or "steps.json" not in files:
        msg = f"{path / MANIFEST} lists no files; the artifact is incomplete"
        raise ArtifactError(msg)
    root = path.resolve()
    for rel, expected in files.items():
        file = (path / rel).resolve()
        if root not in file.parents:
            msg = f"{path / MANIFEST} lists a file outside the artifact: {rel!r}"
            raise ArtifactError(msg)
        if not file.is_file():
            msg = f"model artifact {path} is incomplete: {rel} is missing"
            raise ArtifactError(msg)
        actual = hash_file(file)
        if actual != expected:
            msg = (
                f"model artifact {path} was modified after it was written: {rel} has SHA-256 {actual[:12]}…, "
                f"the manifest says {str(expected)[:12]}…; refusing to load it"
            )
            raise ArtifactError(msg)
    return manifest
