"""Bring your own history: forecast any long-format CSV (one row per series and date).

The frequency (daily, weekly, monthly, quarterly) is inferred from the dates. Every problem is
reported with where it is: unparseable dates and values by CSV line, duplicates by series,
date and lines, gaps by series and missing dates, short series by their length and the length
needed. With a holdout, every candidate (the four baselines included) and the chosen model are
scored on the held-out tail of each series.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shelfwise.forecast.backtest import BacktestPlan
from shelfwise.forecast.data import (
    DS,
    ID,
    SEASON_LENGTH,
    DemandPanel,
    Y,
    future_exogenous,
    prepare_panel,
)
from shelfwise.forecast.forecaster import DemandForecaster, ForecastConfig, Progress
from shelfwise.forecast.metrics import score_series, summarize, training_scales
from shelfwise.forecast.models import Preset, clip_negative, local_forecast, model_set
from shelfwise.forecast.selection import CHOSEN

MAX_LISTED = 5
CSV_CALIBRATION_WINDOWS = 2
CSV_EVALUATION_WINDOWS = 1


class CsvForecastError(ValueError):
    """The CSV cannot be forecast as it is; the message says where and how to fix it."""


@dataclass(frozen=True)
class CsvHistory:
    frame: pd.DataFrame  # unique_id, ds, y
    freq: str
    season_length: int

    @property
    def label(self) -> str:
        return {"D": "daily", "W": "weekly", "M": "monthly", "Q": "quarterly"}[self.freq[0]]


@dataclass(frozen=True)
class CsvForecast:
    forecasts: pd.DataFrame  # unique_id, ds, model, yhat, lo_80, hi_80, lo_95, hi_95
    accuracy: pd.DataFrame | None  # one row per model on the holdout
    history: CsvHistory


def _listing(items: list[str], total: int) -> str:
    more = f" (and {total - len(items)} more)" if total > len(items) else ""
    return "; ".join(items) + more


def read_history(path: Path, *, id_col: str, date_col: str, value_col: str) -> CsvHistory:
    """Parse and validate a long-format history; raise CsvForecastError on any problem."""
    if not path.exists():
        raise CsvForecastError(f"{path}: no such file")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise CsvForecastError(f"{path}: not a readable CSV file ({exc})") from exc
    missing = [c for c in (id_col, date_col, value_col) if c not in raw.columns]
    if missing:
        raise CsvForecastError(
            f"{path}: no column {', '.join(repr(c) for c in missing)}; the columns are "
            f"{', '.join(repr(c) for c in raw.columns)} (choose with --id, --date, --value)"
        )
    if raw.empty:
        raise CsvForecastError(f"{path}: the file has a header but no rows")
    line = pd.Series(np.arange(len(raw)) + 2, index=raw.index)  # line 1 is the header
    dates = pd.to_datetime(raw[date_col].str.strip(), errors="coerce", format="mixed")
    bad = dates.isna()
    if bad.any():
        shown = [f"line {line[i]}: {raw.at[i, date_col]!r}" for i in raw.index[bad][:MAX_LISTED]]
        raise CsvForecastError(
            f"{path}: column {date_col!r} has values that are not dates: "
            f"{_listing(shown, int(bad.sum()))}. Use ISO dates such as 2024-03-31."
        )
    values = pd.to_numeric(raw[value_col].str.strip(), errors="coerce")
    bad = values.isna()
    if bad.any():
        shown = [f"line {line[i]}: {raw.at[i, value_col]!r}" for i in raw.index[bad][:MAX_LISTED]]
        raise CsvForecastError(
            f"{path}: column {value_col!r} has values that are not numbers: "
            f"{_listing(shown, int(bad.sum()))}"
        )
    frame = pd.DataFrame(
        {
            ID: raw[id_col].astype(str),
            DS: dates.dt.tz_localize(None) if dates.dt.tz else dates,
            Y: values.astype(float),
            "line": line,
        }
    )
    duplicated = frame.duplicated([ID, DS], keep=False)
    if duplicated.any():
        groups = frame[duplicated].groupby([ID, DS])["line"].apply(list)
        shown = [
            f"series {uid!r} on {ds.date()} (lines {', '.join(map(str, lines))})"
            for (uid, ds), lines in groups.head(MAX_LISTED).items()
        ]
        raise CsvForecastError(
            f"{path}: duplicate dates: {_listing(shown, len(groups))}. "
            "Keep one row per series and date."
        )
    frame = frame.sort_values([ID, DS]).reset_index(drop=True)
    freq = infer_frequency(frame[DS], path)
    _check_gaps(frame, freq, path)
    return CsvHistory(frame=frame[[ID, DS, Y]], freq=freq, season_length=SEASON_LENGTH[freq[0]])


def infer_frequency(dates: pd.Series, path: Path) -> str:
    """Daily, weekly (anchored on the weekday used), monthly or quarterly (start or end dates)."""
    unique = pd.DatetimeIndex(dates.drop_duplicates().sort_values())
    if len(unique) < 2:
        raise CsvForecastError(
            f"{path}: only one distinct date; at least two are needed to tell the frequency"
        )
    if (unique != unique.normalize()).any():
        raise CsvForecastError(f"{path}: dates carry times of day; sub-daily data is not supported")
    gap_days = int(np.diff(unique.asi8).min() // 86_400_000_000_000)
    if gap_days == 1:
        return "D"
    weekdays = set(unique.dayofweek)
    if gap_days == 7 and len(weekdays) == 1:
        return f"W-{['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'][weekdays.pop()]}"
    starts, ends = bool((unique.day == 1).all()), bool(unique.is_month_end.all())
    if starts or ends:
        months = unique.year * 12 + unique.month
        step = int(np.diff(months).min())
        anchor = "S" if starts else "E"
        if step == 1:
            return f"M{anchor}"
        if step == 3 and len(set(unique.month % 3)) == 1:
            first_month = ["JAN", "FEB", "MAR"][(unique.month[0] - 1) % 3]
            last_month = ["OCT", "NOV", "DEC"][(unique.month[0] - 1) % 3]
            return f"QS-{first_month}" if starts else f"QE-{last_month}"
    raise CsvForecastError(
        f"{path}: cannot tell the frequency: the closest dates are {gap_days} days apart "
        "and do not "
        "fall on one weekday or on month starts/ends. Supported: daily, weekly, monthly, quarterly."
    )


def _check_gaps(frame: pd.DataFrame, freq: str, path: Path) -> None:
    problems = []
    for uid, group in frame.groupby(ID, sort=True):
        expected = pd.date_range(group[DS].iloc[0], group[DS].iloc[-1], freq=freq)
        missing = expected.difference(pd.DatetimeIndex(group[DS]))
        off_grid = pd.DatetimeIndex(group[DS]).difference(expected)
        if len(off_grid):
            problems.append(
                f"series {uid!r} has dates off the {freq} grid: "
                f"{', '.join(str(d.date()) for d in off_grid[:3])}"
            )
        elif len(missing):
            dates = ", ".join(str(d.date()) for d in missing[:MAX_LISTED])
            more = f" and {len(missing) - MAX_LISTED} more" if len(missing) > MAX_LISTED else ""
            problems.append(f"series {uid!r} misses {dates}{more}")
    if problems:
        raise CsvForecastError(
            f"{path}: gaps in the history ({freq}): "
            f"{_listing(problems[:MAX_LISTED], len(problems))}. "
            "Add the missing rows (0 if nothing happened)."
        )


def plan_for(h: int) -> BacktestPlan:
    return BacktestPlan(
        h=h, n_calibration=CSV_CALIBRATION_WINDOWS, n_evaluation=CSV_EVALUATION_WINDOWS
    )


def required_length(h: int, holdout: int, season_length: int) -> int:
    """History needed: the backtest's windows and training before them, plus the holdout."""
    return plan_for(h).min_history(season_length) + holdout


