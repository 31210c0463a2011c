"""`dim_date`: one row per day from the first to the last day of business data.

Built in Python (a few thousand rows) and handed to the engine as Arrow, so both engines get the
very same calendar. Holidays come from the `holidays` package for every country that has a
location; `is_holiday` is true when the day is a public holiday in any of them and
`holiday_countries` says which (join on a location's country for per-store effects).
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import holidays as holiday_calendars
import pyarrow as pa
import pyarrow.csv as pacsv


def _holiday_sets(countries: list[str], years: range) -> dict[str, holiday_calendars.HolidayBase]:
    found = {}
    for country in countries:
        try:
            found[country] = holiday_calendars.country_holidays(country, years=years)
        except NotImplementedError:  # a country the package does not know: no holidays
            continue
    return found


SCHEMA = pa.schema(
    [
        ("date", pa.date32()),
        ("year", pa.int32()),
        ("quarter", pa.int32()),
        ("month", pa.int32()),
        ("iso_year", pa.int32()),
        ("iso_week", pa.int32()),
        ("day_of_week", pa.int32()),  # 1 = Monday
        ("is_weekend", pa.bool_()),
        ("is_holiday", pa.bool_()),
        ("holiday_countries", pa.string()),
    ]
)


def calendar(first: date | None, last: date | None, countries: list[str]) -> pa.Table:
    days = [] if first is None or last is None else _days(first, last)
    if not days:
        return pa.Table.from_batches([], SCHEMA)
    sets = _holiday_sets(sorted(set(countries)), range(days[0].year, days[-1].year + 1))
    text = io.StringIO()
    writer = csv.writer(text)
    for day in days:
        iso = day.isocalendar()
        holiday_countries = ",".join(c for c, s in sets.items() if day in s)
        quarter = (day.month - 1) // 3 + 1
        calendar_part = (day, day.year, quarter, day.month, iso.year, iso.week, iso.weekday)
        holiday = bool(holiday_countries)
        writer.writerow((*calendar_part, iso.weekday >= 6, holiday, holiday_countries))
    # Parsed from text with its schema, not built with `pa.array`: pyarrow imports pandas
    # (~0.25 s of a daily run) the first time it converts Python values, to rule out a frame.
    return pacsv.read_csv(
        io.BytesIO(text.getvalue().encode()),
        read_options=pacsv.ReadOptions(column_names=SCHEMA.names),
        convert_options=pacsv.ConvertOptions(column_types=SCHEMA, strings_can_be_null=True),
    ).cast(SCHEMA)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
