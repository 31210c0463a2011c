"""Incremental silver: recompute only the keys that changed, keep every other row as it was.

A full silver build reads every bronze version of every key; after a day of new orders that is
millions of rows to produce the few thousand that changed. Here each table is handled in one of
three ways (`plan_silver`):

- `reuse`: nothing new in bronze and no parent changed: the previous `stg_<table>` stays
  (a table whose bronze is empty too, until its first rows arrive, which are built in full).
- `merge`: the *scope* (keys with new bronze rows since the table was last built, plus keys in
  quarantine, which a new parent row may now make valid) is run through the same SQL as a full
  build (`silver_sql` over bronze restricted to those keys, every version of them), and the
  result replaces those keys in the previous `stg_<table>` and quarantine (in the Delta lake
  by a MERGE on the key: only files holding a changed key are rewritten).
- `full`: the first run, `--full`, small tables (below `SHELFWISE_PIPELINE_SILVER_MERGE_MIN_ROWS`
  rows, where rebuilding costs less than merging), and children of a parent that lost a valid
  key to quarantine (any child row may now point at it). A parent key that *left* quarantine
  needs no rebuild: the children pointing at it were in quarantine, and quarantined keys are
  always in the scope of a merge.

Both paths share the rules and give the same rows (tested against a full rebuild). What each
table has consumed is recorded in `silver/_consumed.json` once every silver table and the
quarantine are written. A run that stops before that (a crash, a failed step) may have written
some tables and not others: a parent may already have lost a key to quarantine whose children
are still as they were, and the next run, comparing with that parent, would not see the loss
and leave the children's rows orphaned. So silver marks the lake (`silver/_writing.json`)
before its first write and clears the mark with the state; a run that finds the mark rebuilds
silver from bronze, which is whole (and gold with it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from shelfwise.pipeline.catalog import SourceTable
from shelfwise.pipeline.engines.base import Engine
from shelfwise.pipeline.files import replace_file
from shelfwise.pipeline.silver import (
    HISTORY_TABLES,
    QUARANTINE,
    SilverResult,
    check_balance,
    quarantine_sql,
    raw_key,
    records_sql,
    silver_sql,
)

STATE_FILE = "_consumed.json"
WRITING_FILE = "_writing.json"  # present while a run writes silver (see the module docstring)
PREVIOUS_QUARANTINE = "_quarantine_previous"


class SilverState:
    """Per table, the newest `_extracted_at` of bronze rows silver has taken in (null for a
    table built while its bronze had no rows)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writing = path.with_name(WRITING_FILE)
        self.interrupted = self.writing.is_file()  # a run stopped while writing silver
        self.consumed: dict[str, str | None] = {}
        if path.is_file():
            self.consumed = dict(json.loads(path.read_text()))

    def begin(self, run_id: str) -> None:
        """Mark the lake before this run writes its first silver table."""
        self.writing.parent.mkdir(parents=True, exist_ok=True)
        replace_file(self.writing, json.dumps({"run_id": run_id}))

    def built(self, table: str) -> bool:
        return table in self.consumed

    def since(self, table: str) -> datetime | None:
        value = self.consumed.get(table)
        return datetime.fromisoformat(value) if value else None

    def save(self, consumed: dict[str, datetime | None]) -> None:
        """Record what silver consumed, once every table and the quarantine are written; the
        mark of `begin` goes with it."""
        self.consumed = {t: m.isoformat() if m else None for t, m in consumed.items()}
        replace_file(self.path, json.dumps(self.consumed, indent=1, sort_keys=True))
        self.writing.unlink(missing_ok=True)


def silver_state(engine: Engine) -> SilverState:
    return SilverState(engine.lake.root / "silver" / STATE_FILE)


@dataclass(frozen=True)
class SilverPlan:
    mode: str  # reuse | merge | full
    why: str


