"""Every MLflow call of the forecasting package: runs, metrics, artifacts, the logged model.

The tracking store is SQLite (`settings.resolved_mlflow_uri`), artifacts live under
`<home>/mlartifacts`, and nothing reaches the network: the logged model lists its requirements
explicitly instead of letting MLflow infer them. Models never log anything themselves; the
training service hands finished objects to the functions here.
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import pandas as pd
from mlflow.exceptions import MlflowException

from shelfwise.config import Settings
from shelfwise.forecast.data import DS, ID, prepare_panel
from shelfwise.forecast.forecaster import DemandForecaster
from shelfwise.forecast.selection import CHOSEN

EXPERIMENT = "shelfwise-demand-forecasting"
REGISTERED_MODEL = "shelfwise-demand"
MODEL_NAME = "forecaster"
REQUIREMENTS = (
    "statsforecast",
    "mlforecast",
    "lightgbm",
    "utilsforecast",
    "hierarchicalforecast",
    "pandas",
    "numpy",
    "scikit-learn",
)


def artifact_root(settings: Settings) -> Path:
    return (settings.home / "mlartifacts").resolve()


def _quiet_logs() -> None:
    """MLflow narrates migrations, pickling advice and download bars; commands show their own."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def configure(settings: Settings) -> Any:
    """Point MLflow at our store, make sure the experiment exists, return a client."""
    _quiet_logs()
    settings.home.mkdir(parents=True, exist_ok=True)
    uri = settings.resolved_mlflow_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    if client.get_experiment_by_name(EXPERIMENT) is None:
        root = artifact_root(settings)
        root.mkdir(parents=True, exist_ok=True)
        client.create_experiment(EXPERIMENT, artifact_location=root.as_uri())
    mlflow.set_experiment(EXPERIMENT)
    return client


class ForecasterModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    """The registered model: a fitted `DemandForecaster` behind MLflow's pyfunc interface.

    `predict` takes a daily history (`unique_id, ds, y_observed, stocked_out, unit_price,
    promo_discount`, and the hierarchy columns `product_id, location_id, country, category,
    sub_category`) and returns the bottom-level forecasts with intervals.
    """

    def load_context(self, context: Any) -> None:
        with Path(context.artifacts["forecaster"]).open("rb") as handle:
            self.forecaster: DemandForecaster = pickle.load(handle)

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        attributes = model_input[
            [ID, "product_id", "location_id", "country", "category", "sub_category"]
        ]
        panel = prepare_panel(model_input, attributes.drop_duplicates(ID))
        horizon = int((params or {}).get("h", self.forecaster.config.h))
        return self.forecaster.predict(panel, h=horizon).bottom


@dataclass(frozen=True)
class TrackedRun:
    run_id: str
    version: str | None


def _requirements() -> list[str]:
    pinned = []
    for name in REQUIREMENTS:
        try:
            pinned.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            pinned.append(name)
    return pinned


@contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _metric_name(*parts: str) -> str:
    """MLflow metric names allow alphanumerics, _ - . / and spaces."""
    return ".".join(p.replace("(", "_").replace(")", "").replace("=", "_") for p in parts)


def log_run(
    settings: Settings,
    forecaster: DemandForecaster,
    *,
    kind: str,
    register: bool,
    extra_params: dict[str, Any] | None = None,
    extra_metrics: dict[str, float] | None = None,
) -> TrackedRun:
    """One MLflow run for a training or backtest: parameters, metrics, tables, plots, model."""
    configure(settings)
    report = forecaster.report_
    recipe = forecaster.recipe_
    if report is None or recipe is None:
        raise RuntimeError("log_run needs a fitted forecaster")
    with (
        _quiet(),
        mlflow.start_run(run_name=f"{kind}-{pd.Timestamp.now(tz='UTC'):%Y%m%dT%H%M%S}") as run,
    ):
        mlflow.set_tag("kind", kind)
        params = {f"config.{k}": v for k, v in asdict(forecaster.config).items()}
        params.update({f"choice.{segment}": model for segment, model in recipe.choice.items()})
        params.update(
            {
                "reconciler": recipe.reconciler,
                "cutoffs": ",".join(c.date().isoformat() for c in report.cutoffs),
                "trained_until": str(forecaster.trained_until_.date())
                if forecaster.trained_until_ is not None
                else "",
                "series": len(report.segments),
            }
        )
        params.update(extra_params or {})
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        metrics: dict[str, float] = {"score_wrmsse": report.score}
        for row in report.summary.to_dict("records"):
            for name, value in row.items():
                if name not in ("model", "series") and pd.notna(value):
                    metrics[_metric_name("bottom", str(row["model"]), name)] = float(value)
        for row in report.levels.to_dict("records"):
            for name in ("mae", "rmse", "rmsse", "mase", "coverage_80", "coverage_95", "bias"):
                if name in row and pd.notna(row[name]):
                    metrics[_metric_name("level", str(row["level"]), str(row["method"]), name)] = (
                        float(row[name])
                    )
        for stage, seconds in report.timings.items():
            metrics[_metric_name("seconds", stage)] = float(seconds)
        metrics.update(extra_metrics or {})
        mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder)
            _write_tables(forecaster, out)
            _write_plots(forecaster, out)
            mlflow.log_artifacts(str(out), artifact_path="backtest")
        version = _log_model(forecaster, run.info.run_id) if register else None
    return TrackedRun(run_id=run.info.run_id, version=version)


