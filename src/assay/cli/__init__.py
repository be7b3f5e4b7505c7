"""The ``assay`` command line: one module per command, listed in ``COMMANDS``.

``main(argv)`` is callable from tests and returns the exit code: 0 on success, 2 with a one-line message on any
:class:`~assay.exceptions.AssayError` (bad input, bad option), never a traceback for a user's mistake.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Sequence

import click
import typer

from assay.exceptions import AssayError

__all__ = ["COMMANDS", "main", "run"]

# Module names under assay.cli, each with ``register(app)``. Read top to bottom to see every command.
COMMANDS: list[str] = [
    "_profile",
    "_train",
    "_run",
    "_predict",
    "_clean",
    "_steps",
    "_split",
    "_models",
    "_serve",
    "_ingest",
]


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="assay",
        help="assay: acquire, clean, look at, model, evaluate and serve your data.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
    )

    @app.callback(invoke_without_command=True)
    def _root(
        version: bool = typer.Option(False, "--version", help="Print the version and exit."),
    ) -> None:
        if version:
            from assay import __version__

            typer.echo(__version__)
            raise typer.Exit(0)

    for name in COMMANDS:
        importlib.import_module(f"assay.cli.{name}").register(app)
    for info in app.registered_commands:
        # The command list shows the first line of each help text, not the examples that follow it.
        if info.short_help is None and info.help:
            info.short_help = info.help.strip().split("\n", 1)[0]
    return app


class _StderrNotes(logging.Handler):
    """Warnings logged by assay (e.g. a dropped constant column) reach the user as ``note: …`` lines.

    ``sys.stderr`` is looked up at each record (not kept, as StreamHandler does) so that ``main`` called again with
    a redirected stderr, as tests do, writes to the current stream.
    """

    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.seen: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        # Once per message and command: the steps are refitted in every cross-validation fold and would repeat
        # the same note (say, a dropped constant column) once per fold and again for the final model.
        message = record.getMessage()
        if message in self.seen:
            return
        self.seen.add(message)
        print(f"note: {message}", file=sys.stderr)


def _log_to_stderr() -> None:
    logger = logging.getLogger("assay")
    for handler in logger.handlers:
        if isinstance(handler, _StderrNotes):
            handler.seen.clear()  # a new command: its notes are new
            return
    logger.addHandler(_StderrNotes(level=logging.WARNING))


# Recent Typer releases run on their own copy of click, whose exceptions are not click's: both kinds are caught.
try:
    from typer._click.exceptions import ClickException as _TyperClickException
except ImportError:  # a typer that uses click itself
    _TyperClickException = click.ClickException
_EXIT = (click.exceptions.Exit, typer.Exit)
_USAGE = (click.ClickException, _TyperClickException)
_ABORT = (click.exceptions.Abort, typer.Abort)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    _log_to_stderr()
    app = build_app()
    command = typer.main.get_command(app)
    try:
        code = command.main(args=list(argv) if argv is not None else None, prog_name="assay", standalone_mode=False)
    except AssayError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except _EXIT as exc:
        return exc.exit_code
    except _USAGE as exc:
        exc.show()
        return exc.exit_code
    except _ABORT:
        typer.echo("aborted", err=True)
        return 130
    except OSError as exc:  # an output folder that cannot be made or written, a file that went away: one line
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        typer.echo(f"error: {exc.strerror or exc}{where}", err=True)
        return 2
    except KeyboardInterrupt:
        code = 130
    # Typer turns Ctrl-C (and typer.Exit) into an exit code it returns here rather than raises.
    if isinstance(code, int) and not isinstance(code, bool) and code != 0:
        if code == 130:
            typer.echo("interrupted", err=True)
        return code
    return 0


# True when this process is the ``assay`` command itself (``run``), not a program calling ``main``: only then may a
# command change how the interpreter exits (see ``_profile._quick_exit``).
STANDALONE = False


def run() -> None:
    """Console-script entry point."""
    global STANDALONE
    STANDALONE = True
    sys.exit(main())
