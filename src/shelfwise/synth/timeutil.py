"""Simulated time as integer microseconds since 1970-01-01 UTC, vectorised with numpy.

The generator keeps every timestamp as int64 microseconds and every date as int days since the
epoch; conversion to strings or Python objects happens once, when rows are written.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

import numpy as np

SECOND_US = 1_000_000
HOUR_US = 3_600 * SECOND_US
DAY_US = 86_400 * SECOND_US
EPOCH = date(1970, 1, 1)
EPOCH_DT = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = EPOCH.toordinal()


def day_number(day: date) -> int:
    """Days since 1970-01-01."""
    return day.toordinal() - _EPOCH_ORDINAL


def day_us(day: date) -> int:
    """Microseconds since the epoch at 00:00 UTC of `day`."""
    return day_number(day) * DAY_US


@lru_cache(maxsize=1)
def _clock_codes() -> np.ndarray:
    """'HH:MM:SS.000000' for every second of a day, as UCS-4 code points (86400 × 15)."""
    text = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.000000" for s in range(86_400)]
    return np.array(text, dtype="<U15").view(np.uint32).reshape(86_400, 15)


def _day_strings(first: int, last: int) -> list[str]:
    return [(date.fromordinal(_EPOCH_ORDINAL + d)).isoformat() for d in range(first, last + 1)]


def sqlite_datetimes(us: np.ndarray) -> list[str]:
    """Timestamps as SQLAlchemy's SQLite dialect stores DateTime: 'YYYY-MM-DD HH:MM:SS.ffffff'."""
    return sqlite_datetime_codes(us).tolist()  # type: ignore[no-any-return]


def sqlite_datetime_codes(us: np.ndarray) -> np.ndarray:
    """`sqlite_datetimes` as a fixed-width numpy string array (cheap to pickle and to turn
    into Python strings later). Whole seconds (what the generator makes) are assembled from
    two lookup tables of code points, day part and clock part, in one gather; anything else
    goes through numpy's formatter."""
    count = len(us)
    if count == 0:
        return np.array([], dtype="<U26")
    days, rest = np.divmod(us, DAY_US)
    if (rest % SECOND_US).any():
        text = np.datetime_as_string(us.astype("datetime64[us]"), unit="us")
        codes = text.view(np.uint32).reshape(count, -1).copy()
        codes[:, 10] = ord(" ")
        return codes.view(f"<U{codes.shape[1]}").ravel()
    first = int(days.min())
    day_text = [d + " " for d in _day_strings(first, int(days.max()))]
    day_codes = np.array(day_text, dtype="<U11").view(np.uint32).reshape(len(day_text), 11)
    codes = np.empty((count, 26), dtype=np.uint32)
    codes[:, :11] = day_codes[days - first]
    codes[:, 11:] = _clock_codes()[rest // SECOND_US]
    return codes.view("<U26").ravel()


def sqlite_dates(days: np.ndarray) -> list[str]:
    """Dates as SQLAlchemy's SQLite dialect stores Date: 'YYYY-MM-DD'."""
    if len(days) == 0:
        return []
    first = int(days.min())
    text = _day_strings(first, int(days.max()))
    return [text[d] for d in (days - first).tolist()]


def aware_datetimes(us: np.ndarray) -> list[datetime]:
    """Timezone-aware UTC datetimes, what `UTCDateTime` takes on any backend."""
    naive = us.astype("datetime64[us]").astype(object)
    return [value.replace(tzinfo=UTC) for value in naive]


def dates(days: np.ndarray) -> list[date]:
    return [date.fromordinal(_EPOCH_ORDINAL + d) for d in days.tolist()]


def decimals(units: np.ndarray, places: int) -> list[Decimal]:
    """Integer minor units (cents, basis points) as exact Decimals."""
    return [Decimal(v).scaleb(-places) for v in units.tolist()]


def as_datetime(us: int) -> datetime:
    return EPOCH_DT + timedelta(microseconds=us)
