"""Steps on several threads: order kept where it matters, every step logged, failures stop it."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest

from shelfwise.config import Settings
from shelfwise.pipeline import extract, run_pipeline
from shelfwise.pipeline.catalog import source_tables
from shelfwise.pipeline.engines.base import Engine
from shelfwise.pipeline.engines.duckdb import DuckDBEngine
from shelfwise.pipeline.extract import read_changed
from shelfwise.pipeline.gold import GOLD_TABLES
from shelfwise.pipeline.runlog import RunLog, RunSummary, StepSummary, recent_runs
from shelfwise.pipeline.runner import ParallelStep, RunContext, StepFailed
from shelfwise.pipeline.settings import PipelineSettings
from tests.pipeline.test_run import _add_orders


class Recorder:
    """A progress display that remembers what it was told, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def begin(self, total_steps: int) -> None:
        del total_steps

    def step_started(self, name: str) -> None:
        with self.lock:
            self.events.append(("start", name))

    def step_finished(self, step: StepSummary) -> None:
        with self.lock:
            self.events.append(("end", step.name))

    def position(self, event: str, name: str) -> int:
        return self.events.index((event, name))


def _context(tmp_path: Path, recorder: Recorder) -> RunContext:
    run = RunSummary("r1", "duckdb", False, "running", datetime.now(UTC))
    settings = Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'store.db'}")
    return RunContext(
        settings=settings,
        options=PipelineSettings(),
        engine=cast(Engine, None),  # these steps never touch it
        run=run,
        log=RunLog(tmp_path / "runs.sqlite"),
        progress=recorder,
        started=run.started_at,
    )


def _sleeping(seconds: float, value: str) -> ParallelStep[str]:
    def work(step: StepSummary) -> str:
        time.sleep(seconds)
        step.rows_written = len(value)
        return value

    return ParallelStep(value, work)


def test_a_step_starts_only_after_the_steps_it_waits_for(tmp_path: Path) -> None:
    recorder = Recorder()
    ctx = _context(tmp_path, recorder)
    slow, quick = _sleeping(0.3, "slow"), _sleeping(0.01, "quick")
    last = ParallelStep("last", _sleeping(0, "last").work, frozenset({"slow", "quick"}))

    results = ctx.steps_in_parallel([last, slow, quick], workers=2)

    assert results == ["last", "slow", "quick"]  # in the order given, not the order run
    assert recorder.position("start", "quick") < recorder.position("end", "slow")  # side by side
    assert recorder.position("start", "last") > recorder.position("end", "slow")
    assert [s.name for s in ctx.run.steps] == ["quick", "slow", "last"]  # logged as finished
    assert ctx.run.steps[1].seconds >= 0.3 and ctx.run.steps[1].rows_written == 4


def test_a_failure_stops_new_steps_and_fails_with_its_name(tmp_path: Path) -> None:
    recorder = Recorder()
    ctx = _context(tmp_path, recorder)

    def broken(step: StepSummary) -> str:
        raise ValueError("the source went away")

    steps = [
        ParallelStep("broken", broken),
        _sleeping(0.2, "beside"),
        ParallelStep("after", _sleeping(0, "after").work, frozenset({"broken"})),
        ParallelStep("later", _sleeping(0, "later").work, frozenset({"beside"})),
    ]
    with pytest.raises(StepFailed, match="step 'broken' failed: ValueError: the source went"):
        ctx.steps_in_parallel(steps, workers=2)

    logged = {s.name: s for s in ctx.run.steps}
    assert logged["broken"].status == "failed"
    assert logged["broken"].error == "ValueError: the source went away"
    assert logged["beside"].status == "succeeded"  # the running step was let finish
    assert "after" not in logged and "later" not in logged  # nothing new started


def test_steps_waiting_on_each_other_are_refused(tmp_path: Path) -> None:
    ctx = _context(tmp_path, Recorder())
    first = ParallelStep("a", _sleeping(0, "a").work, frozenset({"b"}))
    second = ParallelStep("b", _sleeping(0, "b").work, frozenset({"a"}))
    with pytest.raises(RuntimeError, match="wait on each other"):
        ctx.steps_in_parallel([first, second], workers=2)


