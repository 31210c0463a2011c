"""Batched reads and writes through SQLAlchemy Core, shared by every kind of import.

Imports write thousands of rows at once: one executemany per table instead of one ORM object
per row. Keys (sku, email, codes) are matched case-insensitively because MySQL/MariaDB compare
them so in their unique indexes; matching the same way everywhere keeps the three databases
in agreement about what "already exists" means.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Table, insert, literal_column, select
from sqlalchemy.orm import Session

from shelfwise.store.models import Base

T = TypeVar("T")

CHUNK = 500
TABLES = Base.metadata.tables


def table(name: str) -> Table:
    return TABLES[name]


def fold(key: str) -> str:
    """The form keys are compared in: case- and surrounding-space-insensitive."""
    return key.strip().casefold()


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class Tally:
    """What an import did to one kind of record."""

    record: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0


def stamp(moment: datetime) -> ColumnElement[Any]:
    """A UTC timestamp as an SQL literal, in the naive form `UTCDateTime` stores.

    `created_at`/`updated_at` are the same for every row of an import; binding them per row
    would put two datetime conversions per row through the type system (most of the time of a
    100k-line import). The text below is what SQLAlchemy writes on SQLite and what PostgreSQL
    and MySQL read for their timestamp columns.
    """
    naive = moment.astimezone(UTC).replace(tzinfo=None)
    return literal_column(f"'{naive.isoformat(sep=' ', timespec='microseconds')}'")


def insert_many(session: Session, target: Table, rows: list[dict[str, Any]], now: datetime) -> None:
    """Insert rows in batches (executemany), stamped with the import's time."""
    if not rows:
        return
    statement = insert(target).values(created_at=stamp(now), updated_at=stamp(now))
    for batch in chunks(rows, 5000):
        session.execute(statement, list(batch))


def ids_by_key(session: Session, target: Table, key: str, values: Iterable[str]) -> dict[str, int]:
    """Primary keys of the rows whose `key` column is one of `values`, by folded key."""
    column = target.c[key]
    found: dict[str, int] = {}
    for batch in chunks(sorted(set(values))):
        for row_id, value in session.execute(select(target.c.id, column).where(column.in_(batch))):
            found[fold(value)] = int(row_id)
    return found


def all_by_key(session: Session, target: Table, key: str) -> dict[str, Any]:
    """Every row of a table by folded key: one scan, cheaper than thousands of lookups."""
    return {fold(row._mapping[key]): row for row in session.execute(select(target))}


def sub_category_ids(
    session: Session, pairs: Iterable[tuple[str, str]], now: datetime
) -> tuple[dict[tuple[str, str], int], Tally, Tally]:
    """Ids of (category, sub-category) pairs by folded names, creating the missing ones."""
    categories, sub_categories = table("categories"), table("sub_categories")
    wanted = {(fold(c), fold(s)): (c, s) for c, s in pairs}
    category_tally, sub_tally = Tally("categories"), Tally("sub_categories")

    category_ids = {
        fold(n): int(i) for i, n in session.execute(select(categories.c.id, categories.c.name))
    }
    new_categories: dict[str, str] = {}
    for (cat_key, _), (cat_name, _) in wanted.items():
        if cat_key not in category_ids:
            new_categories.setdefault(cat_key, cat_name)
    if new_categories:
        insert_many(
            session,
            categories,
            [{"name": n} for n in new_categories.values()],
            now,
        )
        category_ids.update(ids_by_key(session, categories, "name", new_categories.values()))
    category_tally.created = len(new_categories)
    category_tally.unchanged = len({c for c, _ in wanted}) - len(new_categories)

    existing = {
        (int(cat_id), fold(name)): int(sub_id)
        for sub_id, cat_id, name in session.execute(
            select(sub_categories.c.id, sub_categories.c.category_id, sub_categories.c.name)
        )
    }
    new_subs: dict[tuple[int, str], str] = {}
    for (cat_key, sub_key), (_, sub_name) in wanted.items():
        key = (category_ids[cat_key], sub_key)
        if key not in existing:
            new_subs.setdefault(key, sub_name)
    if new_subs:
        insert_many(
            session,
            sub_categories,
            [{"category_id": cat_id, "name": name} for (cat_id, _), name in new_subs.items()],
            now,
        )
        existing = {
            (int(cat_id), fold(name)): int(sub_id)
            for sub_id, cat_id, name in session.execute(
                select(sub_categories.c.id, sub_categories.c.category_id, sub_categories.c.name)
            )
        }
    sub_tally.created = len(new_subs)
    sub_tally.unchanged = len(wanted) - len(new_subs)
    result = {
        (cat_key, sub_key): existing[(category_ids[cat_key], sub_key)]
        for cat_key, sub_key in wanted
    }
    return result, category_tally, sub_tally
