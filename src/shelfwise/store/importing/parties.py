"""`customers` and `suppliers`: the people a shop sells to and buys from.

Customers are keyed by email. A shop whose records carry only its own customer number (as the
Superstore export does) may give `customer_id` instead: the email is then synthesised as
`<customer id>@import.invalid` (lower-cased; `.invalid` is reserved and never delivers mail), the
same rule the `orders` import uses, so both imports find the same customer.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from shelfwise.store.importing.base import Job, KindImporter, Parsed, duplicate_problems
from shelfwise.store.importing.problems import Problem
from shelfwise.store.importing.reading import ColumnSpec
from shelfwise.store.importing.rows import CustomerRow, SupplierRow
from shelfwise.store.importing.storage import Tally, all_by_key, fold, insert_many, table

SYNTHETIC_EMAIL_DOMAIN = "import.invalid"


def synthetic_email(customer_id: str) -> str:
    """The stand-in email of a customer known only by the shop's own customer number."""
    local = re.sub(r"[^a-z0-9._-]+", "-", customer_id.strip().lower()).strip("-.") or "customer"
    return f"{local}@{SYNTHETIC_EMAIL_DOMAIN}"


def customer_key(row: CustomerRow) -> str | None:
    if row.email:
        return row.email
    return synthetic_email(row.customer_id) if row.customer_id else None


def upsert_rows(
    session: Session,
    target: str,
    key: str,
    rows: list[dict[str, Any]],
    fields: tuple[str, ...],
    job: Job,
    record: str,
) -> Tally:
    """Insert new rows and update changed ones by a unique key; None means "keep"."""
    tally = Tally(record)
    t = table(target)
    existing = all_by_key(session, t, key)
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for row in rows:
        current = existing.get(fold(row[key]))
        if current is None:
            new.append({**row})
            continue
        merged = {f: current._mapping[f] if row.get(f) is None else row[f] for f in fields}
        if all(merged[f] == current._mapping[f] for f in fields):
            tally.unchanged += 1
        else:
            changed.append(
                {"b_id": current.id, "b_now": job.now, **{f"b_{f}": v for f, v in merged.items()}}
            )
    insert_many(session, t, new, job.now)
    if changed:
        session.execute(
            update(t)
            .where(t.c.id == bindparam("b_id"))
            .values({f: bindparam(f"b_{f}") for f in fields})
            .values(updated_at=bindparam("b_now")),
            changed,
        )
    tally.created, tally.updated = len(new), len(changed)
    return tally


class CustomerImporter(KindImporter[CustomerRow]):
    spec = ColumnSpec(
        kind="customers",
        required=("name", "segment"),
        one_of=(("email", "customer_id"),),
        optional=("country", "city"),
        aliases={"customer_name": "name", "customer_email": "email"},
    )
    model = CustomerRow

    def check(self, session: Session, rows: list[Parsed[CustomerRow]], job: Job) -> list[Problem]:
        column = "email" if job.binding.has("email") else "customer_id"
        problems = [
            job.problem(
                p.line,
                column,
                "is empty"
                + (" and so is customer_id" if job.binding.has("customer_id") else "")
                + "; every customer needs an email or a customer id",
            )
            for p in rows
            if customer_key(p.row) is None
        ]
        problems += duplicate_problems(
            rows,
            key=customer_key,
            column=column,
            shown=lambda r: r.email or r.customer_id or "",
            job=job,
            what="each customer may appear only once"
            + ("" if column == "email" else f" (ids become emails like {synthetic_email('X-1')})"),
        )
        return problems

    def write(self, session: Session, rows: list[Parsed[CustomerRow]], job: Job) -> list[Tally]:
        records = [
            {
                "email": customer_key(p.row),
                "name": p.row.name,
                "segment": p.row.segment,
                "country": p.row.country,
                "city": p.row.city,
            }
            for p in rows
        ]
        fields = ("name", "segment", "country", "city")
        return [upsert_rows(session, "customers", "email", records, fields, job, "customers")]


SUPPLIER_FIELDS = ("name", "country", "email")
TERMS_FIELDS = ("unit_cost", "lead_time_days", "min_order_quantity")


