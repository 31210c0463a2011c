"""`products`: upsert the catalogue by sku, creating categories and sub-categories as needed.

An existing product takes the file's values for the columns the file has; an empty cell in an
optional column keeps the stored value (a blank never erases data). Only products that really
change are written, so `updated_at` (the pipeline's watermark) moves for changes alone.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from shelfwise.store.importing.base import Job, KindImporter, Parsed, duplicate_problems
from shelfwise.store.importing.problems import Problem
from shelfwise.store.importing.reading import ColumnSpec
from shelfwise.store.importing.rows import ProductRow
from shelfwise.store.importing.storage import (
    Tally,
    all_by_key,
    fold,
    insert_many,
    sub_category_ids,
    table,
)

PRODUCT_FIELDS = (
    "name",
    "description",
    "sub_category_id",
    "brand",
    "unit_price",
    "unit_cost",
    "size",
    "active",
)


class ProductImporter(KindImporter[ProductRow]):
    spec = ColumnSpec(
        kind="products",
        required=("sku", "name", "category", "sub_category", "unit_price"),
        optional=("brand", "unit_cost", "size", "active", "description"),
        aliases={"subcategory": "sub_category", "product_id": "sku", "price": "unit_price"},
    )
    model = ProductRow

    def check(self, session: Session, rows: list[Parsed[ProductRow]], job: Job) -> list[Problem]:
        return duplicate_problems(
            rows,
            key=lambda r: fold(r.sku),
            column="sku",
            shown=lambda r: r.sku,
            job=job,
            what="each sku may appear only once",
        )

    def write(self, session: Session, rows: list[Parsed[ProductRow]], job: Job) -> list[Tally]:
        job.progress("writing products", 0, len(rows))
        subs, categories, sub_categories = sub_category_ids(
            session, ((p.row.category, p.row.sub_category) for p in rows), job.now
        )
        products = table("products")
        existing = all_by_key(session, products, "sku")
        tally = Tally("products")
        new: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        for parsed in rows:
            row = parsed.row
            wanted: dict[str, Any] = {
                "name": row.name,
                "description": row.description,
                "sub_category_id": subs[(fold(row.category), fold(row.sub_category))],
                "brand": row.brand,
                "unit_price": row.unit_price,
                "unit_cost": row.unit_cost,
                "size": row.size,
                "active": row.active,
            }
            current = existing.get(fold(row.sku))
            if current is None:
                wanted["active"] = True if row.active is None else row.active
                new.append({"sku": row.sku, **wanted})
                continue
            merged = {
                name: current._mapping[name] if wanted[name] is None else wanted[name]
                for name in PRODUCT_FIELDS
            }
            if all(merged[name] == current._mapping[name] for name in PRODUCT_FIELDS):
                tally.unchanged += 1
                continue
            changed.append(
                {"b_id": current.id, **{f"b_{k}": v for k, v in merged.items()}, "b_now": job.now}
            )
        insert_many(session, products, new, job.now)
        if changed:
            statement = (
                update(products)
                .where(products.c.id == bindparam("b_id"))
                .values({name: bindparam(f"b_{name}") for name in PRODUCT_FIELDS})
                .values(updated_at=bindparam("b_now"))
            )
            session.execute(statement, changed)
        tally.created, tally.updated = len(new), len(changed)
        job.progress("writing products", len(rows), len(rows))
        return [categories, sub_categories, tally]
