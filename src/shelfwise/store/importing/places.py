"""`locations` and `inventory`: where stock is, and how much of it was counted there.

Counts go through the ledger (`set_stock_count`, one adjustment per changed count, reason
"import <file>"), never into `stock_levels` directly, so the running balance keeps equalling
the ledger. A count names its location by code; an unknown code is created when the row also
gives location_name, country, region and city, otherwise the row is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from shelfwise.store.importing.base import Job, KindImporter, Parsed, duplicate_problems
from shelfwise.store.importing.parties import upsert_rows
from shelfwise.store.importing.problems import Problem
from shelfwise.store.importing.reading import ColumnSpec
from shelfwise.store.importing.rows import InventoryRow, LocationRow
from shelfwise.store.importing.storage import Tally, all_by_key, fold, insert_many, table
from shelfwise.store.inventory import set_stock_count
from shelfwise.store.kinds import LocationKind

LOCATION_FIELDS = ("name", "kind", "country", "region", "city")
REORDER_FIELDS = ("min_quantity", "max_quantity", "pack_size")
PROGRESS_EVERY = 200


def create_locations(
    session: Session, wanted: dict[str, dict[str, Any]], job: Job
) -> tuple[dict[str, int], Tally]:
    """Ids of every location by folded code, after creating the `wanted` ones (by folded code)
    that do not exist yet."""
    locations = table("locations")
    existing = all_by_key(session, locations, "code")
    new = [record for key, record in wanted.items() if key not in existing]
    insert_many(session, locations, new, job.now)
    ids = {k: int(r.id) for k, r in all_by_key(session, locations, "code").items()}
    return ids, Tally("locations", created=len(new), unchanged=len(wanted) - len(new))


class LocationImporter(KindImporter[LocationRow]):
    spec = ColumnSpec(
        kind="locations",
        required=("code", "name", "country", "region", "city"),
        optional=("kind",),
        aliases={"location_code": "code", "location_name": "name", "location_kind": "kind"},
    )
    model = LocationRow

    def check(self, session: Session, rows: list[Parsed[LocationRow]], job: Job) -> list[Problem]:
        return duplicate_problems(
            rows,
            key=lambda r: fold(r.code),
            column="code",
            shown=lambda r: r.code,
            job=job,
            what="each location code may appear only once",
        )

    def write(self, session: Session, rows: list[Parsed[LocationRow]], job: Job) -> list[Tally]:
        records: list[dict[str, Any]] = [
            {
                "code": p.row.code,
                "name": p.row.name,
                "kind": p.row.kind,
                "country": p.row.country,
                "region": p.row.region,
                "city": p.row.city,
            }
            for p in rows
        ]
        existing = all_by_key(session, table("locations"), "code")
        for record in records:
            if record["kind"] is None and fold(record["code"]) not in existing:
                record["kind"] = LocationKind.STORE
        return [
            upsert_rows(session, "locations", "code", records, LOCATION_FIELDS, job, "locations")
        ]


@dataclass
class _Plan:
    """What `check` resolved, for `write` to use without asking the store again."""

    product_ids: dict[str, int]
    new_locations: dict[str, dict[str, Any]]


class InventoryImporter(KindImporter[InventoryRow]):
    spec = ColumnSpec(
        kind="inventory",
        required=("sku", "location_code", "on_hand"),
        optional=(
            *REORDER_FIELDS,
            "location_name",
            "country",
            "region",
            "city",
            "location_kind",
        ),
        aliases={"location": "location_code", "stock": "on_hand", "quantity": "on_hand"},
    )
    model = InventoryRow

    def __init__(self) -> None:
        self._plan = _Plan({}, {})

    def check(self, session: Session, rows: list[Parsed[InventoryRow]], job: Job) -> list[Problem]:
        problems = duplicate_problems(
            rows,
            key=lambda r: (fold(r.sku), fold(r.location_code)),
            column="location_code",
            shown=lambda r: f"{r.sku} at {r.location_code}",
            job=job,
            what="each product may be counted once per location",
        )
        products = {k: int(r.id) for k, r in all_by_key(session, table("products"), "sku").items()}
        locations = {
            k: int(r.id) for k, r in all_by_key(session, table("locations"), "code").items()
        }
        self._plan = _Plan(products, {})
        problems += self._check_locations(rows, locations, job)
        reorder = {
            (int(r.product_id), int(r.location_id)): r
            for r in session.execute(select(table("reorder_settings")))
        }
        reserved = {
            (int(pid), int(lid)): int(qty)
            for pid, lid, qty in session.execute(
                select(
                    table("stock_levels").c.product_id,
                    table("stock_levels").c.location_id,
                    table("stock_levels").c.reserved,
                ).where(table("stock_levels").c.reserved > 0)
            )
        }
        for parsed in rows:
            row = parsed.row
            product_id = products.get(fold(row.sku))
            if product_id is None:
                problems.append(
                    job.problem(
                        parsed.line,
                        "sku",
                        f'"{row.sku}" is not a known product; import it with '
                        '"shelfwise import products" first',
                    )
                )
                continue
            location_id = locations.get(fold(row.location_code))
            key = (product_id, location_id or 0)
            held = reserved.get(key, 0)
            if row.on_hand < held:
                problems.append(
                    job.problem(
                        parsed.line,
                        "on_hand",
                        f'"{row.on_hand}" is below the {held} units reserved there; release '
                        "the reservation first or check the count",
                    )
                )
            problems += self._check_reorder(parsed, reorder.get(key), job)
        return problems

    def _check_locations(
        self, rows: list[Parsed[InventoryRow]], known: dict[str, int], job: Job
    ) -> list[Problem]:
        problems: list[Problem] = []
        defined_on: dict[str, int] = {}
        definitions = self._plan.new_locations
        for parsed in rows:  # first pass: rows that describe a new location
            row, key = parsed.row, fold(parsed.row.location_code)
            if key in known or row.location_name is None:
                continue
            record = {
                "code": row.location_code,
                "name": row.location_name,
                "kind": row.location_kind or LocationKind.STORE,
                "country": row.country,
                "region": row.region,
                "city": row.city,
            }
            if None in record.values():
                continue
            if key not in definitions:
                definitions[key], defined_on[key] = record, parsed.line
            elif record != definitions[key]:
                problems.append(
                    job.problem(
                        parsed.line,
                        "location_name",
                        f"describes location {row.location_code} differently from line "
                        f"{defined_on[key]}; give its details once, or identically",
                    )
                )
        for parsed in rows:  # second pass: every code must exist or be defined
            key = fold(parsed.row.location_code)
            if key not in known and key not in definitions:
                missing = [
                    c
                    for c in ("location_name", "country", "region", "city")
                    if getattr(parsed.row, c) is None
                ]
                problems.append(
                    job.problem(
                        parsed.line,
                        "location_code",
                        f'"{parsed.row.location_code}" is not a known location; import it with '
                        '"shelfwise import locations" first, or fill '
                        f"{', '.join(missing)} to create it here",
                    )
                )
        return problems

    @staticmethod
    def _check_reorder(parsed: Parsed[InventoryRow], current: Any, job: Job) -> list[Problem]:
        row = parsed.row
        if all(getattr(row, f) is None for f in REORDER_FIELDS):
            return []
        low = (
            row.min_quantity
            if row.min_quantity is not None
            else getattr(current, "min_quantity", None)
        )
        high = (
            row.max_quantity
            if row.max_quantity is not None
            else getattr(current, "max_quantity", None)
        )
        if low is None or high is None:
            column = "min_quantity" if low is None else "max_quantity"
            return [
                job.problem(
                    parsed.line,
                    column,
                    "is empty; a new reorder setting needs both min_quantity and max_quantity",
                )
            ]
        if high < low:
            return [
                job.problem(
                    parsed.line,
                    "max_quantity",
                    f'"{high}" is below min_quantity ({low}); the maximum must be at least the '
                    "minimum",
                )
            ]
        return []

    def write(self, session: Session, rows: list[Parsed[InventoryRow]], job: Job) -> list[Tally]:
        location_ids, location_tally = create_locations(session, self._plan.new_locations, job)
        products = self._plan.product_ids
        counts = Tally("stock counts")
        reason = f"import {job.file}"[:200]
        for number, parsed in enumerate(rows, start=1):
            row = parsed.row
            delta = set_stock_count(
                session=session,
                product_id=products[fold(row.sku)],
                location_id=location_ids[fold(row.location_code)],
                counted=row.on_hand,
                reason=reason,
                at=job.now,
            )
            if delta:
                counts.updated += 1
            else:
                counts.unchanged += 1
            if number % PROGRESS_EVERY == 0 or number == len(rows):
                job.progress("counting stock", number, len(rows))
        reorder = self._write_reorder(session, rows, products, location_ids, job)
        return [location_tally, counts, reorder]

    @staticmethod
    def _write_reorder(
        session: Session,
        rows: list[Parsed[InventoryRow]],
        products: dict[str, int],
        locations: dict[str, int],
        job: Job,
    ) -> Tally:
        settings = table("reorder_settings")
        current = {
            (int(r.product_id), int(r.location_id)): r for r in session.execute(select(settings))
        }
        tally = Tally("reorder_settings")
        new: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        for parsed in rows:
            row = parsed.row
            if all(getattr(row, f) is None for f in REORDER_FIELDS):
                continue
            key = (products[fold(row.sku)], locations[fold(row.location_code)])
            existing = current.get(key)
            if existing is None:
                new.append(
                    {
                        "product_id": key[0],
                        "location_id": key[1],
                        "min_quantity": row.min_quantity,
                        "max_quantity": row.max_quantity,
                        "pack_size": row.pack_size or 1,
                    }
                )
                continue
            merged = {
                f: existing._mapping[f] if getattr(row, f) is None else getattr(row, f)
                for f in REORDER_FIELDS
            }
            if all(merged[f] == existing._mapping[f] for f in REORDER_FIELDS):
                tally.unchanged += 1
                continue
            changed.append(
                {"b_p": key[0], "b_l": key[1], "b_now": job.now}
                | {f"b_{f}": v for f, v in merged.items()}
            )
        insert_many(session, settings, new, job.now)
        if changed:
            session.execute(
                update(settings)
                .where(
                    settings.c.product_id == bindparam("b_p"),
                    settings.c.location_id == bindparam("b_l"),
                )
                .values({f: bindparam(f"b_{f}") for f in REORDER_FIELDS})
                .values(updated_at=bindparam("b_now")),
                changed,
            )
        tally.created, tally.updated = len(new), len(changed)
        return tally
