"""SQLite WAL checkpoints in a background thread, for long-running servers.

By default SQLite checkpoints inside the commit that pushes the WAL past 1,000 pages: that one
request copies the WAL back into the database while holding the write lock, and with an order
writing ~24 pages (the order, its line, event, stock row, ledger row and their indexes) that
happened every ~40 orders and cost more than half of an order's time (the same hot index pages
are copied again and again). Here requests never checkpoint: a thread copies the WAL in bulk
twice a second (PASSIVE, concurrently with writers), then, holding the writers' gate for the
few frames written meanwhile, resets it (RESTART) so the file does not grow without bound.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url

from shelfwise.store.db import Database

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 0.5
AUTOCHECKPOINT_PAGES = 1000  # SQLite's default, restored when the checkpointer stops
RESTART_BUSY_TIMEOUT_MS = 2_000


def wal_database_path(db: Database) -> str | None:
    """The file of a SQLite store (None for other databases and in-memory SQLite)."""
    if db.backend != "sqlite":
        return None
    path = make_url(db.url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return path


class WalCheckpointer:
    """Owns the WAL checkpoints of one SQLite `Database` while started; a no-op otherwise.

    `gate` is what the process's writers queue on (see `shelfwise.web.context.WebDatabase`):
    the short RESTART step holds it so that writers wait on it rather than in SQLite's busy
    handler. Connections of the database get `wal_autocheckpoint=0` at checkout while the
    checkpointer runs, and SQLite's default back when it stops.
    """

    def __init__(
        self,
        db: Database,
        *,
        gate: AbstractContextManager[Any] | None = None,
        interval: float = DEFAULT_INTERVAL_SECONDS,
    ) -> None:
        self.db = db
        self.path = wal_database_path(db)
        self.gate = gate if gate is not None else nullcontext()
        self.interval = interval
        self.checkpoints = 0  # completed background checkpoints, for tests and monitoring
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listening = False

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        if self.path is None or self._thread is not None:
            return
        if not self._listening:
            event.listen(self.db.engine, "checkout", self._on_checkout)
            self._listening = True
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="shelfwise-wal-checkpoint", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stops the thread after a last checkpoint; connections checked out later checkpoint
        by themselves again."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None

    def _on_checkout(self, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # A dictionary lookup per checkout; the PRAGMA only when the wanted mode changed.
        manual = self.running
        if record.info.get("shelfwise_manual_checkpoints", False) != manual:
            pages = 0 if manual else AUTOCHECKPOINT_PAGES
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA wal_autocheckpoint={pages}")
            cursor.close()
            record.info["shelfwise_manual_checkpoints"] = manual

    def _run(self) -> None:
        assert self.path is not None
        connection = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            timeout=RESTART_BUSY_TIMEOUT_MS / 1000,
        )
        try:
            while not self._stop.wait(self.interval):
                self._checkpoint(connection)
            self._checkpoint(connection)
        finally:
            connection.close()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            frames = _pragma(connection, "PASSIVE")[1]
            if frames <= 0:
                return  # nothing written since the last reset
            with self.gate:
                # Only what was committed during the PASSIVE step is left to copy; then the
                # next writer starts the WAL from the beginning again.
                _pragma(connection, "RESTART")
            self.checkpoints += 1
        except sqlite3.Error as exc:  # a busy reader, a full disk: try again next time
            log.warning("background WAL checkpoint of %s failed: %s", self.path, exc)


def _pragma(connection: sqlite3.Connection, mode: str) -> tuple[int, int, int]:
    cursor = connection.execute(f"PRAGMA wal_checkpoint({mode})")
    try:
        busy, frames, copied = cursor.fetchone()
    finally:
        cursor.close()
    return int(busy), int(frames), int(copied)
