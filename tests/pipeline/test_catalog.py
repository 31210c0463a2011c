"""The catalog's snapshot and the SQLite URL parsing that keep SQLAlchemy out of a daily run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import URL, make_url

from shelfwise.pipeline import catalog
from shelfwise.pipeline.catalog import (
    derive_source_tables,
    load_source_tables,
    snapshot_path,
    source_tables,
)
from shelfwise.pipeline.duckdb_support import libpq_dsn, sqlite_database, url_backend


def test_snapshot_gives_the_derived_catalog(tmp_path: Path) -> None:
    path = snapshot_path(tmp_path)
    first = load_source_tables(path)  # derived, then written
    assert path.is_file()
    again = load_source_tables(path)  # read back from the file
    assert first == again == derive_source_tables()
    assert any(c.allowed for t in again for c in t.columns)  # enumerations survive the round trip


def test_unreadable_snapshot_is_derived_again(tmp_path: Path) -> None:
    path = snapshot_path(tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[{"name": "orders"}]')  # cut short by a crash, say
    assert load_source_tables(path) == derive_source_tables()
    assert load_source_tables(path) == derive_source_tables()  # and rewritten whole


def test_snapshot_name_follows_the_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the name hashes the models' source: a new column gets a new snapshot, never a stale one
    current = snapshot_path(tmp_path)
    assert snapshot_path(tmp_path) == current
    models = tmp_path / "models.py"
    models.write_bytes(catalog._models_file().read_bytes() + b"\n# a new column\n")
    monkeypatch.setattr(catalog, "_models_file", lambda: models)
    assert snapshot_path(tmp_path) != current


def test_a_run_on_sqlite_does_not_import_sqlalchemy(tmp_path: Path) -> None:
    source_tables()  # the snapshot exists once any process derived it
    code = (
        "import sys\n"
        "from shelfwise.pipeline.catalog import source_tables\n"
        "import shelfwise.pipeline\n"
        "assert len(source_tables()) > 10\n"
        "print(sorted(m for m in sys.modules if m.startswith('sqlalchemy')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////tmp/a%20b.db",
        "sqlite:///relative/store.db",
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite+pysqlite:////x/y.db?mode=ro",
        "sqlite:////var/lib/shelfwise/store.db",
    ],
)
def test_sqlite_urls_read_as_sqlalchemy_reads_them(url: str) -> None:
    parsed = make_url(url)
    assert url_backend(url) == parsed.get_backend_name()
    assert sqlite_database(url) == parsed.database


@pytest.mark.parametrize(
    "url", ["postgresql+psycopg://u:p@h:5432/db", "mysql://root@127.0.0.1/shop", "mariadb://x/y"]
)
def test_backend_of_other_urls(url: str) -> None:
    assert url_backend(url) == make_url(url).get_backend_name()


def test_libpq_connection_strings_keep_spaces_and_quotes() -> None:
    from psycopg.conninfo import conninfo_to_dict

    from shelfwise.pipeline.publish import _libpq

    password = "p w'd\\x"
    url = URL.create(
        "postgresql+psycopg", "shop", password, "127.0.0.1", 5433, "lake db"
    ).render_as_string(hide_password=False)
    expected = {
        "host": "127.0.0.1",
        "port": "5433",
        "user": "shop",
        "password": password,
        "dbname": "lake db",
    }
    assert conninfo_to_dict(libpq_dsn(url)) == expected
    assert conninfo_to_dict(_libpq(url)) == expected
    with pytest.raises(ValueError, match="must be a PostgreSQL URL"):
        _libpq("sqlite:///x.db")
