"""Demand forecasting: series from gold, backtested model choice, intervals, reconciliation,
MLflow tracking and the champion model. See docs/forecasting.md.

The entry points (`train_and_register`, `predict_and_publish`) are imported lazily, so that
`import shelfwise.forecast.metrics` does not pull in MLflow.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "backtest_and_log",
    "predict_and_publish",
    "score_and_publish",
    "status",
    "train_and_register",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from shelfwise.forecast import service

        return getattr(service, name)
    raise AttributeError(f"module 'shelfwise.forecast' has no attribute {name!r}")
