"""Cell parsers: one typed value out of one CSV cell, or a reason in plain words.

Each parser raises `BadValue` with a sentence that quotes the cell; `field()` turns a parser
into a pydantic `BeforeValidator`, so the row models in `rows.py` stay declarative while every
message is ours (pydantic's own wording is written for programmers, not shopkeepers).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, TypeVar

import pycountry
from pydantic import BeforeValidator, ValidationInfo
from pydantic_core import PydanticCustomError

from shelfwise.store.kinds import LocationKind, Priority, Segment

T = TypeVar("T")

CENT = Decimal("0.01")
RATE_STEP = Decimal("0.0001")
MONEY_LIMIT = Decimal("10000000000")  # NUMERIC(12,2)
INT_LIMIT = 2**31 - 1
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_CURRENCY = "$€£¥"
_TRUE = {"true", "yes", "y", "1", "t", "active"}
_FALSE = {"false", "no", "n", "0", "f", "inactive"}
_COUNTRY_ALIASES = {"uk": "GB", "england": "GB", "usa": "US", "u.s.": "US", "u.s.a.": "US"}


class BadValue(ValueError):
    """A cell that cannot be read; the message quotes it and says what would be right."""


def quoted(value: str) -> str:
    return '"' + (value if len(value) <= 60 else value[:57] + "...") + '"'


def field(parse: Callable[[str], T]) -> BeforeValidator:
    """Use a cell parser as a pydantic validator that reports our message verbatim."""

    def validate(value: Any) -> T:
        try:
            return parse(value if isinstance(value, str) else str(value))
        except BadValue as exc:
            raise PydanticCustomError("shelfwise", "{reason}", {"reason": str(exc)}) from exc

    return BeforeValidator(validate)


def context_field(parse: Callable[[str, Any], T]) -> BeforeValidator:
    """Like `field`, for parsers that need per-file context (the date reader)."""

    def validate(value: Any, info: ValidationInfo) -> T:
        try:
            return parse(value if isinstance(value, str) else str(value), info.context)
        except BadValue as exc:
            raise PydanticCustomError("shelfwise", "{reason}", {"reason": str(exc)}) from exc

    return BeforeValidator(validate)


def optional(parse: Callable[[str], T]) -> Callable[[str], T | None]:
    """An empty cell means "no value" (on updates: keep the stored one)."""

    def parse_optional(value: str) -> T | None:
        return parse(value) if value.strip() else None

    return parse_optional


def text(max_length: int) -> Callable[[str], str]:
    def parse_text(value: str) -> str:
        value = value.strip()
        if not value:
            raise BadValue("is empty; a value is required")
        if len(value) > max_length:
            raise BadValue(
                f"{quoted(value)} is {len(value)} characters long; at most {max_length} fit"
            )
        return value

    return parse_text


def number(value: str) -> Decimal:
    cleaned = value.strip().strip(_CURRENCY).strip()
    if not cleaned:
        raise BadValue("is empty; a number is required")
    if _DECIMAL_COMMA.fullmatch(cleaned):
        raise BadValue(f"{quoted(value)} is not a number (use a dot for decimals)")
    if not _NUMBER.fullmatch(cleaned):
        raise BadValue(f"{quoted(value)} is not a number")
    try:
        return Decimal(cleaned)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
        raise BadValue(f"{quoted(value)} is not a number") from exc


def money(value: str) -> Decimal:
    """A price or cost: zero or more, rounded to cents."""
    amount = number(value)
    if amount < 0:
        raise BadValue(f"{quoted(value)} is negative; an amount of money here must be 0 or more")
    if amount >= MONEY_LIMIT:
        raise BadValue(f"{quoted(value)} is too large (at most 9999999999.99)")
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def signed_amount(value: str) -> Decimal:
    """An amount that may be negative (a line's profit)."""
    return number(value)


def whole(value: str) -> int:
    amount = number(value)
    if amount != amount.to_integral_value():
        raise BadValue(f"{quoted(value)} is not a whole number")
    if abs(amount) > INT_LIMIT:
        raise BadValue(f"{quoted(value)} is too large")
    return int(amount)


def count(value: str) -> int:
    """A quantity of units: a whole number, zero or more."""
    result = whole(value)
    if result < 0:
        raise BadValue(f"{quoted(value)} is negative; a quantity must be 0 or more")
    return result


def positive_count(value: str) -> int:
    result = whole(value)
    if result <= 0:
        raise BadValue(f"{quoted(value)} must be a whole number of 1 or more")
    return result


def fraction(value: str) -> Decimal:
    """A discount: 0.2 or 20% for a fifth off; at least 0 and below 1 (100%)."""
    cleaned = value.strip()
    percent = cleaned.endswith("%")
    rate = number(cleaned.rstrip("%")) / (100 if percent else 1)
    if rate < 0:
        raise BadValue(f"{quoted(value)} is negative; a discount is 0 or more")
    if rate >= 1:
        raise BadValue(
            f"{quoted(value)} is not a discount below 100% (write 0.2 or 20% for a fifth off)"
        )
    return rate.quantize(RATE_STEP, rounding=ROUND_HALF_UP)


def flag(value: str) -> bool:
    key = value.strip().lower()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise BadValue(f"{quoted(value)} is not yes or no (use true/false, yes/no or 1/0)")


def email(value: str) -> str:
    cleaned = text(254)(value).lower()
    if not _EMAIL.fullmatch(cleaned):
        raise BadValue(f"{quoted(value)} is not an email address")
    return cleaned


@lru_cache(maxsize=1024)
def country(value: str) -> str:
    """An ISO 3166 alpha-2 code from a code (DE, DEU) or an English name (Germany)."""
    cleaned = value.strip()
    if not cleaned:
        raise BadValue("is empty; a country is required")
    alias = _COUNTRY_ALIASES.get(cleaned.lower())
    if alias:
        return alias
    try:
        return str(pycountry.countries.lookup(cleaned).alpha_2)
    except LookupError as exc:
        raise BadValue(
            f"{quoted(value)} is not a country; use a two-letter ISO code such as US or DE, "
            "or the English name"
        ) from exc


def _choice(kind: type[T], what: str) -> Callable[[str], T]:
    members = {m.value: m for m in kind}  # type: ignore[attr-defined]
    allowed = ", ".join(members)

    def parse_choice(value: str) -> T:
        key = re.sub(r"[\s\-]+", "_", value.strip().lower())
        if key not in members:
            raise BadValue(f"{quoted(value)} is not a {what} (use one of {allowed})")
        return members[key]  # type: ignore[no-any-return]

    return parse_choice


segment = _choice(Segment, "customer segment")
location_kind = _choice(LocationKind, "location kind")
priority = _choice(Priority, "priority")
