"""`shelfwise forecast csv`: forecasts from any long-format history, and its error messages."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from shelfwise.cli import app
from shelfwise.forecast.csv_forecast import infer_frequency

runner = CliRunner()


def _monthly(path: Path, months: int = 40, stores: tuple[str, ...] = ("A", "B")) -> Path:
    rng = np.random.default_rng(4)
    rows = [
        (
            store,
            day.date().isoformat(),
            round(100 + 15 * np.sin(2 * np.pi * i / 12) + i + rng.normal(0, 2), 1),
        )
        for store in stores
        for i, day in enumerate(pd.date_range("2019-01-01", periods=months, freq="MS"))
    ]
    pd.DataFrame(rows, columns=["store", "month", "sales"]).to_csv(path, index=False)
    return path


def _said(result: Result) -> str:
    """The command's output with Rich's line wrapping undone."""
    return " ".join(result.output.split())


def _run(path: Path, *extra: str) -> Result:
    args = [
        "forecast",
        "csv",
        str(path),
        "--id",
        "store",
        "--date",
        "month",
        "--value",
        "sales",
        "--preset",
        "quick",
    ]
    return runner.invoke(app, [*args, *extra])


def test_forecasts_and_holdout_accuracy(tmp_path: Path) -> None:
    path = _monthly(tmp_path / "sales.csv")
    out = tmp_path / "forecast.csv"
    result = _run(path, "--horizon", "3", "--holdout", "3", "--output", str(out), "--format", "csv")
    assert result.exit_code == 0, result.output
    forecasts = pd.read_csv(out)
    assert list(forecasts.columns) == [
        "store",
        "month",
        "model",
        "yhat",
        "lo_80",
        "hi_80",
        "lo_95",
        "hi_95",
    ]
    assert len(forecasts) == 2 * 3
    assert forecasts["month"].min() == "2022-05-01"  # 40 months from 2019-01 end in 2022-04
    assert (forecasts["lo_95"] <= forecasts["yhat"]).all() and (
        forecasts["yhat"] <= forecasts["hi_95"]
    ).all()
    table = "\n".join(line for line in result.stdout.splitlines() if "written to" not in line)
    accuracy = pd.read_csv(io.StringIO(table))
    models = set(accuracy["model"])
    assert {"Naive", "SeasonalNaive", "HistoricAverage", "RWD"} <= models
    assert any(m.startswith("Chosen (") for m in models)
    assert {"mae", "rmse", "mape", "smape", "mase", "rmsse", "bias", "coverage_80"} <= set(
        accuracy.columns
    )


def test_forecasts_to_stdout(tmp_path: Path) -> None:
    path = _monthly(tmp_path / "sales.csv")
    result = _run(path, "--horizon", "2")
    assert result.exit_code == 0, result.output
    forecasts = pd.read_csv(io.StringIO(result.stdout))
    assert len(forecasts) == 4 and set(forecasts["store"]) == {"A", "B"}


def test_unparseable_date_names_the_line(tmp_path: Path) -> None:
    path = _monthly(tmp_path / "sales.csv")
    frame = pd.read_csv(path)
    frame.loc[4, "month"] = "April the 5th"
    frame.to_csv(path, index=False)
    result = _run(path, "--horizon", "2")
    assert result.exit_code == 1
    assert "line 6" in _said(result) and "April the 5th" in _said(result)


def test_gaps_name_series_and_dates(tmp_path: Path) -> None:
    path = _monthly(tmp_path / "sales.csv")
    frame = pd.read_csv(path)
    frame = frame[~((frame["store"] == "B") & (frame["month"] == "2020-03-01"))]
    frame.to_csv(path, index=False)
    result = _run(path, "--horizon", "2")
    assert result.exit_code == 1
    assert "series 'B' misses 2020-03-01" in _said(result)


def test_duplicates_name_series_date_and_lines(tmp_path: Path) -> None:
    path = _monthly(tmp_path / "sales.csv")
    frame = pd.read_csv(path)
    frame = pd.concat([frame, frame.iloc[[2]]], ignore_index=True)
    frame.to_csv(path, index=False)
    result = _run(path, "--horizon", "2")
    assert result.exit_code == 1
    assert "series 'A' on 2019-03-01 (lines 4, 82)" in _said(result)


def test_too_short_series_say_how_long_is_needed(tmp_path: Path) -> None:
    path = _monthly(tmp_path / "sales.csv", months=20)
    result = _run(path, "--horizon", "6")
    assert result.exit_code == 1
    # 3 windows of 6 + 14 to train on = 32 monthly values
    assert "'A' has 20" in _said(result) and "32 are needed" in _said(result)


def test_missing_column_lists_the_columns(tmp_path: Path) -> None:
    path = _monthly(tmp_path / "sales.csv")
    result = runner.invoke(
        app,
        [
            "forecast",
            "csv",
            str(path),
            "--id",
            "shop",
            "--date",
            "month",
            "--value",
            "sales",
            "--horizon",
            "2",
        ],
    )
    assert result.exit_code == 1
    assert "no column 'shop'" in _said(result) and "'store'" in _said(result)


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        (pd.date_range("2024-01-01", periods=5, freq="D"), "D"),
        (pd.date_range("2024-01-07", periods=5, freq="W-SUN"), "W-SUN"),
        (pd.date_range("2024-01-01", periods=5, freq="MS"), "MS"),
        (pd.date_range("2024-01-31", periods=5, freq="ME"), "ME"),
        (pd.date_range("2024-01-01", periods=5, freq="QS-JAN"), "QS-JAN"),
        (pd.date_range("2024-03-31", periods=5, freq="QE-DEC"), "QE-DEC"),
    ],
)
def test_frequency_inference(dates: pd.DatetimeIndex, expected: str) -> None:
    assert infer_frequency(pd.Series(dates), Path("x.csv")) == expected


def test_forecast_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["forecast", "--help"])
    assert result.exit_code == 0
    for command in ("train", "backtest", "predict", "promote", "rollback", "status", "csv"):
        assert command in _said(result)