def _write_tables(forecaster: DemandForecaster, folder: Path) -> None:
    report = forecaster.report_
    assert report is not None
    report.summary.to_csv(folder / "summary_by_model.csv", index=False)
    report.by_segment.to_csv(folder / "score_by_segment_and_model.csv", index=False)
    report.segments.to_csv(folder / "segments.csv", index=False)
    if len(report.levels):
        report.levels.to_csv(folder / "accuracy_by_level.csv", index=False)
    report.cv.to_csv(folder / "backtest_forecasts.csv.gz", index=False, compression="gzip")


def _write_plots(forecaster: DemandForecaster, folder: Path, series: int = 6) -> None:
    """A bar chart of WRMSSE per model, and the chosen forecasts of the top series."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report = forecaster.report_
    assert report is not None
    summary = report.summary.sort_values("wrmsse")
    figure, axis = plt.subplots(figsize=(8, 4))
    axis.barh(
        summary["model"],
        summary["wrmsse"],
        color=["#d62728" if m == CHOSEN else "#1f77b4" for m in summary["model"]],
    )
    axis.set_xlabel("WRMSSE on the evaluation windows (lower is better)")
    axis.invert_yaxis()
    figure.tight_layout()
    figure.savefig(folder / "wrmsse_by_model.png", dpi=110)
    plt.close(figure)

    cv = report.cv
    top = cv.groupby(ID)["y"].sum().sort_values(ascending=False).head(series).index
    figure, axes = plt.subplots(len(top), 1, figsize=(9, 2.2 * max(1, len(top))), squeeze=False)
    for axis, uid in zip(axes[:, 0], top, strict=False):
        rows = cv[cv[ID] == uid].sort_values(DS)
        axis.plot(rows[DS], rows["y"], color="black", linewidth=1, label="demand")
        axis.plot(rows[DS], rows[CHOSEN], color="#d62728", linewidth=1, label="forecast")
        if f"{CHOSEN}-lo-95" in rows:
            axis.fill_between(
                rows[DS],
                rows[f"{CHOSEN}-lo-95"],
                rows[f"{CHOSEN}-hi-95"],
                alpha=0.15,
                color="#d62728",
            )
            axis.fill_between(
                rows[DS],
                rows[f"{CHOSEN}-lo-80"],
                rows[f"{CHOSEN}-hi-80"],
                alpha=0.25,
                color="#d62728",
            )
        axis.set_title(
            f"{uid} ({rows['model_of'].iloc[0] if 'model_of' in rows else ''})", fontsize=9
        )
    axes[0, 0].legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(folder / "backtest_top_series.png", dpi=110)
    plt.close(figure)


def _log_model(forecaster: DemandForecaster, run_id: str) -> str:
    serving = forecaster.for_serving()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "forecaster.pkl"
        with path.open("wb") as handle:
            pickle.dump(serving, handle, protocol=pickle.HIGHEST_PROTOCOL)
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            python_model=ForecasterModel(),
            artifacts={"forecaster": str(path)},
            pip_requirements=_requirements(),
        )
    registered = mlflow.register_model(info.model_uri, REGISTERED_MODEL)
    client = mlflow.MlflowClient()
    report = forecaster.report_
    assert report is not None
    tags = {
        "score_wrmsse": f"{report.score:.6f}",
        "cutoffs": ",".join(c.date().isoformat() for c in report.cutoffs),
        "run_id": run_id,
        "horizon": str(forecaster.config.h),
    }
    chosen = report.summary[report.summary["model"] == CHOSEN]
    if len(chosen):
        tags["backtest_mae"] = f"{float(chosen['mae'].iloc[0]):.6f}"
    for key, value in tags.items():
        client.set_model_version_tag(REGISTERED_MODEL, registered.version, key, value)
    return str(registered.version)


def tag_version(settings: Settings, version: str, tags: dict[str, str]) -> None:
    client = configure(settings)
    for key, value in tags.items():
        client.set_model_version_tag(REGISTERED_MODEL, version, key, value)


def load_version(settings: Settings, version: str) -> DemandForecaster:
    """The fitted forecaster of a registered version."""
    configure(settings)
    with _quiet():
        model = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}/{version}")
    python_model = model.unwrap_python_model()
    forecaster: DemandForecaster = python_model.forecaster
    return forecaster


# ------------------------------------------------------------------ registry primitives


def alias_version(settings: Settings, alias: str) -> str | None:
    """The version an alias points to, or None when the alias (or the model) does not exist."""
    client = configure(settings)
    try:
        return str(client.get_model_version_by_alias(REGISTERED_MODEL, alias).version)
    except MlflowException:
        return None


def set_alias(settings: Settings, alias: str, version: str) -> None:
    configure(settings).set_registered_model_alias(REGISTERED_MODEL, alias, version)


def model_tag(settings: Settings, key: str) -> str | None:
    client = configure(settings)
    try:
        return client.get_registered_model(REGISTERED_MODEL).tags.get(key)  # type: ignore[no-any-return]
    except MlflowException:
        return None


def set_model_tag(settings: Settings, key: str, value: str) -> None:
    configure(settings).set_registered_model_tag(REGISTERED_MODEL, key, value)


def list_versions(settings: Settings) -> list[dict[str, Any]]:
    """Every registered version, newest first, with its tags."""
    client = configure(settings)
    try:
        found = client.search_model_versions(f"name = '{REGISTERED_MODEL}'")
    except MlflowException:
        return []
    rows = [
        {
            "version": str(v.version),
            "created": pd.Timestamp(v.creation_timestamp, unit="ms", tz="UTC"),
            "run_id": v.run_id,
            **dict(v.tags),
        }
        for v in found
    ]
    return sorted(rows, key=lambda r: int(r["version"]), reverse=True)


def version_exists(settings: Settings, version: str) -> bool:
    client = configure(settings)
    try:
        client.get_model_version(REGISTERED_MODEL, version)
    except MlflowException:
        return False
    return True
