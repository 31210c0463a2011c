"""`dim_date`: one row per day from the first to the last day of business data.

Built in Python (a few thousand rows) and handed to the engine as Arrow, so both engines get the
very same calendar. Holidays come from the `holidays` package for every country that has a
location; `is_holiday` is true when the day is a public holiday in any of them and
`holiday_countries` says which (join on a location's country for per-store effects).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from importlib.metadata import version
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from shelfwise.pipeline.files import replace_file


def _computed_holidays(country: str, years: list[int]) -> dict[int, list[str]]:
    """Public holidays by year (ISO dates); none for a country the package does not know."""
    import holidays as holiday_calendars  # ~0.16 s to import and set up: only when needed

    try:
        found = holiday_calendars.country_holidays(country, years=years)
    except NotImplementedError:
        return {year: [] for year in years}
    return {year: sorted(d.isoformat() for d in found if d.year == year) for year in years}


def _cached(cache: Path | None, release: str) -> dict[str, dict[str, list[str]]]:
    """Holidays kept by earlier runs under this release of the package (a cache that cannot
    be read is computed again)."""
    if cache is None or not cache.is_file():
        return {}
    try:
        stored = json.loads(cache.read_text())
        countries: dict[str, dict[str, list[str]]] = stored["countries"]
        return countries if stored["holidays"] == release else {}
    except (ValueError, KeyError, TypeError):
        return {}


def _holiday_sets(countries: list[str], years: range, cache: Path | None) -> dict[str, set[date]]:
    """Each country's holidays in `years`. `cache` (a JSON file) keeps the ones computed
    before, per version of the `holidays` package: a daily run adds a day or two, and would
    otherwise import and set up the package for holidays it already knows."""
    release = version("holidays")
    known = _cached(cache, release)
    grew = False
    for country in countries:
        have = known.setdefault(country, {})
        missing = [year for year in years if str(year) not in have]
        if missing:
            have.update({str(y): d for y, d in _computed_holidays(country, missing).items()})
            grew = True
    if grew and cache is not None:
        replace_file(cache, json.dumps({"holidays": release, "countries": known}))
    return {
        country: {date.fromisoformat(d) for year in years for d in known[country][str(year)]}
        for country in countries
    }


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


def calendar(
    first: date | None, last: date | None, countries: list[str], cache: Path | None = None
) -> pa.Table:
    """Days `first` to `last`; `cache`: a file keeping holidays computed before."""
    days = [] if first is None or last is None else _days(first, last)
    if not days:
        return pa.Table.from_batches([], SCHEMA)
    years = range(days[0].year, days[-1].year + 1)
    sets = _holiday_sets(sorted(set(countries)), years, cache)
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
    # (~0.25 s of a daily run) the first time it converts Python values, to rule out a frame
    # (and a `cast` would import pyarrow.compute, ~0.05 s: the types are read as given).
    return pacsv.read_csv(
        io.BytesIO(text.getvalue().encode()),
        read_options=pacsv.ReadOptions(column_names=SCHEMA.names),
        convert_options=pacsv.ConvertOptions(column_types=SCHEMA, strings_can_be_null=True),
    )


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
