"""The migrations build exactly the schema the models declare, on every database."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from shelfwise.store.db import Database
from shelfwise.store.models import Base
from shelfwise.store.schema import alembic_config, upgrade


def _differences(db: Database) -> list[object]:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": False, "compare_server_default": False}
        )
        return list(compare_metadata(context, Base.metadata))


def _indexes(db: Database, table: str) -> set[str]:
    return {str(index["name"]) for index in inspect(db.engine).get_indexes(table)}


def test_migrated_schema_is_the_models_schema(any_db: Database) -> None:
    assert _differences(any_db) == []
    # The plain indexes the unique constraints lead are gone (migration 0003).
    assert "ix_orders_customer_id" not in _indexes(any_db, "orders")
    assert "ix_order_lines_order_id" not in _indexes(any_db, "order_lines")


def test_migration_0003_downgrades_and_upgrades(any_db: Database) -> None:
    with any_db.engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
    assert "ix_orders_customer_id" in _indexes(any_db, "orders")
    assert "ix_order_lines_order_id" in _indexes(any_db, "order_lines")
    upgrade(any_db)
    assert _differences(any_db) == []
