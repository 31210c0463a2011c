"""Synthetic world generator: order lines per minute into a fresh SQLite file.

Reference in the same run: the raw floor of inserting the same number of plain 7-column tuples
with `sqlite3.executemany` into a table without indexes, in one transaction (WAL, as the store
runs). The ratio says how close the generator, which simulates and writes about five rows per
order line into indexed tables, comes to bare insertion.

    python -m benchmarks.bench_generate [--orders 545000] [--days 730]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

from shelfwise.store.db import Database
from shelfwise.store.schema import upgrade
from shelfwise.synth import WorldSpec, generate

DEFAULT_ORDERS = 545_000  # about 1.2 million order lines


def raw_floor(path: Path, rows: int) -> float:
    """Seconds to insert `rows` plain 7-column tuples with executemany."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(
        "CREATE TABLE plain (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER, c TEXT, d INTEGER, "
        "e TEXT, f TEXT)"
    )
    stamp = "2024-01-01 12:00:00.000000"
    started = time.perf_counter()
    connection.execute("BEGIN")
    batch = 100_000
    for first in range(0, rows, batch):
        connection.executemany(
            "INSERT INTO plain VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (i, i % 3_000, i % 50, "sale", -1 - i % 4, stamp, stamp)
                for i in range(first + 1, min(first + batch, rows) + 1)
            ],
        )
    connection.execute("COMMIT")
    seconds = time.perf_counter() - started
    connection.close()
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=DEFAULT_ORDERS)
    parser.add_argument("--days", type=int, default=730)
    args = parser.parse_args(argv if argv is not None else [])
    with tempfile.TemporaryDirectory(prefix="bench-generate-") as folder:
        db = Database(f"sqlite:///{Path(folder) / 'store.db'}")
        upgrade(db)
        report = generate(db, WorldSpec(orders=args.orders, days=args.days, seed=42))
        db.dispose()
        lines = report.order_lines
        rows = sum(report.counts.values())
        floor = raw_floor(Path(folder) / "floor.db", lines)
    per_minute = lines / report.seconds * 60
    floor_per_minute = lines / floor * 60
    print("## Synthetic world generator")
    print(f"orders {report.counts['orders']:,}, order lines {lines:,}, rows {rows:,}, "
          f"days {args.days}")  # fmt: skip
    print(f"generate: {report.seconds:.1f} s = {per_minute:,.0f} order lines/min")
    print(f"floor (plain 7-column executemany of {lines:,} tuples): {floor:.1f} s = "
          f"{floor_per_minute:,.0f} tuples/min")  # fmt: skip
    print(f"ratio generator/floor: {per_minute / floor_per_minute:.3f}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
