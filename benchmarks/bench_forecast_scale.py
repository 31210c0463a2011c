"""Forecasting at M5 scale: 30,490 product-location daily series of two years, 28 days ahead.

Everything a training run does is timed per stage: building the gold panel, loading it,
classifying, the rolling-origin backtest of every candidate (4 windows), the per-segment
choice, conformal intervals, the reconciliation backtest, the final fit, and predicting with
intervals at every level. Memory: the forecasting process's peak resident set size, and the
peak proportional set size (PSS) of it and its worker processes together, sampled every second:
the workers are forked and share most of their pages with it, which PSS counts once. The
machine is shared: the load average before and after, and the CPU seconds used, are printed.

Reference in the same run: a seasonal-naive forecast of the same panel (statsforecast, one
call), the cheapest forecast there is; the ratio says how many times that the full run costs.

    python -m benchmarks.bench_forecast_scale [--products 3049] [--locations 10] [--days 730]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

from statsforecast.models import SeasonalNaive

from shelfwise.forecast.data import load_panel
from shelfwise.forecast.forecaster import DemandForecaster, ForecastConfig
from shelfwise.forecast.models import local_forecast
from shelfwise.forecast.synthetic_panel import PanelSpec, build_panel


def peak_memory_gb() -> float:
    """Peak resident memory of this process, in GB (statsforecast's worker processes are forked
    from it and share most of its pages, so they are not added)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


class TreeMemory:
    """Samples the PSS of this process and its descendants once a second; keeps the peak."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.peak_gb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_gb = max(
                self.peak_gb, sum(_pss_kib(pid) for pid in _tree(os.getpid())) / 1024**2
            )


def _tree(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def _pss_kib(pid: int) -> int:
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    for line in rollup.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def _log(stage: str) -> None:
    """Stages as they start, with memory so far, on stderr (the figures go to stdout)."""
    print(f"{time.strftime('%H:%M:%S')} {stage} (peak {peak_memory_gb():.2f} GB)", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=3049)
    parser.add_argument("--locations", type=int, default=10)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--horizon", type=int, default=28)
    parser.add_argument("--preset", default="scale")
    parser.add_argument("--jobs", type=int, default=2, help="statsforecast processes")
    parser.add_argument("--threads", type=int, default=1, help="LightGBM threads")
    args = parser.parse_args(argv if argv is not None else [])
    series = args.products * args.locations
    stages: dict[str, float] = {}
    load_before = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix="bench-forecast-scale-") as folder,
        TreeMemory() as tree,
    ):
        started = time.perf_counter()
        spec = PanelSpec(
            products=args.products,
            locations=args.locations,
            countries=3,
            days=args.days,
            slow_mover_share=0.6,
            seed=1,
        )
        # Built in a child process, so that its memory is not counted as forecasting's.
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            pool.apply(build_panel, (spec, Path(folder) / "warehouse.duckdb"))
        stages["build gold panel (not part of forecasting)"] = time.perf_counter() - started

        cpu_before = os.times()
        started = time.perf_counter()
        panel = load_panel(Path(folder) / "warehouse.duckdb")
        stages["load + stock-out imputation"] = time.perf_counter() - started
        _log("loaded")

        started = time.perf_counter()
        local_forecast(
            [SeasonalNaive(season_length=7)],
            panel.training_frame(),
            freq="D",
            h=args.horizon,
            n_jobs=args.jobs,
        )
        reference = time.perf_counter() - started
        _log("reference done")

        config = ForecastConfig(
            h=args.horizon,
            preset=args.preset,
            n_jobs=args.jobs,
            threads=args.threads,
            refit_global=False,
        )
        forecaster = DemandForecaster(config)
        started = time.perf_counter()
        forecaster.fit(panel, progress=_log)
        fit_seconds = time.perf_counter() - started
        assert forecaster.report_ is not None
        for stage, seconds in forecaster.report_.timings.items():
            stages[f"fit: {stage}"] = seconds

        started = time.perf_counter()
        output = forecaster.predict(panel)
        stages["predict with intervals, all levels"] = time.perf_counter() - started
        cpu_after = os.times()
    load_after = os.getloadavg()

    forecasting = (
        stages["load + stock-out imputation"]
        + fit_seconds
        + stages["predict with intervals, all levels"]
    )
    summary = forecaster.report_.summary.set_index("model")
    print(f"## Forecast scale: {series:,} series x {args.days} days, horizon {args.horizon}")
    print(
        "command: python -m benchmarks.bench_forecast_scale "
        f"--products {args.products} --locations {args.locations} --days {args.days} "
        f"--preset {args.preset} --jobs {args.jobs} --threads {args.threads}"
    )
    print(f"cpus: {os.cpu_count()}")
    print("| stage | seconds |")
    print("| --- | ---: |")
    for stage, seconds in stages.items():
        print(f"| {stage} | {seconds:,.1f} |")
    print(f"| **forecasting total (load, fit, predict)** | **{forecasting:,.1f}** |")
    print(f"| reference: seasonal naive forecast alone | {reference:,.1f} |")
    print(f"ratio total / reference: {forecasting / reference:,.0f}x")
    cpu_self = cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system
    cpu_workers = (
        cpu_after.children_user
        + cpu_after.children_system
        - cpu_before.children_user
        - cpu_before.children_system
    )
    print(
        f"cpu seconds (load to predict): {cpu_self:,.0f} forecasting process, "
        f"{cpu_workers:,.0f} workers"
    )
    print(
        f"peak memory: {peak_memory_gb():.2f} GB resident (forecasting process); "
        f"{tree.peak_gb:.2f} GB PSS with its workers"
    )
    print(
        "load average (1, 5, 15 min) before: "
        + ", ".join(f"{v:.2f}" for v in load_before)
        + "; after: "
        + ", ".join(f"{v:.2f}" for v in load_after)
    )
    print(
        f"rows forecast: {len(output.bottom):,} bottom + {len(output.levels):,} aggregate; "
        f"reconciler {output.reconciler}"
    )
    print(f"chosen per segment: {forecaster.recipe_.choice if forecaster.recipe_ else {}}")
    chosen, naive = summary.loc["Chosen"], summary.loc["SeasonalNaive"]
    print(
        f"backtest WRMSSE chosen {chosen['wrmsse']:.3f} vs seasonal naive {naive['wrmsse']:.3f}; "
        f"coverage 80 % {chosen['coverage_80']:.3f}, 95 % {chosen['coverage_95']:.3f}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
