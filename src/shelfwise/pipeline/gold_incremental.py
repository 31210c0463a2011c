"""Incremental gold: from which day on the daily inventory fact must be recomputed.

`fct_inventory_daily` is the one gold table that grows with products × locations × days (52 M
rows at a million order lines); rebuilding it for a day of new orders is most of a run. A row
for day D depends on every change up to D, so once the earliest day touched by this run's
changes is known, every row before it stands and only the days from it on are recomputed and
replaced in one commit: Delta's `replaceWhere` on DuckDB (partitions by month), a Parquet version
on Spark that keeps the files of earlier months where they are (Spark writes a file per month).
Either rewrites only the newest month. The warehouse file is patched the same way.

The day is the earliest business date among the silver rows that changed in this run, old and
new versions both (a cancelled order changes units sold on the day it was placed): movements
by when they occurred, order lines by their order's date, receipts by when they arrived,
purchase-order lines and orders by the receipts they carry, promotions by their first day.
A change to products or the product hierarchy re-prices history (type-2 versions): that, a
first run, `--full`, a previous run that failed, or a calendar that starts elsewhere or got
shorter means a full rebuild. The same goes for `fct_sales` (by order date), the monthly
inventory aggregate (by month) and the sales mart (by quarter), which follow the same day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from shelfwise.pipeline.engines.base import Engine

# Silver tables whose changed rows date the change (join, date expression over alias `t`).
CHANGE_DATES: dict[str, tuple[str, str]] = {
    "stock_movements": ("", "CAST(t.occurred_at AS DATE)"),
    "orders": ("", "CAST(t.ordered_at AS DATE)"),
    "order_lines": (
        "JOIN stg_orders o ON o.order_id = t.order_id",
        "CAST(o.ordered_at AS DATE)",
    ),
    "purchase_receipts": ("", "CAST(t.received_at AS DATE)"),
    "purchase_order_lines": (
        "JOIN stg_purchase_receipts r ON r.purchase_order_line_id = t.purchase_order_line_id",
        "CAST(r.received_at AS DATE)",
    ),
    "purchase_orders": (
        "JOIN stg_purchase_order_lines l ON l.purchase_order_id = t.purchase_order_id "
        "JOIN stg_purchase_receipts r ON r.purchase_order_line_id = l.purchase_order_line_id",
        "CAST(r.received_at AS DATE)",
    ),
    "promotions": ("", "t.starts_on"),
}
REBUILD_ON_CHANGE = frozenset({"products", "sub_categories", "categories"})
TRACKED_CHANGES = frozenset(CHANGE_DATES) | REBUILD_ON_CHANGE


@dataclass
class GoldPlan:
    since: date | None  # recompute days from here on; None: rebuild everything
    why: str
    calendar_grew: bool = False  # dim_date gained days (else it equals the previous one)
    reused: set[str] = field(default_factory=set)  # gold tables kept as they were

    def since_for(self, recent_by: str) -> str:
        """The first day to recompute for a table recomputed by `recent_by` (date, month or
        quarter_start)."""
        assert self.since is not None
        first = self.since
        if recent_by == "month":
            first = first.replace(day=1)
        elif recent_by == "quarter_start":
            first = first.replace(month=(first.month - 1) // 3 * 3 + 1, day=1)
        return first.isoformat()


CalendarSpan = tuple[date | None, date | None]


def _calendar_span(engine: Engine, name: str) -> CalendarSpan:
    row = engine.rows(f"SELECT MIN(date), MAX(date) FROM {name}")[0]
    return row[0], row[1]


def previous_calendar_span(engine: Engine) -> CalendarSpan | None:
    """First and last day of the previous run's `dim_date`; None when there is none."""
    if not engine.load("gold", "dim_date", "_previous_dim_date"):
        return None
    span = _calendar_span(engine, "_previous_dim_date")
    engine.drop("_previous_dim_date")
    return span


def plan_gold(
    engine: Engine,
    changed: set[str],
    *,
    incremental_silver: bool,
    previous_run_succeeded: bool,
    previous_calendar: CalendarSpan | None,
) -> GoldPlan:
    """From which day `fct_inventory_daily` must be recomputed (call after `dim_date`)."""
    if not incremental_silver:
        return GoldPlan(None, "silver was built from scratch")
    if not previous_run_succeeded:
        return GoldPlan(None, "the previous run did not finish")
    if not engine.lake.partial_replace:
        return GoldPlan(None, f"the {engine.lake.format} lake rewrites whole tables")
    if changed & REBUILD_ON_CHANGE:
        return GoldPlan(None, f"{', '.join(sorted(changed & REBUILD_ON_CHANGE))} changed")
    if previous_calendar is None or not engine.lake.exists("gold", "fct_inventory_daily"):
        return GoldPlan(None, "no previous gold")
    old_first, old_last = previous_calendar
    first, last = _calendar_span(engine, "dim_date")
    if old_first is None or old_last is None or first != old_first or last is None:
        return GoldPlan(None, "the calendar starts on another day")
    if last < old_last:
        return GoldPlan(None, "the calendar got shorter")
    unknown = [t for t in changed & set(CHANGE_DATES) if not engine.has(f"_changed_{t}")]
    if unknown:
        return GoldPlan(None, f"no previous silver to compare {', '.join(sorted(unknown))} with")
    dated = [
        f"SELECT MIN({expression}) AS day FROM _changed_{table} t {join}"
        for table, (join, expression) in CHANGE_DATES.items()
        if table in changed
    ]
    union = " UNION ALL ".join(dated)
    earliest = engine.scalar(f"SELECT MIN(day) FROM ({union}) d") if dated else None
    since = old_last + timedelta(days=1)  # days the calendar gained
    if earliest is not None and earliest < since:
        since = earliest
    return GoldPlan(
        since, f"days from {since.isoformat()} on recomputed", calendar_grew=last > old_last
    )


def _columns(engine: Engine, name: str) -> list[str]:
    return [str(c) for c in engine.arrow_schema(name).names]


def build_recent(
    engine: Engine,
    name: str,
    recent_sql: str,
    column: str,
    since: str,
    previous: str | None = None,
) -> int | None:
    """`name` as the previous version's rows with `column` before `since` plus the recomputed
    ones (a view: nothing is copied); returns the number of recomputed rows, or None when the
    previous version has other columns (written by an older release: rebuild it instead).
    `previous`: a relation holding the previous version (else it is read from the lake)."""
    if previous is None:
        engine.load("gold", name, f"_previous_{name}")
    else:
        engine.view(f"_previous_{name}", f"SELECT * FROM {previous}")
    rows = engine.build(f"_recent_{name}", recent_sql)
    if _columns(engine, f"_previous_{name}") != _columns(engine, f"_recent_{name}"):
        engine.drop(f"_recent_{name}")
        engine.drop(f"_previous_{name}")
        return None
    engine.view(
        name,
        f"SELECT * FROM _previous_{name} WHERE {column} < CAST('{since}' AS DATE) "
        f"UNION ALL SELECT * FROM _recent_{name}",
    )
    return rows
