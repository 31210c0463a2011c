"""CSV imports against real databases: every kind, every malformed-file branch, all-or-nothing."""

from __future__ import annotations

import csv
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from shelfwise.store.db import Database
from shelfwise.store.importers import (
    IMPORTERS,
    ImportFailed,
    ImportKind,
    ImportOptions,
    ImportReport,
    Tally,
    import_csv,
    rejected_path_for,
    synthetic_email,
)
from shelfwise.store.inventory import ledger_mismatches
from shelfwise.store.kinds import MovementKind, OrderStatus, Segment
from shelfwise.store.models import (
    Base,
    Customer,
    Location,
    Order,
    OrderEvent,
    OrderLine,
    Product,
    ReorderSetting,
    StockLevel,
    StockMovement,
    SubCategory,
    Supplier,
    SupplierProduct,
    utcnow,
)

DATA = Path(__file__).parents[1] / "data" / "import"
PRODUCTS_HEADER = "sku,name,category,sub_category,unit_price\n"


def row_counts(db: Database) -> dict[str, int]:
    """Rows in every table of the store: the proof that a failed import wrote nothing."""
    with db.read_session() as session:
        return {
            name: int(session.scalar(select(func.count()).select_from(table)) or 0)
            for name, table in Base.metadata.tables.items()
        }


def copy(tmp_path: Path, name: str) -> Path:
    """A copy beside which a rejected file may be written (never into tests/data)."""
    target = tmp_path / name
    shutil.copy(DATA / name, target)
    return target


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    target = tmp_path / name
    if isinstance(content, bytes):
        target.write_bytes(content)
    else:
        target.write_text(content, encoding="utf-8")
    return target


def tally(report: ImportReport, record: str) -> Tally:
    return next(t for t in report.tallies if t.record == record)


def failure(db: Database, kind: str, path: Path, **options: object) -> list[str]:
    """Import a bad file; assert it changed nothing and return its messages."""
    before = row_counts(db)
    with pytest.raises(ImportFailed) as caught:
        import_csv(db, kind, path, ImportOptions(**options))  # type: ignore[arg-type]
    assert row_counts(db) == before
    assert "nothing was imported" in caught.value.message
    return [str(p) for p in caught.value.problems]


def load_catalog(db: Database, tmp_path: Path) -> None:
    for kind in ("products", "locations", "customers"):
        import_csv(db, kind, copy(tmp_path, f"{kind}.csv"))


# --- products --------------------------------------------------------------------------------


def test_products_create_catalog_with_categories(sqlite_db: Database, tmp_path: Path) -> None:
    report = import_csv(sqlite_db, ImportKind.PRODUCTS, copy(tmp_path, "products.csv"))
    assert (report.rows_read, report.rows_loaded) == (6, 6)
    assert tally(report, "categories").created == 3
    assert tally(report, "sub_categories").created == 6
    assert tally(report, "products").created == 6
    with sqlite_db.read_session() as session:
        chair = session.scalars(select(Product).where(Product.sku == "FUR-CH-001")).one()
        assert chair.unit_price == Decimal("189.90")
        assert chair.unit_cost == Decimal("92.50")
        assert chair.description == "Mesh back, adjustable arms"
        assert chair.sub_category.name == "Chairs"
        assert chair.sub_category.category.name == "Furniture"
        dock = session.scalars(select(Product).where(Product.sku == "TEC-AC-006")).one()
        assert dock.active is False
        paper = session.scalars(select(Product).where(Product.sku == "OFF-PA-003")).one()
        assert paper.description == "80 g/m²"


