"""Silver: `stg_<table>` typed, renamed, deduplicated to each key's latest version, validated.

One SQL template serves every table, driven by the catalog (types, keys, enumerations, foreign
keys from the store's metadata) plus a few business rules per table. Each latest version is
either kept in `stg_<table>` or sent to quarantine with the table, its key, the first rule it
broke and a reason naming the field and value, so for every table and run:

    rows in (latest versions) = rows out (stg) + rows quarantined

Rows in is counted from bronze apart from the checks' ranking (`records_sql`: distinct keys,
plus distinct rows without a whole key), so a ranking that dropped or doubled a record fails
the step instead of being logged as balanced.

Older versions of a key are superseded, not lost (they stay in bronze; `stg_products_history`
keeps product versions for the type-2 product dimension). Parents are validated before children
and a child pointing at a quarantined parent is quarantined too ("unknown order").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from shelfwise.pipeline.catalog import (
    EXTRACTED_AT,
    UNTYPED,
    WATERMARK,
    SourceColumn,
    SourceTable,
)
from shelfwise.pipeline.engines.base import Dialect, Engine

EMAIL_PATTERN = "[^@ ]+@[^@ ]+[.][^@ ]+"
EARLIEST = "1990-01-01"
HISTORY_TABLES = ("products",)
QUARANTINE = "quarantine"
SEEN = "_seen"  # when the run that extracted a version started (see `silver_sql`)
LATEST_FIRST = f"{SEEN} DESC, {WATERMARK} DESC NULLS LAST"


@dataclass(frozen=True)
class Rule:
    """A business rule: `broken` is true for a bad row; `reason` explains it (SQL strings)."""

    name: str
    broken: str
    reason: str


def _text(expression: str) -> str:
    return f"COALESCE(CAST({expression} AS STRING), 'null')"


def _said(column: str, message: str) -> str:
    return f"'{column} ' || {_text(column)} || ' {message}'"


def business_rules(table: str, dialect: Dialect) -> list[Rule]:
    """Rules beyond types, keys and references: what the business says a valid row is."""
    positive = {
        "order_lines": "quantity",
        "purchase_order_lines": "quantity_ordered",
        "purchase_receipts": "quantity",
        "stock_transfers": "quantity",
    }
    rules: list[Rule] = []
    if table in positive:
        column = positive[table]
        rules.append(Rule("zero_quantity", f"{column} = 0", _said(column, "is not positive")))
        rules.append(Rule("negative_quantity", f"{column} < 0", _said(column, "is not positive")))
    if table in ("products", "order_lines"):
        rules.append(Rule("negative_price", "unit_price < 0", _said("unit_price", "is negative")))
    if table == "order_lines":
        rules.append(
            Rule(
                "invalid_discount",
                "discount < 0 OR discount >= 1",
                _said("discount", "is not a fraction in [0, 1)"),
            )
        )
    if table == "promotions":
        rules.append(
            Rule(
                "invalid_discount",
                "discount <= 0 OR discount >= 1",
                _said("discount", "is not a fraction in (0, 1)"),
            )
        )
        rules.append(
            Rule(
                "impossible_date",
                "ends_on < starts_on",
                _said("ends_on", "is before starts_on ") + " || " + _text("starts_on"),
            )
        )
    if table == "stock_movements":
        rules.append(Rule("zero_quantity", "quantity = 0", "'quantity is 0: a movement must move'"))
    if table == "stock_levels":
        rules.append(Rule("negative_quantity", "on_hand < 0", _said("on_hand", "is negative")))
    if table in ("customers", "suppliers"):
        rules.append(
            Rule(
                "malformed_email",
                f"email IS NOT NULL AND NOT {dialect.full_match('email', EMAIL_PATTERN)}",
                "'email ''' || email || ''' is not an e-mail address'",
            )
        )
    if table in ("locations", "customers", "suppliers"):
        rules.append(
            Rule(
                "invalid_country",
                f"country IS NOT NULL AND NOT {dialect.full_match('country', '[A-Z][A-Z]')}",
                _said("country", "is not an ISO 3166 alpha-2 code"),
            )
        )
    return rules


def _typed(column: SourceColumn) -> str:
    return f"TRY_CAST({column.source} AS {column.sql_type}) AS {column.name}"


def _untyped(column: SourceColumn, dialect: Dialect) -> str:
    """The text of the column's value where it did not fit the column's type (else NULL)."""
    return dialect.json_text(UNTYPED, column.source)


def _cast_error(table: SourceTable, dialect: Dialect) -> str:
    """Why a row's value did not fit its type: extraction kept its text in `_untyped`."""
    checks = [
        f"WHEN {_untyped(c, dialect)} IS NOT NULL "
        f"THEN '{c.name} ' || {_untyped(c, dialect)} || ' is not a valid {c.sql_type}'"
        for c in table.columns
        if c.sql_type != "STRING"
    ]
    if not checks:
        return "CAST(NULL AS STRING)"
    return f"CASE WHEN {UNTYPED} IS NULL THEN NULL {' '.join(checks)} END"


