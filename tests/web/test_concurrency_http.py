"""Many shoppers buy the last units at once, through HTTP against a live uvicorn server:
exactly the units on the shelf are sold, the rest are told the stock ran out, and the ledger
still balances. On SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shelfwise.store.db import Database
from shelfwise.store.inventory import ledger_mismatches
from shelfwise.store.schema import upgrade
from tests.web.shop import ShopIds, copy_store, live_server, make_app, on_hand, populate

CLIENTS = 24


@pytest.fixture(params=["sqlite", "postgres"])
def store(
    request: pytest.FixtureRequest, shop_template: tuple[Path, ShopIds], tmp_path: Path
) -> Iterator[tuple[Database, ShopIds]]:
    if request.param == "sqlite":
        template, ids = shop_template
        db = copy_store(template, tmp_path / "race.db")
    else:
        db = Database(request.getfixturevalue("postgres_url"))
        upgrade(db)
        with db.session() as session:
            ids = populate(session)
    yield db, ids
    db.dispose()


def test_last_units_are_sold_exactly_once(store: tuple[Database, ShopIds]) -> None:
    db, ids = store
    product, location = ids.chairs[0], ids.loc_de0
    units = on_hand(db, product, location)
    assert units == 10
    tokens = [ids.tokens["customer_a"], ids.tokens["customer_b"]]
    start = threading.Barrier(CLIENTS)
    statuses: list[int] = []
    lock = threading.Lock()

    def buy(number: int, base_url: str) -> None:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            start.wait()
            response = client.post(
                "/api/v1/orders",
                json={"lines": [{"product_id": product, "quantity": 1}], "location_id": location},
                headers={
                    "Authorization": f"Bearer {tokens[number % 2]}",
                    "Idempotency-Key": f"race-{number}",
                },
            )
        with lock:
            statuses.append(response.status_code)

    with live_server(make_app(db)) as server:
        threads = [threading.Thread(target=buy, args=(n, server.url)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

    assert Counter(statuses) == {201: units, 409: CLIENTS - units}
    assert on_hand(db, product, location) == 0
    with db.read_session() as session:
        assert ledger_mismatches(session=session) == []
