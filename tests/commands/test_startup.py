"""The command line starts without the store's, the pipeline's or the forecaster's libraries:
each command loads what it uses when it runs, so `shelfwise --help` and a scheduled
`shelfwise pipeline run` do not wait for SQLAlchemy, DuckDB or pandas."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("sqlalchemy", "alembic", "duckdb", "pyarrow", "pandas", "deltalake", "pyspark", "mlflow")


def _loaded_after(code: str) -> list[str]:
    probe = (
        f"{code}\nimport sys\n"
        f"print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    return result.stdout.split()


def test_the_command_line_loads_no_heavy_library_at_start() -> None:
    assert _loaded_after("import shelfwise.cli") == []


def test_building_every_command_loads_no_heavy_library() -> None:
    """Typer reads every command's options when the app runs; their types must stay light."""
    code = "import typer.main, shelfwise.cli\ntyper.main.get_command(shelfwise.cli.app)"
    assert _loaded_after(code) == []


def test_the_store_vocabularies_stand_without_the_models() -> None:
    assert _loaded_after("from shelfwise.store.kinds import ImportKind, Role") == []
