"""CLI command groups, one module each; `register_all` wires them into the Typer app."""

from __future__ import annotations

import typer


def register_all(app: typer.Typer) -> None:
    # One line per command module (each has `register(app)`); keep them in CLI order.
    from shelfwise.commands import store as store_commands

    store_commands.register(app)
