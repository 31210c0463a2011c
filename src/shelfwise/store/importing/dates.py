"""Dates as exports write them: ISO, 11/8/2016, 08.11.2016, 8-Nov-2016, Nov 8, 2016, ...

Whether 03/04/2016 is the 3rd of April or the 4th of March cannot be told from one value, so
the order is decided once per file from the values that can tell (a part above 12). A file
whose numeric dates never tell, or that contradict each other, is refused with examples and
the `--date-format` that settles it: guessing would silently shift sales by months.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shelfwise.store.importing.problems import ImportFailed, Problem
from shelfwise.store.importing.values import BadValue, quoted

_NUMERIC = re.compile(
    r"(\d{1,4})([/.\-])(\d{1,2})\2(\d{1,4})"
    r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?"
)
_NAMED_FORMATS = (
    "%d %b %Y",
    "%d-%b-%Y",
    "%d-%b-%y",
    "%d %B %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%b %d %Y",
    "%B %d %Y",
)


@dataclass(frozen=True)
class DateOrder:
    """How one file's numeric dates read: day first (31/12), month first (12/31), or either."""

    day_first: bool | None
    note: str | None = None


def detect_date_order(file: str, samples: Iterable[tuple[int, str, str]]) -> DateOrder:
    """Decide day/month order from (line, column, value) samples; raises when it cannot."""
    day_first_at: tuple[int, str, str] | None = None
    month_first_at: tuple[int, str, str] | None = None
    ambiguous_at: tuple[int, str, str] | None = None
    for line, column, value in samples:
        match = _NUMERIC.fullmatch(value.strip())
        if match is None or len(match.group(1)) == 4:
            continue
        first, second = int(match.group(1)), int(match.group(3))
        if first > 12 and second <= 12 and day_first_at is None:
            day_first_at = (line, column, value)
        elif second > 12 and first <= 12 and month_first_at is None:
            month_first_at = (line, column, value)
        elif first != second and first <= 12 and second <= 12 and ambiguous_at is None:
            ambiguous_at = (line, column, value)
    if day_first_at and month_first_at:
        raise ImportFailed(
            [
                Problem(
                    0,
                    file,
                    None,
                    f"dates are written both day first (line {day_first_at[0]}, "
                    f"{day_first_at[1]}: {quoted(day_first_at[2])}) and month first "
                    f"(line {month_first_at[0]}, {month_first_at[1]}: "
                    f"{quoted(month_first_at[2])}); make them consistent",
                )
            ]
        )
    if day_first_at:
        line, column, value = day_first_at
        return DateOrder(True, f"dates read as day/month/year (line {line}: {quoted(value)})")
    if month_first_at:
        line, column, value = month_first_at
        return DateOrder(False, f"dates read as month/day/year (line {line}: {quoted(value)})")
    if ambiguous_at:
        line, column, value = ambiguous_at
        raise ImportFailed(
            [
                Problem(
                    line,
                    file,
                    column,
                    f"{quoted(value)} could be day/month or month/day and no date in the file "
                    "tells which; pass --date-format %d/%m/%Y or --date-format %m/%d/%Y",
                )
            ]
        )
    return DateOrder(None)


@dataclass(frozen=True)
class DateReader:
    """Reads one file's dates as UTC timestamps (a date alone means midnight UTC)."""

    order: DateOrder = DateOrder(None)
    explicit_format: str | None = None
    _cache: dict[str, datetime] = field(default_factory=dict, compare=False, repr=False)

    def parse(self, value: str) -> datetime:
        value = value.strip()
        if not value:
            raise BadValue("is empty; a date is required")
        cached = self._cache.get(value)
        if cached is None:
            cached = self._parse(value)
            self._cache[value] = cached
        return cached

    def _parse(self, value: str) -> datetime:
        if self.explicit_format:
            try:
                return _utc(datetime.strptime(value, self.explicit_format))
            except ValueError as exc:
                raise BadValue(
                    f"{quoted(value)} does not match the date format {self.explicit_format}"
                ) from exc
        match = _NUMERIC.fullmatch(value)
        if match is not None:
            return self._numeric(value, match)
        try:
            return _utc(datetime.fromisoformat(value))
        except ValueError:
            pass
        for fmt in _NAMED_FORMATS:
            try:
                return _utc(datetime.strptime(value, fmt))
            except ValueError:
                continue
        raise BadValue(f"{quoted(value)} is not a date (write it like 2016-11-08)")

    def _numeric(self, value: str, match: re.Match[str]) -> datetime:
        a, _, b, c, hour, minute, second = match.groups()
        if len(a) == 4:
            year, month, day = int(a), int(b), int(c)
        elif len(c) in (2, 4):
            first, middle = int(a), int(b)
            telling = True if first > 12 else False if middle > 12 else None
            day_first = self.order.day_first
            if telling is not None and day_first is not None and telling != day_first:
                reading = "day/month/year" if day_first else "month/day/year"
                raise BadValue(f"{quoted(value)} does not fit this file's {reading} dates")
            use = telling if telling is not None else day_first
            if use is None and first != middle:
                raise BadValue(
                    f"{quoted(value)} could be day/month or month/day; pass --date-format"
                )
            day, month = (first, middle) if use else (middle, first)
            year = int(c) if len(c) == 4 else 2000 + int(c) if int(c) < 69 else 1900 + int(c)
        else:
            raise BadValue(f"{quoted(value)} is not a date (write it like 2016-11-08)")
        try:
            return datetime(
                year, month, day, int(hour or 0), int(minute or 0), int(second or 0), tzinfo=UTC
            )
        except ValueError as exc:
            raise BadValue(f"{quoted(value)} is not a real date") from exc


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