def raw_key(table: SourceTable, dialect: Dialect) -> str:
    """The key as text (`order_id=12`), as bronze holds it: a key that did not fit its type
    shows its text."""
    parts = []
    for name in table.key:
        column = table.column(name)
        text = f"CAST({column.source} AS STRING)"
        if column.sql_type != "STRING":
            text = f"{text}, {_untyped(column, dialect)}"
        parts.append(f"'{name}=' || COALESCE({text}, 'null')")
    return " || ',' || ".join(parts)


def typed_sql(
    table: SourceTable, dialect: Dialect, source: str | None = None, *, seen: bool = False
) -> str:
    """Bronze rows with warehouse names and types, plus their key as text and any cast error
    (and with `seen`, when the run that extracted them started, as `_seen`).
    (Bronze already holds the catalog's types: the casts keep engines that read a type in
    their own flavour, Spark's timestamps, to the catalog's.)"""
    columns = ", ".join(_typed(c) for c in table.columns)
    extracted = f", CAST({EXTRACTED_AT} AS TIMESTAMP) AS {SEEN}" if seen else ""
    return (
        f"SELECT {columns}, {raw_key(table, dialect)} AS _record_key, "
        f"{_cast_error(table, dialect)} AS _cast_error{extracted} FROM {source or table.raw}"
    )


def latest_plausible_date(now: datetime) -> date:
    """A year from `now`: later dates are impossible (from 29 February, the next 28th)."""
    today = now.date()
    try:
        return today.replace(year=today.year + 1)
    except ValueError:
        return today.replace(year=today.year + 1, day=28)


def _date_rules(table: SourceTable, now: datetime) -> list[Rule]:
    latest = latest_plausible_date(now).isoformat()
    rules = []
    for column in table.columns:
        if column.sql_type not in ("DATE", "TIMESTAMP"):
            continue
        bounds = (
            f"CAST('{EARLIEST}' AS {column.sql_type}) AND CAST('{latest}' AS {column.sql_type})"
        )
        rules.append(
            Rule(
                "impossible_date",
                f"{column.name} IS NOT NULL AND {column.name} NOT BETWEEN {bounds}",
                _said(column.name, f"is outside {EARLIEST} to {latest}"),
            )
        )
    return rules


def _structural_rules(table: SourceTable) -> list[Rule]:
    rules = []
    for column in table.columns:
        if not column.nullable:
            rules.append(
                Rule("missing_value", f"{column.name} IS NULL", f"'{column.name} is missing'")
            )
        if column.allowed:
            values = ", ".join(f"'{v}'" for v in column.allowed)
            rules.append(
                Rule(
                    f"invalid_{column.name}",
                    f"{column.name} NOT IN ({values})",
                    f"'{column.name} ''' || {column.name} || ''' is not one of "
                    f"{', '.join(column.allowed)}'",
                )
            )
    return rules


