"""One pydantic model per kind of row: the types and limits each column must meet.

The models declare; the parsers in `values.py` do the reading and word the complaints.
`validate_row` turns pydantic's errors into our `Problem`s, naming the column as the file
spells it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from shelfwise.store.importing import values as v
from shelfwise.store.importing.dates import DateReader
from shelfwise.store.importing.problems import Problem
from shelfwise.store.importing.reading import Binding
from shelfwise.store.kinds import LocationKind, Priority, Segment

Row = TypeVar("Row", bound=BaseModel)

Sku = Annotated[str, v.field(v.text(40))]
LocationCode = Annotated[str, v.field(v.text(20))]
OptionalText80 = Annotated[str | None, v.field(v.optional(v.text(80)))]
OptionalCount = Annotated[int | None, v.field(v.optional(v.count))]
OptionalPositiveCount = Annotated[int | None, v.field(v.optional(v.positive_count))]
OptionalCountry = Annotated[str | None, v.field(v.optional(v.country))]
OptionalMoney = Annotated[Decimal | None, v.field(v.optional(v.money))]


def _date(value: str, context: Any) -> datetime:
    reader: DateReader = (context or {}).get("dates") or DateReader()
    return reader.parse(value)


def _optional_date(value: str, context: Any) -> datetime | None:
    return _date(value, context) if value.strip() else None


class ImportRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ProductRow(ImportRow):
    sku: Sku
    name: Annotated[str, v.field(v.text(200))]
    category: Annotated[str, v.field(v.text(80))]
    sub_category: Annotated[str, v.field(v.text(80))]
    unit_price: Annotated[Decimal, v.field(v.money)]
    brand: OptionalText80 = None
    unit_cost: OptionalMoney = None
    size: Annotated[str | None, v.field(v.optional(v.text(40)))] = None
    active: Annotated[bool | None, v.field(v.optional(v.flag))] = None
    description: Annotated[str | None, v.field(v.optional(v.text(4000)))] = None


class CustomerRow(ImportRow):
    name: Annotated[str, v.field(v.text(120))]
    segment: Annotated[Segment, v.field(v.segment)]
    email: Annotated[str | None, v.field(v.optional(v.email))] = None
    customer_id: Annotated[str | None, v.field(v.optional(v.text(64)))] = None
    country: OptionalCountry = None
    city: OptionalText80 = None


class LocationRow(ImportRow):
    code: LocationCode
    name: Annotated[str, v.field(v.text(120))]
    country: Annotated[str, v.field(v.country)]
    region: Annotated[str, v.field(v.text(80))]
    city: Annotated[str, v.field(v.text(80))]
    kind: Annotated[LocationKind | None, v.field(v.optional(v.location_kind))] = None


class InventoryRow(ImportRow):
    sku: Sku
    location_code: LocationCode
    on_hand: Annotated[int, v.field(v.count)]
    min_quantity: OptionalCount = None
    max_quantity: OptionalCount = None
    pack_size: OptionalPositiveCount = None
    location_name: Annotated[str | None, v.field(v.optional(v.text(120)))] = None
    country: OptionalCountry = None
    region: OptionalText80 = None
    city: OptionalText80 = None
    location_kind: Annotated[LocationKind | None, v.field(v.optional(v.location_kind))] = None


class SupplierRow(ImportRow):
    code: Annotated[str, v.field(v.text(20))]
    name: Annotated[str, v.field(v.text(120))]
    country: Annotated[str, v.field(v.country)]
    email: Annotated[str | None, v.field(v.optional(v.email))] = None
    sku: Annotated[str | None, v.field(v.optional(v.text(40)))] = None
    unit_cost: OptionalMoney = None
    lead_time_days: OptionalCount = None
    min_order_quantity: OptionalPositiveCount = None


class OrderLineRow(ImportRow):
    """One line of a flat sales export (the Superstore layout, or our own column names)."""

    order_id: Annotated[str, v.field(v.text(64))]
    order_date: Annotated[datetime, v.context_field(_date)]
    product_id: Sku
    quantity: Annotated[int, v.field(v.positive_count)]
    row_id: Annotated[str | None, v.field(v.optional(v.text(40)))] = None
    ship_date: Annotated[datetime | None, v.context_field(_optional_date)] = None
    ship_mode: Annotated[str | None, v.field(v.optional(v.text(40)))] = None
    order_priority: Annotated[Priority | None, v.field(v.optional(v.priority))] = None
    customer_id: Annotated[str | None, v.field(v.optional(v.text(64)))] = None
    customer_email: Annotated[str | None, v.field(v.optional(v.email))] = None
    customer_name: Annotated[str | None, v.field(v.optional(v.text(120)))] = None
    segment: Annotated[Segment | None, v.field(v.optional(v.segment))] = None
    country: OptionalCountry = None
    city: OptionalText80 = None
    region: OptionalText80 = None
    location_code: Annotated[str | None, v.field(v.optional(v.text(20)))] = None
    product_name: Annotated[str | None, v.field(v.optional(v.text(200)))] = None
    category: OptionalText80 = None
    sub_category: OptionalText80 = None
    sales: OptionalMoney = None
    unit_price: OptionalMoney = None
    discount: Annotated[Decimal | None, v.field(v.optional(v.fraction))] = None
    profit: Annotated[Decimal | None, v.field(v.optional(v.signed_amount))] = None


def validate_row(
    model: type[Row],
    values: dict[str, str],
    *,
    line: int,
    binding: Binding,
    context: dict[str, Any] | None = None,
) -> Row | list[Problem]:
    """The typed row, or one problem per bad cell (every cell is checked, not only the first)."""
    try:
        return model.model_validate(values, context=context)
    except ValidationError as exc:
        problems: list[Problem] = []
        for error in exc.errors(include_url=False, include_input=False):
            column = binding.name(str(error["loc"][0])) if error["loc"] else None
            reason = error["msg"] if error["type"] == "shelfwise" else f"{error['msg'].lower()}"
            problems.append(Problem(line, binding.file, column, reason))
        return problems