def test_extraction_reads_every_table_after_the_tables_that_reference_it(
    settings: Settings,
) -> None:
    recorder = Recorder()
    run_pipeline(settings, progress=recorder)
    tables = source_tables()
    for table in tables:
        for child in (c for c in tables if table.name in c.parents):
            started = recorder.position("start", f"extract {table.name}")
            assert started > recorder.position("end", f"extract {child.name}"), (table, child)
    assert any(s.name == "order_lines" for s in tables if "orders" in s.parents)
    steps = recent_runs(settings, 1)[0].steps
    assert sum(s.name.startswith("extract ") for s in steps) == len(tables)
    assert _overlapping(recorder.events)  # the first load reads tables side by side


def test_incremental_reads_of_sqlite_take_turns(
    settings: Settings, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_pipeline(settings)
    _add_orders(store, 2)
    reads: list[tuple[str, str]] = []
    lock = threading.Lock()

    def recorded(con: object, source: str) -> None:
        with lock:
            reads.append(("start", source))
        time.sleep(0.01)  # long enough for another thread to start a read, were it allowed
        read_changed(con, source)  # type: ignore[arg-type]
        with lock:
            reads.append(("end", source))

    monkeypatch.setattr(extract, "read_changed", recorded)
    recorder = Recorder()
    run_pipeline(settings, progress=recorder)
    # every table with rows in bronze (an empty one is loaded whole, without a watermark)
    assert len(reads) >= 2 * (len(source_tables()) - 2)
    assert not _overlapping(reads)  # one read of the store at a time
    extraction = [e for e in recorder.events if e[1].startswith("extract ")]
    assert _overlapping(extraction)  # while the tables' other work runs side by side


def _overlapping(events: list[tuple[str, str]]) -> bool:
    running = 0
    for kind, _ in events:
        running += 1 if kind == "start" else -1
        if running > 1:
            return True
    return False


def test_silver_and_gold_tables_wait_for_the_tables_they_read(settings: Settings) -> None:
    recorder = Recorder()
    run_pipeline(settings, progress=recorder)
    tables = source_tables()
    for table in tables:
        for parent in table.parents:
            finished = recorder.position("end", f"silver {parent}")
            assert recorder.position("start", f"silver {table.name}") > finished, (table, parent)
    gold_names = {t.name for t in GOLD_TABLES}
    for gold in GOLD_TABLES:
        for read in set(gold.inputs) & gold_names:
            finished = recorder.position("end", f"gold {read}")
            assert recorder.position("start", f"gold {gold.name}") > finished, (gold, read)
    silver = [e for e in recorder.events if e[1].startswith("silver ")]
    gold_events = [e for e in recorder.events if e[1].startswith("gold ")]
    assert _overlapping(silver) and _overlapping(gold_events)  # side by side where they may


def test_one_step_worker_builds_one_table_at_a_time(settings: Settings) -> None:
    recorder = Recorder()
    run_pipeline(settings, options=PipelineSettings(pipeline_step_workers=1), progress=recorder)
    built = [e for e in recorder.events if e[1].split()[0] in ("silver", "gold")]
    assert built and not _overlapping(built)


def test_engine_threads_share_one_database(tmp_path: Path) -> None:
    engine = DuckDBEngine(tmp_path / "lake", PipelineSettings())
    try:
        engine.materialize("made_here", "SELECT 1 AS n")
        seen: list[int] = []

        def elsewhere() -> None:
            # another thread gets a connection of its own, to the same tables
            assert engine.con is not engine._connection
            engine.materialize("made_there", "SELECT n + 1 AS n FROM made_here")
            seen.append(int(engine.scalar("SELECT n FROM made_there")))

        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(elsewhere).result()
        assert seen == [2]
        assert engine.scalar("SELECT n FROM made_there") == 2
    finally:
        engine.close()
