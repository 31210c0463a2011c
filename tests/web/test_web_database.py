"""`WebDatabase.run_writing`: on SQLite one writing thread at a time, elsewhere in parallel."""

from __future__ import annotations

import threading
import time

import anyio
import pytest

from shelfwise.store.db import Database
from shelfwise.web.context import WebDatabase


def _most_at_once(db: Database, tasks: int) -> int:
    web = WebDatabase(db)
    inside = 0
    most = 0
    lock = threading.Lock()
    results: list[int] = []

    def work(number: int) -> int:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep(0.02)  # long enough for the other tasks' threads to start
        with lock:
            inside -= 1
        return number

    async def main() -> None:
        async def one(number: int) -> None:
            results.append(await web.run_writing(work, number))

        async with anyio.create_task_group() as group:
            for number in range(tasks):
                group.start_soon(one, number)

    anyio.run(main)
    assert sorted(results) == list(range(tasks))  # every task ran once and answered
    return most


def test_sqlite_writes_run_one_at_a_time(sqlite_db: Database) -> None:
    assert _most_at_once(sqlite_db, tasks=8) == 1


@pytest.mark.postgres
def test_other_databases_write_in_parallel(postgres_url: str) -> None:
    db = Database(postgres_url)
    try:
        assert _most_at_once(db, tasks=8) > 1
    finally:
        db.dispose()
