"""Which operational tables the lake takes, their keys, warehouse names and types.

Everything here is read from the store's SQLAlchemy metadata, so a new column in the store shows
up in bronze and silver without touching the pipeline. What is ours: the list of tables taken
(ENTITIES: business data only; never `users`, sessions, carts or tokens, which hold credentials
and web state; the generator's ground truth only in `eval/`),
the renames to warehouse conventions (`id` becomes `<entity>_id`) and the type mapping.

The derived catalog is kept as JSON in a per-user cache folder, keyed by a hash of the models'
source and of this file: a run that finds it skips importing SQLAlchemy and the models, which
took ~0.3 s of each daily run's 3-4 s. A change to either file derives it again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import suppress
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import shelfwise
from shelfwise.pipeline.files import replace_file

if TYPE_CHECKING:
    from sqlalchemy import Column, Table

WATERMARK = "updated_at"
EXTRACTED_AT = "_extracted_at"  # bronze: when the run that appended a row started (UTC)
# Bronze: the text of the values that did not fit their column's type, as a JSON object.
UNTYPED = "_untyped"

# Operational table -> singular entity name (for `id` -> `<entity>_id`).
ENTITIES: dict[str, str] = {
    "categories": "category",
    "sub_categories": "sub_category",
    "products": "product",
    "locations": "location",
    "stock_levels": "stock_level",
    "reorder_settings": "reorder_setting",
    "customers": "customer",
    "orders": "order",
    "order_lines": "order_line",
    "order_events": "order_event",
    "suppliers": "supplier",
    "supplier_products": "supplier_product",
    "purchase_orders": "purchase_order",
    "purchase_order_lines": "purchase_order_line",
    "purchase_receipts": "purchase_receipt",
    "stock_transfers": "stock_transfer",
    "stock_movements": "stock_movement",
    "promotions": "promotion",
    "synth_true_demand": "true_demand",
}
# Ground truth of the synthetic world: landed apart, never an input of gold or models.
EVALUATION_ONLY = frozenset({"synth_true_demand"})
# Column renames beyond `id`, so facts read naturally (`order_status`, `is_active`, `date`).
RENAMES: dict[tuple[str, str], str] = {
    ("orders", "status"): "order_status",
    ("order_events", "status"): "order_status",
    ("purchase_orders", "status"): "po_status",
    ("products", "active"): "is_active",
    ("synth_true_demand", "day"): "date",
}


@dataclass(frozen=True)
class SourceColumn:
    source: str  # name in the operational store
    name: str  # warehouse name
    sql_type: str  # engine-neutral SQL type (DuckDB and Spark SQL both accept it)
    nullable: bool
    allowed: tuple[str, ...] | None  # enumerated values, if any
    references: str | None  # operational table this column points to


@dataclass(frozen=True)
class SourceTable:
    name: str
    entity: str
    columns: tuple[SourceColumn, ...]
    key: tuple[str, ...]  # warehouse names of the primary key

    @property
    def raw(self) -> str:
        return f"raw_{self.name}"

    @property
    def staged(self) -> str:
        return f"stg_{self.name}"

    @property
    def evaluation_only(self) -> bool:
        return self.name in EVALUATION_ONLY

    @property
    def layer(self) -> str:
        """Lake folder of its raw rows: `eval` keeps ground truth away from model inputs."""
        return "eval" if self.evaluation_only else "bronze"

    @property
    def parents(self) -> frozenset[str]:
        """The other source tables its foreign keys point to."""
        return frozenset(
            c.references for c in self.columns if c.references and c.references != self.name
        )

    def column(self, name: str) -> SourceColumn:
        return next(c for c in self.columns if c.name == name)


def sql_type(column: Column[object]) -> str:
    from sqlalchemy import BigInteger, Boolean, Date, Enum, Integer, Numeric, String, Text

    from shelfwise.store.models import UTCDateTime

    kind = column.type
    if isinstance(kind, UTCDateTime):
        return "TIMESTAMP"
    if isinstance(kind, Date):
        return "DATE"
    if isinstance(kind, Boolean):
        return "BOOLEAN"
    if isinstance(kind, Numeric) and not isinstance(kind, Integer):
        return f"DECIMAL({kind.precision or 18},{kind.scale or 0})"
    if isinstance(kind, Integer | BigInteger):
        identifier = column.name == "id" or column.name.endswith("_id") or bool(column.foreign_keys)
        return "BIGINT" if identifier else "INTEGER"
    if isinstance(kind, Enum | String | Text):
        return "STRING"
    raise TypeError(f"{column.table.name}.{column.name}: no warehouse type for {kind!r}")


def _warehouse_name(table: str, column: str) -> str:
    if column == "id":
        return f"{ENTITIES[table]}_id"
    return RENAMES.get((table, column), column)


def _source_table(table: Table) -> SourceTable:
    from sqlalchemy import Enum

    columns = []
    for column in table.columns:
        allowed = tuple(column.type.enums) if isinstance(column.type, Enum) else None
        parents = {fk.column.table.name for fk in column.foreign_keys}
        columns.append(
            SourceColumn(
                source=column.name,
                name=_warehouse_name(table.name, column.name),
                sql_type=sql_type(column),
                nullable=bool(column.nullable),
                allowed=allowed,
                references=next(iter(parents)) if parents else None,
            )
        )
    key = tuple(_warehouse_name(table.name, c.name) for c in table.primary_key.columns)
    return SourceTable(
        name=table.name, entity=ENTITIES[table.name], columns=tuple(columns), key=key
    )


def derive_source_tables() -> tuple[SourceTable, ...]:
    """The catalog from the store's SQLAlchemy metadata."""
    from shelfwise.store.models import Base

    tables = [t for t in Base.metadata.sorted_tables if t.name in ENTITIES]
    return tuple(_source_table(t) for t in tables)


def _models_file() -> Path:
    return Path(__file__).resolve().parents[1] / "store" / "models.py"


def snapshot_path(cache_folder: Path | None = None) -> Path:
    """Where the derived catalog of this code is kept (the name changes with the sources)."""
    digest = hashlib.sha256(shelfwise.__version__.encode())
    for source in (_models_file(), Path(__file__).resolve()):
        digest.update(source.read_bytes())
    folder = cache_folder or Path(tempfile.gettempdir()) / f"shelfwise-{os.getuid()}"
    return folder / f"catalog-{digest.hexdigest()[:32]}.json"


def _from_json(rows: list[dict[str, Any]]) -> tuple[SourceTable, ...]:
    return tuple(
        SourceTable(
            name=row["name"],
            entity=row["entity"],
            key=tuple(row["key"]),
            columns=tuple(
                SourceColumn(
                    **{
                        **column,
                        "allowed": None if column["allowed"] is None else tuple(column["allowed"]),
                    }
                )
                for column in row["columns"]
            ),
        )
        for row in rows
    )


def load_source_tables(path: Path) -> tuple[SourceTable, ...]:
    """The catalog from its snapshot at `path`, derived (and the snapshot written) when that
    is missing or unreadable."""
    try:
        return _from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    tables = derive_source_tables()
    with suppress(OSError):  # a read-only cache folder costs the import, nothing else
        replace_file(path, json.dumps([asdict(t) for t in tables]))
    return tables


@cache
def source_tables() -> tuple[SourceTable, ...]:
    """Every table the lake takes, parents before children (the order silver validates in)."""
    return load_source_tables(snapshot_path())


def source_table(name: str) -> SourceTable:
    return next(t for t in source_tables() if t.name == name)
