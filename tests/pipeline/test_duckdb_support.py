"""The scanner extensions load from the installed wheels, through a folder only we can write
(our connections skip DuckDB's signature check, so what they load must be the wheels' own)."""

from __future__ import annotations

import importlib.util
import sqlite3
import tempfile
from pathlib import Path

import pytest

from shelfwise.pipeline.duckdb_support import connect, extension_file, load_extension


@pytest.fixture
def temporary_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def _shipped() -> Path:
    spec = importlib.util.find_spec("duckdb_extension_sqlite")
    assert spec is not None and spec.submodule_search_locations
    package = Path(next(iter(spec.submodule_search_locations)))
    return next(package.rglob("*.duckdb_extension")).resolve()


def test_scanner_loads_from_a_private_link_to_the_wheel(
    temporary_folder: Path, tmp_path: Path
) -> None:
    link = extension_file("sqlite")
    assert link.parent.parent == temporary_folder
    assert link.parent.stat().st_mode & 0o077 == 0
    assert link.resolve() == _shipped()
    store = tmp_path / "store.db"
    with sqlite3.connect(store) as db:
        db.execute("CREATE TABLE t (x INTEGER)")
        db.execute("INSERT INTO t VALUES (7)")
    con = connect()
    load_extension(con, "sqlite")
    con.execute(f"ATTACH '{store}' AS s (TYPE sqlite, READ_ONLY)")
    assert con.sql("SELECT x FROM s.t").fetchall() == [(7,)]


def test_a_looser_folder_is_tightened_and_a_stale_link_replaced(temporary_folder: Path) -> None:
    folder = extension_file("sqlite").parent
    folder.chmod(0o777)
    planted = temporary_folder / "planted.duckdb_extension"
    planted.write_bytes(b"not the wheel's file")
    link = folder / "sqlite_scanner.duckdb_extension"
    link.unlink()
    link.symlink_to(planted)
    assert extension_file("sqlite").resolve() == _shipped()
    assert folder.stat().st_mode & 0o077 == 0


def test_a_link_in_place_of_the_folder_is_refused(temporary_folder: Path) -> None:
    folder = extension_file("sqlite").parent
    elsewhere = temporary_folder / "elsewhere"
    folder.rename(elsewhere)
    folder.symlink_to(elsewhere)
    with pytest.raises(RuntimeError, match="not a folder of this user"):
        extension_file("sqlite")
