"""`shelfwise serve`: the storefront and the JSON API in one uvicorn process."""

from __future__ import annotations

import typer

from shelfwise.commands.common import console, fail, open_database, settings
from shelfwise.config import Settings


def check_schema(url: str) -> None:
    """Refuse to serve a database that `shelfwise init` has not brought up to date."""
    from shelfwise.store.schema import current_revision, head_revision

    with open_database(url) as db:
        current = current_revision(db)
        where = db.engine.url.render_as_string(hide_password=True)
    head = head_revision()
    if current != head:
        raise fail(
            f"the database {where} is at schema {current or 'empty'} but this version needs "
            f"{head}; run `shelfwise init` first"
        )


def serve_app(config: Settings, *, host: str, port: int, demo: bool = False) -> None:
    """Build the website and serve it until Ctrl+C (the demo calls this with demo=True)."""
    from shelfwise.web.app import ConfigurationError, create_app, run_server

    check_schema(config.resolved_database_url)
    try:
        app = create_app(config, demo=demo)
    except ConfigurationError as exc:
        raise fail(str(exc)) from exc
    console.print(
        f"Shelfwise is serving on [bold]http://{host}:{port}/[/] "
        f"(API reference at /api/v1/docs); press Ctrl+C to stop"
    )
    run_server(app, host=host, port=port, log_level="info", proxy_headers=True)


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on"),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port to listen on"),
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        help="SQLAlchemy URL; default SHELFWISE_DATABASE_URL or a SQLite file",
    ),
) -> None:
    """Serve the storefront and the JSON API (/api/v1). Needs SHELFWISE_SECRET_KEY."""
    config = settings()
    if database_url:
        config = config.model_copy(update={"database_url": database_url})
    serve_app(config, host=host, port=port)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
