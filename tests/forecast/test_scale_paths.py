"""The shortcuts that make M5 scale affordable give the same answers as the plain ways.

Integer-code aggregation against a join on the hierarchy, running-sum neighbour means against
direct means, scales up to a cutoff against filtering first, the one-fit LightGBM backtest
against mlforecast's own, launch trimming in SQL, and a LightGBM trained on a sample of the
series that still forecasts every series.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from shelfwise.forecast.data import DS, ID, DemandPanel, Y, _window_mean, load_panel
from shelfwise.forecast.hierarchy import BOTTOM, aggregate, build_hierarchy
from shelfwise.forecast.intervals import conformal_quantile, fit_quantiles
from shelfwise.forecast.metrics import training_scales
from shelfwise.forecast.models import GlobalLightGBM
from shelfwise.forecast.synthetic_panel import SyntheticPanel

ATTRIBUTES = pd.DataFrame(
    {
        "unique_id": ["1/1", "1/2", "2/1", "3/1"],
        "product_id": [1, 1, 2, 3],
        "location_id": [1, 2, 1, 1],
        "country": ["DE", "FR", "DE", "DE"],
        "category": ["Food", "Food", "Toys", "Toys"],
        "sub_category": ["Snacks", "Snacks", "Dolls", "Dolls"],
    }
)


def _joined_sums(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The plain way: every row joined to each series it adds into, then a groupby."""
    hierarchy = build_hierarchy(ATTRIBUTES)
    joined = frame.merge(hierarchy.membership, on=ID)
    summed = joined.groupby(["parent", *keys])["y"].sum(min_count=1)
    return summed.reset_index().rename(columns={"parent": ID})


def test_aggregate_matches_a_join_with_missing_values_and_outsiders() -> None:
    rng = np.random.default_rng(5)
    days = pd.date_range("2024-01-01", periods=6)
    frame = pd.DataFrame(
        {
            ID: np.repeat(["1/1", "1/2", "2/1", "3/1", "9/9"], 6),  # 9/9: not in the hierarchy
            DS: np.tile(days, 5),
            "cutoff": np.tile(np.repeat(days[[0, 3]], 3), 5),
            "y": rng.poisson(3.0, 30).astype(float),
        }
    )
    frame.loc[[2, 8, 14], "y"] = np.nan  # day 3 missing for 1/1, 1/2 and 2/1
    frame.loc[frame[ID] == "3/1", "y"] = np.nan  # 3/1: missing throughout
    for keys in ([DS], [DS, "cutoff"]):
        ours = aggregate(frame, build_hierarchy(ATTRIBUTES), ["y"], keys=keys)
        plain = _joined_sums(frame, keys)
        both = ours.merge(plain, on=[ID, *keys], how="outer", suffixes=("", "_plain"))
        assert len(both) == len(ours) == len(plain)
        np.testing.assert_allclose(both["y"], both["y_plain"])
    upper = aggregate(frame, build_hierarchy(ATTRIBUTES), ["y"], levels=["total", "product"])
    assert set(upper[ID]) == {"total", "product=1", "product=2", "product=3"}
    assert upper.loc[upper[ID] == "product=3", "y"].isna().all()  # all missing -> missing
    total = upper[(upper[ID] == "total") & (upper[DS] == days[2])]["y"].iloc[0]
    assert np.isnan(total)  # every value of that day is missing
    assert BOTTOM not in set(build_hierarchy(ATTRIBUTES).level_of()[upper[ID]])


def test_running_window_mean_matches_the_direct_mean() -> None:
    rng = np.random.default_rng(9)
    matrix = rng.poisson(4.0, (6, 80)).astype(float)
    matrix[rng.random(matrix.shape) < 0.3] = np.nan
    matrix[:, 70:] = np.nan  # short series are NaN-padded at the end
    means = _window_mean(matrix, range(-28, 29))
    for row, column in [(0, 0), (1, 40), (2, 79), (3, 10), (5, 69)]:
        window = [
            matrix[row, column + k]
            for k in range(-28, 29)
            if k != 0 and 0 <= column + k < matrix.shape[1]
        ]
        expected = np.nanmean(window) if not np.all(np.isnan(window)) else np.nan
        np.testing.assert_allclose(means[row, column], expected)


def test_scales_until_a_cutoff_equal_scales_of_the_history_before_it(panel: DemandPanel) -> None:
    train = panel.training_frame()
    cutoff = panel.end - pd.Timedelta(days=60)
    before = training_scales(train[train[DS] <= cutoff], panel.season_length).set_index(ID)
    until = training_scales(train, panel.season_length, until=cutoff).set_index(ID)
    pd.testing.assert_frame_equal(before, until.loc[before.index])