def newest_extracted(engine: Engine, table: SourceTable) -> datetime | None:
    """From the lake's statistics where they are exact (no Spark job), else by a query."""
    maxima = (
        engine.lake.column_maxima(table.layer, table.raw, "_extracted_at")
        if engine.lake.exact_maxima
        else None
    )
    value = max(maxima) if maxima else engine.scalar(f"SELECT MAX(_extracted_at) FROM {table.raw}")
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return datetime.fromisoformat(str(value))


def _stamp(moment: datetime) -> str:
    return f"CAST('{moment.strftime('%Y-%m-%d %H:%M:%S.%f')}' AS TIMESTAMP)"


def previously_quarantined(engine: Engine) -> dict[str, int]:
    """Rows per table in the last run's quarantine, asked once for all tables (on Spark each
    question is a job)."""
    rows = engine.rows(
        f"SELECT source_table, COUNT(*) FROM {PREVIOUS_QUARANTINE} GROUP BY source_table"
    )
    return {str(table): int(count) for table, count in rows}


def plan_silver(
    engine: Engine,
    table: SourceTable,
    state: SilverState,
    *,
    newest: datetime | None,
    changed: set[str],
    unsettled: set[str],
    quarantined_before: dict[str, int] | None,
    merge_min_rows: int,
) -> SilverPlan:
    """How to bring `stg_<table>` up to date (see the module docstring). `newest`: the newest
    `_extracted_at` in bronze; `changed`: tables whose silver changed in this run;
    `unsettled`: tables where a valid key was quarantined; `quarantined_before`: the previous
    quarantine's rows per table (None: no previous silver)."""
    since = state.since(table.name)
    layer = "eval" if table.evaluation_only else "silver"
    built = state.built(table.name) and engine.lake.exists(layer, table.staged)
    if state.interrupted:
        return SilverPlan("full", "the previous run stopped while writing silver")
    if not built or quarantined_before is None:
        return SilverPlan("full", "first build of this table")
    parents = {c.references for c in table.columns if c.references} - {table.name}
    if parents & unsettled:
        names = ", ".join(sorted(parents & unsettled))
        return SilverPlan("full", f"valid keys of {names} were quarantined")
    has_new_rows = newest is not None and (since is None or newest > since)
    # A quarantined row may point at a parent that has just arrived: look at it again.
    recheck = bool(parents & changed) and quarantined_before.get(table.name, 0) > 0
    if not has_new_rows and not recheck:
        return SilverPlan("reuse", "no new bronze rows")
    if since is None:  # built while its bronze was empty: nothing to merge into
        return SilverPlan("full", "first bronze rows of this table")
    if table.name in HISTORY_TABLES:
        return SilverPlan("full", "keeps a version history: rebuilt")
    if engine.lake.row_count(layer, table.staged) < merge_min_rows:
        return SilverPlan("full", "small table: rebuilt")
    return SilverPlan("merge", "changed keys merged")


def compare_with_previous(engine: Engine, table: SourceTable, *, keep_changes: bool) -> bool:
    """Whether a key valid before this run is quarantined now (call before saving the new
    `stg_<table>`). Only that can turn a valid child into an orphan; a key leaving quarantine
    is handled by re-examining the children's quarantined rows. With `keep_changes`, the rows
    that differ from the previous version (old and new) are kept as `_changed_<table>`."""
    layer = "eval" if table.evaluation_only else "silver"
    previous = f"_previous_{table.staged}"
    if not engine.load(layer, table.staged, previous):
        return False
    lost = engine.scalar(
        f"SELECT COUNT(*) FROM {previous} p ANTI JOIN {table.staged} n "
        f"ON {_key_join(table, 'p', 'n')}"
    )
    if keep_changes:
        columns = ", ".join(c.name for c in table.columns)
        engine.materialize(
            f"_changed_{table.name}",
            f"SELECT * FROM (SELECT {columns} FROM {table.staged} "
            f"EXCEPT SELECT {columns} FROM {previous}) a "
            f"UNION ALL SELECT * FROM (SELECT {columns} FROM {previous} "
            f"EXCEPT SELECT {columns} FROM {table.staged}) b",
        )
    engine.drop(previous)
    return bool(lost)


