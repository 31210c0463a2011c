"""The run log: every pipeline run and its steps, in a small SQLite file beside the warehouse.

It lives outside the warehouse file (which is swapped on every publish) so history survives,
and outside the lake so `--full` keeps it. The website reads it through `recent_runs`.
A run whose process died (kill -9, power loss) is marked `abandoned` by the next run.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shelfwise.config import Settings
from shelfwise.pipeline.files import process_alive

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY, engine TEXT NOT NULL, full_refresh INTEGER NOT NULL,
  status TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT, error TEXT,
  pid INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS steps (
  run_id TEXT NOT NULL REFERENCES runs(run_id), position INTEGER NOT NULL, name TEXT NOT NULL,
  status TEXT NOT NULL, rows_read INTEGER NOT NULL, rows_written INTEGER NOT NULL,
  rows_quarantined INTEGER NOT NULL, seconds REAL NOT NULL, error TEXT, detail TEXT,
  PRIMARY KEY (run_id, position)
);
"""


@dataclass
class StepSummary:
    name: str
    status: str = "succeeded"  # succeeded | failed | skipped
    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    seconds: float = 0.0
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunSummary:
    run_id: str
    engine: str
    full: bool
    status: str  # running | succeeded | failed | abandoned
    started_at: datetime
    finished_at: datetime | None = None
    error: str | None = None
    steps: list[StepSummary] = field(default_factory=list)

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def rows_read(self) -> int:
        return sum(s.rows_read for s in self.steps if s.name.startswith("extract"))

    @property
    def rows_written(self) -> int:
        return sum(s.rows_written for s in self.steps)

    @property
    def rows_quarantined(self) -> int:
        return sum(s.rows_quarantined for s in self.steps)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            seconds=self.seconds,
            rows_read=self.rows_read,
            rows_written=self.rows_written,
            rows_quarantined=self.rows_quarantined,
        )
        return data


def runlog_path(settings: Settings) -> Path:
    return settings.warehouse_path.with_name("pipeline_runs.sqlite")


def _now() -> datetime:
    return datetime.now(UTC)


class RunLog:
    """The run log's file. From `start` to `finish` a run keeps one connection: it writes ~60
    times, and closing the last connection of a WAL database checkpoints it each time.

    Its commits are not flushed to disk one by one (WAL with `synchronous=NORMAL`): ~60 disk
    flushes took ~0.03 s of a daily run (now ~0.01 s). A power cut can lose the last lines but never
    corrupts the file; a run whose end was lost shows as running from a dead process, which
    the next run marks abandoned (and that run rebuilds gold in full).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._schema_ready = False
        self._run_connection: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        if not self._schema_ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=30)
        con.execute("PRAGMA synchronous=NORMAL")  # (a setting of the connection, not the file)
        if not self._schema_ready:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(SCHEMA)
            self._schema_ready = True
        return con

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if self._run_connection is not None:
            with self._run_connection:
                yield self._run_connection
            return
        with closing(self._open()) as con, con:
            yield con

    def start(self, run: RunSummary) -> None:
        self._run_connection = self._open()
        try:
            self._record_start(run)
        except BaseException:
            self._close_run_connection()  # `finish` is not called for a run that did not start
            raise

    def _record_start(self, run: RunSummary) -> None:
        """Called under the pipeline's lock: a run still marked running is one whose process
        ended without finishing, even if its process id now belongs to another process (a
        container's pipeline is always process 1)."""
        with self._connect() as con:
            con.execute(
                "UPDATE runs SET status='abandoned', error=? WHERE status='running'",
                (
                    "the process ended without finishing (killed or crashed); a later run redid "
                    "its work",
                ),
            )
            con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, 'running', ?, NULL, NULL, ?)",
                (run.run_id, run.engine, int(run.full), run.started_at.isoformat(), os.getpid()),
            )

    def _close_run_connection(self) -> None:
        if self._run_connection is not None:
            self._run_connection.close()
            self._run_connection = None

    def step(self, run: RunSummary, step: StepSummary) -> None:
        with self._connect() as con:
            con.execute(
                "INSERT INTO steps VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run.run_id,
                    run.steps.index(step),
                    step.name,
                    step.status,
                    step.rows_read,
                    step.rows_written,
                    step.rows_quarantined,
                    step.seconds,
                    step.error,
                    json.dumps(step.detail, default=str),
                ),
            )

    def finish(self, run: RunSummary) -> None:
        try:
            with self._connect() as con:
                con.execute(
                    "UPDATE runs SET status=?, finished_at=?, error=? WHERE run_id=?",
                    (
                        run.status,
                        run.finished_at.isoformat() if run.finished_at else None,
                        run.error,
                        run.run_id,
                    ),
                )
        finally:
            self._close_run_connection()

    def recent(self, limit: int) -> list[RunSummary]:
        if not self.path.exists():
            return []
        with self._connect() as con:
            runs = con.execute(
                "SELECT run_id, engine, full_refresh, status, started_at, finished_at, error, pid "
                "FROM runs ORDER BY started_at DESC LIMIT ?",
                (limit,),
            ).fetchall()
            summaries = []
            for run_id, engine, full, status, started, finished, error, pid in runs:
                if status == "running" and not process_alive(pid, datetime.fromisoformat(started)):
                    status = "abandoned"
                steps = [
                    StepSummary(
                        name=row[0],
                        status=row[1],
                        rows_read=row[2],
                        rows_written=row[3],
                        rows_quarantined=row[4],
                        seconds=row[5],
                        error=row[6],
                        detail=json.loads(row[7] or "{}"),
                    )
                    for row in con.execute(
                        "SELECT name, status, rows_read, rows_written, rows_quarantined, seconds, "
                        "error, detail FROM steps WHERE run_id=? ORDER BY position",
                        (run_id,),
                    )
                ]
                summaries.append(
                    RunSummary(
                        run_id=run_id,
                        engine=engine,
                        full=bool(full),
                        status=status,
                        started_at=datetime.fromisoformat(started),
                        finished_at=datetime.fromisoformat(finished) if finished else None,
                        error=error,
                        steps=steps,
                    )
                )
            return summaries

    def last_published(self, other_than: str) -> str | None:
        """The newest run but `other_than` that succeeded and published: the run whose gold
        the warehouses hold (a run that found no change publishes nothing)."""
        if not self.path.exists():
            return None
        with self._connect() as con:
            found = con.execute(
                "SELECT r.run_id FROM runs r JOIN steps s ON s.run_id = r.run_id "
                "WHERE r.status = 'succeeded' AND s.name = 'publish' AND s.status = 'succeeded' "
                "AND r.run_id <> ? ORDER BY r.started_at DESC LIMIT 1",
                (other_than,),
            ).fetchone()
        return str(found[0]) if found else None

    def last_status(self) -> str | None:
        runs = self.recent(2)
        # the newest is the run in progress; the one before it tells whether gold is current
        return runs[1].status if len(runs) > 1 else None


def recent_runs(settings: Settings, limit: int = 20) -> list[RunSummary]:
    """The newest `limit` runs, newest first, with their steps (for the CLI and the website)."""
    return RunLog(runlog_path(settings)).recent(limit)
