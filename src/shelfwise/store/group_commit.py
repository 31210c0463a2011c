"""Group commit: the writes of several requests in one transaction, each in a savepoint.

SQLite has one writer at a time, so concurrent orders queue for it anyway. Committing each on
its own costs a `BEGIN IMMEDIATE`, a `COMMIT` that appends every page it touched to the WAL
(the stock row's page, the tail pages of four tables and their indexes), a pool check-out and
a thread hop per order. A group pays those once: jobs run one after the other in a single
transaction, each inside a savepoint, so a job that fails (short stock, an unknown product, a
bug) is undone alone and the others stand. Nobody is answered before the group's `COMMIT`, so
a reply still means the write is durable.

If the group's transaction fails as a whole (the `COMMIT` itself, or an error SQLite answers by
rolling back the transaction, such as a full disk), nothing of it was kept: each job then runs
again in a transaction of its own, so one bad write never costs the others their answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Connection

from shelfwise.store.errors import RetryTransaction
from shelfwise.store.prepared import driver_cursor

_T = TypeVar("_T")
Job = Callable[[Connection], _T]
_SAVEPOINT = "shelfwise_group_job"


class Transactions(Protocol):
    """Something that opens write transactions on a Core connection (`Database`, or the web's
    gated `WebDatabase`)."""

    def transaction(self) -> AbstractContextManager[Connection]: ...


@dataclass(frozen=True)
class Outcome(Generic[_T]):
    """What one job came to: its value, or the exception it raised (after its writes were
    undone)."""

    value: _T | None = None
    error: BaseException | None = None

    def result(self) -> _T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


def run_group(
    store: Transactions,
    jobs: Sequence[Job[_T]],
    *,
    first: Callable[[Connection], object] | None = None,
) -> list[Outcome[_T]]:
    """Run `jobs` in one transaction, in order, each in its own savepoint; one outcome per
    job. A job that raises `RetryTransaction` is run once more (it finds what spoilt it).
    `first` runs at the start of the group's transaction (to take the group's row locks in
    one order); jobs run alone lock their own rows."""
    try:
        with store.transaction() as connection:
            if first is not None:
                first(connection)
            cursor = driver_cursor(connection)
            try:
                return [_in_savepoint(cursor, connection, job) for job in jobs]
            finally:
                cursor.close()
    except Exception:  # the group's transaction is gone as a whole: each job runs again alone
        return [run_alone(store, job) for job in jobs]


def run_alone(store: Transactions, job: Job[_T]) -> Outcome[_T]:
    """`job` in a transaction of its own (run once more after a `RetryTransaction`)."""
    for attempt in (1, 2):
        try:
            with store.transaction() as connection:
                return Outcome(value=job(connection))
        except RetryTransaction as exc:
            if attempt == 2:
                return Outcome(error=exc)
        except Exception as exc:  # rolled back; reported to the job's caller
            return Outcome(error=exc)
    raise AssertionError("unreachable")


def _in_savepoint(cursor: Any, connection: Connection, job: Job[_T]) -> Outcome[_T]:
    execute = cursor.execute
    for attempt in (1, 2):
        execute(f"SAVEPOINT {_SAVEPOINT}")
        try:
            value = job(connection)
        except Exception as exc:  # undone here, reported to the job's caller
            # If the transaction itself is gone, this raises and the group runs job by job.
            execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
            execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
            if isinstance(exc, RetryTransaction) and attempt == 1:
                continue
            return Outcome(error=exc)
        execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
        return Outcome(value=value)
    raise AssertionError("unreachable")
