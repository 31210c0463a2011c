"""Settings that cannot work are named before a run starts; passwords never reach a message."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelfwise.cli import app
from shelfwise.config import Settings, get_settings
from shelfwise.pipeline import PipelineFailed, run_pipeline
from shelfwise.pipeline.redaction import redact


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        (
            "Unable to connect to Postgres at \"host='db' user='u' password='p w' dbname='x'\"",
            "Unable to connect to Postgres at \"host='db' user='u' password=*** dbname='x'\"",
        ),
        ("Access denied (host=db user=u passwd=hunter2 database=x)", "passwd=***"),
        ("cannot open postgresql+psycopg://u:hunter2@db:5432/x", "postgresql+psycopg://u:***@db"),
        ("PWD = 'x y'; next", "PWD = ***; next"),
    ],
)
def test_passwords_are_masked_in_messages(message: str, shown: str) -> None:
    masked = redact(message)
    assert shown in masked and "hunter2" not in masked and "p w" not in masked


def test_a_configured_password_is_masked_wherever_it_appears() -> None:
    url = "postgresql://u:s%40fe-word@db/x"  # the password is "s@fe-word"
    assert redact("login failed for s@fe-word", [url]) == "login failed for ***"
    # (too short to replace anywhere without garbling the message: patterns only)
    assert redact("a b c", ["postgresql://u:b@db/x"]) == "a b c"


def _run(monkeypatch: pytest.MonkeyPatch, **environment: str) -> str:
    for name, value in environment.items():
        monkeypatch.setenv(f"SHELFWISE_{name}", value)
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["pipeline", "run"])
    said = " ".join(result.output.split())
    assert result.exit_code == 1 and "Traceback" not in said, result.output
    return said


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"DATABASE_URL": "not-a-url"}, "SHELFWISE_DATABASE_URL='not-a-url' is not a URL"),
        (
            {"DATABASE_URL": "postgresql://u:pw@db:notaport/x"},
            "SHELFWISE_DATABASE_URL='postgresql://u:***@db:notaport/x' is not a database URL",
        ),
        ({"WAREHOUSE_URL": "garbage"}, "SHELFWISE_WAREHOUSE_URL='garbage' is not a database URL"),
        (
            {"WAREHOUSE_URL": "mysql://u:pw@db/wh"},
            "SHELFWISE_WAREHOUSE_URL='mysql://u:***@db/wh': gold is pushed to PostgreSQL only",
        ),
        ({"DUCKDB_MEMORY_LIMIT": "lots"}, "SHELFWISE_DUCKDB_MEMORY_LIMIT='lots': expected a size"),
    ],
)
def test_a_setting_that_cannot_work_is_named_before_the_run(
    cli_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    environment: dict[str, str],
    expected: str,
) -> None:
    said = _run(monkeypatch, **environment)

    assert expected in said, said
    assert not cli_env.exists()  # nothing was created, no run was logged


def test_a_home_that_is_a_file_is_named(
    cli_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a folder")

    said = _run(monkeypatch, HOME=str(afile / "home"))

    assert f"{afile}' is a file, not a folder" in said, said


def test_a_store_without_the_release_tables_is_told_to_run_init(
    settings: Settings, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.db"
    with closing(sqlite3.connect(empty)) as con:
        con.execute("CREATE TABLE notes (id INTEGER)")
    unmigrated = settings.model_copy(update={"database_url": f"sqlite:///{empty}"})

    with pytest.raises(PipelineFailed, match=r"no table '.+' and 18 more.*`shelfwise init`"):
        run_pipeline(unmigrated)
