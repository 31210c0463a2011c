"""Forecast accuracy on generated data, against true demand and against observed sales.

One rolling-origin backtest (28-day horizon, 2 calibration + 2 evaluation windows) of every
candidate on a generated world, scored on the evaluation windows: per model RMSSE, WRMSSE,
MASE, bias and interval coverage, both against the sales on days not stocked out (what the
shop sees) and against the generator's true demand on every day (evaluation only). Then:

- stock-out masking: the chosen recipe rerun on raw sales (no imputation), against truth;
- the reference design's grain: our reconciled forecasts summed to sub-category x country for
  the last complete quarter, against the grid-searched linear regression, random forest and
  XGBoost (R^2 and MAE on the same quarter).

Reference in the same run: seasonal naive, which the chosen forecasts must beat by >= 15 %
WRMSSE; intervals should cover within 3 points of 80 % and 95 %.

    python -m benchmarks.bench_forecast_accuracy [--source panel|generator] [--products 60]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd

from shelfwise.config import Settings
from shelfwise.forecast.backtest import WINDOW
from shelfwise.forecast.data import DemandPanel, load_panel
from shelfwise.forecast.evaluation import (
    TRUE_DEMAND,
    load_true_demand_for_evaluation,
    score_against_truth,
)
from shelfwise.forecast.forecaster import DemandForecaster, ForecastConfig
from shelfwise.forecast.metrics import training_scales
from shelfwise.forecast.reference import (
    evaluate_reference,
    quarterly_cells,
    score_at_reference_grain,
)
from shelfwise.forecast.synthetic_panel import PanelSpec, build_panel

COLUMNS = ["model", "rmsse", "wrmsse", "mase", "bias", "coverage_80", "coverage_95"]


def generated_world(
    folder: Path, args: argparse.Namespace
) -> tuple[DemandPanel, pd.DataFrame, str]:
    """The panel from gold and the true demand, from the chosen source."""
    if args.source == "panel":
        spec = PanelSpec(
            products=args.products,
            locations=args.locations,
            countries=3,
            days=730,
            seed=args.seed,
            stockout_pressure=args.stockout_pressure,
        )
        synthetic = build_panel(spec, folder / "warehouse.duckdb")
        truth = synthetic.true_demand.rename(columns={"demand": TRUE_DEMAND})
        return load_panel(synthetic.warehouse_path), truth, f"synthetic panel {spec}"
    from shelfwise.pipeline import run_pipeline
    from shelfwise.store.db import Database
    from shelfwise.store.schema import upgrade
    from shelfwise.synth import WorldSpec, generate

    settings = Settings(home=folder / "home", database_url=f"sqlite:///{folder / 'store.db'}")
    db = Database(settings.resolved_database_url)
    upgrade(db)
    world = WorldSpec(orders=args.orders, seed=args.seed, start=date(2023, 1, 2), days=730)
    generate(db, world)
    db.dispose()
    run_pipeline(settings)
    truth = load_true_demand_for_evaluation(settings.resolved_database_url)
    return load_panel(settings.warehouse_path), truth, f"generator {world} through the pipeline"


def table(frame: pd.DataFrame, columns: list[str]) -> str:
    shown = frame[[c for c in columns if c in frame.columns]]
    lines = ["| " + " | ".join(shown.columns) + " |", "|" + " --- |" * len(shown.columns)]
    for row in shown.itertuples(index=False):
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def reference_grain(
    panel: DemandPanel, preset: str, jobs: int
) -> tuple[pd.DataFrame, dict[str, float], str]:
    """Reference models vs our reconciled forecasts on the last complete quarter."""
    cells = quarterly_cells(panel)
    reference = evaluate_reference(cells, test_quarters=1)
    quarter = cells["quarter"].max()
    start, end = quarter.start_time.normalize(), quarter.end_time.normalize()
    history = panel.until(start - pd.Timedelta(days=1))
    horizon = (end - start).days + 1
    config = ForecastConfig(
        h=horizon, preset=preset, n_calibration=2, n_evaluation=1, n_jobs=jobs, threads=1
    )
    ours = DemandForecaster(config).fit(history).predict(history)
    actual = cells[cells["quarter"] == quarter][["country", "sub_category", "units"]]
    return reference.scores, score_at_reference_grain(ours.levels, actual), str(quarter)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=["panel", "generator"], default="panel")
    parser.add_argument("--products", type=int, default=60)
    parser.add_argument("--locations", type=int, default=8)
    parser.add_argument("--orders", type=int, default=60_000, help="generator source only")
    parser.add_argument("--preset", default="standard")
    parser.add_argument("--reference-preset", default="scale")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--stockout-pressure", type=float, default=0.3, help="panel source only")
    args = parser.parse_args(argv if argv is not None else [])
    with tempfile.TemporaryDirectory(prefix="bench-forecast-accuracy-") as folder:
        started = time.perf_counter()
        panel, truth, source = generated_world(Path(folder), args)
        prepared = time.perf_counter() - started

        config = ForecastConfig(h=28, preset=args.preset, n_jobs=args.jobs, threads=1)
        started = time.perf_counter()
        forecaster = DemandForecaster(config).fit(panel)
        fitted = time.perf_counter() - started
        report = forecaster.report_
        assert report is not None and forecaster.recipe_ is not None
        models = list(report.summary["model"])
        train = panel.training_frame()
        scales = training_scales(train[train["ds"] <= min(report.cutoffs)], panel.season_length)
        weights = panel.revenue_weights(28)
        against_truth = score_against_truth(report.cv, truth, models, scales, weights)

        # Stock-out masking: the same recipe on raw sales, scored against truth.
        raw_panel = load_panel_raw(panel)
        raw_cv = forecaster.recipe_backtest(raw_panel)
        raw_cv = raw_cv[raw_cv[WINDOW] >= config.n_calibration]
        masked_cv = forecaster.recipe_backtest(panel)
        masked_cv = masked_cv[masked_cv[WINDOW] >= config.n_calibration]
        masking = pd.concat(
            [
                score_against_truth(masked_cv, truth, ["Chosen"], scales, weights).assign(
                    model="imputed (default)"
                ),
                score_against_truth(raw_cv, truth, ["Chosen"], scales, weights).assign(
                    model="raw sales"
                ),
            ]
        )
        started = time.perf_counter()
        reference_scores, ours, quarter = reference_grain(panel, args.reference_preset, args.jobs)
        reference_seconds = time.perf_counter() - started

    observed = report.summary.set_index("model")
    true = against_truth.set_index("model")
    gain_observed = 1 - observed.at["Chosen", "wrmsse"] / observed.at["SeasonalNaive", "wrmsse"]
    gain_truth = 1 - true.at["Chosen", "wrmsse"] / true.at["SeasonalNaive", "wrmsse"]
    print(f"## Forecast accuracy ({panel.n_series:,} series, {source})")
    print(
        "command: python -m benchmarks.bench_forecast_accuracy "
        f"--source {args.source} --products {args.products} --locations {args.locations} "
        f"--preset {args.preset} --stockout-pressure {args.stockout_pressure}"
    )
    print(
        f"data {prepared:.0f} s, backtest + choice + final fit {fitted:.0f} s, "
        f"reference grain {reference_seconds:.0f} s"
    )
    print(
        f"cutoffs {', '.join(str(c.date()) for c in report.cutoffs)}; "
        f"chosen {forecaster.recipe_.choice}; reconciler {forecaster.recipe_.reconciler}"
    )
    print("\nAgainst observed sales (days not stocked out), evaluation windows:\n")
    print(table(report.summary.sort_values("wrmsse"), COLUMNS))
    print("\nAgainst true demand (every day), same forecasts:\n")
    print(table(against_truth.sort_values("wrmsse"), COLUMNS))
    print(
        f"\nChosen vs seasonal naive WRMSSE: {gain_observed:+.1%} better on sales, "
        f"{gain_truth:+.1%} on true demand (target >= 15 %)"
    )
    print(
        f"Chosen coverage (sales): 80 % -> {observed.at['Chosen', 'coverage_80']:.3f}, "
        f"95 % -> {observed.at['Chosen', 'coverage_95']:.3f}"
    )
    share = panel.frame["stocked_out"].mean()
    print(f"\nStock-out masking ({share:.1%} of days stocked out; same recipe, against truth):\n")
    print(table(masking, ["model", "wrmsse", "mae", "bias"]))
    if len(report.levels):
        print("\nReconciliation by level (evaluation windows):\n")
        print(
            table(
                report.levels,
                ["level", "method", "rmsse", "mase", "coverage_80", "coverage_95", "chosen"],
            )
        )
    print(f"\nReference grain (sub-category x country, quarter {quarter}, units sold):\n")
    rows = reference_scores[["model", "r2", "mae"]].copy()
    rows.loc[len(rows)] = {
        "model": f"ours: reconciled daily forecasts ({args.reference_preset})",
        **ours,
    }
    print(table(rows, ["model", "r2", "mae"]))


def load_panel_raw(panel: DemandPanel) -> DemandPanel:
    """The same panel with stock-out days left as sold (no imputation)."""
    frame = panel.frame.copy()
    frame["y"] = frame["y_observed"]
    frame["imputed"] = False
    return replace(panel, frame=frame)


if __name__ == "__main__":
    main(sys.argv[1:])
