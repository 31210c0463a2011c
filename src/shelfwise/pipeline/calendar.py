"""`dim_date`: one row per day from the first to the last day of business data.

Built in Python (a few thousand rows) and handed to the engine as Arrow, so both engines get the
very same calendar. Holidays come from the `holidays` package for every country that has a
location; `is_holiday` is true when the day is a public holiday in any of them and
`holiday_countries` says which (join on a location's country for per-store effects).
"""

from __future__ import annotations

from datetime import date, timedelta

import holidays as holiday_calendars
import pyarrow as pa


def _holiday_sets(countries: list[str], years: range) -> dict[str, holiday_calendars.HolidayBase]:
    found = {}
    for country in countries:
        try:
            found[country] = holiday_calendars.country_holidays(country, years=years)
        except NotImplementedError:  # a country the package does not know: no holidays
            continue
    return found


def calendar(first: date | None, last: date | None, countries: list[str]) -> pa.Table:
    days = [] if first is None or last is None else _days(first, last)
    years = range(first.year, last.year + 1) if days and first and last else range(0)
    sets = _holiday_sets(sorted(set(countries)), years)
    holiday_countries = [",".join(c for c, s in sets.items() if day in s) or None for day in days]
    iso = [day.isocalendar() for day in days]
    return pa.table(
        {
            "date": pa.array(days, pa.date32()),
            "year": pa.array([d.year for d in days], pa.int32()),
            "quarter": pa.array([(d.month - 1) // 3 + 1 for d in days], pa.int32()),
            "month": pa.array([d.month for d in days], pa.int32()),
            "iso_year": pa.array([i.year for i in iso], pa.int32()),
            "iso_week": pa.array([i.week for i in iso], pa.int32()),
            "day_of_week": pa.array([i.weekday for i in iso], pa.int32()),  # 1 = Monday
            "is_weekend": pa.array([i.weekday >= 6 for i in iso], pa.bool_()),
            "is_holiday": pa.array([h is not None for h in holiday_countries], pa.bool_()),
            "holiday_countries": pa.array(holiday_countries, pa.string()),
        }
    )


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
