"""The model registry: versions per name, aliases with history, lineage, artifacts copied into its own storage.

Metadata lives in an embedded SQLite file (default) or a PostgreSQL schema (for teams); artifacts are copied into a
local directory owned by the registry (``artifacts/<name>/<version>/``) or into any fsspec file system
(``artifacts=s3://bucket/prefix`` and the like, with a local verified cache), verified (SHA-256 of every file) before
they are copied and again before they are loaded. Registering takes the database's write lock (``BEGIN
IMMEDIATE`` on SQLite, ``LOCK TABLE`` on PostgreSQL) around "next version number + insert", so concurrent writers
in different processes get distinct, consecutive versions.

Where the registry is: ``open_registry(location)`` with a directory, ``sqlite:///dir/registry.sqlite`` or
``postgresql://user@host/db?schema=NAME&artifacts=DIR_OR_URL``; without one, ``$ASSAY_REGISTRY``, else
``~/.assay/registry``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from assay.exceptions import RegistryError, RegistryNotFoundError, SpecError, did_you_mean
from assay.registry._artifact import created_by, verify_artifact, without_secrets
from assay.registry._storage import ArtifactStore, LocalStore, open_store

__all__ = ["DEFAULT_REGISTRY", "ModelVersion", "Registry", "open_registry"]

DEFAULT_REGISTRY = Path("~/.assay/registry")
PRODUCTION = "production"
# ASCII only: the name is also a directory, a URL segment, a Prometheus label and an HTTP header value (Latin-1).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_VERSION_REF = re.compile(r"[vV]?[0-9]+")  # what _resolve reads as a version number
_SCHEMA = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

_DDL = [
    """CREATE TABLE IF NOT EXISTS assay_versions (
        name TEXT NOT NULL, version INTEGER NOT NULL, path TEXT NOT NULL, manifest TEXT NOT NULL,
        profile TEXT, registered_at TEXT NOT NULL, registered_by TEXT NOT NULL, description TEXT,
        PRIMARY KEY (name, version))""",
    """CREATE TABLE IF NOT EXISTS assay_aliases (
        name TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (name, alias))""",
    # The highest version number each name has had, deleted ones included: numbers are never given twice (a
    # prediction log, feedback, alias history and artifact caches keyed by name and version must not mix two
    # models under one number).
    """CREATE TABLE IF NOT EXISTS assay_version_numbers (name TEXT PRIMARY KEY, last INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS assay_alias_history (
        name TEXT NOT NULL, alias TEXT NOT NULL, seq INTEGER NOT NULL, version INTEGER NOT NULL,
        set_at TEXT NOT NULL, set_by TEXT NOT NULL, undone INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (name, alias, seq))""",
]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def check_name(name: str, kind: str = "model name") -> str:
    """A model name (or alias, ``kind``): ASCII letters, digits, ``.``, ``_``, ``-`` (a directory, a URL segment, an
    HTTP header)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        example = "staging" if kind == "alias" else "member-model"
        msg = (
            f"invalid {kind} {name!r}: use ASCII letters, digits, '.', '_' or '-' (up to 128, not starting "
            f"with . _ -), e.g. {example}"
        )
        raise RegistryError(msg)
    if kind == "alias" and _VERSION_REF.fullmatch(name):
        # (a reference reads "3" and "v3" as version 3: an alias of that name could never be reached)
        raise RegistryError(f"invalid alias {name!r}: it reads as a version number; use a name, e.g. staging")
    return name


@dataclass
class ModelVersion:
    """One registered version: where its artifact is, its manifest (lineage) and its training profile."""

    name: str
    version: int
    path: Path  # on this machine (for an fsspec store: the local cache, filled by ``Registry.load``)
    manifest: dict[str, Any]
    registered_at: str
    registered_by: str
    aliases: list[str] = field(default_factory=list)
    profile: dict[str, Any] | None = None
    description: str | None = None
    uri: str | None = None  # where the registry stores the artifact (a path or an fsspec URL)

    @property
    def lineage(self) -> dict[str, Any]:
        """Source URI, data fingerprint, spec, metrics, library versions, created at/by."""
        m = self.manifest
        source = m.get("source") or {}
        uri = source.get("uri")
        if isinstance(uri, str) and "://" in uri:  # (a version trained before lineage left passwords out)
            uri = without_secrets(uri)
        return {
            "source_uri": uri,
            "data_fingerprint": source.get("fingerprint"),
            "rows": source.get("rows"),
            "spec": m.get("spec"),
            "metrics": m.get("metrics"),
            "library_versions": m.get("library_versions"),
            "created_at": m.get("created_at"),
            "created_by": m.get("created_by"),
            "registered_at": self.registered_at,
            "registered_by": self.registered_by,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "aliases": self.aliases,
            "path": str(self.path),
            "uri": self.uri or str(self.path),
            "task": self.manifest.get("task"),
            "model": self.manifest.get("model_name"),
            "target": self.manifest.get("target"),
            "input_schema": self.manifest.get("input_schema"),
            "classes": self.manifest.get("classes"),
            "lineage": self.lineage,
            "has_profile": self.profile is not None,
            "description": self.description,
        }


class _Sql:
    """A tiny dialect layer: SQL is written with ``?`` placeholders; PostgreSQL gets ``%s``."""

    def __init__(self, kind: str, target: str, schema: str | None = None) -> None:
        self.kind = kind
        self.target = target
        self.schema = schema

    @contextmanager
    def connect(self, write: bool = False, ddl: bool = False) -> Iterator[Any]:
        if self.kind == "sqlite":
            try:
                with self._sqlite(write, ddl) as cur:
                    yield cur
            except sqlite3.IntegrityError:  # (a statement's own failure, not the file's)
                raise
            except sqlite3.DatabaseError as exc:  # not a database, damaged, locked past the timeout
                msg = f"the registry database {self.target} cannot be used: {exc}"
                raise RegistryError(msg) from exc
            return
        import psycopg

        try:
            conn = psycopg.connect(self.target, connect_timeout=10)
        except psycopg.OperationalError as exc:
            msg = f"cannot connect to the registry database {_mask(self.target)}: {str(exc).strip()}"
            raise RegistryError(msg) from exc
        try:
            with conn.transaction():
                raw = conn.cursor()
                raw.execute(f'SET LOCAL search_path TO "{self.schema}"')
                if ddl:  # creating tables: serialise creators (IF NOT EXISTS alone races on PostgreSQL)
                    raw.execute("SELECT pg_advisory_xact_lock(4242001)")
                elif write:
                    # One writer at a time: "max(version)+1 then insert" must not interleave.
                    raw.execute("LOCK TABLE assay_versions IN EXCLUSIVE MODE")
                yield _Cursor(raw, "postgresql")
        finally:
            conn.close()

    @contextmanager
    def _sqlite(self, write: bool, ddl: bool) -> Iterator[Any]:
        conn = sqlite3.connect(self.target, timeout=60, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=60000")
            conn.execute("BEGIN IMMEDIATE" if write or ddl else "BEGIN")
            cur = _Cursor(conn.cursor(), "sqlite")
            try:
                yield cur
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()


class _Cursor:
    def __init__(self, cur: Any, kind: str) -> None:
        self.cur = cur
        self.kind = kind

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Cursor:
        if self.kind == "postgresql":
            sql = sql.replace("?", "%s")
        self.cur.execute(sql, tuple(params))
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self.cur.fetchall())

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.cur.fetchone()


def _mask(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return uri


class Registry:
    """Versions, aliases and lineage of named models. Create it with :func:`open_registry`."""

    def __init__(self, location: str, sql: _Sql, artifacts: Path | ArtifactStore, log_target: str) -> None:
        self.location = location
        self._sql = sql
        self.store = artifacts if isinstance(artifacts, ArtifactStore) else LocalStore(Path(artifacts))
        # The local directory the artifacts live in (for an fsspec store: its local cache).
        self.artifacts = self.store.root if isinstance(self.store, LocalStore) else self.store.staging_parent()
        # Where the server keeps its prediction log: beside the registry (same database for PostgreSQL).
        self.log_target = log_target
        self._init()

    def __repr__(self) -> str:
        return f"Registry({_mask(self.location)!r})"

    @property
    def kind(self) -> str:
        return self._sql.kind

    def _init(self) -> None:
        self.artifacts.mkdir(parents=True, exist_ok=True)
        if self._sql.kind == "postgresql":
            import psycopg

            try:
                with psycopg.connect(self._sql.target, connect_timeout=10, autocommit=True) as conn:
                    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._sql.schema}"')
            except psycopg.errors.UniqueViolation:  # a concurrent creator won the race
                pass
            except psycopg.OperationalError as exc:
                msg = f"cannot connect to the registry database {_mask(self._sql.target)}: {str(exc).strip()}"
                raise RegistryError(msg) from exc
        with self._sql.connect(ddl=True) as cur:
            for ddl in _DDL:
                cur.execute(ddl)

    # -- writing ----------------------------------------------------------------------------------------------
    def register(
        self,
        model_path: str | Path,
        name: str,
        *,
        aliases: Sequence[str] = (),
        reference: Any = None,
        description: str | None = None,
    ) -> int:
        """Copy the artifact at ``model_path`` into the registry as the next version of ``name``; return it.

        The first version of a new name becomes ``production``. ``aliases`` are pointed at the new version too.
        ``reference`` (a frame or source URI of training data) gives the drift profile; without it the profile
        comes from the manifest's ``training_profile`` or, when the training source is a readable file whose
        fingerprint still matches, from that file.
        """
        check_name(name)
        for alias in aliases:
            check_name(alias, "alias")
        src = Path(model_path)
        manifest = verify_artifact(src)
        staging = Path(tempfile.mkdtemp(prefix=f".incoming-{name}-", dir=self.store.staging_parent()))
        final: str | None = None
        try:
            copy = staging / "model"
            shutil.copytree(src, copy)
            verify_artifact(copy)  # the copy, not only the original, must match the manifest
            profile = _training_profile(manifest, reference, copy, src)
            with self._sql.connect(write=True) as cur:
                version = self._last_number(cur, name) + 1
                self._note_number(cur, name, version)
                final = f"{name}/{version}"
                self.store.put(copy, final)
                cur.execute(
                    "INSERT INTO assay_versions (name, version, path, manifest, profile, registered_at, "
                    "registered_by, description) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        name,
                        version,
                        final,
                        json.dumps(manifest, default=str),
                        None if profile is None else json.dumps(profile),
                        _now(),
                        created_by(),
                        description,
                    ),
                )
                targets = list(aliases)
                if self._alias(cur, name, PRODUCTION) is None:  # a new name (or one whose production was removed)
                    targets.append(PRODUCTION)
                for alias in dict.fromkeys(targets):
                    self._set_alias(cur, name, alias, version)
            final = None
            return version
        except BaseException:
            if final is not None:
                self.store.remove(final)
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _last_number(self, cur: _Cursor, name: str) -> int:
        """The highest version number ``name`` has had (registered now, or deleted since)."""
        row = cur.execute("SELECT max(version) FROM assay_versions WHERE name = ?", (name,)).fetchone()
        kept = cur.execute("SELECT last FROM assay_version_numbers WHERE name = ?", (name,)).fetchone()
        # (a registry written before the table existed has no row: its highest registered version counts)
        return max(int(row[0] or 0) if row else 0, int(kept[0]) if kept else 0)

    def _note_number(self, cur: _Cursor, name: str, version: int) -> None:
        cur.execute(
            "INSERT INTO assay_version_numbers (name, last) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET last = excluded.last",
            (name, version),
        )

    def _alias(self, cur: _Cursor, name: str, alias: str) -> int | None:
        row = cur.execute("SELECT version FROM assay_aliases WHERE name = ? AND alias = ?", (name, alias)).fetchone()
        return None if row is None else int(row[0])

    def _set_alias(self, cur: _Cursor, name: str, alias: str, version: int) -> None:
        cur.execute("DELETE FROM assay_aliases WHERE name = ? AND alias = ?", (name, alias))
        cur.execute("INSERT INTO assay_aliases (name, alias, version) VALUES (?, ?, ?)", (name, alias, version))
        row = cur.execute(
            "SELECT max(seq) FROM assay_alias_history WHERE name = ? AND alias = ?", (name, alias)
        ).fetchone()
        seq = int(row[0] or 0) + 1 if row else 1
        cur.execute(
            "INSERT INTO assay_alias_history (name, alias, seq, version, set_at, set_by) VALUES (?, ?, ?, ?, ?, ?)",
            (name, alias, seq, version, _now(), created_by()),
        )

    def promote(self, name: str, version: int | str, alias: str = PRODUCTION) -> int:
        """Point ``alias`` of ``name`` at ``version`` (a number or another alias); return that version."""
        check_name(alias, "alias")
        with self._sql.connect(write=True) as cur:
            target = self._resolve(cur, name, version)
            if self._alias(cur, name, alias) != target:
                self._set_alias(cur, name, alias, target)
        return target

    def rollback(self, name: str, alias: str = PRODUCTION, *, dry_run: bool = False) -> int:
        """Point ``alias`` back at the version it held before the current one; return that version.

        ``dry_run``: only say which version that would be (to check it loads before anything moves)."""
        with self._sql.connect(write=not dry_run) as cur:
            self._check_model(cur, name)
            rows = cur.execute(
                "SELECT seq, version FROM assay_alias_history WHERE name = ? AND alias = ? AND undone = 0 "
                "ORDER BY seq DESC",
                (name, alias),
            ).fetchall()
            existing = {
                int(r[0]) for r in cur.execute("SELECT version FROM assay_versions WHERE name = ?", (name,)).fetchall()
            }
            if not rows:
                msg = f"model {name!r} has no alias {alias!r} to roll back"
                raise RegistryError(msg)
            current = int(rows[0][1])
            for seq, version in rows[1:]:
                if int(version) != current and int(version) in existing:
                    if dry_run:
                        return int(version)
                    # Undo everything after the target so a second rollback steps further back.
                    cur.execute(
                        "UPDATE assay_alias_history SET undone = 1 WHERE name = ? AND alias = ? AND seq > ?",
                        (name, alias, int(seq)),
                    )
                    # (delete + insert: after ``delete --force`` of the version it held, the alias has no row)
                    cur.execute("DELETE FROM assay_aliases WHERE name = ? AND alias = ?", (name, alias))
                    cur.execute(
                        "INSERT INTO assay_aliases (name, alias, version) VALUES (?, ?, ?)", (name, alias, int(version))
                    )
                    return int(version)
            earlier = sorted({int(v) for _, v in rows[1:] if int(v) != current})
            if earlier:  # it did point elsewhere, but those versions have been deleted since
                msg = (
                    f"model {name!r}: {alias} pointed before at version(s) {', '.join(map(str, earlier))}, "
                    f"deleted since; there is no previous version to roll back to"
                )
            else:
                undone = sorted(
                    {
                        int(r[0])
                        for r in cur.execute(
                            "SELECT version FROM assay_alias_history WHERE name = ? AND alias = ? AND undone = 1",
                            (name, alias),
                        ).fetchall()
                    }
                    - {current}
                )
                if undone:  # a rollback already brought it back here: say so, not "only ever pointed here"
                    msg = (
                        f"model {name!r}: {alias} is back at version {current}, the earliest version it pointed "
                        f"at (rolled back from version(s) {', '.join(map(str, undone))}); there is no earlier "
                        f"version to roll back to (promote a version to serve it again)"
                    )
                else:
                    msg = (
                        f"model {name!r}: {alias} has pointed only at version {current}; "
                        f"there is no previous version to roll back to"
                    )
            raise RegistryError(msg)

    def delete(self, name: str, version: int | str, *, force: bool = False) -> None:
        """Delete one version and its artifact; refused while an alias points at it (unless ``force``)."""
        with self._sql.connect(write=True) as cur:
            target = self._resolve(cur, name, version)
            held = [
                r[0]
                for r in cur.execute(
                    "SELECT alias FROM assay_aliases WHERE name = ? AND version = ?", (name, target)
                ).fetchall()
            ]
            held.sort()
            if held and not force:
                msg = (
                    f"model {name!r} version {target} is {', '.join(held)}; promote another version or roll back "
                    f"first (or pass force=True / --force)"
                )
                raise RegistryError(msg)
            path = cur.execute(
                "SELECT path FROM assay_versions WHERE name = ? AND version = ?", (name, target)
            ).fetchone()
            self._note_number(cur, name, self._last_number(cur, name))  # (kept past the delete of the highest)
            cur.execute("DELETE FROM assay_aliases WHERE name = ? AND version = ?", (name, target))
            cur.execute("DELETE FROM assay_versions WHERE name = ? AND version = ?", (name, target))
        if path is not None:
            self.store.remove(path[0])

    # -- reading ----------------------------------------------------------------------------------------------
    def _check_model(self, cur: _Cursor, name: str) -> None:
        if cur.execute("SELECT 1 FROM assay_versions WHERE name = ? LIMIT 1", (name,)).fetchone() is None:
            names = sorted(r[0] for r in cur.execute("SELECT DISTINCT name FROM assay_versions").fetchall())
            msg = f"no model named {name!r} in the registry {_mask(self.location)}{did_you_mean(name, names)}"
            raise RegistryError(msg)

    def _resolve(self, cur: _Cursor, name: str, ref: int | str | None) -> int:
        self._check_model(cur, name)
        if ref is None:
            found = self._alias(cur, name, PRODUCTION)
            if found is not None:
                return found
            row = cur.execute("SELECT max(version) FROM assay_versions WHERE name = ?", (name,)).fetchone()
            return int(row[0])
        text = str(ref).strip()
        if text[:1] in ("v", "V") and text[1:].isdigit():  # "v3" reads as version 3
            text = text[1:]
        if text.isascii() and text.isdigit():  # (not "²", which isdigit() also takes)
            version = int(text)
            # (a number past the databases' 64-bit integers cannot be one, and would not fit the query)
            if (
                version >= 2**63
                or cur.execute(
                    "SELECT 1 FROM assay_versions WHERE name = ? AND version = ?", (name, version)
                ).fetchone()
                is None
            ):
                have = [
                    str(r[0])
                    for r in cur.execute(
                        "SELECT version FROM assay_versions WHERE name = ? ORDER BY version", (name,)
                    ).fetchall()
                ]
                msg = f"model {name!r} has no version {version} (versions: {', '.join(have)})"
                raise RegistryError(msg)
            return version
        found = self._alias(cur, name, text)
        if found is None:
            rows = cur.execute("SELECT alias FROM assay_aliases WHERE name = ?", (name,)).fetchall()
            have = sorted(r[0] for r in rows)
            msg = (
                f"model {name!r} has no alias {text!r}{did_you_mean(text, have)} (aliases: {', '.join(have) or 'none'})"
            )
            raise RegistryError(msg)
        return found

    def resolve(self, name: str, ref: int | str | None = None) -> int:
        """The version number for ``ref``: a number, an alias, or None for production (else the latest)."""
        with self._sql.connect() as cur:
            return self._resolve(cur, name, ref)

    def names(self) -> list[str]:
        """Every model name, in code-point order (``Zeta`` before ``a_b`` before ``ab``) on every backend."""
        # Sorted here, not with ORDER BY: PostgreSQL orders text by the database's collation (en_US puts ``a_b``
        # after ``ab`` and ignores case), SQLite by bytes; the same registry must list the same way on both.
        with self._sql.connect() as cur:
            return sorted(r[0] for r in cur.execute("SELECT DISTINCT name FROM assay_versions").fetchall())

    def aliases(self, name: str) -> dict[str, int]:
        with self._sql.connect() as cur:
            self._check_model(cur, name)
            rows = cur.execute("SELECT alias, version FROM assay_aliases WHERE name = ?", (name,)).fetchall()
        # (in code-point order on every backend, as in names())
        return {r[0]: int(r[1]) for r in sorted(rows)}

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first."""
        with self._sql.connect() as cur:
            self._check_model(cur, name)
            rows = cur.execute(
                "SELECT name, version, path, manifest, profile, registered_at, registered_by, description "
                "FROM assay_versions WHERE name = ? ORDER BY version",
                (name,),
            ).fetchall()
            aliases = cur.execute("SELECT alias, version FROM assay_aliases WHERE name = ?", (name,)).fetchall()
        return [self._row(r, aliases) for r in rows]

    def get(self, name: str, ref: int | str | None = None) -> ModelVersion:
        """One version (number, alias, or None for production)."""
        with self._sql.connect() as cur:
            version = self._resolve(cur, name, ref)
            row = cur.execute(
                "SELECT name, version, path, manifest, profile, registered_at, registered_by, description "
                "FROM assay_versions WHERE name = ? AND version = ?",
                (name, version),
            ).fetchone()
            aliases = cur.execute("SELECT alias, version FROM assay_aliases WHERE name = ?", (name,)).fetchall()
        return self._row(row, aliases)

    def history(self, name: str, alias: str = PRODUCTION) -> list[dict[str, Any]]:
        """Every change of ``alias``, oldest first (rolled-back entries marked ``undone``)."""
        with self._sql.connect() as cur:
            self._check_model(cur, name)
            rows = cur.execute(
                "SELECT seq, version, set_at, set_by, undone FROM assay_alias_history WHERE name = ? AND alias = ? "
                "ORDER BY seq",
                (name, alias),
            ).fetchall()
        return [
            {"seq": int(r[0]), "version": int(r[1]), "set_at": r[2], "set_by": r[3], "undone": bool(r[4])} for r in rows
        ]

    def _row(self, r: tuple[Any, ...], aliases: list[tuple[Any, ...]]) -> ModelVersion:
        version = int(r[1])
        return ModelVersion(
            name=r[0],
            version=version,
            path=self.store.local_path(r[2]),
            uri=self.store.location(r[2]),
            manifest=json.loads(r[3]),
            profile=None if r[4] is None else json.loads(r[4]),
            registered_at=r[5],
            registered_by=r[6],
            description=r[7],
            aliases=sorted(a for a, v in aliases if int(v) == version),
        )

    def verify(self, name: str, ref: int | str | None = None) -> int:
        """Check a version's artifact as :meth:`load` would (every file's SHA-256; from an fsspec store, the local
        copy, downloaded when needed) without loading it; return the version number. ArtifactError when it fails."""
        mv = self.get(name, ref)
        self._checked(mv, lambda path: None)
        return mv.version

    def _checked(self, mv: ModelVersion, use: Any) -> Any:
        """``use(path)`` on the version's local copy once its files and manifest are verified. From an fsspec store a
        copy that fails is dropped and downloaded once more; a copy that fails again is not kept."""
        from assay.exceptions import ArtifactError

        key = f"{mv.name}/{mv.version}"

        def checked() -> Any:
            path = self.store.fetch(key)
            _as_registered(mv, verify_artifact(path))
            return use(path)

        try:
            return checked()
        except ArtifactError:
            if isinstance(self.store, LocalStore):
                raise
            self.store.evict(key)
        try:
            return checked()
        except ArtifactError:
            self.store.evict(key)
            raise

    def load(self, name: str, ref: int | str | None = None) -> Any:
        """Load a version as a :class:`~assay._fitted.Model` (every file's SHA-256 verified first, and the manifest
        compared with the one registered).

        From an fsspec store the version is downloaded into the local cache first (and verified there); a cached
        copy that no longer verifies is dropped and downloaded once more.
        """
        from assay._fitted import Model

        return self._checked(self.get(name, ref), Model.load)


def _as_registered(mv: ModelVersion, manifest: dict[str, Any]) -> None:
    """Refuse an artifact whose manifest differs from the one registered: the manifest holds the hashes of the
    other files but none of its own, so a changed feature order, schema or threshold (with the hashes left as they
    were) would otherwise load and predict wrongly without a word."""
    from assay.exceptions import ArtifactError

    def canonical(m: dict[str, Any]) -> str:
        return json.dumps(m, sort_keys=True, default=str)

    if canonical(manifest) != canonical(mv.manifest):
        changed = sorted(k for k in manifest.keys() | mv.manifest.keys() if manifest.get(k) != mv.manifest.get(k))
        msg = (
            f"model artifact {mv.uri or mv.path} was modified after it was registered: manifest.json differs from "
            f"the registered manifest of {mv.name} version {mv.version} (in {', '.join(changed) or 'its layout'}); "
            "refusing to load it"
        )
        raise ArtifactError(msg)


def _source_candidates(uri: str, origin: Path | None) -> list[str]:
    """Where the training file named in a manifest may be: the URI itself, and for a relative path (training
    records it as it was typed, relative to where it ran) the same path under each folder above the artifact's
    (``assay train data.csv`` writes ``out/NAME/model`` below that folder), so that registering from another
    directory still finds it. The data fingerprint decides which, if any, is the training data."""
    candidates = [uri]
    if "://" not in uri and not Path(uri).expanduser().is_absolute() and origin is not None:
        for parent in origin.resolve().parents:
            candidate = parent / uri
            if candidate.is_file() and str(candidate) not in candidates:
                candidates.append(str(candidate))
    return candidates


def _training_profile(
    manifest: dict[str, Any], reference: Any, artifact: Path, origin: Path | None = None
) -> dict[str, Any] | None:
    """Profile of the training inputs (and of the model's predictions on them), or None when no data is at hand.
    ``origin``: where the artifact was registered from (to find a training file named by a relative path)."""
    import polars as pl

    from assay.registry._profile import profile_frame

    frame = None
    if isinstance(reference, pl.LazyFrame):
        frame = reference.collect()
    elif isinstance(reference, pl.DataFrame):
        frame = reference
    elif reference is not None:
        from assay.sources import read_source

        frame = read_source(str(reference))
    else:
        if isinstance(manifest.get("training_profile"), dict):
            return manifest["training_profile"]
        source = manifest.get("source") or {}
        uri, fingerprint = source.get("uri"), source.get("fingerprint")
        if uri and fingerprint:
            from assay.sources import open_source

            for candidate in _source_candidates(str(uri), origin):
                try:
                    src = open_source(candidate)
                    if src.fingerprint() == fingerprint:
                        frame = src.read()
                        break
                except Exception:  # the training data moved or is unreachable: register without a profile
                    frame = None
    if frame is None or frame.height == 0:
        return None
    schema = manifest.get("input_schema") or {}
    inputs = frame.select([c for c in schema if c in frame.columns])
    if inputs.width == 0:
        msg = f"the reference data has none of the model's input columns ({', '.join(schema)})"
        raise SpecError(msg)
    profile = profile_frame(inputs)
    sample = inputs.sample(min(inputs.height, 5000), seed=0) if inputs.height > 5000 else inputs
    try:
        from assay._fitted import Model

        predicted = Model.load(artifact).predict(sample)
        profile["predictions"] = profile_frame(predicted.select(predicted.columns[:1]))
    except Exception as exc:  # the profile is optional: a model that cannot predict here still registers
        profile["predictions_error"] = str(exc)[:300]
    return profile


def open_registry(location: str | Path | None = None, *, create: bool = True) -> Registry:
    """Open (creating if needed) the registry at ``location``, else ``$ASSAY_REGISTRY``, else ``~/.assay/registry``.

    ``create=False`` refuses a local registry that does not exist yet (a mistyped path), instead of making an empty
    one there: for commands that only read or change what is registered.

    ``location`` is a directory (SQLite metadata + artifacts inside), ``sqlite:///path/registry.sqlite``, or
    ``postgresql://user@host:port/db?schema=NAME&artifacts=DIR`` (schema default ``assay``; artifacts default
    ``~/.assay/artifacts``). ``artifacts`` may also be an fsspec URL (``s3://bucket/prefix``, ``gcs://…``,
    ``file:///…``, ``memory://…``; the protocol's fsspec package must be installed), on both SQLite and PostgreSQL
    (``sqlite:///dir/registry.sqlite?artifacts=URL``); loaded versions are cached, verified, under
    ``$ASSAY_CACHE`` (default ``~/.assay/cache``) or the URI's ``cache=DIR``.
    """
    if location is None or str(location).strip() == "":
        location = os.environ.get("ASSAY_REGISTRY") or str(DEFAULT_REGISTRY)
    text = str(location)
    if text.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        parts = urlsplit(text.replace("postgresql+psycopg://", "postgresql://", 1))
        query = dict(parse_qsl(parts.query))
        schema = query.pop("schema", "assay")
        if not _SCHEMA.fullmatch(schema):
            msg = f"invalid registry schema name {schema!r} in {_mask(text)}: use letters, digits and _"
            raise RegistryError(msg)
        artifacts = _store_of(query.pop("artifacts", "~/.assay/artifacts"), schema, query.pop("cache", None))
        dsn = urlunsplit(parts._replace(query=urlencode(query)))
        return Registry(text, _Sql("postgresql", dsn, schema), artifacts, log_target=f"{dsn}#{schema}")
    store: ArtifactStore | None = None
    if text.startswith("sqlite:///"):
        path, _, qs = text[len("sqlite:///") :].partition("?")
        query = dict(parse_qsl(qs))
        db = Path(path).expanduser()
        root = db.parent
        if not db.is_absolute() and not db.exists() and Path("/", path).exists():
            # (SQLAlchemy's convention, as for data sources: three slashes are a relative path. A new, empty
            # registry was made under the current directory, or "no registry" said of the relative path.)
            msg = (
                f"{_mask(text)} names {path} relative to the current directory ({Path.cwd()}), where there is no "
                f"registry; for the absolute {Path('/', path)} write sqlite:///{Path('/', path)} (four slashes)"
            )
            raise RegistryError(msg)
        if "artifacts" in query:
            store = _store_of(query.pop("artifacts"), None, query.pop("cache", None))
        if query:
            msg = (
                f"unknown option(s) {', '.join(sorted(query))} in registry location {_mask(text)}; "
                f"known: artifacts, cache"
            )
            raise SpecError(msg)
    elif "://" in text:
        scheme = text.split("://", 1)[0]
        msg = (
            f"unsupported registry location {_mask(text)} (scheme {scheme!r}); use a directory, "
            f"sqlite:///path/registry.sqlite or postgresql://user@host/db"
        )
        raise SpecError(msg)
    else:
        root = Path(text).expanduser()
        if root.exists() and not root.is_dir():
            msg = f"registry location {root} is a file; pass a directory (the registry keeps several files there)"
            raise RegistryError(msg)
        db = root / "registry.sqlite"
    if not create and not db.exists():
        msg = (
            f"no registry at {db if text.startswith('sqlite:///') else root} (nothing was ever registered there); "
            "check the path, or register a model first: assay train … --register NAME --registry "
            f"{_mask(text)}"
        )
        raise RegistryNotFoundError(msg)
    root.mkdir(parents=True, exist_ok=True)
    return Registry(
        text, _Sql("sqlite", str(db)), store or root / "artifacts", log_target=str(root / "predictions.sqlite")
    )


def _store_of(location: str, schema: str | None, cache: str | None) -> ArtifactStore:
    """The artifact store named in a registry URI (a PostgreSQL registry keeps one sub-folder per schema)."""
    if schema is not None:
        location = f"{location.rstrip('/')}/{schema}"
    return open_store(location, None if cache is None else Path(cache).expanduser())
