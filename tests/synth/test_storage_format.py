"""Values are written exactly as SQLAlchemy's SQLite dialect binds them."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
from sqlalchemy import Date, DateTime, Numeric
from sqlalchemy.dialects import sqlite

from shelfwise.synth.timeutil import sqlite_dates, sqlite_datetimes

DIALECT = sqlite.dialect()
EPOCH = datetime(1970, 1, 1)


def bind(sql_type: object, value: object) -> object:
    processor = sql_type.dialect_impl(DIALECT).bind_processor(DIALECT)  # type: ignore[attr-defined]
    return processor(value) if processor else value


def test_datetimes_match_the_dialect_for_whole_and_fractional_seconds() -> None:
    micros = np.array(
        [0, 1_700_000_000_000_000, 1_735_689_599_000_000, -34_560_000_000_000 + 5_000_000],
        dtype=np.int64,
    )
    for shift in (0, 7):
        values = micros + shift
        expected = [bind(DateTime(), EPOCH + timedelta(microseconds=v)) for v in values.tolist()]
        assert sqlite_datetimes(values) == expected


def test_dates_and_money_match_the_dialect() -> None:
    days = np.array([0, 19_723, -400])
    expected = [bind(Date(), date(1970, 1, 1) + timedelta(days=int(d))) for d in days]
    assert sqlite_dates(days) == expected
    cents = np.array([1_999, 5, 120_000, 0])
    from decimal import Decimal

    assert (cents / 100).tolist() == [
        bind(Numeric(12, 2), Decimal(int(c)).scaleb(-2)) for c in cents
    ]
