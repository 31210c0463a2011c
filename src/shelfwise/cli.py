"""The `shelfwise` command: one entry point for every stage of the system."""

from __future__ import annotations

import typer

from shelfwise.commands import register_all

app = typer.Typer(
    name="shelfwise",
    help="Retail inventory management and demand forecasting.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
)
register_all(app)


if __name__ == "__main__":  # pragma: no cover
    app()
