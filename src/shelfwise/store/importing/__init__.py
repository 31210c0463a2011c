"""CSV import of a shop's own records, split by concern; `shelfwise.store.importers` is the API.

reading (bytes -> rows with physical line numbers) -> rows (pydantic models per kind, our
messages) -> one module per kind (checks against the file and the store, then batched writes)
-> runner (all-or-nothing or skip-invalid, the rejected file, the report).
"""
