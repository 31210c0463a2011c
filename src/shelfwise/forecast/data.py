"""Demand series from the gold warehouse, with stock-out censoring undone.

A day that ends out of stock shows what was sold, not what shoppers wanted: a model trained on
those zeros learns that the item does not sell. Such days are masked and their demand is
imputed from the same weekday in the surrounding weeks (never below what was actually sold),
so that every model sees a demand estimate, and the backtest scores only uncensored days.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import duckdb
import numpy as np
import pandas as pd
from utilsforecast.processing import make_future_dataframe

ID, DS, Y = "unique_id", "ds", "y"
EXOGENOUS = ["price_ratio", "promo_discount", "is_holiday"]
ATTRIBUTES = ["unique_id", "product_id", "location_id", "country", "category", "sub_category"]
StockoutPolicy = Literal["impute", "ignore"]

SEASON_LENGTH = {"D": 7, "W": 52, "M": 12, "Q": 4}


class WarehouseNotReady(RuntimeError):
    """The gold tables the forecasts need are missing; the pipeline has not run yet."""


@dataclass(frozen=True)
class DemandPanel:
    """Daily (or weekly) demand per product and location, one row per series and period.

    `frame` holds `unique_id, ds, y` (demand: sales with stock-out days imputed), `y_observed`
    (units sold), `stocked_out`, `imputed`, `unit_price` and the exogenous features; `attributes`
    holds one row per series with its product, location and hierarchy.
    """

    frame: pd.DataFrame
    attributes: pd.DataFrame
    freq: str = "D"
    season_length: int = 7

    @property
    def end(self) -> pd.Timestamp:
        return pd.Timestamp(self.frame[DS].max())

    @property
    def n_series(self) -> int:
        return int(self.frame[ID].nunique())

    def training_frame(self) -> pd.DataFrame:
        """`unique_id, ds, y` plus the exogenous features, sorted: what models fit on.

        The columns are views of `frame` (no copy: 800 MB at M5 size); assigning a column
        replaces it, but writing into one in place would change the panel."""
        return pd.DataFrame({c: self.frame[c] for c in [ID, DS, Y, *EXOGENOUS]}, copy=False)

    def until(self, end: pd.Timestamp) -> DemandPanel:
        """The panel as it was known at `end` (inclusive): for retraining tests and monitoring."""
        frame = self.frame[self.frame[DS] <= end].reset_index(drop=True)
        kept = self.attributes[self.attributes[ID].isin(frame[ID].unique())]
        return replace(self, frame=frame, attributes=kept.reset_index(drop=True))

    def revenue_weights(self, last_periods: int = 28) -> pd.Series:
        """Each series' share of revenue over its last periods (M5's WRMSSE weights)."""
        cutoff = self.end - pd.tseries.frequencies.to_offset(self.freq) * (last_periods - 1)
        recent = self.frame[self.frame[DS] >= cutoff]
        revenue = (recent["y_observed"] * recent["unit_price"]).groupby(recent[ID]).sum()
        total = float(revenue.sum())
        if total <= 0:
            return pd.Series(1.0 / len(revenue), index=revenue.index)
        return revenue / total


def load_panel(
    warehouse_path: Path,
    *,
    stockout_policy: StockoutPolicy = "impute",
    end: pd.Timestamp | None = None,
) -> DemandPanel:
    """Read daily demand series from the gold warehouse (read-only) and undo stock-out censoring."""
    if not warehouse_path.exists():
        raise WarehouseNotReady(
            f"no warehouse at {warehouse_path}: run `shelfwise pipeline run` first"
        )
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        con.execute("SET enable_progress_bar = false")
        tables = {
            row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        }
        missing = {"fct_inventory_daily", "dim_product", "dim_location"} - tables
        if missing:
            raise WarehouseNotReady(
                f"{warehouse_path} lacks {', '.join(sorted(missing))}: run `shelfwise pipeline run`"
            )
        holiday = "coalesce(d.is_holiday, false)" if "dim_date" in tables else "false"
        join_date = "LEFT JOIN dim_date d ON d.date = f.date" if "dim_date" in tables else ""
        until = f"AND f.date <= DATE '{end.date()}'" if end is not None else ""
        # A series starts on its first day with stock, a receipt or a sale (before that the
        # item was not yet launched there). Ids are built below from the integer keys, one
        # Python string per series shared by all its rows: 22 M per-row strings cost 1.5 GB at
        # M5 size. Rows come in the panel's order (id as text, then date): no sort in pandas.
        daily = con.execute(
            f"""
            WITH launch AS (
                SELECT product_id, location_id, min(date) AS first_day
                FROM fct_inventory_daily f
                WHERE (on_hand_close > 0 OR units_sold > 0 OR units_received > 0) {until}
                GROUP BY product_id, location_id
            )
            SELECT f.product_id, f.location_id,
                   CAST(f.date AS TIMESTAMP) AS ds,
                   CAST(f.units_sold AS DOUBLE) AS y_observed,
                   f.stocked_out,
                   CAST(f.unit_price AS FLOAT) AS unit_price,
                   CAST(coalesce(f.promo_discount, 0.0) AS FLOAT) AS promo_discount,
                   CAST({holiday} AS FLOAT) AS is_holiday
            FROM fct_inventory_daily f
            JOIN launch s ON s.product_id = f.product_id AND s.location_id = f.location_id
            {join_date}
            WHERE f.date >= s.first_day {until}
            ORDER BY CAST(f.product_id AS VARCHAR) || '/' || CAST(f.location_id AS VARCHAR), f.date
            """
        ).df()
        attributes = con.execute(
            """
            SELECT CAST(s.product_id AS VARCHAR) || '/' || CAST(s.location_id AS VARCHAR)
                     AS unique_id,
                   s.product_id, s.location_id, l.country, p.category, p.sub_category
            FROM (SELECT DISTINCT product_id, location_id FROM fct_inventory_daily) s
            JOIN dim_product p ON p.product_id = s.product_id AND p.is_current
            JOIN dim_location l ON l.location_id = s.location_id
            ORDER BY s.product_id, s.location_id
            """
        ).df()
    daily.insert(0, ID, _series_ids(daily.pop("product_id"), daily.pop("location_id")))
    daily = sort_by_series(daily)  # a check only: SQL sorted it already
    return _panel_from_sorted(daily, attributes, stockout_policy=stockout_policy, freq="D")


def _series_ids(product_id: pd.Series, location_id: pd.Series) -> pd.Series:
    """`"<product_id>/<location_id>"` per row, one shared string object per series."""
    width = int(location_id.max()) + 1
    pair = product_id.to_numpy(dtype=np.int64) * width + location_id.to_numpy(dtype=np.int64)
    codes, uniques = pd.factorize(pair, sort=False)
    labels = np.array([f"{u // width}/{u % width}" for u in uniques], dtype=object)
    return pd.Series(labels[codes], index=product_id.index, name=ID)


def series_codes(frame: pd.DataFrame) -> np.ndarray:
    """An integer per row naming its series (in order of first appearance): grouping on these
    is several times faster than on the string ids."""
    codes: np.ndarray = pd.factorize(frame[ID], sort=False)[0]
    return codes


def is_sorted_by_series(frame: pd.DataFrame) -> bool:
    """Whether rows are ordered by series id, then date (the panel's order)."""
    ids = frame[ID]
    if not ids.is_monotonic_increasing:
        return False
    if len(frame) < 2:
        return True
    ds = frame[DS].to_numpy()
    values = ids.to_numpy()
    same_series = values[1:] == values[:-1]
    return bool(np.all(ds[1:][same_series] > ds[:-1][same_series]))


def sort_by_series(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` ordered by series id then date; the frame itself (no copy) when it already is."""
    if is_sorted_by_series(frame):
        return frame
    return frame.sort_values([ID, DS]).reset_index(drop=True)


def prepare_panel(
    daily: pd.DataFrame,
    attributes: pd.DataFrame,
    *,
    stockout_policy: StockoutPolicy = "impute",
    freq: str = "D",
) -> DemandPanel:
    """Build a panel from `unique_id, ds, y_observed, stocked_out, unit_price, promo_discount`."""
    frame = sort_by_series(daily)
    if frame is daily:
        frame = daily.reset_index(drop=True)  # a new frame: the caller's is left as it was
    return _panel_from_sorted(frame, attributes, stockout_policy=stockout_policy, freq=freq)


def _panel_from_sorted(
    frame: pd.DataFrame,
    attributes: pd.DataFrame,
    *,
    stockout_policy: StockoutPolicy,
    freq: str,
) -> DemandPanel:
    """`prepare_panel` on a frame already in panel order that may be changed in place."""
    # Features are float32 (plenty for ratios and flags; half the memory at M5 size).
    frame["stocked_out"] = frame["stocked_out"].astype(bool)
    frame["is_holiday"] = frame.get("is_holiday", False)
    frame["is_holiday"] = frame["is_holiday"].astype(np.float32)
    frame["promo_discount"] = frame["promo_discount"].astype(np.float32)
    frame["unit_price"] = frame["unit_price"].astype(np.float32)
    codes = series_codes(frame)
    if stockout_policy == "impute":
        frame[Y] = impute_stockouts(frame, season_length=SEASON_LENGTH[freq[0]], codes=codes)
    else:
        frame[Y] = frame["y_observed"].astype(float)
    frame["imputed"] = frame[Y] > frame["y_observed"]
    median_price = frame["unit_price"].groupby(codes).transform("median").to_numpy()
    ratio = frame["unit_price"].to_numpy() / np.where(median_price > 0, median_price, np.nan)
    frame["price_ratio"] = np.nan_to_num(ratio, nan=1.0).astype(np.float32)
    columns = [ID, DS, Y, "y_observed", "stocked_out", "imputed", "unit_price", *EXOGENOUS]
    attrs = attributes[attributes[ID].isin(frame[ID].unique())][ATTRIBUTES]
    return DemandPanel(
        frame=frame[columns],
        attributes=attrs.reset_index(drop=True),
        freq=freq,
        season_length=SEASON_LENGTH[freq[0]],
    )


def _series_matrix(codes: np.ndarray, values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Values as a (series x position) matrix, NaN-padded at the end, with each row's positions."""
    position = pd.Series(codes).groupby(codes, sort=False).cumcount().to_numpy()
    matrix = np.full((codes.max() + 1, position.max() + 1), np.nan)
    matrix[codes, position] = values.to_numpy(dtype=float)
    return matrix, np.stack([codes, position])


def _window_mean(matrix: np.ndarray, offsets: range) -> np.ndarray:
    """NaN-aware mean over `matrix[:, t + k]` for k in offsets except 0 (same row, shifted)."""
    if offsets.step == 1:
        return _contiguous_window_mean(matrix, offsets.start, offsets.stop - 1)
    total = np.zeros_like(matrix)
    count = np.zeros_like(matrix)
    n = matrix.shape[1]
    for k in offsets:
        if k == 0 or abs(k) >= n:
            continue
        shifted = np.full_like(matrix, np.nan)
        if k > 0:
            shifted[:, :-k] = matrix[:, k:]
        else:
            shifted[:, -k:] = matrix[:, :k]
        present = ~np.isnan(shifted)
        total += np.where(present, shifted, 0.0)
        count += present
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _contiguous_window_mean(matrix: np.ndarray, first: int, last: int) -> np.ndarray:
    """`_window_mean` over offsets first..last by running sums: two passes instead of one per
    offset (57 for a month either side). Sales are whole numbers, so the sums are exact."""
    present = ~np.isnan(matrix)
    values = np.where(present, matrix, 0.0)
    n = matrix.shape[1]
    columns = np.arange(n)
    lo = np.clip(columns + first, 0, n)
    hi = np.clip(columns + last + 1, 0, n)
    totals = np.zeros((matrix.shape[0], n + 1))
    np.cumsum(values, axis=1, out=totals[:, 1:])
    total = totals[:, hi] - totals[:, lo]
    np.cumsum(present, axis=1, out=totals[:, 1:])
    count = totals[:, hi] - totals[:, lo]
    if first <= 0 <= last:  # the day itself is not its own neighbour
        total -= values
        count -= present
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def impute_stockouts(
    frame: pd.DataFrame, *, season_length: int = 7, codes: np.ndarray | None = None
) -> pd.Series:
    """Demand estimate: sales, but on stock-out days the mean of uncensored neighbours.

    Neighbours are the same weekday up to three seasons either side; without any, the
    uncensored days within one month either side. Never below the units actually sold.
    """
    observed = frame["y_observed"].astype(float)
    uncensored = observed.where(~frame["stocked_out"].astype(bool))
    if codes is None:
        codes = series_codes(frame)
    matrix, (codes, position) = _series_matrix(codes, uncensored)
    same_season = _window_mean(
        matrix, range(-3 * season_length, 3 * season_length + 1, season_length)
    )
    nearby = _window_mean(matrix, range(-28, 29))
    estimate = np.where(np.isnan(same_season), nearby, same_season)[codes, position]
    stocked_out = frame["stocked_out"].to_numpy(dtype=bool)
    filled = np.where(
        stocked_out & ~np.isnan(estimate), np.fmax(observed.to_numpy(), estimate), observed
    )
    return pd.Series(filled, index=frame.index, name=Y)


def to_weekly(panel: DemandPanel) -> DemandPanel:
    """Weekly demand (weeks starting Monday), keeping only complete weeks."""
    frame = panel.frame.copy()
    frame["week"] = frame[DS] - pd.to_timedelta(frame[DS].dt.dayofweek, unit="D")
    grouped = frame.groupby([ID, "week"], sort=True)
    weekly = grouped.agg(
        y=(Y, "sum"),
        y_observed=("y_observed", "sum"),
        stocked_out=("stocked_out", "any"),
        unit_price=("unit_price", "mean"),
        promo_discount=("promo_discount", "mean"),
        is_holiday=("is_holiday", "max"),
        days=(DS, "size"),
    ).reset_index()
    weekly = weekly[weekly["days"] == 7].rename(columns={"week": DS}).drop(columns="days")
    weekly["imputed"] = weekly[Y] > weekly["y_observed"]
    median_price = weekly.groupby(ID)["unit_price"].transform("median")
    weekly["price_ratio"] = (weekly["unit_price"] / median_price.where(median_price > 0)).fillna(
        1.0
    )
    columns = [ID, DS, Y, "y_observed", "stocked_out", "imputed", "unit_price", *EXOGENOUS]
    return DemandPanel(
        frame=weekly[columns].reset_index(drop=True),
        attributes=panel.attributes,
        freq="W-MON",
        season_length=SEASON_LENGTH["W"],
    )


def future_exogenous(
    panel: DemandPanel,
    h: int,
    *,
    promotions: pd.DataFrame | None = None,
    holidays: set[pd.Timestamp] | None = None,
) -> pd.DataFrame:
    """Known-ahead features for the next h periods: last price, planned promotions, holidays.

    `promotions` (unique_id, ds, promo_discount) are the promotions already planned; days without
    one get no discount.
    """
    last = panel.frame.groupby(ID, sort=False).tail(1)[[ID, DS, "price_ratio"]]
    future = make_future_dataframe(last[ID], pd.Index(last[DS]), panel.freq, h)
    future["price_ratio"] = np.repeat(last["price_ratio"].to_numpy(), h)
    future["promo_discount"] = 0.0
    if promotions is not None and len(promotions):
        planned = future.merge(promotions, on=[ID, DS], how="left", suffixes=("", "_planned"))
        future["promo_discount"] = planned["promo_discount_planned"].fillna(0.0).to_numpy()
    future["is_holiday"] = future[DS].isin(holidays or set()).astype(float)
    return future[[ID, DS, *EXOGENOUS]]


def known_holidays(warehouse_path: Path) -> set[pd.Timestamp]:
    """Holiday dates from `dim_date` (which may extend past the last sale)."""
    if not warehouse_path.exists():
        return set()
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        try:
            rows = con.execute("SELECT date FROM dim_date WHERE is_holiday").fetchall()
        except duckdb.CatalogException:
            return set()
    return {pd.Timestamp(r[0]) for r in rows}


def planned_promotions(
    database_url: str, attributes: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Promotions already scheduled in the operational store, per series and day in [start, end].

    A promotion applies to its product in every location. An unreachable or empty store gives
    an empty frame: forecasts then assume no promotion, which is what the backtest can check.
    """
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from shelfwise.store.db import Database
    from shelfwise.store.models import Promotion

    empty = pd.DataFrame(
        {
            ID: pd.Series(dtype=str),
            DS: pd.Series(dtype="datetime64[ns]"),
            "promo_discount": pd.Series(dtype=float),
        }
    )
    try:
        db = Database(database_url)
        try:
            with db.read_session() as session:
                rows = session.execute(
                    select(
                        Promotion.product_id,
                        Promotion.starts_on,
                        Promotion.ends_on,
                        Promotion.discount,
                    ).where(Promotion.ends_on >= start.date(), Promotion.starts_on <= end.date())
                ).all()
        finally:
            db.dispose()
    except SQLAlchemyError:
        return empty
    if not rows:
        return empty
    days = []
    for product_id, starts_on, ends_on, discount in rows:
        for day in pd.date_range(
            max(pd.Timestamp(starts_on), start), min(pd.Timestamp(ends_on), end)
        ):
            days.append((int(product_id), day, float(discount)))
    promo = pd.DataFrame(days, columns=["product_id", DS, "promo_discount"])
    promo = promo.groupby(["product_id", DS], as_index=False)["promo_discount"].max()
    per_series = attributes[[ID, "product_id"]].merge(promo, on="product_id")
    return per_series[[ID, DS, "promo_discount"]]
