"""CLI command groups, one module each; `register_all` wires them into the Typer app.

Command modules import heavy libraries (Spark, statsforecast, MLflow) inside their commands,
never at module level, so `shelfwise --help` stays instant.
"""

from __future__ import annotations

from importlib import import_module

import typer

# One entry per module in src/shelfwise/commands/ that has `register(app)`, in CLI order.
COMMAND_MODULES = (
    "store",
    "generate",
    "import_",
    "report",
    "pipeline",
    "forecast",
    "users",
    "serve",
    "demo",
)


def register_all(app: typer.Typer) -> None:
    for name in COMMAND_MODULES:
        import_module(f"shelfwise.commands.{name}").register(app)