def _check_lengths(history: CsvHistory, h: int, holdout: int) -> None:
    needed = required_length(h, holdout, history.season_length)
    lengths = history.frame.groupby(ID).size()
    short = lengths[lengths < needed]
    if len(short):
        shown = [f"{uid!r} has {n}" for uid, n in short.head(MAX_LISTED).items()]
        raise CsvForecastError(
            f"series too short for horizon {h}{f' and holdout {holdout}' if holdout else ''}: "
            f"{_listing(shown, len(short))} {history.label} values; {needed} are needed "
            f"(3 backtest windows of {h}, {max(history.season_length + 1, 14)} to train on"
            f"{f', {holdout} held out' if holdout else ''}). Use a shorter --horizon or drop them."
        )


def _panel(frame: pd.DataFrame, history: CsvHistory) -> DemandPanel:
    daily = frame.rename(columns={Y: "y_observed"}).assign(
        stocked_out=False, unit_price=1.0, promo_discount=0.0, is_holiday=False
    )
    ids = frame[ID].drop_duplicates()
    attributes = pd.DataFrame(
        {
            ID: ids,
            "product_id": 0,
            "location_id": 0,
            "country": "-",
            "category": "-",
            "sub_category": "-",
        }
    )
    return prepare_panel(daily, attributes, freq=history.freq)