@dataclass(frozen=True)
class BronzeKeys:
    unique: bool  # no two rows share a key (NULLs alike)
    records: int | None  # what `records_sql` counts; None: not asked


def bronze_keys(engine: Engine, table: SourceTable) -> BronzeKeys:
    """Whether no two rows of the table's bronze share a key: then every row is its key's only
    version, as after a full load, and deduplicating can be skipped (at 1 M order lines it took
    ~60 % of silver's time). The same grouping counts the records for the run log's balance
    (`records_sql` would scan bronze's keys again). Asked only where a query is cheap."""
    if not engine.cheap_queries:
        return BronzeKeys(unique=False, records=None)
    key = ", ".join(table.key)
    keyless = " OR ".join(f"{k} IS NULL" for k in table.key)
    most, keyed, keyless_rows = engine.rows(
        "SELECT MAX(n), COUNT(*) FILTER (WHERE NOT keyless), "
        "COALESCE(SUM(n) FILTER (WHERE keyless), 0) FROM (SELECT COUNT(*) AS n, "
        f"{keyless} AS keyless FROM ({typed_sql(table, engine.dialect)}) t GROUP BY {key}) k"
    )[0]
    unique = most is None or most <= 1  # (None: no rows)
    records = int(keyed) + int(keyless_rows)  # every keyless row distinct when keys are unique
    if keyless_rows and not unique:
        distinct = f"SELECT DISTINCT * FROM ({typed_sql(table, engine.dialect)}) t WHERE {keyless}"
        records = int(keyed) + int(engine.scalar(f"SELECT COUNT(*) FROM ({distinct}) r") or 0)
    return BronzeKeys(unique=unique, records=records)


def records_sql(table: SourceTable, dialect: Dialect, source: str | None = None) -> str:
    """A scalar expression: how many records the rows of `source` (default all of bronze) hold,
    one per distinct key and one per distinct row missing part of its key (as `silver_sql`
    treats them), counted without its window functions. (Bronze holds the catalog's types, so
    a key is missing exactly where its bronze column is null: only those rows are typed.)"""
    rows = source or table.raw
    keys = [table.column(k).source for k in table.key]
    keyless = " OR ".join(f"{k} IS NULL" for k in keys)
    missing = typed_sql(table, dialect, f"(SELECT * FROM {rows} WHERE {keyless}) b")
    return (
        f"((SELECT COUNT(*) FROM (SELECT DISTINCT {', '.join(keys)} FROM {rows} "
        f"WHERE NOT ({keyless})) k) "
        f"+ (SELECT COUNT(*) FROM (SELECT DISTINCT * FROM ({missing}) t) r))"
    )


