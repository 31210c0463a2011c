"""`orders`: a flat sales export (one row per order line, as the Superstore data set has it)
turned into customers, products, categories, locations, orders, lines and ledger entries.

Decisions (documented in docs/importing.md):
- Orders are keyed by the file's Order ID, stored as `orders.external_ref`; an order imported
  before is skipped whole, so importing the same file twice changes nothing.
- Customers are matched by `Customer Email` when the file has it, else by the email synthesised
  from `Customer ID` (`<id>@import.invalid`); products by `Product ID` as sku.
- Location: `--location CODE` (an existing location) for every order, else a `Location Code`
  column, else one store per country and region, created as needed (code `US-CENTRAL`).
- History must not fail for lack of stock: each line books an `opening` inflow and the `sale`
  outflow of the same quantity at the order's time, so the ledger stays balanced and today's
  stock is unchanged (import counts with `shelfwise import inventory`).
- `Sales` is the line's net amount: unit (list) price = Sales / Quantity / (1 - Discount).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pycountry
from sqlalchemy.orm import Session

from shelfwise.store.importing.base import Job, KindImporter, Parsed, duplicate_problems
from shelfwise.store.importing.dates import DateOrder, DateReader, detect_date_order
from shelfwise.store.importing.order_writing import LineKeys, OrdersPlan, write_orders
from shelfwise.store.importing.parties import synthetic_email
from shelfwise.store.importing.problems import Problem, file_problem
from shelfwise.store.importing.reading import ColumnSpec, CsvFile
from shelfwise.store.importing.rows import OrderLineRow
from shelfwise.store.importing.storage import Tally, all_by_key, fold, ids_by_key, table
from shelfwise.store.importing.values import CENT, MONEY_LIMIT

ORDER_FIELDS = ("order_date", "ship_date", "ship_mode", "order_priority")


def regional_store_code(country: str, region: str | None) -> str:
    """`US-CENTRAL`: the code of the store standing for one country and region (20 chars max)."""
    slug = re.sub(r"[^A-Z0-9]+", "-", (region or "all").upper()).strip("-") or "ALL"
    code = f"{country}-{slug}"
    if len(code) > 20:
        digest = hashlib.sha1(slug.encode()).hexdigest()[:5].upper()
        code = f"{country}-{slug[:10].rstrip('-')}-{digest}"
    return code


def regional_store(country: str, region: str | None) -> dict[str, Any]:
    country_name = getattr(pycountry.countries.get(alpha_2=country), "name", country)
    place = region or country_name
    return {
        "code": regional_store_code(country, region),
        "name": f"{place} ({country_name})"[:120] if region else country_name[:120],
        "kind": "store",
        "country": country,
        "region": place[:80],
        "city": place[:80],
    }


def list_price(row: OrderLineRow) -> Decimal | None:
    """The unit price before discount; from Sales (net line amount) when no Unit Price."""
    if row.unit_price is not None:
        return row.unit_price
    if row.sales is None:
        return None
    discount = row.discount or Decimal("0")
    price = row.sales / row.quantity / (Decimal("1") - discount)
    return price.quantize(CENT, rounding=ROUND_HALF_UP)


class OrderImporter(KindImporter[OrderLineRow]):
    spec = ColumnSpec(
        kind="orders",
        required=("order_id", "order_date", "product_id", "quantity"),
        one_of=(("customer_id", "customer_email"), ("sales", "unit_price")),
        optional=(
            "row_id",
            "ship_date",
            "ship_mode",
            "order_priority",
            "customer_name",
            "segment",
            "country",
            "city",
            "region",
            "location_code",
            "product_name",
            "category",
            "sub_category",
            "discount",
            "profit",
        ),
        aliases={
            "sku": "product_id",
            "priority": "order_priority",
            "external_ref": "order_id",
            "email": "customer_email",
            "location": "location_code",
        },
        ignored=("state", "postal_code"),
    )
    model = OrderLineRow

    def __init__(self) -> None:
        self.plan = OrdersPlan()

    def context(self, table: CsvFile, job: Job) -> dict[str, Any]:
        binding = job.binding
        if not (
            job.options.location_code or binding.has("location_code") or binding.has("country")
        ):
            raise file_problem(
                job.file,
                "the orders need a location: pass --location CODE (an existing location), or "
                "include a Location Code column, or Country (and Region) columns to book them "
                "at one store per country and region",
            )
        if job.options.date_format:
            return {"dates": DateReader(DateOrder(None), job.options.date_format)}
        columns = [c for c in ("order_date", "ship_date") if binding.has(c)]
        samples = (
            (raw.line, binding.name(c), raw.values[binding.index[c]])
            for raw in table.rows
            for c in columns
            if binding.index[c] < len(raw.values)
        )
        order = detect_date_order(job.file, samples)
        if order.note:
            job.notes.append(order.note)
        return {"dates": DateReader(order)}

    def check(self, session: Session, rows: list[Parsed[OrderLineRow]], job: Job) -> list[Problem]:
        plan = self.plan
        plan.products = {
            k: int(r.id) for k, r in all_by_key(session, table("products"), "sku").items()
        }
        plan.customers = {
            k: int(r.id) for k, r in all_by_key(session, table("customers"), "email").items()
        }
        plan.locations = {
            k: int(r.id) for k, r in all_by_key(session, table("locations"), "code").items()
        }
        fixed = job.options.location_code
        if fixed and fold(fixed) not in plan.locations:
            raise file_problem(
                job.file,
                f'--location "{fixed}" is not a known location; create it with '
                '"shelfwise import locations" first',
            )
        plan.imported_orders = ids_by_key(
            session, table("orders"), "external_ref", {p.row.order_id for p in rows}
        )
        problems: list[Problem] = []
        for parsed in rows:
            problems += self._check_line(parsed, job)
        problems += self._check_orders(rows, job)
        problems += duplicate_problems(
            rows,
            key=lambda r: fold(r.row_id) if r.row_id else None,
            column="row_id",
            shown=lambda r: r.row_id or "",
            job=job,
            what="each row id may appear only once",
        )
        self._warn_about_names(rows, job)
        return problems

    def _check_line(self, parsed: Parsed[OrderLineRow], job: Job) -> list[Problem]:
        row, line, plan = parsed.row, parsed.line, self.plan
        problems: list[Problem] = []

        def problem(column: str, reason: str) -> None:
            problems.append(job.problem(line, column, reason))

        customer = row.customer_email or (
            synthetic_email(row.customer_id) if row.customer_id else None
        )
        if customer is None:
            problem(
                "customer_id" if job.binding.has("customer_id") else "customer_email",
                "is empty; every line needs the customer's id or email",
            )
        elif customer not in plan.customers and row.customer_name is None:
            problem(
                "customer_name",
                f"is empty and customer {row.customer_id or customer} is not in the store yet; "
                "a new customer needs a name",
            )

        location: str | None = None
        if job.options.location_code:
            location = fold(job.options.location_code)
        elif row.location_code:
            location = fold(row.location_code)
            if location not in plan.locations:
                problem(
                    "location_code",
                    f'"{row.location_code}" is not a known location; import it with '
                    '"shelfwise import locations" first',
                )
        elif row.country:
            store = regional_store(row.country, row.region)
            location = fold(store["code"])
            if location not in plan.locations:
                plan.new_locations.setdefault(location, store)
        else:
            problem("country", "is empty; the line's store follows from its country and region")

        if fold(row.product_id) not in plan.products:
            missing = [
                c for c in ("product_name", "category", "sub_category") if getattr(row, c) is None
            ]
            if missing:
                names = ", ".join(job.binding.name(c) for c in missing)
                problem(
                    "product_id",
                    f'"{row.product_id}" is not a known product and this line lacks {names} '
                    "to create it",
                )

        price = list_price(row)
        if price is None:
            problem(
                "sales" if job.binding.has("sales") else "unit_price", "is empty; a price is needed"
            )
        elif price >= MONEY_LIMIT:
            problem("sales", "gives a unit price too large to store")
        if row.ship_date and row.ship_date < row.order_date:
            problem(
                "ship_date",
                f"{row.ship_date.date()} is before the order date {row.order_date.date()}",
            )
        if customer and location and price is not None:
            plan.keys[line] = LineKeys(fold(row.order_id), customer, location, price)
        return problems

    def _check_orders(self, rows: list[Parsed[OrderLineRow]], job: Job) -> list[Problem]:
        """The lines of one order must agree on what belongs to the order."""
        problems: list[Problem] = []
        first: dict[str, Parsed[OrderLineRow]] = {}
        for parsed in rows:
            earlier = first.setdefault(fold(parsed.row.order_id), parsed)
            if earlier is parsed:
                continue
            differences = [
                (c, getattr(parsed.row, c), getattr(earlier.row, c))
                for c in ORDER_FIELDS
                if getattr(parsed.row, c) != getattr(earlier.row, c)
            ]
            mine, theirs = self.plan.keys.get(parsed.line), self.plan.keys.get(earlier.line)
            if mine and theirs and mine.customer != theirs.customer:
                column = "customer_email" if parsed.row.customer_email else "customer_id"
                differences.append(
                    (column, getattr(parsed.row, column), getattr(earlier.row, column))
                )
            if mine and theirs and mine.location != theirs.location:
                column = "location_code" if parsed.row.location_code else "region"
                if column == "region" and parsed.row.country != earlier.row.country:
                    column = "country"
                differences.append(
                    (column, getattr(parsed.row, column), getattr(earlier.row, column))
                )
            for column, value, other in differences:
                problems.append(
                    job.problem(
                        parsed.line,
                        column,
                        f"{_shown(value)} differs from line {earlier.line} ({_shown(other)}) of "
                        f"the same order {parsed.row.order_id}; an order's lines must agree",
                    )
                )
        return problems

    def _warn_about_names(self, rows: list[Parsed[OrderLineRow]], job: Job) -> None:
        """Exports often spell one product two ways; the first spelling wins, with a warning."""
        seen: dict[tuple[str, str], tuple[int, str]] = {}
        reported: set[tuple[str, str]] = set()
        for parsed in rows:
            row = parsed.row
            for what, key, value in (
                ("product", fold(row.product_id), row.product_name),
                ("customer", fold(row.customer_id or row.customer_email or ""), row.customer_name),
            ):
                if value is None:
                    continue
                first = seen.setdefault((what, key), (parsed.line, value))
                if first[1] != value and (what, key) not in reported:
                    reported.add((what, key))
                    job.warn(
                        parsed.line,
                        f"{what} {row.product_id if what == 'product' else key} is named "
                        f'"{value}" here but "{first[1]}" on line {first[0]}; kept the first',
                    )

    def cascade(
        self, rows: list[Parsed[OrderLineRow]], rejected: set[int], job: Job
    ) -> list[Problem]:
        """An order is imported whole or not at all: a rejected line takes its order along."""
        index = job.binding.index["order_id"]
        order_of = {
            raw.line: fold(raw.values[index]) for raw in job.raw_rows if index < len(raw.values)
        }
        bad_orders: dict[str, int] = {}
        for line in sorted(rejected):
            if line in order_of:
                bad_orders.setdefault(order_of[line], line)
        return [
            job.problem(
                p.line,
                None,
                f"order {p.row.order_id} is not imported because its line "
                f"{bad_orders[fold(p.row.order_id)]} was rejected "
                "(an order loads whole or not at all)",
            )
            for p in rows
            if p.line not in rejected and fold(p.row.order_id) in bad_orders
        ]

    def write(self, session: Session, rows: list[Parsed[OrderLineRow]], job: Job) -> list[Tally]:
        return write_orders(session, rows, self.plan, job)


def _shown(value: object) -> str:
    if value is None:
        return "empty"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ").removesuffix(" 00:00:00+00:00").removesuffix("+00:00")
    return f'"{getattr(value, "value", value)}"'
