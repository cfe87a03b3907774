"""Every command has help that works: a new command without a docstring, or one that
cannot be loaded, fails here rather than in front of a user."""

from __future__ import annotations

import inspect
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from figbuild.cli import cli

COMMANDS = sorted(cli.commands)


def first_line(command: click.Command) -> str:
    """The first line of the command's own docstring (what `--help` leads with)."""
    doc = inspect.getdoc(command.callback) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def words(text: str) -> str:
    # click rewraps help to the terminal width; compare the words, not the line breaks.
    return " ".join(text.split())


def test_there_are_commands_to_check() -> None:
    # The parametrized test below would pass vacuously on an empty group.
    assert {"init", "validate", "status", "sync", "watch", "credits", "tasks", "emulator"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_help_exits_0_and_leads_with_its_docstring(name: str) -> None:
    command = cli.commands[name]
    summary = first_line(command)
    assert summary, f"`figbuild {name}` has no docstring, so no help"
    result = CliRunner().invoke(cli, [name, "--help"], prog_name="figbuild", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: figbuild {name} ")
    assert words(summary) in words(result.output)


def test_root_help_lists_every_command() -> None:
    # A subprocess of the module, so the import of every command is checked from cold.
    result = subprocess.run(
        [sys.executable, "-m", "figbuild", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: figbuild ")
    listed = result.stdout.split("Commands:", 1)[1].splitlines()
    names = {line.split()[0] for line in listed if line.startswith("  ") and line.strip()}
    assert names == set(COMMANDS)
