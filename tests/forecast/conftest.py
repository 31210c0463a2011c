"""Fixtures for forecasting: a small gold warehouse drawn from a seeded synthetic panel."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from shelfwise.config import Settings, get_settings
from shelfwise.forecast.data import DemandPanel, load_panel
from shelfwise.forecast.forecaster import DemandForecaster, ForecastConfig
from shelfwise.forecast.synthetic_panel import PanelSpec, SyntheticPanel, build_panel

SMALL = PanelSpec(products=6, locations=3, countries=2, days=280, seed=11)
HORIZON = 14


def quick_config(**changes: object) -> ForecastConfig:
    """The unit-test configuration: quick candidates, two-week windows, one thread."""
    base = {"h": HORIZON, "preset": "quick", "threads": 1, "upper_local_limit": 20}
    base.update(changes)
    return ForecastConfig(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> SyntheticPanel:
    home = tmp_path_factory.mktemp("forecast-gold")
    return build_panel(SMALL, home / "warehouse.duckdb")


@pytest.fixture(scope="session")
def panel(synthetic: SyntheticPanel) -> DemandPanel:
    return load_panel(synthetic.warehouse_path)


@pytest.fixture(scope="session")
def fitted(panel: DemandPanel) -> DemandForecaster:
    """One forecaster fitted on the small panel, shared by the read-only tests."""
    return DemandForecaster(quick_config()).fit(panel)


@pytest.fixture
def home_settings(
    tmp_path: Path, synthetic: SyntheticPanel, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """A fresh SHELFWISE_HOME whose warehouse is a copy of the small gold panel."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "warehouse.duckdb").write_bytes(synthetic.warehouse_path.read_bytes())
    monkeypatch.setenv("SHELFWISE_HOME", str(home))
    get_settings.cache_clear()
    yield Settings(home=home)
    get_settings.cache_clear()


def series(values: list[float], start: str = "2024-01-01", uid: str = "s") -> pd.DataFrame:
    """A daily series in long format."""
    return pd.DataFrame(
        {"unique_id": uid, "ds": pd.date_range(start, periods=len(values), freq="D"), "y": values}
    )