def test_group_quantiles_are_the_conformal_quantiles_of_each_group() -> None:
    rng = np.random.default_rng(2)
    cv = pd.DataFrame(
        {
            ID: rng.choice(["a", "b", "c"], 400),
            "y_eval": rng.poisson(3.0, 400).astype(float),
            "M": rng.gamma(3.0, 1.0, 400),
        }
    )
    scale = pd.Series({"a": 1.0, "b": 2.0, "c": 0.5})
    groups = pd.Series({"a": "smooth", "b": "smooth", "c": "lumpy"})
    quantiles = fit_quantiles(cv, ["M"], scale, groups, [80, 95]).set_index(["group", "level"])
    scores = (cv["y_eval"] - cv["M"]).abs() / cv[ID].map(scale)
    for group, ids in {"smooth": ["a", "b"], "lumpy": ["c"], "all": ["a", "b", "c"]}.items():
        own = scores[cv[ID].isin(ids)].to_numpy()
        for level in (80, 95):
            assert quantiles.loc[(group, level), "q"] == conformal_quantile(own, level)


def test_one_fit_backtest_equals_mlforecasts_own(panel: DemandPanel) -> None:
    train = panel.training_frame()
    model = GlobalLightGBM(n_estimators=20, num_leaves=7, max_train_periods=60, threads=1)
    ours = model.cross_validation(train, freq="D", h=7, n_windows=3, step_size=7, refit=False)
    engine = model._engine("D")
    theirs = engine.cross_validation(
        train,
        n_windows=3,
        h=7,
        step_size=7,
        static_features=[],
        refit=False,
        input_size=model._input_size(),
    )
    merged = ours.merge(theirs, on=[ID, DS, "cutoff"], suffixes=("", "_mlforecast"))
    assert len(merged) == len(ours) == len(theirs) == panel.n_series * 3 * 7
    np.testing.assert_allclose(merged["LightGBM"], merged["LightGBM_mlforecast"], rtol=1e-9)
    # each window is forecast only from data up to its cutoff
    assert (ours[DS] > ours["cutoff"]).all()


def test_trees_learn_from_a_sample_and_forecast_every_series(panel: DemandPanel) -> None:
    train = panel.training_frame()
    model = GlobalLightGBM(n_estimators=20, num_leaves=7, max_train_series=5, threads=1)
    learned = model._training_rows(train)
    assert learned[ID].nunique() == 5
    model.fit(train, freq="D")
    future = panel.frame.groupby(ID).tail(1)[[ID, DS]]
    horizon = pd.concat(
        [future.assign(**{DS: future[DS] + pd.Timedelta(days=d)}) for d in range(1, 4)]
    )
    horizon = horizon.assign(price_ratio=1.0, promo_discount=0.0, is_holiday=0.0)
    forecast = model.predict(3, history=train, future=horizon)
    assert forecast[ID].nunique() == panel.n_series
    assert forecast["LightGBM"].notna().all()


def test_series_start_on_their_launch_day(synthetic: SyntheticPanel, tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(synthetic.warehouse_path, warehouse)
    start = synthetic.spec.start
    with duckdb.connect(str(warehouse)) as con:
        # 1/2 launches 30 days in; 2/1 never has stock, a receipt or a sale.
        con.execute(
            "UPDATE fct_inventory_daily SET on_hand_close = 0, units_sold = 0, units_received = 0 "
            f"WHERE product_id = 1 AND location_id = 2 AND date < DATE '{start}' + 30"
        )
        con.execute(
            "UPDATE fct_inventory_daily SET on_hand_close = 0, units_sold = 0, units_received = 0 "
            "WHERE product_id = 2 AND location_id = 1"
        )
    panel = load_panel(warehouse)
    first = panel.frame.groupby(ID)[DS].min()
    assert first["1/2"] == pd.Timestamp(start) + pd.Timedelta(days=30)
    assert first["1/1"] == pd.Timestamp(start)
    assert "2/1" not in first.index and "2/1" not in set(panel.attributes[ID])
    # the panel stays ordered by series id then date, and ids are shared strings
    assert panel.frame[ID].is_monotonic_increasing
    assert panel.frame[Y].notna().all()
    ids = panel.frame.loc[panel.frame[ID] == "1/1", ID]
    assert ids.iloc[0] is ids.iloc[-1]


def test_panel_until_a_day_ends_that_day(synthetic: SyntheticPanel) -> None:
    end = pd.Timestamp(synthetic.spec.start) + pd.Timedelta(days=100)
    panel = load_panel(synthetic.warehouse_path, end=end)
    assert panel.frame[DS].max() == end
    assert panel.frame.groupby(ID).size().max() == 101
