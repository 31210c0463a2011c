"""Lakehouse pipeline benchmark: full run vs a pandas baseline and a one-statement floor,
two incremental runs each after 1 % new orders (the first after the full run, the next after
it, as daily runs follow each other), and peak memory — measured side by side, one run.

    python -m benchmarks.bench_pipeline                      # 50k orders (~113k lines), 1 year
    python -m benchmarks.bench_pipeline --orders 465000 --days 730 --skip-pandas   # ~1M lines
    python -m benchmarks.bench_pipeline --store existing.db --workdir /tmp/bench
    python -m benchmarks.bench_pipeline --store existing.db --store-url mysql+pymysql://...

With `--store-url` the store is first copied into that empty PostgreSQL or MySQL/MariaDB
database, and the pipeline extracts from there (the new orders are placed there too); the
pandas baseline and the floor read the SQLite file, so they are left out.

Each measurement runs in a fresh child process that reports its wall time and its own peak
resident memory (ru_maxrss), so one variant's memory never hides another's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _stages(steps: list[Any]) -> dict[str, float]:
    """Seconds per stage (extract, silver, gold, checks, publish) of a logged run."""
    stages: dict[str, float] = {}
    for step in steps:
        stage = step.name.split()[0]
        stages[stage] = stages.get(stage, 0.0) + step.seconds
    return {stage: round(seconds, 2) for stage, seconds in stages.items()}


def _child(variant: str, store: Path, workdir: Path, url: str | None) -> dict[str, Any]:
    """Run one variant in this process (the pipeline reads `url`, default the SQLite file
    `store`); return what it did."""
    started = time.perf_counter()
    detail: dict[str, Any] = {}
    if variant in ("pipeline_full", "pipeline_incremental"):
        from shelfwise.config import Settings
        from shelfwise.pipeline import run_pipeline

        settings = Settings(home=workdir / "home", database_url=url or f"sqlite:///{store}")
        run = run_pipeline(settings, full=variant == "pipeline_full")
        detail = {
            "rows_read": run.rows_read,
            "status": run.status,
            "stages": _stages(run.steps),
        }
    elif variant == "pandas_baseline":
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from pandas_baseline import build

        detail = {
            "fct_inventory_daily": build(store, workdir / "pandas.sqlite")["fct_inventory_daily"]
        }
    elif variant == "duckdb_floor":
        import duckdb

        from shelfwise.pipeline.duckdb_support import extension_file

        target = workdir / "floor.duckdb"
        target.unlink(missing_ok=True)
        # (the scanner loaded as the pipeline loads it: see duckdb_support)
        with duckdb.connect(str(target), config={"allow_unsigned_extensions": True}) as con:
            con.execute(f"LOAD '{extension_file('sqlite')}'")
            con.execute(f"ATTACH '{store}' AS src (TYPE sqlite, READ_ONLY)")
            con.execute(
                """
                CREATE TABLE fct_sales AS
                SELECT l.id AS order_line_id, l.order_id, CAST(o.ordered_at AS DATE) AS date,
                       o.ordered_at, l.product_id, l.product_id * 1000 + 1 AS product_key,
                       o.location_id, o.customer_id, l.quantity, l.unit_price, l.discount,
                       ROUND(l.quantity * l.unit_price * (1 - l.discount), 2) AS net_revenue,
                       o.status AS order_status
                FROM src.order_lines l JOIN src.orders o ON o.id = l.order_id
                JOIN src.products p ON p.id = l.product_id
                """
            )
            row = con.sql("SELECT count(*) FROM fct_sales").fetchone()
            detail = {"fct_sales": row[0] if row else 0}
    else:
        raise SystemExit(f"unknown variant {variant}")
    return {
        "variant": variant,
        "seconds": round(time.perf_counter() - started, 2),
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        **detail,
    }


def _measure(variant: str, store: Path, workdir: Path, url: str | None = None) -> dict[str, Any]:
    # Dirty pages of the run before (a full run writes ~3 GB) are written out first, so a
    # child does not time the kernel flushing its predecessor's files.
    os.sync()
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            variant,
            "--store",
            str(store),
            "--workdir",
            str(workdir),
            *(["--store-url", url] if url else []),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    print(json.dumps(result), flush=True)
    return result


def _generate(path: Path, orders: int, days: int, seed: int) -> None:
    from shelfwise.store.db import Database
    from shelfwise.store.schema import upgrade
    from shelfwise.synth import WorldSpec, generate

    db = Database(f"sqlite:///{path}")
    upgrade(db)
    generate(db, WorldSpec(orders=orders, days=days, seed=seed))
    db.dispose()


def _copy_store(store: Path, url: str) -> None:
    """Copy the SQLite store into the empty server database `url`: the schema by the store's
    migrations, the rows by DuckDB's scanners (the 1 M store took ~5 minutes into MariaDB)."""
    from sqlalchemy import text

    from shelfwise.pipeline.duckdb_support import (
        connect,
        libpq_dsn,
        load_extension,
        mysql_dsn,
        quote,
        url_backend,
    )
    from shelfwise.store.db import Database
    from shelfwise.store.models import Base
    from shelfwise.store.schema import upgrade

    db = Database(url)
    try:
        upgrade(db)
        postgres = url_backend(url).startswith("postgres")
        with connect() as con:
            kind = "postgres" if postgres else "mysql"
            load_extension(con, "sqlite")
            load_extension(con, kind)
            con.execute(f"ATTACH {quote(str(store))} AS src (TYPE sqlite, READ_ONLY)")
            dsn = libpq_dsn(url) if postgres else mysql_dsn(url)
            con.execute(f"ATTACH {quote(dsn)} AS dst (TYPE {kind})")
            for table in Base.metadata.sorted_tables:  # parents first
                columns = ", ".join(f'"{column.name}"' for column in table.columns)
                started = time.perf_counter()
                con.execute(
                    f'INSERT INTO dst."{table.name}" ({columns}) '
                    f'SELECT {columns} FROM src."{table.name}"'
                )
                seconds = time.perf_counter() - started
                print(json.dumps({"copied": table.name, "seconds": round(seconds, 1)}), flush=True)
        if postgres:  # rows copied with their ids: the next id comes after them
            with db.engine.begin() as connection:
                for table in Base.metadata.sorted_tables:
                    if "id" in table.columns and table.columns["id"].autoincrement is not False:
                        connection.execute(
                            text(
                                f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', "
                                f"'id'), max(id)) FROM \"{table.name}\" HAVING max(id) > 0"
                            )
                        )
    finally:
        db.dispose()


