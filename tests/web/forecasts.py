"""A real published demand forecast for the web tests, and an app that reads it.

The forecasting tests' synthetic panel (tests/forecast/conftest.py) numbers its products 1..n
and its locations 1..m; the test shop (tests/web/shop.py) has products 1..8 and locations 1..3.
A panel of that size therefore gives every shop product a forecast series at every shop
location. It is trained with the quick preset two weeks before the panel's end and the
forecast published from that point, so the warehouse already holds actuals for the forecast
days and `fct_forecast_accuracy` has rows too.

Built once per test session (training takes a while) and shared by the modules that need it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from fastapi import FastAPI

from shelfwise.config import Settings, get_settings
from shelfwise.forecast import service
from shelfwise.forecast.data import load_panel
from shelfwise.forecast.synthetic_panel import build_panel
from shelfwise.store.db import Database
from shelfwise.web.app import create_app
from tests.forecast.conftest import HORIZON, SMALL, quick_config
from tests.web.shop import SECRET_KEY, ShopIds

SHOP_PANEL = replace(SMALL, products=8, locations=3)
_homes: dict[Path, Path] = {}


def published_forecast_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SHELFWISE_HOME with a champion (version 1) and its published forecast."""
    base = tmp_path_factory.getbasetemp()
    if base not in _homes:
        _homes[base] = _build(tmp_path_factory.mktemp("forecast-home"))
    return _homes[base]


def _build(home: Path) -> Path:
    build_panel(SHOP_PANEL, home / "warehouse.duckdb")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHELFWISE_HOME", str(home))
        get_settings.cache_clear()
        try:
            settings = Settings(home=home)
            panel = load_panel(settings.warehouse_path)
            earlier = panel.until(panel.end - pd.Timedelta(days=HORIZON))
            trained = service.train_and_register(settings, config=quick_config(), panel=earlier)
            assert trained.promoted and trained.version == "1"
            service.predict_and_publish(settings, panel=earlier)
            service.score_and_publish(settings)
        finally:
            get_settings.cache_clear()
    return home


def covers_shop(ids: ShopIds) -> bool:
    """Every shop product and location is inside the panel's numbering."""
    products = [*ids.chairs, ids.oak_bookcase, ids.walnut_bookcase, ids.binder, ids.desk_phone]
    locations = [ids.loc_de0, ids.loc_de1, ids.loc_us]
    return max(products) <= SHOP_PANEL.products and max(locations) <= SHOP_PANEL.locations


def make_forecast_app(db: Database, home: Path) -> FastAPI:
    """The test shop's app, reading forecasts from `home`."""
    return create_app(Settings(secret_key=SECRET_KEY, home=home), database=db)