def test_rows_are_stamped_when_the_write_starts(
    sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not when the file was read: the pipeline extracts by `updated_at`, and a long import
    stamped before its checks could commit past the pipeline's overlap window."""
    importer = IMPORTERS[ImportKind.PRODUCTS]
    checked_at: list[datetime] = []
    honest = importer.check

    def check(self: Any, *args: Any, **kwargs: Any) -> Any:
        found = honest(self, *args, **kwargs)
        checked_at.append(utcnow())
        return found

    monkeypatch.setattr(importer, "check", check)
    import_csv(sqlite_db, ImportKind.PRODUCTS, copy(tmp_path, "products.csv"))

    with sqlite_db.read_session() as session:
        stamps = session.scalars(select(Product.updated_at)).all()
    assert len(stamps) == 6 and min(stamps) >= checked_at[0]


def test_products_reimport_updates_only_what_changed(sqlite_db: Database, tmp_path: Path) -> None:
    import_csv(sqlite_db, "products", copy(tmp_path, "products.csv"))
    with sqlite_db.read_session() as session:
        stamps = dict(session.execute(select(Product.sku, Product.updated_at)).all())
    changed = write(
        tmp_path,
        "prices.csv",
        "sku,name,category,sub_category,unit_price,brand\n"
        "fur-ch-001,Ergonomic Office Chair,furniture,chairs,179.00,\n"
        "OFF-PA-003,Copy Paper A4 500 sheets,Office Supplies,Paper,5.49,Papyrus\n",
    )
    report = import_csv(sqlite_db, "products", changed)
    products = tally(report, "products")
    assert (products.created, products.updated, products.unchanged) == (0, 1, 1)
    assert tally(report, "categories").created == 0  # matched case-insensitively
    with sqlite_db.read_session() as session:
        chair = session.scalars(select(Product).where(Product.sku == "FUR-CH-001")).one()
        assert chair.unit_price == Decimal("179.00")
        assert chair.brand == "Seatwell"  # a blank cell keeps the stored value
        assert chair.updated_at > stamps["FUR-CH-001"]
        paper = session.scalars(select(Product).where(Product.sku == "OFF-PA-003")).one()
        assert paper.updated_at == stamps["OFF-PA-003"]


def test_products_bad_rows_are_all_listed_and_nothing_is_written(
    sqlite_db: Database, tmp_path: Path
) -> None:
    messages = failure(sqlite_db, "products", copy(tmp_path, "products_bad.csv"))
    assert messages == [
        'products_bad.csv line 2, column unit_price: "12,50" is not a number '
        "(use a dot for decimals)",
        'products_bad.csv line 3, column unit_price: "-3.00" is negative; an amount of money '
        "here must be 0 or more",
        "products_bad.csv line 4, column name: is empty; a value is required",
        'products_bad.csv line 6, column unit_price: "twelve" is not a number',
        'products_bad.csv line 7, column sku: "OFF-PA-104" is also on line 5; each sku may '
        "appear only once",
    ]
    assert not rejected_path_for(tmp_path / "products_bad.csv").exists()


def test_missing_columns_are_named_with_the_columns_found(
    sqlite_db: Database, tmp_path: Path
) -> None:
    messages = failure(sqlite_db, "products", copy(tmp_path, "products_missing_columns.csv"))
    assert messages == [
        "products_missing_columns.csv line 1: missing required column(s) name, sub_category; "
        "the header has: sku, title, category, price"
    ]


def test_file_not_in_utf8_is_refused_with_a_resave_hint(
    sqlite_db: Database, tmp_path: Path
) -> None:
    latin = (PRODUCTS_HEADER + "CUP-1,Café cup,Kitchen,Cups,3.50\n").encode("latin-1")
    path = write(tmp_path, "latin.csv", latin)
    (message,) = failure(sqlite_db, "products", path)
    assert message.startswith("latin.csv: the file is not UTF-8 text: byte 0xE9 on line 2")
    assert 're-save it as "CSV UTF-8"' in message
    assert "--encoding latin-1" in message

    import_csv(sqlite_db, "products", path, ImportOptions(encoding="latin-1"))
    with sqlite_db.read_session() as session:
        assert session.scalar(select(Product.name).where(Product.sku == "CUP-1")) == "Café cup"


def test_file_with_byte_order_mark_imports(sqlite_db: Database, tmp_path: Path) -> None:
    content = "\ufeff" + PRODUCTS_HEADER + "MUG-1,Mug,Kitchen,Cups,4.00\n"
    report = import_csv(sqlite_db, "products", write(tmp_path, "bom.csv", content))
    assert report.rows_loaded == 1
    assert "byte-order mark skipped" in report.notes
    with sqlite_db.read_session() as session:
        assert session.scalar(select(Product.unit_price).where(Product.sku == "MUG-1")) == Decimal(
            "4.00"
        )


def test_empty_file_is_refused(sqlite_db: Database, tmp_path: Path) -> None:
    messages = failure(sqlite_db, "products", write(tmp_path, "empty.csv", "\n\n"))
    assert messages == [
        "empty.csv: the file is empty; its first line must be a header naming the columns"
    ]


def test_header_only_file_imports_nothing_with_a_warning(
    sqlite_db: Database, tmp_path: Path
) -> None:
    before = row_counts(sqlite_db)
    report = import_csv(sqlite_db, "products", write(tmp_path, "head.csv", PRODUCTS_HEADER))
    assert report.rows_read == 0
    assert report.warnings == ["head.csv: the file has a header but no rows; nothing to import"]
    assert row_counts(sqlite_db) == before


def test_semicolon_and_tab_delimiters_are_detected(sqlite_db: Database, tmp_path: Path) -> None:
    report = import_csv(sqlite_db, "products", copy(tmp_path, "products_semicolon.csv"))
    assert report.rows_loaded == 2
    assert "columns are separated by semicolons" in report.notes
    tabbed = PRODUCTS_HEADER.replace(",", "\t") + "TAB-1\tTray\tKitchen\tTrays\t2.00\n"
    assert import_csv(sqlite_db, "products", write(tmp_path, "t.tsv", tabbed)).rows_loaded == 1


def test_unknown_columns_are_ignored_with_a_warning(sqlite_db: Database, tmp_path: Path) -> None:
    content = "SKU,Name,Category,Sub-Category,Unit Price,Colour\nA-1,Tray,Kitchen,Trays,2.00,red\n"
    report = import_csv(sqlite_db, "products", write(tmp_path, "extra.csv", content))
    assert report.rows_loaded == 1
    assert report.warnings == [
        "extra.csv line 1: column(s) Colour are not read by a products import and were ignored"
    ]


def test_row_with_too_many_values_is_reported(sqlite_db: Database, tmp_path: Path) -> None:
    content = PRODUCTS_HEADER + "A-1,Tray,Kitchen,Trays,2,50\n"
    (message,) = failure(sqlite_db, "products", write(tmp_path, "wide.csv", content))
    assert message == (
        "wide.csv line 2: has 6 values but the header has 5 columns; a value containing the "
        "delimiter must be in double quotes"
    )


def test_skip_invalid_loads_valid_rows_and_writes_the_rejected_file(
    sqlite_db: Database, tmp_path: Path
) -> None:
    path = copy(tmp_path, "products_bad.csv")
    report = import_csv(sqlite_db, "products", path, ImportOptions(skip_invalid=True))
    assert (report.rows_read, report.rows_loaded, report.rejected_lines) == (7, 2, 5)
    assert report.rejected_path == tmp_path / "products_bad.rejected.csv"
    with sqlite_db.read_session() as session:
        assert sorted(session.scalars(select(Product.sku))) == ["OFF-PA-104", "OFF-PA-106"]
    with report.rejected_path.open(newline="", encoding="utf-8") as handle:
        rejected = list(csv.DictReader(handle))
    assert list(rejected[0]) == [
        "sku",
        "name",
        "category",
        "sub_category",
        "unit_price",
        "unit_cost",
        "colour",
        "line",
        "reason",
    ]
    assert [(r["line"], r["sku"]) for r in rejected] == [
        ("2", "OFF-PA-101"),
        ("3", "OFF-PA-102"),
        ("4", "OFF-PA-103"),
        ("6", "OFF-PA-105"),
        ("7", "OFF-PA-104"),
    ]
    assert rejected[0]["unit_price"] == "12,50"
    assert rejected[0]["reason"] == 'unit_price: "12,50" is not a number (use a dot for decimals)'
    assert rejected[4]["reason"] == (
        'sku: "OFF-PA-104" is also on line 5; each sku may appear only once'
    )


def test_dry_run_checks_everything_and_writes_nothing(sqlite_db: Database, tmp_path: Path) -> None:
    before = row_counts(sqlite_db)
    report = import_csv(
        sqlite_db, "products", copy(tmp_path, "products.csv"), ImportOptions(dry_run=True)
    )
    assert report.dry_run and tally(report, "products").created == 6
    assert row_counts(sqlite_db) == before


# --- customers, locations, suppliers -------------------------------------------------------------


def test_customers_by_email_or_customer_id(sqlite_db: Database, tmp_path: Path) -> None:
    report = import_csv(sqlite_db, "customers", copy(tmp_path, "customers.csv"))
    assert tally(report, "customers").created == 3
    with sqlite_db.read_session() as session:
        people = {c.email: c for c in session.scalars(select(Customer))}
    assert set(people) == {
        "anna.weber@example.com",
        "c-1002@import.invalid",
        "cara.lopez@example.com",
    }
    assert synthetic_email("C-1002") == "c-1002@import.invalid"
    assert people["c-1002@import.invalid"].country == "DE"  # "Germany"
    assert people["cara.lopez@example.com"].segment is Segment.HOME_OFFICE
    again = import_csv(sqlite_db, "customers", copy(tmp_path, "customers.csv"))
    assert tally(again, "customers").unchanged == 3


def test_customers_bad_values_are_reported(sqlite_db: Database, tmp_path: Path) -> None:
    assert failure(sqlite_db, "customers", copy(tmp_path, "customers_bad.csv")) == [
        'customers_bad.csv line 3, column email: "not-an-email" is not an email address',
        'customers_bad.csv line 4, column segment: "wholesale" is not a customer segment '
        "(use one of consumer, corporate, home_office)",
        'customers_bad.csv line 5, column country: "Atlantis" is not a country; use a '
        "two-letter ISO code such as US or DE, or the English name",
    ]


def test_locations_upsert_by_code(sqlite_db: Database, tmp_path: Path) -> None:
    report = import_csv(sqlite_db, "locations", copy(tmp_path, "locations.csv"))
    assert tally(report, "locations").created == 2
    renamed = write(
        tmp_path,
        "loc.csv",
        "code,name,country,region,city\nber-1,Berlin Alexanderplatz,DE,Berlin,Berlin\n",
    )
    assert tally(import_csv(sqlite_db, "locations", renamed), "locations").updated == 1
    with sqlite_db.read_session() as session:
        rows = {loc.code: loc for loc in session.scalars(select(Location))}
    assert rows["BER-1"].name == "Berlin Alexanderplatz"
    assert rows["HAM-WH"].kind.value == "warehouse"


def test_suppliers_with_their_products(sqlite_db: Database, tmp_path: Path) -> None:
    import_csv(sqlite_db, "products", copy(tmp_path, "products.csv"))
    report = import_csv(sqlite_db, "suppliers", copy(tmp_path, "suppliers.csv"))
    assert tally(report, "suppliers").created == 3
    assert tally(report, "supplier_products").created == 4
    with sqlite_db.read_session() as session:
        terms = session.execute(
            select(Supplier.code, Product.sku, SupplierProduct.min_order_quantity)
            .join(Supplier, Supplier.id == SupplierProduct.supplier_id)
            .join(Product, Product.id == SupplierProduct.product_id)
        ).all()
        telco = session.scalars(select(Supplier).where(Supplier.code == "TELC")).one()
    assert ("SEAT", "FUR-TB-002", 1) in terms  # minimum order defaults to 1
    assert ("PAPY", "OFF-PA-003", 500) in terms
    assert telco.email == "sales@telco.example"


def test_suppliers_bad_rows_are_reported(sqlite_db: Database, tmp_path: Path) -> None:
    import_csv(sqlite_db, "products", copy(tmp_path, "products.csv"))
    assert failure(sqlite_db, "suppliers", copy(tmp_path, "suppliers_bad.csv")) == [
        'suppliers_bad.csv line 3, column name: "Seatwell AG" differs from line 2 '
        '("Seatwell GmbH") for supplier SEAT; a supplier\'s details must agree on all its lines',
        'suppliers_bad.csv line 4, column sku: "FUR-CH-001" is also on line 2; each product '
        "may appear once per supplier",
        'suppliers_bad.csv line 5, column sku: "GHOST-1" is not a known product; import it '
        'with "shelfwise import products" first',
        'suppliers_bad.csv line 6, column min_order_quantity: "0" must be a whole number of 1 '
        "or more",
    ]


# --- inventory ---------------------------------------------------------------------------------


def test_inventory_sets_stock_through_the_ledger(sqlite_db: Database, tmp_path: Path) -> None:
    load_catalog(sqlite_db, tmp_path)
    report = import_csv(sqlite_db, "inventory", copy(tmp_path, "inventory.csv"))
    assert tally(report, "locations").created == 1  # MUC-1, described on its row
    counts = tally(report, "stock counts")
    assert (counts.updated, counts.unchanged) == (4, 1)  # a zero count moves nothing
    assert tally(report, "reorder_settings").created == 3
    with sqlite_db.read_session() as session:
        levels = dict(
            session.execute(
                select(Product.sku + "@" + Location.code, StockLevel.on_hand)
                .join(Product, Product.id == StockLevel.product_id)
                .join(Location, Location.id == StockLevel.location_id)
            ).all()
        )
        reasons = set(session.scalars(select(StockMovement.reason)))
        kinds = set(session.scalars(select(StockMovement.kind)))
        munich = session.scalars(select(Location).where(Location.code == "MUC-1")).one()
        setting = session.scalars(select(ReorderSetting)).all()
        assert ledger_mismatches(session=session) == []
    assert levels == {
        "FUR-CH-001@BER-1": 12,
        "OFF-PA-003@BER-1": 250,
        "OFF-PA-003@HAM-WH": 1200,
        "FUR-CH-001@MUC-1": 5,
    }
    assert reasons == {"import inventory.csv"} and kinds == {MovementKind.ADJUSTMENT}
    assert (munich.name, munich.region, munich.city) == ("Munich Store", "Bavaria", "Munich")
    assert sorted((s.min_quantity, s.max_quantity, s.pack_size) for s in setting) == [
        (2, 10, 1),
        (4, 20, 2),
        (100, 400, 50),
    ]
    again = import_csv(sqlite_db, "inventory", copy(tmp_path, "inventory.csv"))
    assert tally(again, "stock counts").unchanged == 5


def test_inventory_bad_rows_are_reported(sqlite_db: Database, tmp_path: Path) -> None:
    load_catalog(sqlite_db, tmp_path)
    assert failure(sqlite_db, "inventory", copy(tmp_path, "inventory_bad.csv")) == [
        'inventory_bad.csv line 2, column on_hand: "-4" is negative; a quantity must be 0 or more',
        'inventory_bad.csv line 3, column sku: "NOPE-404" is not a known product; import it '
        'with "shelfwise import products" first',
        'inventory_bad.csv line 4, column location_code: "NOWHERE" is not a known location; '
        'import it with "shelfwise import locations" first, or fill location_name, country, '
        "region, city to create it here",
        'inventory_bad.csv line 5, column max_quantity: "20" is below min_quantity (50); the '
        "maximum must be at least the minimum",
        'inventory_bad.csv line 6, column location_code: "OFF-PA-003 at BER-1" is also on '
        "line 5; each product may be counted once per location",
        'inventory_bad.csv line 7, column on_hand: "2.5" is not a whole number',
    ]


# --- orders ------------------------------------------------------------------------------------


def _superstore_lines() -> list[dict[str, str]]:
    with (DATA / "orders_superstore.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_superstore_export_becomes_normalised_orders(sqlite_db: Database, tmp_path: Path) -> None:
    lines = _superstore_lines()
    report = import_csv(sqlite_db, "orders", copy(tmp_path, "orders_superstore.csv"))
    assert report.notes == ['dates read as month/day/year (line 2: "1/27/2016")']
    order_ids = {line["Order ID"] for line in lines}
    assert tally(report, "orders").created == len(order_ids)
    assert tally(report, "order_lines").created == len(lines)
    assert tally(report, "products").created == len({line["Product ID"] for line in lines})
    assert tally(report, "customers").created == len({line["Customer ID"] for line in lines})
    regions = {line["Region"] for line in lines}
    with sqlite_db.read_session() as session:
        codes = set(session.scalars(select(Location.code)))
        assert codes == {f"US-{r.upper()}" for r in regions}
        assert set(session.scalars(select(Order.status))) == {OrderStatus.DELIVERED}
        assert set(session.scalars(select(Order.external_ref))) == order_ids
        emails = set(session.scalars(select(Customer.email)))
        assert emails == {synthetic_email(line["Customer ID"]) for line in lines}
        # Row 3: Sales 39.312 for 6 units at 10% off -> list price 39.312 / 6 / 0.9 = 7.28
        row3 = lines[2]
        line = session.execute(
            select(OrderLine.unit_price, OrderLine.discount, OrderLine.quantity)
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.external_ref == row3["Order ID"])
            .join(Product, Product.id == OrderLine.product_id)
            .where(Product.sku == row3["Product ID"])
        ).one()
        assert line == (Decimal("7.28"), Decimal("0.1"), 6)
        first = session.scalars(
            select(Order).where(Order.external_ref == lines[0]["Order ID"])
        ).one()
        assert first.ordered_at == datetime(2016, 1, 27, tzinfo=UTC)
        assert first.ship_mode == "Same Day"
        events = session.scalars(
            select(OrderEvent.status).where(OrderEvent.order_id == first.id).order_by(OrderEvent.id)
        ).all()
        assert events == [
            OrderStatus.PENDING,
            OrderStatus.PAID,
            OrderStatus.SHIPPED,
            OrderStatus.DELIVERED,
        ]
        sold = sum(int(line["Quantity"]) for line in lines)
        movements = dict(
            session.execute(
                select(StockMovement.kind, func.sum(StockMovement.quantity)).group_by(
                    StockMovement.kind
                )
            ).all()
        )
        assert movements == {MovementKind.OPENING: sold, MovementKind.SALE: -sold}
        assert ledger_mismatches(session=session) == []
        assert session.scalar(select(func.count()).select_from(StockLevel)) == 0


def test_reimporting_the_same_orders_changes_nothing(sqlite_db: Database, tmp_path: Path) -> None:
    path = copy(tmp_path, "orders_superstore.csv")
    first = import_csv(sqlite_db, "orders", path)
    after_first = row_counts(sqlite_db)
    second = import_csv(sqlite_db, "orders", path)
    assert row_counts(sqlite_db) == after_first
    assert tally(second, "orders").skipped == tally(first, "orders").created
    assert any("were imported before" in note for note in second.notes)


def test_orders_booked_at_a_named_location(sqlite_db: Database, tmp_path: Path) -> None:
    import_csv(sqlite_db, "locations", copy(tmp_path, "locations.csv"))
    path = copy(tmp_path, "orders_superstore.csv")
    import_csv(sqlite_db, "orders", path, ImportOptions(location_code="ber-1"))
    with sqlite_db.read_session() as session:
        assert set(session.scalars(select(Location.code).join(Order))) == {"BER-1"}
    assert failure(sqlite_db, "orders", path, location_code="NOPE") == [
        'orders_superstore.csv: --location "NOPE" is not a known location; create it with '
        '"shelfwise import locations" first'
    ]


def test_orders_bad_lines_are_all_reported(sqlite_db: Database, tmp_path: Path) -> None:
    assert failure(sqlite_db, "orders", copy(tmp_path, "orders_bad.csv")) == [
        "orders_bad.csv line 3, column Order Date: 2020-11-19 differs from line 2 (2020-11-18) "
        "of the same order US-2020-1; an order's lines must agree",
        'orders_bad.csv line 4, column Order Date: "11/31/2020" is not a real date',
        'orders_bad.csv line 4, column Quantity: "-2" must be a whole number of 1 or more',
        'orders_bad.csv line 5, column Sales: "57,60" is not a number (use a dot for decimals)',
        'orders_bad.csv line 6, column Row ID: "1" is also on line 2; each row id may appear '
        "only once",
        "orders_bad.csv line 6, column Ship Date: 2020-12-12 is before the order date 2020-12-15",
    ]


def test_orders_skip_invalid_rejects_whole_orders(sqlite_db: Database, tmp_path: Path) -> None:
    path = copy(tmp_path, "orders_bad.csv")
    report = import_csv(sqlite_db, "orders", path, ImportOptions(skip_invalid=True))
    assert (report.rows_loaded, report.rejected_lines) == (1, 5)
    with sqlite_db.read_session() as session:
        assert list(session.scalars(select(Order.external_ref))) == ["US-2020-5"]
    assert report.rejected_path is not None
    with report.rejected_path.open(newline="", encoding="utf-8") as handle:
        reasons = {row["line"]: row["reason"] for row in csv.DictReader(handle)}
    assert reasons["2"] == (
        "order US-2020-1 is not imported because its line 3 was rejected "
        "(an order loads whole or not at all)"
    )


def test_unknown_products_without_details_are_refused(sqlite_db: Database, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "o.csv",
        "Order ID,Order Date,Customer ID,Customer Name,Country,Product ID,Sales,Quantity\n"
        "A-1,2024-03-05,C-1,Ann,DE,GHOST-1,10.00,1\n",
    )
    assert failure(sqlite_db, "orders", path) == [
        'o.csv line 2, column Product ID: "GHOST-1" is not a known product and this line lacks '
        "product_name, category, sub_category to create it"
    ]


def test_orders_with_known_products_and_customers_by_email(
    sqlite_db: Database, tmp_path: Path
) -> None:
    load_catalog(sqlite_db, tmp_path)
    path = write(
        tmp_path,
        "shop.csv",
        "order_id,order_date,customer_email,location_code,sku,unit_price,quantity,discount\n"
        "W-1,2024-03-05T10:30:00,anna.weber@example.com,BER-1,FUR-CH-001,189.90,2,10%\n"
        "W-1,2024-03-05T10:30:00,anna.weber@example.com,BER-1,OFF-PA-003,5.49,10,\n",
    )
    report = import_csv(sqlite_db, "orders", path)
    assert tally(report, "customers").unchanged == 1
    with sqlite_db.read_session() as session:
        order = session.scalars(select(Order).where(Order.external_ref == "W-1")).one()
        assert order.status is OrderStatus.PENDING  # no ship date
        assert order.ordered_at == datetime(2024, 3, 5, 10, 30, tzinfo=UTC)
        assert [(x.quantity, x.unit_price, x.discount) for x in order.lines] == [
            (2, Decimal("189.90"), Decimal("0.1")),
            (10, Decimal("5.49"), Decimal("0")),
        ]


def test_ambiguous_dates_ask_for_a_date_format(sqlite_db: Database, tmp_path: Path) -> None:
    content = (
        "Order ID,Order Date,Customer ID,Customer Name,Country,Product ID,Product Name,"
        "Category,Sub-Category,Sales,Quantity\n"
        "A-1,03/04/2024,C-1,Ann,DE,P-1,Pen,Office,Art,2.00,1\n"
    )
    path = write(tmp_path, "ambiguous.csv", content)
    assert failure(sqlite_db, "orders", path) == [
        'ambiguous.csv line 2, column Order Date: "03/04/2024" could be day/month or month/day '
        "and no date in the file tells which; pass --date-format %d/%m/%Y or --date-format "
        "%m/%d/%Y"
    ]
    import_csv(sqlite_db, "orders", path, ImportOptions(date_format="%d/%m/%Y"))
    with sqlite_db.read_session() as session:
        assert session.scalar(select(Order.ordered_at)) == datetime(2024, 4, 3, tzinfo=UTC)


def test_day_first_dates_are_detected_per_file(sqlite_db: Database, tmp_path: Path) -> None:
    content = (
        "Order ID,Order Date,Customer ID,Customer Name,Country,Product ID,Product Name,"
        "Category,Sub-Category,Sales,Quantity\n"
        "A-1,03/04/2024,C-1,Ann,DE,P-1,Pen,Office,Art,2.00,1\n"
        "A-2,25/04/2024,C-1,Ann,DE,P-1,Pen,Office,Art,2.00,1\n"
    )
    report = import_csv(sqlite_db, "orders", write(tmp_path, "dm.csv", content))
    assert report.notes == ['dates read as day/month/year (line 3: "25/04/2024")']
    with sqlite_db.read_session() as session:
        dates = dict(session.execute(select(Order.external_ref, Order.ordered_at)).all())
    assert dates == {
        "A-1": datetime(2024, 4, 3, tzinfo=UTC),
        "A-2": datetime(2024, 4, 25, tzinfo=UTC),
    }


def test_contradicting_date_orders_are_refused(sqlite_db: Database, tmp_path: Path) -> None:
    content = (
        "Order ID,Order Date,Customer ID,Customer Name,Country,Product ID,Product Name,"
        "Category,Sub-Category,Sales,Quantity\n"
        "A-1,13/04/2024,C-1,Ann,DE,P-1,Pen,Office,Art,2.00,1\n"
        "A-2,04/25/2024,C-1,Ann,DE,P-1,Pen,Office,Art,2.00,1\n"
    )
    (message,) = failure(sqlite_db, "orders", write(tmp_path, "mixed.csv", content))
    assert message == (
        'mixed.csv: dates are written both day first (line 2, Order Date: "13/04/2024") and '
        'month first (line 3, Order Date: "04/25/2024"); make them consistent'
    )


# --- on every database -------------------------------------------------------------------------


def test_products_and_orders_on_every_database(any_db: Database, tmp_path: Path) -> None:
    import_csv(any_db, "products", copy(tmp_path, "products.csv"))
    failure(any_db, "products", copy(tmp_path, "products_bad.csv"))
    path = copy(tmp_path, "orders_superstore.csv")
    report = import_csv(any_db, "orders", path)
    lines = _superstore_lines()
    assert tally(report, "order_lines").created == len(lines)
    counts = row_counts(any_db)
    assert counts["orders"] == len({line["Order ID"] for line in lines})
    assert counts["stock_movements"] == 2 * len(lines)
    with any_db.read_session() as session:
        assert ledger_mismatches(session=session) == []
        stamps = set(session.scalars(select(Order.created_at)))
        assert len(stamps) == 1 and next(iter(stamps)).tzinfo is UTC
        net = session.scalar(select(func.sum(OrderLine.quantity * OrderLine.unit_price)))
        assert net is not None and net > 0
        sub_categories = session.scalar(select(func.count()).select_from(SubCategory))
        assert sub_categories is not None and sub_categories >= 6
    import_csv(any_db, "orders", path)
    assert row_counts(any_db) == counts