class SupplierImporter(KindImporter[SupplierRow]):
    """One row per supplier-product; a row without sku describes the supplier alone."""

    spec = ColumnSpec(
        kind="suppliers",
        required=("code", "name", "country"),
        optional=("email", "sku", *TERMS_FIELDS),
        aliases={
            "supplier_code": "code",
            "supplier_name": "name",
            "lead_time": "lead_time_days",
            "moq": "min_order_quantity",
        },
    )
    model = SupplierRow

    def check(self, session: Session, rows: list[Parsed[SupplierRow]], job: Job) -> list[Problem]:
        problems: list[Problem] = []
        products = all_by_key(session, table("products"), "sku")
        existing_terms = self._existing_terms(session)
        first: dict[str, Parsed[SupplierRow]] = {}
        for parsed in rows:
            row, code = parsed.row, fold(parsed.row.code)
            earlier = first.setdefault(code, parsed)
            for name in SUPPLIER_FIELDS if earlier is not parsed else ():
                mine, theirs = getattr(row, name), getattr(earlier.row, name)
                if mine is not None and theirs is not None and mine != theirs:
                    problems.append(
                        job.problem(
                            parsed.line,
                            name,
                            f'"{mine}" differs from line {earlier.line} ("{theirs}") for supplier '
                            f"{row.code}; a supplier's details must agree on all its lines",
                        )
                    )
            if row.sku is None:
                filled = [n for n in TERMS_FIELDS if getattr(row, n) is not None]
                if filled:
                    problems.append(
                        job.problem(
                            parsed.line,
                            "sku",
                            f"is empty but {', '.join(filled)} is filled; name the product",
                        )
                    )
                continue
            product = products.get(fold(row.sku))
            if product is None:
                problems.append(
                    job.problem(
                        parsed.line,
                        "sku",
                        f'"{row.sku}" is not a known product; import it with '
                        '"shelfwise import products" first',
                    )
                )
            elif (code, int(product.id)) not in existing_terms:
                for name in ("unit_cost", "lead_time_days"):
                    if getattr(row, name) is None:
                        problems.append(
                            job.problem(
                                parsed.line,
                                name,
                                f"is empty; a new supplier-product needs {name}",
                            )
                        )
        problems += duplicate_problems(
            [p for p in rows if p.row.sku],
            key=lambda r: (fold(r.code), fold(r.sku or "")),
            column="sku",
            shown=lambda r: r.sku or "",
            job=job,
            what="each product may appear once per supplier",
        )
        return problems

    @staticmethod
    def _existing_terms(session: Session) -> set[tuple[str, int]]:
        suppliers, terms = table("suppliers"), table("supplier_products")
        query = select(suppliers.c.code, terms.c.product_id).join(
            suppliers, suppliers.c.id == terms.c.supplier_id
        )
        return {(fold(code), int(pid)) for code, pid in session.execute(query)}

    def write(self, session: Session, rows: list[Parsed[SupplierRow]], job: Job) -> list[Tally]:
        suppliers: dict[str, dict[str, Any]] = {}
        for parsed in rows:
            row = parsed.row
            record = suppliers.setdefault(fold(row.code), {"code": row.code, "email": None})
            record.update({n: getattr(row, n) for n in SUPPLIER_FIELDS if getattr(row, n)})
        tally = upsert_rows(
            session,
            "suppliers",
            "code",
            list(suppliers.values()),
            SUPPLIER_FIELDS,
            job,
            "suppliers",
        )
        supplier_ids = {
            k: int(r.id) for k, r in all_by_key(session, table("suppliers"), "code").items()
        }
        product_ids = {
            k: int(r.id) for k, r in all_by_key(session, table("products"), "sku").items()
        }
        terms = table("supplier_products")
        current = {
            (int(r.supplier_id), int(r.product_id)): r for r in session.execute(select(terms))
        }
        terms_tally = Tally("supplier_products")
        new: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        for parsed in rows:
            row = parsed.row
            if row.sku is None:
                continue
            key = (supplier_ids[fold(row.code)], product_ids[fold(row.sku)])
            existing = current.get(key)
            if existing is None:
                new.append(
                    {
                        "supplier_id": key[0],
                        "product_id": key[1],
                        "unit_cost": row.unit_cost,
                        "lead_time_days": row.lead_time_days,
                        "min_order_quantity": row.min_order_quantity or 1,
                    }
                )
                continue
            merged = {
                f: existing._mapping[f] if getattr(row, f) is None else getattr(row, f)
                for f in TERMS_FIELDS
            }
            if all(merged[f] == existing._mapping[f] for f in TERMS_FIELDS):
                terms_tally.unchanged += 1
                continue
            changed.append(
                {"b_s": key[0], "b_p": key[1], "b_now": job.now}
                | {f"b_{f}": v for f, v in merged.items()}
            )
        insert_many(session, terms, new, job.now)
        if changed:
            session.execute(
                update(terms)
                .where(
                    terms.c.supplier_id == bindparam("b_s"), terms.c.product_id == bindparam("b_p")
                )
                .values({f: bindparam(f"b_{f}") for f in TERMS_FIELDS})
                .values(updated_at=bindparam("b_now")),
                changed,
            )
        terms_tally.created, terms_tally.updated = len(new), len(changed)
        return [tally, terms_tally]