def _config(h: int, preset: Preset) -> ForecastConfig:
    plan = plan_for(h)
    return ForecastConfig(
        h=h,
        preset=preset,
        n_calibration=plan.n_calibration,
        n_evaluation=plan.n_evaluation,
        reconcile=False,
        threads=1,
        input_size=None,
    )


def forecast_history(
    history: CsvHistory,
    *,
    h: int,
    holdout: int = 0,
    preset: Preset = "standard",
    progress: Progress | None = None,
) -> CsvForecast:
    """Forecast every series h periods ahead (and, with a holdout, score every model on it)."""
    if h < 1 or holdout < 0:
        raise CsvForecastError("--horizon must be at least 1 and --holdout at least 0")
    _check_lengths(history, h, holdout)
    accuracy = None
    if holdout:
        accuracy = _holdout_accuracy(
            history, h=h, holdout=holdout, preset=preset, progress=progress
        )
    panel = _panel(history.frame, history)
    forecaster = DemandForecaster(_config(h, preset)).fit(panel, progress=progress)
    bottom = forecaster.predict(panel).bottom
    forecasts = bottom.drop(columns=["product_id", "location_id"])
    return CsvForecast(forecasts=forecasts, accuracy=accuracy, history=history)


def _holdout_accuracy(
    history: CsvHistory, *, h: int, holdout: int, preset: Preset, progress: Progress | None
) -> pd.DataFrame:
    frame = history.frame
    last = frame.groupby(ID)[DS].transform("max")
    offset = pd.tseries.frequencies.to_offset(history.freq)
    cut = frame[DS] <= last - offset * holdout
    train, test = frame[cut], frame[~cut]
    panel = _panel(train, history)
    forecaster = DemandForecaster(_config(h, preset)).fit(panel, progress=progress)
    if progress:
        progress("scoring every model on the holdout")
    chosen = forecaster.predict(panel, h=holdout).bottom.rename(
        columns={
            "yhat": CHOSEN,
            **{f"{s}_{lv}": f"{CHOSEN}-{s}-{lv}" for s in ("lo", "hi") for lv in (80, 95)},
        }
    )
    models = model_set(
        preset, season_length=history.season_length, n_series=panel.n_series, threads=1
    )
    models = models.usable_for(int(train.groupby(ID).size().min()))
    everything = local_forecast(
        models.local, panel.training_frame(), freq=history.freq, h=holdout, n_jobs=1
    )
    future = future_exogenous(panel, holdout)
    for model in models.global_:
        model.fit(panel.training_frame(), freq=history.freq)
        everything = everything.merge(
            model.predict(holdout, history=panel.training_frame(), future=future), on=[ID, DS]
        )
    everything = clip_negative(everything, models.aliases)
    scored = test.merge(everything, on=[ID, DS]).merge(chosen.drop(columns=["model"]), on=[ID, DS])
    scored = scored.rename(columns={Y: "actual"})
    scales = training_scales(train, history.season_length)
    per_series = score_series(scored, [*models.aliases, CHOSEN], scales, actual="actual")
    table = summarize(per_series)
    chosen_models = sorted(set(chosen["model"]))
    table.loc[table["model"] == CHOSEN, "model"] = f"{CHOSEN} ({', '.join(chosen_models)})"
    return table.sort_values("rmsse").reset_index(drop=True)
