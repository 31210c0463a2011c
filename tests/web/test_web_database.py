"""`WebDatabase.run_writing`: on SQLite one writing thread at a time, elsewhere in parallel;
`run_grouped`: concurrent writes share transactions, each caller gets its own answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from sqlalchemy import Connection

from shelfwise.store.db import Database
from shelfwise.store.errors import InvalidRequest
from shelfwise.store.group_commit import run_group
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


def _grouped(db: Database, jobs: int) -> tuple[list[object], int]:
    """Runs `jobs` concurrent `run_grouped` calls (every third one fails); returns what each
    caller got and how many transactions the jobs ran in."""
    web = WebDatabase(db)
    transactions: set[int] = set()

    def job(number: int) -> Callable[[Connection], int]:
        def work(connection: Connection) -> int:
            transactions.add(id(connection))  # one Connection per transaction here
            time.sleep(0.005)  # the others queue meanwhile
            if number % 3 == 0:
                raise InvalidRequest(f"job {number} refused")
            return number

        return work

    answers: dict[int, object] = {}

    async def main() -> None:
        async def one(number: int) -> None:
            try:
                answers[number] = await web.run_grouped(job(number))
            except InvalidRequest as exc:
                answers[number] = str(exc)

        async with anyio.create_task_group() as group:
            for number in range(jobs):
                group.start_soon(one, number)

    anyio.run(main)
    return [answers[number] for number in range(jobs)], len(transactions)


def _expected(jobs: int) -> list[object]:
    return [f"job {n} refused" if n % 3 == 0 else n for n in range(jobs)]


def test_sqlite_groups_concurrent_writes_in_few_transactions(sqlite_db: Database) -> None:
    answers, transactions = _grouped(sqlite_db, jobs=12)
    assert answers == _expected(12)  # each caller gets its own answer or error
    assert transactions < 12


@pytest.mark.postgres
def test_postgres_groups_concurrent_writes_too(postgres_url: str) -> None:
    db = Database(postgres_url)
    try:
        answers, transactions = _grouped(db, jobs=6)
    finally:
        db.dispose()
    assert answers == _expected(6)
    assert transactions < 6


def test_a_group_that_breaks_fails_its_callers_and_the_next_groups_run(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in writing one group reaches that group's callers; the orders queued behind it
    are still written (none is left waiting for ever)."""
    real = run_group
    calls = 0

    def breaks_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            time.sleep(0.05)  # the others queue meanwhile
            raise RuntimeError("a bug")
        return real(*args, **kwargs)

    monkeypatch.setattr("shelfwise.web.context.run_group", breaks_once)
    web = WebDatabase(sqlite_db)
    answers: dict[int, object] = {}

    async def main() -> None:
        async def one(number: int) -> None:
            try:
                answers[number] = await web.run_grouped(lambda _connection: number)
            except RuntimeError as exc:
                answers[number] = str(exc)

        with anyio.fail_after(10):  # nobody waits for ever
            async with anyio.create_task_group() as group:
                for number in range(6):
                    group.start_soon(one, number)
                    await anyio.sleep(0.01)

    anyio.run(main)
    assert answers[0] == "a bug"
    assert [answers[n] for n in range(1, 6)] == [1, 2, 3, 4, 5]
