"""`shelfwise forecast train|backtest|predict|promote|rollback|status|csv`: demand forecasts.

Heavy libraries (statsforecast, LightGBM, MLflow) are imported inside the commands so that
`shelfwise --help` stays instant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from shelfwise.commands.common import (
    FormatOption,
    OutputFormat,
    console,
    emit_rows,
    err_console,
    fail,
    settings,
)

forecast_app = typer.Typer(
    name="forecast",
    help="Demand forecasts: train and register models, backtest, predict, manage the champion.",
    no_args_is_help=True,
)

HorizonOption = typer.Option(
    28, "--horizon", "-h", min=1, help="Days to forecast (and backtest window length)."
)
PresetOption = typer.Option(
    "standard",
    "--preset",
    help="Candidate models: quick (baselines, Croston, small LightGBM), standard (+ ETS, Theta, "
    "ADIDA, IMAPA), full (+ ARIMA on small panels), scale (cheap local models + LightGBM).",
)
EvaluationOption = typer.Option(
    2, "--windows", min=1, help="Backtest windows that score and choose the models."
)
CalibrationOption = typer.Option(
    2, "--calibration-windows", min=1, help="Earlier windows that calibrate the intervals."
)


@contextmanager
def _stages(enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr naming the current stage of a long run."""
    if not enabled:
        yield lambda _stage: None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=None)
        yield lambda stage: bar.update(task, description=stage)


@contextmanager
def _friendly() -> Iterator[None]:
    from shelfwise.forecast.csv_forecast import CsvForecastError
    from shelfwise.forecast.data import WarehouseNotReady
    from shelfwise.forecast.registry import RegistryError

    try:
        yield
    except (WarehouseNotReady, RegistryError, CsvForecastError) as exc:
        raise fail(str(exc)) from exc


def _config(horizon: int, preset: str, windows: int, calibration: int) -> Any:
    from shelfwise.forecast.forecaster import ForecastConfig

    if preset not in ("quick", "standard", "full", "scale"):
        raise fail(f"unknown --preset {preset!r}: use quick, standard, full or scale")
    return ForecastConfig(h=horizon, preset=preset, n_evaluation=windows, n_calibration=calibration)  # type: ignore[arg-type]


def _summary_rows(summary: Any) -> list[dict[str, Any]]:
    rows = summary.round(4).to_dict("records")
    return [{k: v for k, v in row.items()} for row in rows]


@forecast_app.command("train")
def train(
    horizon: int = HorizonOption,
    preset: str = PresetOption,
    windows: int = EvaluationOption,
    calibration: int = CalibrationOption,
    fmt: OutputFormat = FormatOption,
) -> None:
    """Backtest every candidate, register the result, and make it champion if it wins.

    It wins when it beats the current champion on the same backtest windows."""
    from shelfwise.forecast.service import train_and_register

    with _friendly(), _stages() as progress:
        result = train_and_register(
            settings(), config=_config(horizon, preset, windows, calibration), progress=progress
        )
    emit_rows(
        [
            {
                "version": result.version,
                "wrmsse": round(result.score, 4),
                "champion_before": result.champion_before or "",
                "champion_wrmsse": None
                if result.champion_score is None
                else round(result.champion_score, 4),
                "promoted": result.promoted,
                "reason": result.reason,
            }
        ],
        fmt,
        title="Training",
    )


@forecast_app.command("backtest")
def backtest(
    horizon: int = HorizonOption,
    preset: str = PresetOption,
    windows: int = EvaluationOption,
    calibration: int = CalibrationOption,
    fmt: OutputFormat = FormatOption,
) -> None:
    """Rolling-origin backtest of every candidate (logged to MLflow, nothing registered)."""
    from shelfwise.forecast.service import backtest_and_log

    with _friendly(), _stages() as progress:
        forecaster, run_id = backtest_and_log(
            settings(), config=_config(horizon, preset, windows, calibration), progress=progress
        )
    report = forecaster.report_
    assert report is not None and forecaster.recipe_ is not None
    emit_rows(
        _summary_rows(report.summary.sort_values("wrmsse")),
        fmt,
        title=f"Backtest by model (MLflow run {run_id})",
    )
    if fmt is OutputFormat.TABLE:
        choice = ", ".join(
            f"{segment}: {model}" for segment, model in sorted(forecaster.recipe_.choice.items())
        )
        console.print(
            f"cutoffs {', '.join(str(c.date()) for c in report.cutoffs)}; "
            f"chosen per segment: {choice}"
        )
        if len(report.levels):
            emit_rows(
                _summary_rows(report.levels),
                fmt,
                title="Accuracy by hierarchy level and reconciler",
            )


