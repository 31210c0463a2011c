"""Same seed and spec → identical rows; another seed → another world."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from shelfwise.store.models import Base
from shelfwise.synth import WorldSpec, generator
from tests.synth.conftest import generate_into

SPEC = WorldSpec(orders=600, seed=5, start=date(2024, 10, 1), days=60)


def table_rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as connection:
        return {
            table.name: connection.execute(
                f"SELECT * FROM {table.name} ORDER BY 1, 2, 3"
            ).fetchall()
            for table in Base.metadata.sorted_tables
        }


def test_same_seed_gives_identical_rows(tmp_path: Path) -> None:
    first = generate_into(tmp_path / "a.db", SPEC)
    second = generate_into(tmp_path / "b.db", SPEC)
    first.db.dispose()
    second.db.dispose()
    rows_a, rows_b = table_rows(first.path), table_rows(second.path)
    assert rows_a["order_lines"], "the world sold nothing"
    for table, rows in rows_a.items():
        assert rows == rows_b[table], f"{table} differs between two runs with the same seed"
    assert first.report.counts == second.report.counts


def test_other_seed_gives_another_world(tmp_path: Path) -> None:
    first = generate_into(tmp_path / "a.db", SPEC)
    other = generate_into(tmp_path / "b.db", replace(SPEC, seed=6))
    first.db.dispose()
    other.db.dispose()
    rows_a, rows_b = table_rows(first.path), table_rows(other.path)
    assert rows_a["products"] != rows_b["products"]
    assert rows_a["order_lines"] != rows_b["order_lines"]


def test_child_process_writer_stores_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Big worlds insert from a child process; small ones in process. Same rows either way."""
    in_process = generate_into(tmp_path / "a.db", SPEC)
    monkeypatch.setattr(generator, "PARALLEL_MIN_ORDERS", 1)
    in_child = generate_into(tmp_path / "b.db", SPEC)
    in_process.db.dispose()
    in_child.db.dispose()
    assert table_rows(in_process.path) == table_rows(in_child.path)
    with sqlite3.connect(in_child.path) as connection:
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
