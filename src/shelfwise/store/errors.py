"""Errors the store raises: each says what was wrong, where, and what to do about it.

`code` is stable and machine-readable (the API returns it); the message is for people.
"""

from __future__ import annotations

from dataclasses import dataclass


class StoreError(Exception):
    code = "store_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(StoreError):
    code = "not_found"


class InvalidRequest(StoreError):
    code = "invalid_request"


class InvalidTransition(StoreError):
    code = "invalid_transition"


class IdempotencyConflict(StoreError):
    code = "idempotency_conflict"


class RetryTransaction(StoreError):
    """A concurrent transaction got in first (two retries of one request placed the same
    idempotency key at once) and this one is spoilt: run the unit of work again, in a new
    transaction, and it finds what the other one did."""

    code = "retry_transaction"


@dataclass(frozen=True)
class Shortage:
    product_id: int
    sku: str
    location_code: str
    requested: int
    available: int

    def describe(self) -> str:
        return (
            f"{self.sku} at {self.location_code}: requested {self.requested}, "
            f"available {self.available}"
        )


class InsufficientStock(StoreError):
    """Raised when any line cannot be served; lists every short line, not only the first."""

    code = "insufficient_stock"

    def __init__(self, shortages: list[Shortage]) -> None:
        self.shortages = shortages
        details = "; ".join(s.describe() for s in shortages)
        super().__init__(f"insufficient stock: {details}")

    # Convenience accessors for the common single-line case.
    @property
    def sku(self) -> str:
        return self.shortages[0].sku

    @property
    def requested(self) -> int:
        return self.shortages[0].requested

    @property
    def available(self) -> int:
        return self.shortages[0].available