def _key_join(table: SourceTable, left: str, right: str) -> str:
    return " AND ".join(f"{left}.{k} = {right}.{k}" for k in table.key)


def merge_silver_table(
    engine: Engine,
    table: SourceTable,
    now: datetime,
    since: datetime,
    *,
    quarantined_before: int,
    keep_changes: bool,
) -> tuple[SilverResult, bool]:
    """Recompute the changed keys of `stg_<table>` and of its quarantine rows (of which the
    last run left `quarantined_before`). Returns the result and whether a key valid before is
    quarantined now; with `keep_changes`, the old and new versions of the changed keys are
    kept as `_changed_<table>` (see `compare_with_previous`, which does the same by comparing
    whole tables). Engines that write whole tables back get the merged table as
    `stg_<table>`; those that merge in the lake get the rows to merge as `_upsert_<table>`."""
    name = table.name
    layer = "eval" if table.evaluation_only else "silver"
    source_keys = ", ".join(table.column(k).source for k in table.key)
    join_source = " AND ".join(
        f"r.{table.column(k).source} = s.{table.column(k).source}" for k in table.key
    )
    new_rows = f"FROM {table.raw} WHERE _extracted_at > {_stamp(since)}"
    record_key = raw_key(table, engine.dialect)
    scope = f"SELECT DISTINCT {source_keys} {new_rows}"
    if quarantined_before:
        # Keys in quarantine are re-examined: a parent that arrived since may make them valid.
        # (A union, not `OR key IN (subquery)`, which Spark runs as a nested loop: ~1 s more
        # per table at a million order lines.)
        scope = (
            f"SELECT {source_keys} {new_rows} UNION SELECT {source_keys} FROM {table.raw} "
            f"SEMI JOIN (SELECT record_key FROM {PREVIOUS_QUARANTINE} "
            f"WHERE source_table = '{name}') q ON {record_key} = q.record_key"
        )
    engine.materialize(f"_scope_{name}", scope)
    # A new row without a whole key (one its source held as text that is no number, say) joins
    # no scope key: it is taken as it is, to be quarantined as a rebuild would, not lost.
    keyless = " OR ".join(f"{table.column(k).source} IS NULL" for k in table.key)
    engine.materialize(
        f"_scope_raw_{name}",
        f"SELECT r.* FROM {table.raw} r SEMI JOIN _scope_{name} s ON {join_source} "
        f"UNION ALL SELECT * {new_rows} AND ({keyless})",
        lazy=True,
    )
    checked = f"_checked_{name}"
    engine.materialize(checked, silver_sql(table, engine.dialect, now, f"_scope_raw_{name}"))
    engine.load(layer, table.staged, f"_previous_{table.staged}")
    columns = ", ".join(c.name for c in table.columns)
    if not engine.merges_in_lake:
        # The engine writes the whole table back (see Engine.save_changes): build it here.
        engine.materialize(
            table.staged,
            f"SELECT {columns} FROM _previous_{table.staged} p "
            f"ANTI JOIN (SELECT {', '.join(table.key)} FROM {checked}) c "
            f"ON {_key_join(table, 'p', 'c')} "
            f"UNION ALL SELECT {columns} FROM {checked} WHERE _rule IS NULL",
        )
    # (One query: on Spark each is a job.) The last three counts check the balance: this
    # run's new records the checks did not see (each must be kept or quarantined, none lost
    # on the way), and the records of the scope against the rows the checks examined.
    replaced, added, lost, unseen, records, examined = engine.rows(
        f"SELECT (SELECT COUNT(*) FROM _previous_{table.staged} p SEMI JOIN {checked} c "
        f"ON {_key_join(table, 'p', 'c')}), "
        f"(SELECT COUNT(*) FROM {checked} WHERE _rule IS NULL), "
        f"(SELECT COUNT(*) FROM _previous_{table.staged} p SEMI JOIN {checked} c "
        f"ON {_key_join(table, 'p', 'c')} AND c._rule IS NOT NULL), "
        f"(SELECT COUNT(*) FROM (SELECT DISTINCT {record_key} AS record_key {new_rows}) n "
        f"ANTI JOIN {checked} c ON n.record_key = c._record_key), "
        f"{records_sql(table, engine.dialect, f'_scope_raw_{name}')}, "
        f"(SELECT COUNT(*) FROM {checked})"
    )[0]
    if unseen:
        raise AssertionError(
            f"silver {name}: {unseen} new records were neither kept nor quarantined by the "
            "merge; a scope in shelfwise/pipeline/silver_merge.py misses them"
        )
    check_balance(name, records, examined)
    if keep_changes:
        engine.materialize(
            f"_changed_{name}",
            f"SELECT {columns} FROM {checked} WHERE _rule IS NULL UNION ALL "
            f"SELECT {columns} FROM _previous_{table.staged} p SEMI JOIN {checked} c "
            f"ON {_key_join(table, 'p', 'c')}",
        )
    if engine.merges_in_lake:
        # What the lake table needs: the kept rows of the scope, and the keys to drop from it.
        key_present = " AND ".join(f"{k} IS NOT NULL" for k in table.key)
        nulls = ", ".join(
            f"CAST(NULL AS {c.sql_type}) AS {c.name}"
            for c in table.columns
            if c.name not in table.key
        )
        dropped = ", ".join(
            [*(k for k in table.key), *([nulls] if nulls else []), "TRUE AS _delete"]
        )
        engine.materialize(
            f"_upsert_{name}",
            f"SELECT {columns}, FALSE AS _delete FROM {checked} WHERE _rule IS NULL "
            f"UNION ALL SELECT {dropped} FROM {checked} "
            f"WHERE _rule IS NOT NULL AND {key_present}",
        )
    engine.materialize(
        f"_quarantine_{name}",
        f"SELECT * FROM {PREVIOUS_QUARANTINE} q WHERE q.source_table = '{name}' "
        f"AND q.record_key NOT IN (SELECT _record_key FROM {checked}) "
        f"UNION ALL {quarantine_sql(table, checked)}",
    )
    rows_out = engine.lake.row_count(layer, table.staged) - int(replaced or 0) + int(added or 0)
    quarantined = engine.count(f"_quarantine_{name}")
    for scratch in (f"_scope_raw_{name}", f"_scope_{name}", checked, f"_previous_{table.staged}"):
        engine.drop(scratch)
    read = engine.lake.row_count(table.layer, table.raw)
    return SilverResult(name, read, rows_out + quarantined, rows_out, quarantined), bool(lost)


def reuse_silver_table(
    engine: Engine, table: SourceTable, *, quarantined_before: int
) -> SilverResult:
    """Keep the previous `stg_<table>` and its `quarantined_before` quarantine rows as they
    are (the rows stay where they are until the new quarantine is written)."""
    layer = "eval" if table.evaluation_only else "silver"
    engine.load(layer, table.staged)
    if table.name == "products":
        engine.load("silver", f"{table.staged}_history")
    engine.materialize(
        f"_quarantine_{table.name}",
        f"SELECT * FROM {PREVIOUS_QUARANTINE} WHERE source_table = '{table.name}'",
        lazy=True,
    )
    rows_out = engine.lake.row_count(layer, table.staged)
    read = engine.lake.row_count(table.layer, table.raw)
    return SilverResult(
        table.name, read, rows_out + quarantined_before, rows_out, quarantined_before
    )


def load_previous_quarantine(engine: Engine) -> bool:
    """Make the last run's quarantine readable before this run replaces it."""
    return engine.load("silver", QUARANTINE, PREVIOUS_QUARANTINE)
