"""`shelfwise users`: website accounts and API tokens from the command line."""

from __future__ import annotations

import sys

import typer

from shelfwise.commands.common import (
    FormatOption,
    OutputFormat,
    console,
    emit_rows,
    fail,
    friendly_errors,
    open_database,
)
from shelfwise.store.kinds import Role, TokenScope

users_app = typer.Typer(
    name="users",
    help="Website accounts: create users, list them, issue and revoke API tokens.",
    no_args_is_help=True,
)

DatabaseUrlOption = typer.Option(
    None, "--database-url", help="SQLAlchemy URL; default SHELFWISE_DATABASE_URL or a SQLite file"
)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise fail("--password-stdin: standard input gave an empty line; pipe the password in")
        return line
    typed: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return typed


@users_app.command("create")
def create(
    email: str = typer.Argument(..., help="the email address the user signs in with"),
    role: Role = typer.Option(Role.CUSTOMER, "--role", help="admin, staff or customer"),
    name: str | None = typer.Option(
        None, "--name", help="the customer's name (customers only; default: the email's name)"
    ),
    country: str | None = typer.Option(None, "--country", help="two-letter country (customers)"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="read the password from standard input, not a prompt"
    ),
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Create a user (prompts for the password).

    A customer also gets a customer profile, or is linked to the one with the same email.
    Passwords need 10+ characters of two kinds and must not contain the email.
    """
    from shelfwise.store.accounts import create_user

    password = _read_password(password_stdin)
    if role is Role.CUSTOMER and not name:
        name = email.split("@", 1)[0]
    with friendly_errors(), open_database(database_url) as db, db.session() as session:
        user = create_user(
            session=session,
            email=email,
            password=password,
            role=role,
            name=name,
            country=country,
        )
        user_id, customer_id = user.id, user.customer_id
    extra = f", customer {customer_id}" if customer_id else ""
    console.print(f"created {role.value} {email.strip().lower()} (user {user_id}{extra})")


@users_app.command("list")
def list_(fmt: OutputFormat = FormatOption, database_url: str | None = DatabaseUrlOption) -> None:
    """Every user with role and linked customer."""
    from shelfwise.store.accounts import list_users

    with open_database(database_url) as db, db.read_session() as session:
        rows = [
            {
                "id": u.id,
                "email": u.email,
                "role": u.role,
                "customer_id": u.customer_id,
                "active": u.is_active,
                "created_at": u.created_at,
            }
            for u in list_users(session=session)
        ]
    emit_rows(rows, fmt, title="Users")


@users_app.command("token")
def token(
    email: str = typer.Argument(..., help="the user the token acts as"),
    name: str = typer.Option("cli", "--name", help="what the token is for (shown in listings)"),
    pos: bool = typer.Option(
        False, "--pos", help="a point-of-sale token: may only post sales for --location"
    ),
    location: str | None = typer.Option(
        None, "--location", help="code of the store a --pos token sells from"
    ),
    days: int = typer.Option(30, "--days", min=1, max=3650, help="lifetime of an API token"),
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Issue an API token and print it once (only its hash is stored)."""
    from datetime import timedelta

    from shelfwise.store.accounts import create_api_token, get_user_by_email
    from shelfwise.store.catalog import location_id_by_code

    if location and not pos:
        raise fail("--location only applies to --pos tokens")
    with friendly_errors(), open_database(database_url) as db, db.session() as session:
        user = get_user_by_email(session=session, email=email)
        if user is None:
            raise fail(f"there is no user {email!r}; create one with `shelfwise users create`")
        location_id = location_id_by_code(session=session, code=location) if location else None
        issued = create_api_token(
            session=session,
            user_id=user.id,
            name=name,
            scope=TokenScope.POS if pos else TokenScope.API,
            location_id=location_id,
            lifetime=timedelta(days=days),
        )
    expiry = issued.expires_at.isoformat() if issued.expires_at else "never (revoke to end it)"
    console.print(f"token {issued.id} ({issued.scope.value}) for {email}, expires {expiry}")
    console.print("store it now, it is not shown again:")
    typer.echo(issued.token)


@users_app.command("tokens")
def tokens(
    email: str | None = typer.Option(None, "--email", help="only this user's tokens"),
    fmt: OutputFormat = FormatOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """API tokens (never their secret): id, owner, scope, location, expiry, revocation."""
    from shelfwise.store.accounts import get_user_by_email, list_api_tokens

    with friendly_errors(), open_database(database_url) as db, db.read_session() as session:
        user_id = None
        if email:
            user = get_user_by_email(session=session, email=email)
            if user is None:
                raise fail(f"there is no user {email!r}")
            user_id = user.id
        rows = [
            {
                "id": t.id,
                "user": t.user.email,
                "name": t.name,
                "scope": t.scope,
                "prefix": t.prefix,
                "location_id": t.location_id,
                "expires_at": t.expires_at,
                "revoked_at": t.revoked_at,
            }
            for t in list_api_tokens(session=session, user_id=user_id)
        ]
    emit_rows(rows, fmt, title="API tokens")


@users_app.command("revoke-token")
def revoke_token(
    token_id: int = typer.Argument(..., help="the token's id (see `shelfwise users tokens`)"),
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Revoke an API token at once."""
    from shelfwise.store.accounts import revoke_api_token

    with friendly_errors(), open_database(database_url) as db, db.session() as session:
        revoke_api_token(session=session, token_id=token_id)
    console.print(f"token {token_id} is revoked")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
