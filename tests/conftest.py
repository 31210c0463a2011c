"""Shared fixtures: a migrated store on SQLite, PostgreSQL and MariaDB, and a small world."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shelfwise.store.db import Database
from shelfwise.store.schema import upgrade


def migrated_database(url: str) -> Database:
    db = Database(url)
    upgrade(db)
    return db


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    db = migrated_database(f"sqlite:///{tmp_path / 'store.db'}")
    yield db
    db.dispose()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mysql),
    ]
)
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The same test on all three databases, each a fresh migrated store."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue(f"{request.param}_url")
    db = migrated_database(url)
    yield db
    db.dispose()


# ======================================================================================
# Real database servers: one throwaway PostgreSQL and one MariaDB per test session,
# started on demand (see tests/dbservers.py). `postgres_url` / `mariadb_url` give each
# test a fresh, empty database on them. When the server software is missing the tests
# are skipped, or fail when CI=true or SHELFWISE_REQUIRE_SERVERS=1.
# ======================================================================================

import itertools  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402

from tests.dbservers import (  # noqa: E402
    RunningServer,
    ServerUnavailable,
    start_mariadb,
    start_postgres,
)

_database_numbers = itertools.count(1)


def _servers_required() -> bool:
    ci = os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}
    return ci or os.environ.get("SHELFWISE_REQUIRE_SERVERS", "").strip() == "1"


def _session_server(
    start: Callable[[Path], RunningServer], tmp_path_factory: pytest.TempPathFactory, label: str
) -> Iterator[RunningServer]:
    try:
        server = start(tmp_path_factory.mktemp(label))
    except ServerUnavailable as exc:
        missing = str(exc)
    else:
        missing = ""
    if missing and _servers_required():
        pytest.fail(
            f"{missing}\n(real servers are required because CI=true or "
            "SHELFWISE_REQUIRE_SERVERS=1)",
            pytrace=False,
        )
    if missing:
        pytest.skip(missing)
    try:
        yield server
    finally:
        server.stop()


def _fresh_database(server: RunningServer, request: pytest.FixtureRequest) -> Iterator[str]:
    slug = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")
    name = f"shelfwise_t{next(_database_numbers)}_{slug}"[:63].rstrip("_")
    url = server.create_database(name)
    yield url
    try:
        server.drop_database(name)
    except Exception as exc:  # a leftover database on a throwaway server is harmless
        warnings.warn(f"could not drop test database {name}: {exc}", stacklevel=1)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A PostgreSQL server for the whole session (127.0.0.1, free port, trust auth)."""
    yield from _session_server(start_postgres, tmp_path_factory, "postgres")


@pytest.fixture(scope="session")
def mariadb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A MariaDB server for the whole session (127.0.0.1, free port, user shelfwise)."""
    yield from _session_server(start_mariadb, tmp_path_factory, "mariadb")


@pytest.fixture
def postgres_url(postgres_server: RunningServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty PostgreSQL database for this test (dropped after)."""
    yield from _fresh_database(postgres_server, request)


@pytest.fixture
def mariadb_url(mariadb_server: RunningServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty MariaDB database for this test (dropped after)."""
    yield from _fresh_database(mariadb_server, request)