@forecast_app.command("predict")
def predict(
    horizon: int | None = typer.Option(
        None, "--horizon", "-h", min=1, help="Days to forecast; default the champion's horizon."
    ),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Forecast every product and location with the champion and publish `fct_forecast`."""
    from shelfwise.forecast.service import predict_and_publish

    with _friendly(), _stages() as progress:
        progress("forecasting with the champion")
        published = predict_and_publish(settings(), h=horizon)
    emit_rows(
        [
            {
                "model_version": published.version,
                "rows": published.rows,
                "first_day": published.start.date(),
                "last_day": published.end.date(),
                "reconciler": published.reconciler,
                "table": f"{published.path}:fct_forecast",
            }
        ],
        fmt,
        title="Published forecast",
    )


@forecast_app.command("promote")
def promote(
    version: str = typer.Argument(..., help="Registered version to make champion."),
) -> None:
    """Make VERSION the champion that predictions use (overrides the promotion rule)."""
    from shelfwise.forecast import registry

    with _friendly():
        change = registry.promote(settings(), version)
    console.print(f"champion is now version {change.current} (was {change.previous or 'none'})")


@forecast_app.command("rollback")
def rollback() -> None:
    """Give the champion alias back to the version that held it before the last change."""
    from shelfwise.forecast import registry

    with _friendly():
        change = registry.rollback(settings())
    console.print(f"champion rolled back from version {change.previous} to {change.current}")


@forecast_app.command("status")
def status(fmt: OutputFormat = FormatOption) -> None:
    """Champion, registered versions, the latest forecast, and whether accuracy has drifted."""
    from shelfwise.forecast.service import status as forecast_status

    with _friendly():
        info = forecast_status(settings())
    drift = info["drift"]
    rows = [
        {
            "version": v["version"],
            "champion": v["version"] == info["champion"],
            "created": v["created"],
            "wrmsse": v.get("score_wrmsse", ""),
            "cutoffs": v.get("cutoffs", ""),
            "promotion": v.get("promotion", ""),
        }
        for v in info["versions"]
    ]
    if fmt is OutputFormat.JSON:
        import json

        payload = {
            "champion": info["champion"],
            "versions": [
                {k: str(v) if k == "created" else v for k, v in row.items()} for row in rows
            ],
            "forecast_rows": info["forecast_rows"],
            "drift": {
                k: (None if isinstance(v, float) and v != v else v)
                for k, v in drift.__dict__.items()
            },
        }
        typer.echo(json.dumps(payload, indent=2))
    else:
        emit_rows(rows, fmt, title="Registered forecasters")
    if fmt is OutputFormat.TABLE:
        colour = {"ok": "green", "drift": "bold red", "no data": "yellow"}[drift.status]
        console.print(f"forecast rows published: {info['forecast_rows']:,}")
        console.print(f"accuracy: [{colour}]{drift.status}[/] - {drift.message}")
    if drift.status == "drift":
        raise typer.Exit(3)


@forecast_app.command("csv")
def csv_command(
    file: Path = typer.Argument(..., help="Long-format CSV: one row per series and date."),
    id_col: str = typer.Option(..., "--id", help="Column naming the series."),
    date_col: str = typer.Option(
        ..., "--date", help="Column with the dates (daily, weekly, monthly or quarterly)."
    ),
    value_col: str = typer.Option(..., "--value", help="Column with the values to forecast."),
    horizon: int = typer.Option(..., "--horizon", min=1, help="Periods to forecast."),
    holdout: int = typer.Option(
        0, "--holdout", min=0, help="Hold out this many last periods and score every model on them."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the forecasts here (default: standard output)."
    ),
    preset: str = typer.Option(
        "standard", "--preset", help="quick, standard or full (see `forecast train --help`)."
    ),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Forecast any history in a CSV file, with 80 % and 95 % intervals.

    The backtest picks a model per demand segment, as for the shop's own data. With --holdout
    the accuracy of every model on the held-out tail is printed (to standard error when the
    forecasts go to standard output).
    """
    from shelfwise.forecast.csv_forecast import forecast_history, read_history

    if preset not in ("quick", "standard", "full"):
        raise fail(f"unknown --preset {preset!r}: use quick, standard or full")
    with _friendly():
        history = read_history(file, id_col=id_col, date_col=date_col, value_col=value_col)
        with _stages() as progress:
            result = forecast_history(
                history,
                h=horizon,
                holdout=holdout,
                preset=preset,  # type: ignore[arg-type]
                progress=progress,
            )
    forecasts = result.forecasts.rename(columns={"unique_id": id_col, "ds": date_col})
    forecasts[date_col] = forecasts[date_col].dt.date
    if output is None:
        typer.echo(forecasts.to_csv(index=False, float_format="%.4f"), nl=False)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        forecasts.to_csv(output, index=False, float_format="%.4f")
    if result.accuracy is not None:
        shown = [
            "model",
            "mae",
            "rmse",
            "mape",
            "smape",
            "mase",
            "rmsse",
            "bias",
            "coverage_80",
            "coverage_95",
        ]
        accuracy = result.accuracy[[c for c in shown if c in result.accuracy.columns]].round(3)
        rows = [
            {k: ("" if v != v else v) for k, v in row.items()}
            for row in accuracy.to_dict("records")
        ]
        title = f"Accuracy on the last {holdout} {history.label} periods"
        if output is None:
            _emit_to_stderr(rows, title)
        else:
            emit_rows(rows, fmt, title=title)
    if output is not None:
        console.print(
            f"{len(forecasts):,} forecasts ({history.label}, {horizon} ahead) written to {output}"
        )


def _emit_to_stderr(rows: list[dict[str, Any]], title: str) -> None:
    from rich.table import Table

    table = Table(title=title)
    columns = list(rows[0].keys()) if rows else []
    for column in columns:
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in rows:
        table.add_row(*(str(row[c]) for c in columns))
    err_console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(forecast_app, name="forecast")