def _add_orders(url: str, share: float) -> int:
    """Place `share` of the existing order count as new orders, through the store's services."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import func, select

    from shelfwise.store.db import Database
    from shelfwise.store.inventory import LineRequest, place_order
    from shelfwise.store.models import Customer, Order, Product, StockLevel

    db = Database(url)
    try:
        with db.session() as session:
            wanted = max(1, int((session.scalar(select(func.count(Order.id))) or 0) * share))
            # the next business day after the history, as a daily incremental run would see it
            last = session.scalar(select(func.max(Order.ordered_at)))
            assert last is not None
            next_day = datetime(last.year, last.month, last.day, 12, tzinfo=UTC) + timedelta(days=1)
            customers = session.scalars(select(Customer.id).limit(1000)).all()
            available = StockLevel.on_hand - StockLevel.reserved
            stocked = session.execute(
                select(StockLevel.product_id, StockLevel.location_id, available)
                .join(Product, Product.id == StockLevel.product_id)
                .where(available >= 5, Product.active.is_(True))
                .where(Product.retired_on.is_(None))
                .order_by(available.desc())
                .limit(5000)
            ).all()
        # one unit per order, round robin over the stock rows, none beyond its units (at 10 M
        # lines the 1 % takes ~9 units of each of the 5,000 best-stocked rows)
        left = {(product, location): int(units) for product, location, units in stocked}
        picks: list[tuple[int, int]] = []
        while left and len(picks) < wanted:
            for row in list(left)[: wanted - len(picks)]:
                picks.append(row)
                left[row] -= 1
                if not left[row]:
                    del left[row]
        if len(picks) < wanted:
            raise SystemExit(f"only {len(picks)} units in stock for {wanted} new orders")
        for start in range(0, wanted, 500):
            with db.session() as session:
                for n in range(start, min(wanted, start + 500)):
                    product_id, location_id = picks[n]
                    place_order(
                        session=session,
                        customer_id=customers[n % len(customers)],
                        location_id=location_id,
                        lines=[LineRequest(product_id, 1)],
                        ordered_at=next_day + timedelta(seconds=n),
                    )
    finally:
        db.dispose()
    return wanted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", type=Path, help="an existing generated SQLite store")
    parser.add_argument("--orders", type=int, default=50_000, help="orders to generate")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, help="default: a new temporary folder")
    parser.add_argument("--skip-pandas", action="store_true", help="when it would not finish")
    parser.add_argument(
        "--store-url",
        help="an empty PostgreSQL or MySQL/MariaDB database (SQLAlchemy URL) to copy the store "
        "into and extract from; leaves out the pandas baseline and the floor",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.store, args.workdir, args.store_url)))
        return

    if args.workdir is None:
        args.workdir = Path(tempfile.mkdtemp(prefix="shelfwise-bench-pipeline-"))
    args.workdir.mkdir(parents=True, exist_ok=True)
    store = args.workdir / "store.db"
    if args.store:
        with closing(sqlite3.connect(args.store)) as src, closing(sqlite3.connect(store)) as dst:
            src.backup(dst)
    elif not store.exists():
        _generate(store, args.orders, args.days, args.seed)
    shutil.rmtree(args.workdir / "home", ignore_errors=True)
    with closing(sqlite3.connect(store)) as con:
        lines = con.execute("SELECT count(*) FROM order_lines").fetchone()[0]
    print(json.dumps({"order_lines": lines, "store": str(store)}), flush=True)
    url = args.store_url
    if url:
        _copy_store(store, url)

    results: dict[str, dict[str, Any]] = {}
    if not url:
        results["floor"] = _measure("duckdb_floor", store, args.workdir)
    if not url and not args.skip_pandas:
        results["pandas"] = _measure("pandas_baseline", store, args.workdir)
    # The incremental run follows the full run it builds on, as a daily run follows the last
    # one: with the baseline between them, its 14 GB pushed the lake and the store out of the
    # page cache and the incremental run measured the disk (3.85-3.95 s against 3.3 s).
    results["full"] = _measure("pipeline_full", store, args.workdir, url)
    # Two daily runs: the first follows the full run; the second follows a daily run as they
    # do day after day, and also deletes the warehouse file the first one replaced.
    added: dict[str, int] = {}
    for run in ("first_incremental", "incremental"):
        added[run] = _add_orders(url or f"sqlite:///{store}", 0.01)
        print(json.dumps({"added_orders": added[run]}), flush=True)
        results[run] = _measure("pipeline_incremental", store, args.workdir, url)

    full = results["full"]["seconds"]
    source = f", extracted from {url.partition(':')[0]}" if url else ""
    print(f"\norder lines: {lines:,}{source}")
    print("| measurement | seconds | peak memory (MB) | ratio |")
    print("| --- | ---: | ---: | --- |")
    for name, label, ratio in [
        ("full", "full pipeline (DuckDB engine)", "1.0"),
        ("pandas", "pandas baseline (read_sql, merge, to_sql)", None),
        ("floor", "single DuckDB statement: fct_sales from the source", None),
        (
            "first_incremental",
            f"incremental run after +{added['first_incremental']} orders (1 %)",
            None,
        ),
        ("incremental", f"the next one, after +{added['incremental']} orders (1 %)", None),
    ]:
        if name not in results:
            continue
        seconds = results[name]["seconds"]
        if ratio is None:
            ratio = (
                f"{seconds / full:.3f}× full" if name != "pandas" else f"{seconds / full:.2f}× full"
            )
        print(f"| {label} | {seconds} | {results[name]['peak_mb']} | {ratio} |")


if __name__ == "__main__":
    main()
