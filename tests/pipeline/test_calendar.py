"""`dim_date`'s calendar: ISO weeks, weekends and every country's holidays, typed as declared."""

from __future__ import annotations

import json
from datetime import date
from importlib.metadata import version
from pathlib import Path

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


def test_holidays_computed_once_are_kept_per_package_version(tmp_path: Path) -> None:
    cache = tmp_path / "holidays.json"
    plain = calendar(date(2024, 12, 20), date(2025, 1, 2), ["FR", "DE"])
    cached = calendar(date(2024, 12, 20), date(2025, 1, 2), ["FR", "DE"], cache)
    assert cached.equals(plain)
    stored = json.loads(cache.read_text())
    assert stored["holidays"] == version("holidays")
    assert set(stored["countries"]) == {"DE", "FR"}
    assert set(stored["countries"]["FR"]) == {"2024", "2025"}
    assert "2024-12-25" in stored["countries"]["FR"]["2024"]

    # What the file says is what a later run uses (it does not ask the package again) ...
    stored["countries"]["FR"]["2024"].append("2024-12-27")
    cache.write_text(json.dumps(stored))
    rows = {
        r["date"]: r
        for r in calendar(date(2024, 12, 27), date(2024, 12, 27), ["FR"], cache).to_pylist()
    }
    assert rows[date(2024, 12, 27)]["holiday_countries"] == "FR"
    # ... and a year or country it lacks is computed and added.
    calendar(date(2026, 5, 1), date(2026, 5, 1), ["FR", "IT"], cache)
    grown = json.loads(cache.read_text())["countries"]
    assert "2026-05-01" in grown["FR"]["2026"] and "2026-05-01" in grown["IT"]["2026"]

    # Another release of the package may know other holidays: its cache is not trusted.
    stored["holidays"] = "0.0-other"
    cache.write_text(json.dumps(stored))
    rows = {
        r["date"]: r
        for r in calendar(date(2024, 12, 27), date(2024, 12, 27), ["FR"], cache).to_pylist()
    }
    assert rows[date(2024, 12, 27)]["holiday_countries"] is None


def test_a_holiday_observed_in_the_year_before_is_kept_year_by_year(tmp_path: Path) -> None:
    """US New Year's Day 2022 fell on a Saturday and was observed on Friday 31 December 2021:
    a calendar extended day by day (a cache filled year by year) says so, like a rebuild."""
    cache = tmp_path / "holidays.json"
    calendar(date(2021, 12, 1), date(2021, 12, 30), ["US"], cache)  # 2021 cached alone
    extended = calendar(date(2021, 12, 31), date(2021, 12, 31), ["US"], cache).to_pylist()
    rebuilt = calendar(date(2021, 12, 1), date(2022, 1, 3), ["US"]).to_pylist()
    assert extended[0]["holiday_countries"] == "US"
    assert next(r for r in rebuilt if r["date"] == date(2021, 12, 31)) == extended[0]


def test_an_unreadable_cache_is_computed_again(tmp_path: Path) -> None:
    cache = tmp_path / "holidays.json"
    cache.write_text("{ half a file")
    rows = calendar(date(2024, 12, 25), date(2024, 12, 25), ["FR"], cache).to_pylist()
    assert rows[0]["holiday_countries"] == "FR"
    assert json.loads(cache.read_text())["countries"]["FR"]["2024"]
