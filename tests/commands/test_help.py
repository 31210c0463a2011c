"""Every command's `--help` summary reads as one sentence in its group's command list."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import typer.main

from shelfwise.cli import app


class _Command(Protocol):
    help: str | None
    short_help: str | None


def _commands(command: _Command, path: str) -> Iterator[tuple[str, _Command]]:
    yield path, command
    for name, sub in (getattr(command, "commands", None) or {}).items():
        yield from _commands(sub, f"{path} {name}")


def test_every_command_summary_is_one_line() -> None:
    """The command list shows a summary with its line breaks: one written over two lines shows
    as a sentence broken in the middle."""
    commands = list(_commands(typer.main.get_command(app), "shelfwise"))
    assert len(commands) > 20
    broken = [
        path
        for path, command in commands
        if "\n" in (command.short_help or command.help or "").strip().split("\n\n")[0]
    ]
    assert not broken, f"summaries written over two lines: {broken}"
    missing = [path for path, command in commands if not (command.help or "").strip()]
    assert not missing, f"commands without help: {missing}"
