"""Property-based fuzzing of the JSON API with schemathesis, from the app's own OpenAPI schema:
whatever the generated request, the answer is never a server error. Bounded: a few examples
per operation, no deadline (the machine is shared)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings

from shelfwise.store.db import Database
from shelfwise.store.inventory import adjust_stock
from tests.web.shop import ShopIds, copy_store, make_app

MAX_EXAMPLES = 12


@pytest.fixture
def fuzz_tokens(shop_template: tuple[Path, ShopIds]) -> dict[str, str]:
    return shop_template[1].tokens


@pytest.fixture
def fuzz_app(shop_template: tuple[Path, ShopIds], tmp_path: Path) -> Iterator[FastAPI]:
    """A fresh shop per API operation, with plenty of stock so orders pass the stock check."""
    template, ids = shop_template
    db = copy_store(template, tmp_path / "fuzz.db")
    with db.session() as session:
        for product_id in ids.chairs:
            adjust_stock(
                session=session,
                product_id=product_id,
                location_id=ids.loc_de0,
                delta=500,
                reason="delivery",
            )
    yield make_app(db)
    db.dispose()


# The schema is the app's own; it is read once at collection from an app on an empty store
# (producing the schema touches no database), and each example is sent to `fuzz_app`.
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", make_app(Database("sqlite://")))


def _token_for(path: str, tokens: dict[str, str]) -> str:
    if path.endswith("/pos/sales"):
        return tokens["pos"]
    if path.endswith("/pos/tokens"):
        return tokens["admin"]
    return tokens["customer_a"]


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_never_answers_with_a_server_error(case, fuzz_app, fuzz_tokens) -> None:  # type: ignore[no-untyped-def]
    if case.path.endswith("/auth/tokens/current") and case.method == "DELETE":
        return  # would revoke the shared token the other examples use
    headers = {"Authorization": f"Bearer {_token_for(case.path, fuzz_tokens)}"}
    response = case.call(headers=headers, app=fuzz_app)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
    )
    if response.status_code >= 400 and response.headers.get("content-type", [""])[0].startswith(
        "application/json"
    ):
        error = response.json()["error"]
        assert {"code", "message", "fields"} <= set(error)
