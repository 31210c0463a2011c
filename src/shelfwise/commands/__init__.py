"""CLI command groups, one module each; `register_all` wires them into the Typer app.

Command modules import heavy libraries (the store's SQLAlchemy, DuckDB, Spark, statsforecast,
MLflow) inside their commands, never at module level, so that `shelfwise --help` stays instant
and a command waits only for what it uses (`tests/commands/test_startup.py`).
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
