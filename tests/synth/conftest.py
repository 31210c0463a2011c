"""One small generated world shared by the read-only tests of this folder."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from shelfwise.store.db import Database
from shelfwise.store.schema import upgrade
from shelfwise.synth import GenerationReport, WorldSpec, generate

SMALL = WorldSpec(orders=2_000, seed=11, start=date(2024, 3, 1), days=90)


@dataclass
class Generated:
    db: Database
    spec: WorldSpec
    report: GenerationReport
    path: Path


def generate_into(path: Path, spec: WorldSpec) -> Generated:
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    return Generated(db=db, spec=spec, report=generate(db, spec), path=path)


@pytest.fixture(scope="package")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generated]:
    """2,000 orders over 90 days on SQLite, generated once for the read-only tests."""
    world = generate_into(tmp_path_factory.mktemp("synth") / "store.db", SMALL)
    yield world
    world.db.dispose()
