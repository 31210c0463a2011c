"""Fixtures for the website tests: a fresh copy of a small shop per test, the app, clients."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from shelfwise.store.db import Database
from tests.web.shop import PASSWORD, ShopIds, build_template, copy_store, csrf_from, make_app


@dataclass
class Shop:
    db: Database
    app: FastAPI
    ids: ShopIds


@pytest.fixture(scope="session")
def shop_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ShopIds]:
    path = tmp_path_factory.mktemp("shop-template") / "shop.db"
    ids = build_template(path)
    return path, ids


@pytest.fixture
def shop(shop_template: tuple[Path, ShopIds], tmp_path: Path) -> Iterator[Shop]:
    template, ids = shop_template
    db = copy_store(template, tmp_path / "shop.db")
    yield Shop(db=db, app=make_app(db), ids=ids)
    db.dispose()


@pytest.fixture
def client(shop: Shop) -> Iterator[TestClient]:
    with TestClient(shop.app) as test_client:
        yield test_client


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> None:
    """Sign a TestClient in through the login form, as a browser would."""
    page = client.get("/account/login")
    response = client.post(
        "/account/login",
        data={"email": email, "password": password, "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def page_csrf(client: TestClient, path: str = "/account/login") -> str:
    return csrf_from(client.get(path).text)
