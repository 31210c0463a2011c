"""Background WAL checkpoints: requests stop checkpointing, the WAL is still copied back and
reset, and SQLite's own checkpoints come back when the checkpointer stops."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from shelfwise.store.db import Database
from shelfwise.store.wal import AUTOCHECKPOINT_PAGES, WalCheckpointer


def _autocheckpoint(db: Database) -> int:
    with db.engine.connect() as connection:
        return int(connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def _wal_frames(path: Path) -> int:
    """Frames in the WAL now (a PASSIVE checkpoint of nothing new reports them)."""
    with sqlite3.connect(path) as connection:
        return int(connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Path, Database]]:
    path = tmp_path / "store.db"
    db = Database(f"sqlite:///{path}")
    with db.engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    yield path, db
    db.dispose()


def _write_rows(db: Database, count: int) -> None:
    for number in range(count):
        with db.engine.begin() as connection:
            connection.execute(
                text("INSERT INTO t (v) VALUES (:v)"), {"v": "x" * 2000 + str(number)}
            )


def test_requests_do_not_checkpoint_while_the_thread_keeps_the_wal_short(
    store: tuple[Path, Database],
) -> None:
    path, db = store
    gate = threading.Lock()
    checkpointer = WalCheckpointer(db, gate=gate, interval=0.05)
    checkpointer.start()
    try:
        assert checkpointer.running
        assert _autocheckpoint(db) == 0  # connections leave checkpoints to the thread
        _write_rows(db, 1500)  # ~1,500 pages: SQLite alone would have checkpointed inline
        deadline = time.monotonic() + 10
        while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert checkpointer.checkpoints > 0
    finally:
        checkpointer.stop()
    assert not checkpointer.running
    # The last checkpoint ran at stop; the next writer restarts the WAL from its beginning.
    _write_rows(db, 1)
    assert _wal_frames(path) < 10
    assert _autocheckpoint(db) == AUTOCHECKPOINT_PAGES  # SQLite checkpoints by itself again
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar_one() == 1501


def test_the_checkpointer_waits_for_the_gate_before_resetting(
    store: tuple[Path, Database],
) -> None:
    _, db = store
    gate = threading.Lock()
    checkpointer = WalCheckpointer(db, gate=gate, interval=0.02)
    checkpointer.start()
    try:
        with gate:  # a writer holds the gate: no reset may complete meanwhile
            _write_rows(db, 20)
            time.sleep(0.3)
            assert checkpointer.checkpoints == 0
        deadline = time.monotonic() + 10
        while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert checkpointer.checkpoints > 0
    finally:
        checkpointer.stop()


def test_in_memory_and_server_databases_are_left_alone() -> None:
    db = Database("sqlite://")
    checkpointer = WalCheckpointer(db)
    checkpointer.start()
    assert not checkpointer.running
    checkpointer.stop()
    db.dispose()
