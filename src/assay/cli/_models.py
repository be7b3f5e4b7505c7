"""``assay models list|show|register|promote|rollback|delete``: the model registry from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import typer

__all__ = ["register"]

EXAMPLES = """
Examples:

  assay models list

  assay models show churn            (production, else the latest version)

  assay models promote churn 3 --alias staging

  assay models rollback churn

  assay models delete churn 1 --registry postgresql://localhost/mlops
"""

REGISTRY_HELP = "Registry directory or URI (default: $ASSAY_REGISTRY, else ~/.assay/registry)."


def _open(registry: str | None, *, create: bool = False):
    from assay.registry import open_registry

    return open_registry(registry, create=create)  # a mistyped path is an error, not a new empty registry


def register(app: typer.Typer) -> None:
    models = typer.Typer(help="Registered models: versions, aliases, lineage." + EXAMPLES,
                         short_help="Registered models: versions, aliases, lineage.", no_args_is_help=True)
    app.add_typer(models, name="models")

    @models.command("list", help="Every model name with its versions and aliases.")
    def list_command(
        registry: str | None = typer.Option(None, help=REGISTRY_HELP),
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    ) -> None:
        from assay.exceptions import RegistryNotFoundError
        from assay.registry._store import _mask  # (a database password is not printed)

        try:
            reg = _open(registry)
        except RegistryNotFoundError as exc:
            if as_json:
                typer.echo("[]")
            else:  # said, and nothing made there: a mistyped path must not become an empty registry
                typer.echo(f"no models: {exc}")
            return
        rows = []
        for name in reg.names():
            versions = reg.versions(name)
            latest = versions[-1]
            rows.append(
                {
                    "name": name,
                    "versions": [v.version for v in versions],
                    "aliases": reg.aliases(name),
                    "latest": latest.version,
                    "task": latest.manifest.get("task"),
                    "model": latest.manifest.get("model_name"),
                    # each version's own estimator: the latest one is not what an alias serves
                    "models": {str(v.version): v.manifest.get("model_name") for v in versions},
                }
            )
        if as_json:
            typer.echo(json.dumps(rows, indent=1, ensure_ascii=False))
            return
        if not rows:
            typer.echo(f"no models in {_mask(reg.location)} (register one with: assay train … --register NAME)")
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"models in {_mask(reg.location)}")
        for col in ("name", "versions (model)", "aliases", "task"):
            table.add_column(col)
        for r in rows:
            aliases = ", ".join(f"{a}→{v}" for a, v in r["aliases"].items())
            versions = ", ".join(f"{v} ({m})" if m else str(v) for v, m in r["models"].items())
            table.add_row(r["name"], versions, aliases, str(r["task"]))
        Console(width=120).print(table)

    @models.command("show", help="One version's aliases, schema, metrics and lineage (JSON).")
    def show_command(
        name: str = typer.Argument(..., help="Model name."),
        version: str | None = typer.Argument(None, help="Version number or alias (default: production)."),
        registry: str | None = typer.Option(None, help=REGISTRY_HELP),
    ) -> None:
        reg = _open(registry)
        info = reg.get(name, version).to_dict()
        info["all_versions"] = [v.version for v in reg.versions(name)]
        typer.echo(json.dumps(info, indent=1, ensure_ascii=False, default=str))

    @models.command("register", help="Copy a model directory into the registry as the next version of NAME.")
    def register_command(
        model_dir: Path = typer.Argument(..., help="Model directory written by assay train (…/model)."),
        name: str = typer.Argument(..., help="Model name."),
        alias: list[str] = typer.Option([], "--alias", help="Also point this alias at the new version (repeatable)."),
        reference: str | None = typer.Option(None, help="Training data (file or URI) for the drift profile."),
        registry: str | None = typer.Option(None, help=REGISTRY_HELP),
    ) -> None:
        reg = _open(registry, create=True)
        version = reg.register(model_dir, name, aliases=alias, reference=reference)
        typer.echo(f"registered {name} version {version}")
        registered = reg.get(name, version)
        if registered.profile is None:  # said: the server then reports no drift for this version, only a note
            source = registered.lineage.get("source_uri")
            typer.echo(
                f"note: no drift profile for this version: its training data "
                f"{f'({source}) was not found or has changed since' if source else 'is not named in the model'}; "
                "register it again with --reference FILE to have the server watch drift",
                err=True,
            )

    @models.command("promote", help="Point an alias (default production) at a version.")
    def promote_command(
        name: str = typer.Argument(..., help="Model name."),
        version: str = typer.Argument(..., help="Version number (or an alias to copy, e.g. staging)."),
        alias: str = typer.Option("production", help="Alias to move."),
        registry: str | None = typer.Option(None, help=REGISTRY_HELP),
    ) -> None:
        from assay.exceptions import ArtifactError

        reg = _open(registry)
        try:  # a server refuses to load a damaged artifact: say so now rather than after the alias moved
            reg.verify(name, version)
        except ArtifactError as exc:
            msg = f"{name} version {version} not promoted: {exc}"
            raise ArtifactError(msg) from exc
        target = reg.promote(name, version, alias)
        typer.echo(f"{name}: {alias} → version {target}")

    @models.command("rollback", help="Point an alias (default production) back at its previous version.")
    def rollback_command(
        name: str = typer.Argument(..., help="Model name."),
        alias: str = typer.Option("production", help="Alias to roll back."),
        registry: str | None = typer.Option(None, help=REGISTRY_HELP),
    ) -> None:
        from assay.exceptions import ArtifactError

        reg = _open(registry)
        target = reg.rollback(name, alias, dry_run=True)
        try:  # as for promote: a version a server would refuse to load is said now, and the alias stays
            reg.verify(name, target)
        except ArtifactError as exc:
            msg = f"{name}: {alias} not rolled back to version {target}: {exc}"
            raise ArtifactError(msg) from exc
        target = reg.rollback(name, alias)
        typer.echo(f"{name}: {alias} rolled back to version {target}")

    @models.command("delete", help="Delete a version and its artifact (refused while an alias points at it).")
    def delete_command(
        name: str = typer.Argument(..., help="Model name."),
        version: str = typer.Argument(..., help="Version number."),
        force: bool = typer.Option(False, "--force", help="Delete even if an alias points at it (alias removed)."),
        registry: str | None = typer.Option(None, help=REGISTRY_HELP),
    ) -> None:
        reg = _open(registry)
        number = reg.resolve(name, version)
        reg.delete(name, number, force=force)
        typer.echo(f"deleted {name} version {number}")
