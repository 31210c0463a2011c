"""`shelfwise users ...` and `shelfwise serve` as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from shelfwise.cli import app
from shelfwise.config import get_settings
from shelfwise.store.accounts import authenticate
from shelfwise.store.db import Database
from tests.dbservers import find_free_port
from tests.web.shop import ShopIds, copy_store

runner = CliRunner()


@pytest.fixture
def store_url(shop_template: tuple[Path, ShopIds], tmp_path: Path) -> Iterator[str]:
    db = copy_store(shop_template[0], tmp_path / "cli.db")
    db.dispose()
    yield f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def clean_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("SHELFWISE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SHELFWISE_SECRET_KEY", raising=False)
    monkeypatch.delenv("SHELFWISE_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_users_create_with_password_on_stdin(store_url: str) -> None:
    result = runner.invoke(
        app,
        [
            "users",
            "create",
            "Cli@Example.com",
            "--role",
            "staff",
            "--password-stdin",
            "--database-url",
            store_url,
        ],
        input="Quiet-river-88\n",
    )
    assert result.exit_code == 0, result.output
    assert "created staff cli@example.com" in result.output
    db = Database(store_url)
    with db.session() as session:
        outcome = authenticate(
            session=session, email="cli@example.com", password="Quiet-river-88", address="cli"
        )
    db.dispose()
    assert outcome.principal is not None and outcome.principal.customer_id is None


def test_users_create_prompts_and_explains_weak_passwords(store_url: str) -> None:
    weak = runner.invoke(
        app,
        ["users", "create", "p@example.com", "--database-url", store_url],
        input="short\nshort\n",
    )
    assert weak.exit_code == 1
    assert "password: use at least 10 characters" in " ".join(weak.output.split())
    ok = runner.invoke(
        app,
        [
            "users",
            "create",
            "p@example.com",
            "--name",
            "Pat",
            "--country",
            "US",
            "--database-url",
            store_url,
        ],
        input="Good-password-1\nGood-password-1\n",
    )
    assert ok.exit_code == 0, ok.output
    assert "created customer p@example.com" in ok.output and "customer" in ok.output


def test_users_list_as_json(store_url: str) -> None:
    result = runner.invoke(app, ["users", "list", "--format", "json", "--database-url", store_url])
    assert result.exit_code == 0, result.output
    users = json.loads(result.output)
    assert {u["email"]: u["role"] for u in users}["admin@example.com"] == "admin"


def test_pos_token_issue_list_and_revoke(store_url: str) -> None:
    issued = runner.invoke(
        app,
        [
            "users",
            "token",
            "staff@example.com",
            "--pos",
            "--location",
            "loc1",
            "--name",
            "till 9",
            "--database-url",
            store_url,
        ],
    )
    assert issued.exit_code == 0, issued.output
    token = issued.output.strip().splitlines()[-1]
    assert token.startswith("sw_")
    listed = json.loads(
        runner.invoke(
            app,
            [
                "users",
                "tokens",
                "--email",
                "staff@example.com",
                "--format",
                "json",
                "--database-url",
                store_url,
            ],
        ).output
    )
    till = next(t for t in listed if t["name"] == "till 9")
    assert till["scope"] == "pos" and till["revoked_at"] is None and token not in json.dumps(listed)
    revoked = runner.invoke(
        app, ["users", "revoke-token", str(till["id"]), "--database-url", store_url]
    )
    assert revoked.exit_code == 0 and "is revoked" in revoked.output


def test_token_errors_are_one_clear_line(store_url: str) -> None:
    unknown_user = runner.invoke(
        app, ["users", "token", "nobody@example.com", "--database-url", store_url]
    )
    assert unknown_user.exit_code == 1 and "there is no user" in unknown_user.output
    bad_location = runner.invoke(
        app,
        [
            "users",
            "token",
            "staff@example.com",
            "--pos",
            "--location",
            "XX9",
            "--database-url",
            store_url,
        ],
    )
    assert bad_location.exit_code == 1 and "no location with code 'XX9'" in bad_location.output
    customer_pos = runner.invoke(
        app,
        [
            "users",
            "token",
            "c0@example.com",
            "--pos",
            "--location",
            "LOC0",
            "--database-url",
            store_url,
        ],
    )
    assert customer_pos.exit_code == 1 and "staff or admin" in customer_pos.output


def test_serve_refuses_without_a_secret_key(store_url: str, clean_settings: None) -> None:
    result = runner.invoke(app, ["serve", "--database-url", store_url])
    assert result.exit_code == 1
    assert "SHELFWISE_SECRET_KEY is not set" in result.output


def test_serve_refuses_an_unmigrated_database(tmp_path: Path, clean_settings: None) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = runner.invoke(app, ["serve", "--database-url", url])
    assert result.exit_code == 1 and "run `shelfwise init` first" in result.output


def test_serve_answers_on_its_port(store_url: str, tmp_path: Path) -> None:
    port = find_free_port()
    env = {**os.environ, "SHELFWISE_SECRET_KEY": "a" * 40, "SHELFWISE_HOME": str(tmp_path)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shelfwise.cli",
            "serve",
            "--port",
            str(port),
            "--database-url",
            store_url,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/v1/products", timeout=5)
                break
            except httpx.TransportError:
                assert process.poll() is None, (
                    process.stdout.read().decode() if process.stdout else ""
                )
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.2)
        assert response.status_code == 200 and response.json()["total"] == 7
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
