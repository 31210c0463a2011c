"""`shelfwise init`: create or migrate the operational database."""

from __future__ import annotations

import typer

from shelfwise.commands.common import console, open_database, settings


def init(
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        help="SQLAlchemy URL; default SHELFWISE_DATABASE_URL or a SQLite file",
    ),
) -> None:
    """Create the operational database, or migrate it to the newest schema."""
    from shelfwise.store.schema import current_revision, upgrade

    settings().home.mkdir(parents=True, exist_ok=True)
    with open_database(database_url) as db:
        before = current_revision(db)
        upgrade(db)
        after = current_revision(db)
        where = db.engine.url.render_as_string(hide_password=True)
    if before == after:
        console.print(f"database {where} is up to date (schema {after})")
    else:
        console.print(f"database {where} migrated from {before or 'empty'} to {after}")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