def silver_sql(
    table: SourceTable,
    dialect: Dialect,
    now: datetime,
    source: str | None = None,
    *,
    unique_keys: bool = False,
    every_version: bool = False,
) -> str:
    """Every latest version of every key (of `source`, default all of bronze), with
    `_rule`/`_reason` set when it must be quarantined. `unique_keys`: no two rows share a key
    (`bronze_keys`), so each row is its key's latest and only version. `every_version`: each
    distinct version judged by the same rules (for a history).

    The latest version is the one first extracted by the latest run (`LATEST_FIRST`), not the
    one with the newest `updated_at`: a writer stamps a row before it commits, so a version
    can carry an older stamp than the one it replaced (a CSV import stamped as it began and
    committed over a price change made meanwhile; two orders waiting on one stock row's lock).
    Each extraction reads one committed state of the store, so what a later one read replaced
    what an earlier one read; the stamp decides only between versions of one extraction.
    Extraction keeps a version once (a row read again, unchanged, is dropped), so a row put
    back exactly as it was before its last change, stamp and all, is not seen again.
    Two different versions of a key with one stamp, from any runs, stay a conflicting
    duplicate: a writer changed the row without stamping it (or stamped it with an older
    version's stamp), which an incremental run may miss altogether."""
    key = ", ".join(table.key)
    key_missing = " OR ".join(f"{k} IS NULL" for k in table.key)
    joins = []
    rules = [
        Rule("missing_key", key_missing, "'key ' || _record_key || ' is missing or invalid'"),
        Rule(
            "conflicting_duplicate",
            "_versions_at_latest > 1",
            "CAST(_versions_at_latest AS STRING) || ' different rows share key ' || "
            f"_record_key || ' and {WATERMARK} ' || {_text(WATERMARK)}",
        ),
        Rule("invalid_value", "_cast_error IS NOT NULL", "_cast_error"),
        *_structural_rules(table),
    ]
    for index, column in enumerate(c for c in table.columns if c.references):
        assert column.references is not None
        parent_key = f"{_entity_of(column.references)}_id"
        alias = f"_ref{index}"
        joins.append(
            f"LEFT JOIN (SELECT {parent_key} AS _k FROM stg_{column.references}) {alias} "
            f"ON l.{column.name} = {alias}._k"
        )
        entity = _entity_of(column.references).replace("_", " ")
        rules.append(
            Rule(
                f"unknown_{_entity_of(column.references)}",
                f"l.{column.name} IS NOT NULL AND {alias}._k IS NULL",
                f"'{column.name} ' || CAST(l.{column.name} AS STRING) || "
                f"' is not a known {entity}'",
            )
        )
    rules += _date_rules(table, now) + business_rules(table.name, dialect)
    rule = " ".join(f"WHEN {r.broken} THEN '{r.name}'" for r in rules)
    reason = " ".join(f"WHEN {r.broken} THEN {r.reason}" for r in rules)
    partition = f"PARTITION BY {key}"
    # A version is told apart by its values; `_seen`: the run that extracted it (bronze holds
    # a version once; should it hold it twice, the later run counts).
    version = ", ".join([*(c.name for c in table.columns), "_record_key", "_cast_error"])
    versions = f"SELECT {version}, MAX({SEEN}) AS {SEEN} FROM typed GROUP BY {version}"
    ranked = f"""versions AS ({versions}),
ranked AS (
  SELECT v.*,
    CASE WHEN {key_missing} THEN 1
         ELSE ROW_NUMBER() OVER ({partition} ORDER BY {LATEST_FIRST}) END AS _rn,
    CASE WHEN {key_missing} THEN 1
         ELSE COUNT(*) OVER ({partition}, {WATERMARK}) END AS _versions_at_latest
  FROM versions v
)"""
    if unique_keys:
        ranked = (
            "ranked AS (SELECT v.*, CAST(1 AS BIGINT) AS _rn, "
            "CAST(1 AS BIGINT) AS _versions_at_latest FROM typed v)"
        )
    return f"""
WITH typed AS ({typed_sql(table, dialect, source, seen=True)}),
{ranked},
latest AS (SELECT * FROM ranked {"" if every_version else "WHERE _rn = 1"})
SELECT l.*, CASE {rule} END AS _rule, CASE {reason} END AS _reason
FROM latest l
{" ".join(joins)}
"""


def _entity_of(table: str) -> str:
    from shelfwise.pipeline.catalog import ENTITIES

    return ENTITIES[table]


