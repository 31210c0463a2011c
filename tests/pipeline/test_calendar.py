"""`dim_date`'s calendar: ISO weeks, weekends and every country's holidays, typed as declared."""

from __future__ import annotations

from datetime import date

import pyarrow as pa

from shelfwise.pipeline.calendar import SCHEMA, calendar


def test_days_carry_iso_weeks_weekends_and_the_countries_on_holiday() -> None:
    table = calendar(date(2024, 12, 23), date(2025, 1, 1), ["FR", "DE", "XX"])
    assert table.schema == SCHEMA
    rows = {row["date"]: row for row in table.to_pylist()}
    assert len(rows) == 10
    christmas = rows[date(2024, 12, 25)]
    assert christmas["holiday_countries"] == "DE,FR"  # a comma inside a value survives
    assert christmas["is_holiday"] and not christmas["is_weekend"]
    assert (christmas["year"], christmas["quarter"], christmas["month"]) == (2024, 4, 12)
    assert christmas["day_of_week"] == 3  # a Wednesday; 1 = Monday
    boxing_day = rows[date(2024, 12, 26)]
    assert boxing_day["holiday_countries"] == "DE"  # not a public holiday in France
    plain = rows[date(2024, 12, 27)]
    assert plain["holiday_countries"] is None and not plain["is_holiday"]
    sunday = rows[date(2024, 12, 29)]
    assert sunday["is_weekend"] and sunday["day_of_week"] == 7
    new_year = rows[date(2025, 1, 1)]
    assert (new_year["iso_year"], new_year["iso_week"]) == (2025, 1)
    assert (rows[date(2024, 12, 30)]["iso_year"], rows[date(2024, 12, 30)]["iso_week"]) == (2025, 1)
    assert new_year["holiday_countries"] == "DE,FR"


def test_no_business_days_give_an_empty_typed_calendar() -> None:
    table = calendar(None, None, ["DE"])
    assert table.num_rows == 0
    assert table.schema == SCHEMA
    assert table.schema.field("date").type == pa.date32()
