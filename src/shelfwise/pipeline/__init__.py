"""The lakehouse pipeline: operational store → bronze → silver → gold → warehouse.

from shelfwise.pipeline import run_pipeline, recent_runs
summary = run_pipeline(settings, full=False, engine="duckdb")
"""

from __future__ import annotations

from shelfwise.pipeline.preflight import PipelineSetupError
from shelfwise.pipeline.runlog import RunSummary, StepSummary, recent_runs
from shelfwise.pipeline.runner import (
    PipelineBusy,
    PipelineFailed,
    maintain_pipeline_lake,
    run_pipeline,
)

__all__ = [
    "PipelineBusy",
    "PipelineFailed",
    "PipelineSetupError",
    "RunSummary",
    "StepSummary",
    "maintain_pipeline_lake",
    "recent_runs",
    "run_pipeline",
]
