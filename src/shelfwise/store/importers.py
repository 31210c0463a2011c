"""CSV import with row-level validation: a shop brings its own records.

`import_csv(db, kind, path)` reads products, customers, locations, inventory counts, suppliers
(with their products) or a flat sales export (orders) and writes them in one transaction. Every
line is checked first; by default any problem stops the import and every problem is reported
with file, line and column; `ImportOptions(skip_invalid=True)` loads the valid rows and writes
the others to `<name>.rejected.csv`. The column sets are documented in docs/importing.md; the
implementation lives in `shelfwise.store.importing`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shelfwise.store.db import Database
from shelfwise.store.importing.base import (
    ImportOptions,
    KindImporter,
    ProgressCallback,
    no_progress,
)
from shelfwise.store.importing.catalog import ProductImporter
from shelfwise.store.importing.orders import OrderImporter, regional_store_code
from shelfwise.store.importing.parties import (
    SYNTHETIC_EMAIL_DOMAIN,
    CustomerImporter,
    SupplierImporter,
    synthetic_email,
)
from shelfwise.store.importing.places import InventoryImporter, LocationImporter
from shelfwise.store.importing.problems import ImportFailed, Problem
from shelfwise.store.importing.reading import ColumnSpec
from shelfwise.store.importing.runner import ImportReport, rejected_path_for, run_import
from shelfwise.store.importing.storage import Tally
from shelfwise.store.kinds import ImportKind as ImportKind

IMPORTERS: dict[ImportKind, type[KindImporter[Any]]] = {
    ImportKind.PRODUCTS: ProductImporter,
    ImportKind.LOCATIONS: LocationImporter,
    ImportKind.CUSTOMERS: CustomerImporter,
    ImportKind.SUPPLIERS: SupplierImporter,
    ImportKind.INVENTORY: InventoryImporter,
    ImportKind.ORDERS: OrderImporter,
}


def column_spec(kind: ImportKind) -> ColumnSpec:
    return IMPORTERS[kind].spec


def import_csv(
    db: Database,
    kind: ImportKind | str,
    path: Path | str,
    options: ImportOptions | None = None,
    *,
    progress: ProgressCallback = no_progress,
) -> ImportReport:
    """Import one CSV file; raises `ImportFailed` (listing every problem) when it cannot."""
    importer = IMPORTERS[ImportKind(kind)]()
    return run_import(db, importer, Path(path), options or ImportOptions(), progress)


__all__ = [
    "IMPORTERS",
    "SYNTHETIC_EMAIL_DOMAIN",
    "ColumnSpec",
    "ImportFailed",
    "ImportKind",
    "ImportOptions",
    "ImportReport",
    "Problem",
    "ProgressCallback",
    "Tally",
    "column_spec",
    "import_csv",
    "regional_store_code",
    "rejected_path_for",
    "synthetic_email",
]
