"""`generate`: fill an empty operational store with a synthetic retail history."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from shelfwise.store.db import Database
from shelfwise.synth.spec import GenerationReport, WorldSpec
from shelfwise.synth.world import History, build_world, write_reference_data
from shelfwise.synth.writer import BulkWriter, open_writer

# From this size on, SQLite inserts run in a child process beside the simulation; below it the
# process start costs more than it saves.
PARALLEL_MIN_ORDERS = 20_000


def generate(
    db: Database,
    spec: WorldSpec,
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> GenerationReport:
    """Write the world of `spec` into `db`, a migrated and empty store, in one transaction.

    `progress(stage, done, total)` is called as work advances (stages: world, history,
    indexing). Raises `InvalidRequest` when the store is not migrated or already holds data.
    """
    started = time.perf_counter()
    writer = open_writer(db, parallel=spec.orders >= PARALLEL_MIN_ORDERS)
    # Millions of short-lived row tuples would trigger the cycle collector again and again;
    # none of them can form a cycle, so it is paused for the run.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _run(spec, writer, progress)
    finally:
        if collecting:
            gc.enable()
    counts = {name: rows for name, rows in writer.counts.items() if rows}
    return GenerationReport(
        counts=counts, start=spec.start, end=spec.end, seconds=time.perf_counter() - started
    )


def _run(
    spec: WorldSpec,
    writer: BulkWriter,
    progress: Callable[[str, int, int], None] | None,
) -> None:
    with writer:
        writer.ensure_empty()
        if progress:
            progress("world", 0, 1)
        world = build_world(spec)
        write_reference_data(world, writer)
        if progress:
            progress("world", 1, 1)
        History(world, writer).run(progress)
        writer.finish(progress)
