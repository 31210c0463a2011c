"""A run killed with SIGKILL mid-write leaves the last good warehouse; the next run completes
and its gold equals an uninterrupted run's."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from shelfwise.config import Settings
from shelfwise.pipeline import recent_runs, run_pipeline
from shelfwise.pipeline.runlog import RunLog, RunSummary, runlog_path
from tests.pipeline.conftest import settings_for
from tests.pipeline.helpers import assert_same_gold, gold_frames

RUN = (
    "from shelfwise.config import Settings; from shelfwise.pipeline import run_pipeline; "
    "run_pipeline(Settings())"
)


def _steps_done(settings: Settings, known: set[str]) -> int:
    """Steps finished by the run that is not in `known` (the child's), 0 before it starts."""
    path = runlog_path(settings)
    if not path.exists():
        return 0
    try:
        with closing(sqlite3.connect(path, timeout=1)) as con:
            rows = con.execute("SELECT run_id, COUNT(*) FROM steps GROUP BY run_id").fetchall()
    except sqlite3.OperationalError:  # created a moment ago, schema not there yet
        return 0
    return sum(int(n) for run_id, n in rows if run_id not in known)


def _kill_after(settings: Settings, steps: int) -> None:
    """Start a run in a child process and SIGKILL it once `steps` steps have finished."""
    env = {
        **os.environ,
        "SHELFWISE_HOME": str(settings.home),
        "SHELFWISE_DATABASE_URL": str(settings.database_url),
    }
    known = {run.run_id for run in recent_runs(settings, 100)}
    child = subprocess.Popen([sys.executable, "-c", RUN], env=env)
    try:
        deadline = time.monotonic() + 300
        while _steps_done(settings, known) < steps and child.poll() is None:
            assert time.monotonic() < deadline, "the child run made no progress"
            time.sleep(0.01)
        assert child.poll() is None, "the run finished before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()


def test_kill_9_mid_run_then_rerun_gives_the_same_gold(
    settings: Settings, store: Path, tmp_path: Path
) -> None:
    run_pipeline(settings)
    good = gold_frames(settings.warehouse_path)
    inode = settings.warehouse_path.stat().st_ino
    # more history arrives, and then runs die: in extract, in silver, in gold
    with closing(sqlite3.connect(store)) as con, con:
        con.execute(
            "UPDATE orders SET status = 'cancelled', updated_at = "
            "strftime('%Y-%m-%d %H:%M:%f000', 'now') WHERE id = 1"
        )
    for steps in (4, 24, 44):
        _kill_after(settings, steps)
        assert settings.warehouse_path.stat().st_ino == inode  # untouched by the dead runs
        assert_same_gold(good, gold_frames(settings.warehouse_path))

    resumed = run_pipeline(settings)

    assert resumed.status == "succeeded"
    statuses = [r.status for r in recent_runs(settings, 10)]
    assert statuses == ["succeeded", "abandoned", "abandoned", "abandoned", "succeeded"]
    assert not list(settings.home.glob(".warehouse.duckdb.*"))
    uninterrupted = settings_for(tmp_path / "uninterrupted", store)
    run_pipeline(uninterrupted)
    assert_same_gold(
        gold_frames(settings.warehouse_path), gold_frames(uninterrupted.warehouse_path)
    )


def test_a_run_left_running_is_abandoned_even_if_its_process_id_is_alive(
    settings: Settings,
) -> None:
    """Its process id may belong to another process by now (in a container the pipeline is
    always process 1): the next run, holding the lock, marks it abandoned all the same."""
    log = RunLog(runlog_path(settings))
    started = datetime.now(UTC)
    log.start(RunSummary("left-running", "duckdb", False, "running", started))  # our own pid

    run_pipeline(settings)

    assert [r.status for r in recent_runs(settings, 10)] == ["succeeded", "abandoned"]


def test_status_shows_a_run_as_running_only_while_its_own_process_runs(
    settings: Settings,
) -> None:
    """Without a new run, `pipeline status` judges a run marked running by its process: one
    that started after the run did only got the dead run's id (PID reuse), so the run is
    shown abandoned."""
    log = RunLog(runlog_path(settings))
    log.start(RunSummary("ours", "duckdb", False, "running", datetime.now(UTC)))
    assert [r.status for r in recent_runs(settings, 10)] == ["running"]
    with sqlite3.connect(runlog_path(settings)) as con:  # as if started before this process
        con.execute("UPDATE runs SET started_at = '2001-01-01T00:00:00+00:00'")

    assert [r.status for r in recent_runs(settings, 10)] == ["abandoned"]
