"""What a run checks before it creates or reads anything: a setting that cannot work (a home
that is a file, a URL that is not one, a SQLite store that does not exist) is one message
naming the setting, not a failed run halfway through, and a mistyped home is not created."""

from __future__ import annotations

import os
from pathlib import Path

from shelfwise.config import Settings
from shelfwise.pipeline.duckdb_support import sqlite_store, url_backend
from shelfwise.pipeline.redaction import redact

STORE_BACKENDS = ("sqlite", "postgresql", "mysql", "mariadb")


class PipelineSetupError(ValueError):
    """A setting keeps the pipeline from running at all; nothing was run or written."""


def check_setup(settings: Settings) -> None:
    """Raise `PipelineSetupError` for a home, store or warehouse setting that cannot work."""
    check_home(settings.home)
    _check_store(settings.resolved_database_url)
    if settings.warehouse_url:
        _check_warehouse(settings.warehouse_url)


def check_home(home: Path, *, writing: bool = True) -> None:
    """A home that is a file (or under one) cannot hold a lake or a run log; with `writing`,
    one that cannot be written is refused too. (`pipeline status` only reads.)"""
    existing = next((p for p in (home, *home.parents) if p.exists()), None)
    if existing is None:
        return
    if not existing.is_dir():
        raise PipelineSetupError(
            f"SHELFWISE_HOME={str(home)!r}: {str(existing)!r} is a file, not a folder"
        )
    if writing and not os.access(existing, os.W_OK | os.X_OK):
        raise PipelineSetupError(
            f"SHELFWISE_HOME={str(home)!r}: cannot write to {str(existing)!r} "
            "(the lake, the warehouse and the run log go there)"
        )


def _check_store(url: str) -> None:
    shown = redact(url, [url])
    backend = url_backend(url)
    if backend not in STORE_BACKENDS:
        raise PipelineSetupError(
            f"SHELFWISE_DATABASE_URL={shown!r} is not a URL of a store the pipeline reads: "
            "use sqlite:///path, postgresql://user:password@host/db or mysql://…"
        )
    if backend == "sqlite":
        try:
            sqlite_store(url)
        except FileNotFoundError as exc:
            raise PipelineSetupError(str(exc)) from exc
        return
    _parse(url, "SHELFWISE_DATABASE_URL")


def _check_warehouse(url: str) -> None:
    backend = _parse(url, "SHELFWISE_WAREHOUSE_URL")
    if backend != "postgresql":
        raise PipelineSetupError(
            f"SHELFWISE_WAREHOUSE_URL={redact(url, [url])!r}: gold is pushed to PostgreSQL "
            "only (postgresql://user:password@host/db)"
        )


def _parse(url: str, variable: str) -> str:
    """The backend of SQLAlchemy URL `url` (set in `variable`)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from shelfwise.store.db import normalize_url

    try:
        return make_url(normalize_url(url)).get_backend_name()
    except (ArgumentError, ValueError) as exc:
        raise PipelineSetupError(
            f"{variable}={redact(url, [url])!r} is not a database URL ({exc})"
        ) from exc
