"""Every command answers --help with a description and at least one example."""

from __future__ import annotations

import pytest
import typer

from assay.cli import COMMANDS, build_app, main


def command_names() -> list[str]:
    app = build_app()
    group = typer.main.get_command(app)
    return sorted(group.commands)  # type: ignore[attr-defined]


def test_every_registered_module_adds_a_command():
    assert len(command_names()) >= len(COMMANDS)


@pytest.mark.parametrize("name", command_names())
def test_help_has_examples(name: str, capsys: pytest.CaptureFixture[str]):
    assert main([name, "--help"]) == 0
    text = capsys.readouterr().out
    assert "Example" in text, f"assay {name} --help shows no example"
    assert f"assay {name}" in text


def test_top_level_help_lists_commands(capsys: pytest.CaptureFixture[str]):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for name in command_names():
        assert name in text