def history_sql(table: SourceTable, dialect: Dialect, now: datetime) -> str:
    """Every distinct version of each kept key that passes the rules, judged as a latest version
    would be (for type-2 dimensions: a price of -5 fixed a day later must not become a
    version of its own), in the order the extractions saw them (see `silver_sql`).

    A version stamped before the one it replaced gets the stamp just after it (a microsecond
    per version), so that `updated_at` orders a key's versions as they replaced each other
    and the last one is the current row of `stg_<table>` (the replaced version's validity
    then ends as it began). A replaced version's stamp is at most the start of the run that
    read its successor: it was read by an earlier run, so stamped before that one started,
    and a later stamp is a clock running ahead (less than a year ahead passes the rules),
    which would otherwise push every later version's validity, and the sales joined to it,
    out to that stamp."""
    key = ", ".join(table.key)
    on_key = " AND ".join(f"h.{k} = s.{k}" for k in table.key)
    columns = ", ".join(f"h.{c.name}" for c in table.columns)
    stamp, successor_seen = dialect.micros(WATERMARK), dialect.micros("_replaced_by_seen")
    capped = f"LEAST({stamp}, COALESCE({successor_seen}, {stamp}))"
    stamped = ", ".join(
        f"{dialect.from_micros('_stamp + _n')} AS {WATERMARK}" if c.name == WATERMARK else c.name
        for c in table.columns
    )
    return f"""
WITH kept AS (
  SELECT {columns}, h.{SEEN}
  FROM ({silver_sql(table, dialect, now, every_version=True)}) h
  JOIN {table.staged} s ON {on_key}
  WHERE h._rule IS NULL AND h.{WATERMARK} IS NOT NULL
),
ordered AS (
  SELECT k.*,
    ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY {SEEN}, {WATERMARK}) AS _n,
    LEAD({SEEN}) OVER (PARTITION BY {key} ORDER BY {SEEN}, {WATERMARK}) AS _replaced_by_seen
  FROM kept k
),
running AS (
  SELECT o.*, MAX({capped} - _n) OVER (
    PARTITION BY {key} ORDER BY _n ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS _stamp
  FROM ordered o
)
SELECT {stamped} FROM running
"""


@dataclass(frozen=True)
class SilverResult:
    table: str
    rows_read: int  # bronze rows (every extracted version)
    rows_in: int  # latest versions, one per key
    rows_out: int  # kept in stg_<table>
    rows_quarantined: int


def quarantine_sql(table: SourceTable, checked: str) -> str:
    return (
        f"SELECT CAST('{table.name}' AS STRING) AS source_table, _record_key AS record_key, "
        f"_rule AS rule, _reason AS reason, CAST({WATERMARK} AS TIMESTAMP) AS source_updated_at "
        f"FROM {checked} WHERE _rule IS NOT NULL"
    )


def build_silver_table(engine: Engine, table: SourceTable, now: datetime) -> SilverResult:
    """Compute `stg_<table>` and its quarantine rows from `raw_<table>` (held by the engine)."""
    checked = f"_checked_{table.name}"
    keys = bronze_keys(engine, table)
    engine.materialize(checked, silver_sql(table, engine.dialect, now, unique_keys=keys.unique))
    counted = records_sql(table, engine.dialect) if keys.records is None else str(keys.records)
    records, rows_in, rows_out, quarantined = engine.rows(
        f"SELECT {counted}, COUNT(*), "
        "COALESCE(SUM(CASE WHEN _rule IS NULL THEN 1 ELSE 0 END), 0), "
        f"COALESCE(SUM(CASE WHEN _rule IS NOT NULL THEN 1 ELSE 0 END), 0) FROM {checked}"
    )[0]
    read = engine.lake.row_count(table.layer, table.raw)
    columns = ", ".join(c.name for c in table.columns)
    kept = f"SELECT {columns} FROM {checked} WHERE _rule IS NULL"
    engine.materialize(table.staged, kept, lazy=True)
    engine.materialize(f"_quarantine_{table.name}", quarantine_sql(table, checked), lazy=True)
    if table.name in HISTORY_TABLES:
        engine.materialize(f"{table.staged}_history", history_sql(table, engine.dialect, now))
    engine.drop(checked)
    check_balance(table.name, records, rows_in)
    return SilverResult(table.name, int(read), int(rows_in), int(rows_out), int(quarantined))


def check_balance(name: str, records: int, examined: int) -> None:
    """The run log's balance: every record of bronze (`records_sql`) was examined once, and so
    kept or quarantined (each examined row is one or the other)."""
    if records != examined:
        raise AssertionError(
            f"silver {name}: bronze holds {records} records but the checks examined "
            f"{examined}; the ranking in shelfwise/pipeline/silver.py "
            f"{'dropped' if examined < records else 'doubled'} some"
        )


def quarantine_union(tables: list[SourceTable]) -> str:
    return " UNION ALL ".join(f"SELECT * FROM _quarantine_{t.name}" for t in tables)
