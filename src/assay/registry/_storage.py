"""Where the registry keeps artifacts: a local directory, or any fsspec file system with a local verified cache.

Both stores take a staged, already verified artifact directory and a relative key ``<name>/<version>``. The local
store renames the staged directory into place (atomic on one file system). The fsspec store uploads every file
under ``<root>/<name>/<version>/`` and, when a version is loaded, downloads it into a local cache directory, checks
every file's SHA-256 against the manifest and only then moves it into the cache — a tampered or half-written remote
copy is refused, never loaded. The database row is written after the upload, so a version the registry lists is
always complete in the store.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from assay.registry._artifact import verify_artifact

__all__ = ["ArtifactStore", "FsspecStore", "LocalStore", "is_remote", "open_store"]


def is_remote(location: str) -> bool:
    """True for an fsspec URL (``s3://``, ``gcs://``, ``memory://``, ``file://``…), False for a plain path."""
    return "://" in location


class ArtifactStore:
    """Interface shared by both stores (see the module docstring)."""

    uri: str

    def staging_parent(self) -> Path:  # a local directory where a new version is assembled before ``put``
        raise NotImplementedError

    def put(self, staged: Path, key: str) -> None:
        raise NotImplementedError

    def local_path(self, key: str) -> Path:  # where the version is (or will be, once fetched) on this machine
        raise NotImplementedError

    def fetch(self, key: str) -> Path:  # a verified local copy, downloading it when needed
        raise NotImplementedError

    def evict(self, key: str) -> None:  # forget a local copy that failed to load (remote stores only)
        return None

    def remove(self, key: str) -> None:
        raise NotImplementedError

    def location(self, key: str) -> str:
        raise NotImplementedError


class LocalStore(ArtifactStore):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.uri = str(root)

    def staging_parent(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root  # same file system as the final place, so ``put`` is a rename

    def put(self, staged: Path, key: str) -> None:
        final = self.root / key
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():  # left by a crash between rename and commit: never registered
            shutil.rmtree(final)
        staged.rename(final)

    def local_path(self, key: str) -> Path:
        return self.root / key

    def fetch(self, key: str) -> Path:
        return self.root / key

    def remove(self, key: str) -> None:
        shutil.rmtree(self.root / key, ignore_errors=True)

    def location(self, key: str) -> str:
        return str(self.root / key)


class FsspecStore(ArtifactStore):
    def __init__(self, url: str, cache: Path) -> None:
        import fsspec

        self.uri = url.rstrip("/")
        try:
            self.fs, root = fsspec.core.url_to_fs(self.uri)
        except (ImportError, ValueError) as exc:  # unknown protocol, or its fsspec plugin (s3fs, gcsfs…) missing
            from assay.exceptions import RegistryError

            msg = f"cannot open the artifact store {self.uri}: {exc}"
            raise RegistryError(msg) from exc
        self.root = root.rstrip("/")
        # One cache directory per store URL, so two registries with different stores never mix their copies.
        self.cache = cache / hashlib.sha256(self.uri.encode()).hexdigest()[:16]

    def _remote(self, key: str) -> str:
        return f"{self.root}/{key}"

    def staging_parent(self) -> Path:
        self.cache.mkdir(parents=True, exist_ok=True)
        return self.cache

    def put(self, staged: Path, key: str) -> None:
        target = self._remote(key)
        if self.fs.exists(target):  # left by a crash between upload and commit: never registered
            self.fs.rm(target, recursive=True)
        # File by file rather than ``fs.put(recursive=True)``: the latter's trailing-slash rules differ between
        # fsspec implementations, and an artifact is a handful of files.
        for path in sorted(staged.rglob("*")):
            if path.is_file():
                rel = path.relative_to(staged).as_posix()
                parent = f"{target}/{rel}".rsplit("/", 1)[0]
                self.fs.makedirs(parent, exist_ok=True)
                self.fs.put_file(str(path), f"{target}/{rel}")
        # Keep the verified staged copy as the local cache: the next load on this machine needs no download.
        cached = self.local_path(key)
        if cached.exists():
            shutil.rmtree(cached)
        cached.parent.mkdir(parents=True, exist_ok=True)
        staged.rename(cached)

    def local_path(self, key: str) -> Path:
        return self.cache / key

    def fetch(self, key: str) -> Path:
        cached = self.local_path(key)
        if (cached / "manifest.json").exists():
            return cached
        remote = self._remote(key)
        self.cache.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".fetch-", dir=self.cache))
        try:
            for file in self.fs.find(remote):
                rel = file[len(remote.rstrip("/")) + 1:] if file.startswith(remote) else Path(file).name
                dest = tmp / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(file, str(dest))
            verify_artifact(tmp)  # every file's SHA-256 against the manifest, before anything trusts the copy
            cached.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(tmp, cached)
            except OSError:  # a concurrent fetch of the same version won; its copy verified too
                if not (cached / "manifest.json").exists():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return cached

    def evict(self, key: str) -> None:
        shutil.rmtree(self.local_path(key), ignore_errors=True)

    def remove(self, key: str) -> None:
        target = self._remote(key)
        if self.fs.exists(target):
            self.fs.rm(target, recursive=True)
        self.evict(key)

    def location(self, key: str) -> str:
        return f"{self.uri}/{key}"


def open_store(location: str | Path, cache: Path | None = None) -> ArtifactStore:
    """A local store for a path, an fsspec store (cached under ``cache``) for a URL."""
    text = str(location)
    if is_remote(text):
        default = Path(os.environ.get("ASSAY_CACHE", "~/.assay/cache")).expanduser() / "artifacts"
        return FsspecStore(text, cache or default)
    return LocalStore(Path(text).expanduser())
