"""Engines run the same SQL (silver, gold, checks) and keep their lake in their own format."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shelfwise.pipeline.engines.base import Engine
    from shelfwise.pipeline.settings import PipelineSettings

ENGINES = ("duckdb", "spark")


def open_engine(name: str, lake_uri: str, options: PipelineSettings) -> Engine:
    """The engine called `name` over the lake at `lake_uri`."""
    from shelfwise.pipeline.lake import lake_root

    root = lake_root(lake_uri)
    if name == "duckdb":
        from shelfwise.pipeline.engines.duckdb import DuckDBEngine

        return DuckDBEngine(root, options)
    if name == "spark":
        from shelfwise.pipeline.engines.spark import SparkEngine

        return SparkEngine(root, options)
    raise ValueError(f"unknown engine {name!r}: use one of {', '.join(ENGINES)}")
