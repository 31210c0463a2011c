"""The store's vocabularies: the values of its enumerated columns, and the kinds of file it
imports.

Plain enums, apart from the ORM models and the importers, so that code which only names a kind
(the command line's options, for one) does not load SQLAlchemy to do it.
"""

from __future__ import annotations

import enum


class LocationKind(enum.StrEnum):
    STORE = "store"
    WAREHOUSE = "warehouse"


class Segment(enum.StrEnum):
    CONSUMER = "consumer"
    CORPORATE = "corporate"
    HOME_OFFICE = "home_office"


class Role(enum.StrEnum):
    CUSTOMER = "customer"
    STAFF = "staff"
    ADMIN = "admin"


class OrderStatus(enum.StrEnum):
    PENDING = "pending"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class Priority(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class MovementKind(enum.StrEnum):
    """Why stock changed. Signs: sale, transfer_out negative; receipt, return, transfer_in,
    cancellation positive; adjustment either way (and always with a reason)."""

    OPENING = "opening"
    SALE = "sale"
    CANCELLATION = "cancellation"
    RETURN = "return"
    RECEIPT = "receipt"
    ADJUSTMENT = "adjustment"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"


class PurchaseOrderStatus(enum.StrEnum):
    DRAFT = "draft"
    ORDERED = "ordered"
    PARTIALLY_RECEIVED = "partially_received"
    RECEIVED = "received"
    CANCELLED = "cancelled"


class TokenScope(enum.StrEnum):
    """What an API token may do: act as its user (`api`) or post till sales (`pos`)."""

    API = "api"
    POS = "pos"


class ImportKind(enum.StrEnum):
    """What a file holds; import in this order when starting from nothing."""

    PRODUCTS = "products"
    LOCATIONS = "locations"
    CUSTOMERS = "customers"
    SUPPLIERS = "suppliers"
    INVENTORY = "inventory"
    ORDERS = "orders"
