"""The storefront's view of the catalogue: categories, search, filters, sorting, availability.

Search is plain SQL that runs the same on SQLite, PostgreSQL and MySQL: each word of the query
is normalised (lower case, accents removed), expanded into its singular and plural stems
("bookcase" also finds "Bookcases", "shelf" finds "Shelves") and matched as a substring of the
product's name, brand, SKU, category or sub-category; every word must match somewhere. When
nothing matches, each unknown word is replaced by the closest word of the catalogue's
vocabulary (difflib, computed in Python) and the search runs once more, so "bokcase" still
finds bookcases and the page can say what it searched for instead.
"""

from __future__ import annotations

import difflib
import enum
import functools
import operator
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from shelfwise.store.errors import NotFound
from shelfwise.store.kinds import LocationKind
from shelfwise.store.models import (
    Category,
    Location,
    Product,
    Promotion,
    ReorderSetting,
    StockLevel,
    SubCategory,
    utcnow,
)

LOW_STOCK_UNITS = 3  # "low" at or below this many units where no reorder minimum is set
MAX_PER_PAGE = 100
CLOSE_MATCH_CUTOFF = 0.75


class StockState(enum.StrEnum):
    IN_STOCK = "in_stock"
    LOW = "low"
    OUT = "out"

    @property
    def label(self) -> str:
        return {"in_stock": "In stock", "low": "Low stock", "out": "Out of stock"}[self.value]


class SortOrder(enum.StrEnum):
    RELEVANCE = "relevance"
    NAME = "name"
    PRICE_ASC = "price_asc"
    PRICE_DESC = "price_desc"
    NEWEST = "newest"


@dataclass(frozen=True)
class SubCategorySummary:
    id: int
    name: str
    product_count: int


@dataclass(frozen=True)
class CategorySummary:
    id: int
    name: str
    product_count: int
    sub_categories: list[SubCategorySummary]


@dataclass(frozen=True)
class ProductSummary:
    id: int
    sku: str
    name: str
    brand: str | None
    category_id: int
    category: str
    sub_category_id: int
    sub_category: str
    unit_price: Decimal
    discount: Decimal  # the active promotion, 0 when none
    available: int  # units available to sell, all locations together
    stock: StockState

    @property
    def price(self) -> Decimal:
        """The price a shopper pays today (list price less any running promotion)."""
        return (self.unit_price * (1 - self.discount)).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class LocationAvailability:
    location_id: int
    code: str
    name: str
    kind: LocationKind
    city: str
    country: str
    available: int
    state: StockState


@dataclass(frozen=True)
class ProductDetail:
    summary: ProductSummary
    description: str | None
    size: str | None
    availability: list[LocationAvailability]
    related: list[ProductSummary]


@dataclass(frozen=True)
class ProductFilters:
    query: str = ""
    category_id: int | None = None
    sub_category_id: int | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    in_stock: bool = False
    sort: SortOrder = SortOrder.RELEVANCE
    page: int = 1
    per_page: int = 24


@dataclass(frozen=True)
class ProductPage:
    items: list[ProductSummary]
    total: int
    page: int
    per_page: int
    corrected_query: str | None = None  # what was searched instead, after a typo
    terms: list[str] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


# ---------------------------------------------------------------------------------------------
# Text normalisation
# ---------------------------------------------------------------------------------------------


def normalize_words(text: str) -> list[str]:
    """Lower-case words without accents: "Étagère, 2-door" -> ["etagere", "2", "door"]."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return [w for w in re.split(r"[^a-z0-9]+", plain) if w][:8]


def word_forms(word: str) -> set[str]:
    """The substrings that stand for a word in either number: a singular and a plural stem."""
    forms = {word}
    if len(word) > 4 and word.endswith("ies"):
        forms.add(word[:-3] + "y")
    elif len(word) > 4 and word.endswith("ves"):
        forms.update({word[:-3] + "f", word[:-3] + "fe"})
    elif len(word) > 3 and re.search(r"(s|x|z|ch|sh)es$", word):
        forms.add(word[:-2])
    elif len(word) > 3 and word.endswith("s") and not re.search(r"(ss|us|is)$", word):
        forms.add(word[:-1])
    if len(word) > 3 and word.endswith("y"):
        forms.add(word[:-1] + "i")  # battery -> batteri(es)
    if len(word) > 3 and word.endswith(("f", "fe")):
        forms.add(word.rstrip("e")[:-1] + "v")  # shelf -> shelv(es)
    return forms


def _searchable() -> list[ColumnElement[Any]]:
    return [
        func.lower(Product.name),
        func.lower(func.coalesce(Product.brand, "")),
        func.lower(Product.sku),
        func.lower(SubCategory.name),
        func.lower(Category.name),
    ]


def _word_matches(word: str, columns: Sequence[ColumnElement[Any]]) -> ColumnElement[bool]:
    return or_(
        *(col.contains(form, autoescape=True) for form in word_forms(word) for col in columns)
    )


# ---------------------------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------------------------


def list_categories(*, session: Session) -> list[CategorySummary]:
    """Every category with its sub-categories and how many products they sell."""
    rows = session.execute(
        select(Category.id, Category.name, SubCategory.id, SubCategory.name, func.count(Product.id))
        .join(SubCategory, SubCategory.category_id == Category.id)
        .outerjoin(
            Product, and_(Product.sub_category_id == SubCategory.id, Product.active.is_(True))
        )
        .group_by(Category.id, Category.name, SubCategory.id, SubCategory.name)
        .order_by(Category.name, SubCategory.name)
    ).all()
    grouped: dict[int, tuple[str, list[SubCategorySummary]]] = {}
    for cat_id, cat_name, sub_id, sub_name, count in rows:
        grouped.setdefault(cat_id, (cat_name, []))[1].append(
            SubCategorySummary(sub_id, sub_name, int(count))
        )
    return [
        CategorySummary(cid, name, sum(s.product_count for s in subs), subs)
        for cid, (name, subs) in grouped.items()
    ]


def active_discounts(
    *, session: Session, product_ids: Iterable[int], day: date | None = None
) -> dict[int, Decimal]:
    """The promotion running today for each product (the largest, if several overlap)."""
    ids = list(product_ids)
    if not ids:
        return {}
    day = day or utcnow().date()
    rows = session.execute(
        select(Promotion.product_id, func.max(Promotion.discount))
        .where(Promotion.product_id.in_(ids), Promotion.starts_on <= day, Promotion.ends_on >= day)
        .group_by(Promotion.product_id)
    )
    return {pid: Decimal(disc) for pid, disc in rows}


def _availability_rows(
    session: Session, product_ids: Sequence[int]
) -> list[tuple[int, int, int, int | None]]:
    """(product_id, location_id, available, reorder minimum) for every stocked pair."""
    rows = session.execute(
        select(
            StockLevel.product_id,
            StockLevel.location_id,
            StockLevel.on_hand - StockLevel.reserved,
            ReorderSetting.min_quantity,
        )
        .outerjoin(
            ReorderSetting,
            and_(
                ReorderSetting.product_id == StockLevel.product_id,
                ReorderSetting.location_id == StockLevel.location_id,
            ),
        )
        .where(StockLevel.product_id.in_(list(product_ids)))
    ).all()
    return [(int(p), int(loc), int(a), m) for p, loc, a, m in rows]


def stock_state(available: int, reorder_minimum: int | None) -> StockState:
    if available <= 0:
        return StockState.OUT
    if available <= max(reorder_minimum or 0, LOW_STOCK_UNITS):
        return StockState.LOW
    return StockState.IN_STOCK


def _best_state(states: Iterable[StockState]) -> StockState:
    found = set(states)
    for state in (StockState.IN_STOCK, StockState.LOW):
        if state in found:
            return state
    return StockState.OUT


def summarize_products(*, session: Session, product_ids: Sequence[int]) -> list[ProductSummary]:
    """Summaries (price, promotion, overall stock) in the order of `product_ids`."""
    if not product_ids:
        return []
    rows = session.execute(
        select(Product, SubCategory.name, Category.id, Category.name)
        .join(SubCategory, SubCategory.id == Product.sub_category_id)
        .join(Category, Category.id == SubCategory.category_id)
        .where(Product.id.in_(list(product_ids)))
    ).all()
    discounts = active_discounts(session=session, product_ids=product_ids)
    totals: dict[int, int] = {}
    states: dict[int, list[StockState]] = {}
    for pid, _loc, available, minimum in _availability_rows(session, product_ids):
        totals[pid] = totals.get(pid, 0) + max(available, 0)
        states.setdefault(pid, []).append(stock_state(available, minimum))
    by_id = {
        product.id: ProductSummary(
            id=product.id,
            sku=product.sku,
            name=product.name,
            brand=product.brand,
            category_id=cat_id,
            category=cat_name,
            sub_category_id=product.sub_category_id,
            sub_category=sub_name,
            unit_price=product.unit_price,
            discount=discounts.get(product.id, Decimal("0")),
            available=totals.get(product.id, 0),
            stock=_best_state(states.get(product.id, [])),
        )
        for product, sub_name, cat_id, cat_name in rows
    }
    return [by_id[pid] for pid in product_ids if pid in by_id]


def _filtered_query(filters: ProductFilters, words: list[str]):  # type: ignore[no-untyped-def]
    query = (
        select(Product.id)
        .join(SubCategory, SubCategory.id == Product.sub_category_id)
        .join(Category, Category.id == SubCategory.category_id)
        .where(Product.active.is_(True))
    )
    columns = _searchable()
    for word in words:
        query = query.where(_word_matches(word, columns))
    if filters.category_id is not None:
        query = query.where(Category.id == filters.category_id)
    if filters.sub_category_id is not None:
        query = query.where(SubCategory.id == filters.sub_category_id)
    if filters.min_price is not None:
        query = query.where(Product.unit_price >= filters.min_price)
    if filters.max_price is not None:
        query = query.where(Product.unit_price <= filters.max_price)
    if filters.in_stock:
        query = query.where(
            exists().where(
                StockLevel.product_id == Product.id, StockLevel.on_hand - StockLevel.reserved > 0
            )
        )
    return query


def _ordering(filters: ProductFilters, words: list[str]) -> list[ColumnElement[Any]]:
    if filters.sort is SortOrder.PRICE_ASC:
        return [Product.unit_price.asc(), Product.name.asc(), Product.id.asc()]
    if filters.sort is SortOrder.PRICE_DESC:
        return [Product.unit_price.desc(), Product.name.asc(), Product.id.asc()]
    if filters.sort is SortOrder.NEWEST:
        launched = func.coalesce(Product.launched_on, date(1900, 1, 1))
        return [launched.desc(), Product.id.desc()]
    if filters.sort is SortOrder.RELEVANCE and words:
        name = func.lower(Product.name)
        scores = [case((_word_matches(w, [name]), 1), else_=0) for w in words]
        in_name = functools.reduce(operator.add, scores)
        return [in_name.desc(), Product.name.asc(), Product.id.asc()]
    return [Product.name.asc(), Product.id.asc()]


def vocabulary(*, session: Session) -> set[str]:
    """Every word a search can match: product names, brands, categories, sub-categories."""
    words: set[str] = set()
    sources = [
        select(Product.name).where(Product.active.is_(True)),
        select(Product.brand).where(Product.active.is_(True), Product.brand.is_not(None)),
        select(SubCategory.name),
        select(Category.name),
    ]
    for source in sources:
        for text in session.scalars(source.distinct()):
            words.update(w for w in normalize_words(text or "") if len(w) > 2)
    return words


def _corrected(session: Session, words: list[str]) -> list[str] | None:
    known = vocabulary(session=session)
    corrected: list[str] = []
    for word in words:
        if word in known or any(form in known for form in word_forms(word)):
            corrected.append(word)
            continue
        match = difflib.get_close_matches(word, known, n=1, cutoff=CLOSE_MATCH_CUTOFF)
        corrected.append(match[0] if match else word)
    return corrected if corrected != words else None


def search_products(*, session: Session, filters: ProductFilters) -> ProductPage:
    """One page of active products matching the text and filters, in the requested order."""
    page = max(1, filters.page)
    per_page = min(max(1, filters.per_page), MAX_PER_PAGE)
    words = normalize_words(filters.query)
    query = _filtered_query(filters, words)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    corrected: str | None = None
    if total == 0 and words:
        better = _corrected(session, words)
        if better is not None:
            words = better
            query = _filtered_query(filters, words)
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            corrected = " ".join(words)
    ids = list(
        session.scalars(
            query.order_by(*_ordering(filters, words)).limit(per_page).offset((page - 1) * per_page)
        )
    )
    return ProductPage(
        items=summarize_products(session=session, product_ids=ids),
        total=int(total),
        page=page,
        per_page=per_page,
        corrected_query=corrected,
        terms=words,
    )


def product_availability(*, session: Session, product_id: int) -> list[LocationAvailability]:
    """Stock by location (every location, out of stock where none is held)."""
    if session.get(Product, product_id) is None:
        raise NotFound(f"product {product_id} does not exist")
    stocked = {
        loc: (avail, minimum)
        for _p, loc, avail, minimum in _availability_rows(session, [product_id])
    }
    result: list[LocationAvailability] = []
    for location in session.scalars(select(Location).order_by(Location.name, Location.id)):
        available, minimum = stocked.get(location.id, (0, None))
        result.append(
            LocationAvailability(
                location_id=location.id,
                code=location.code,
                name=location.name,
                kind=location.kind,
                city=location.city,
                country=location.country,
                available=max(available, 0),
                state=stock_state(available, minimum),
            )
        )
    return result


def related_products(*, session: Session, product_id: int, limit: int = 4) -> list[ProductSummary]:
    """Other products of the same sub-category, then of the same category."""
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(f"product {product_id} does not exist")
    same_sub = list(
        session.scalars(
            select(Product.id)
            .where(
                Product.sub_category_id == product.sub_category_id,
                Product.id != product.id,
                Product.active.is_(True),
            )
            .order_by(Product.name, Product.id)
            .limit(limit)
        )
    )
    if len(same_sub) < limit:
        category_id = product.sub_category.category_id
        same_sub += list(
            session.scalars(
                select(Product.id)
                .join(SubCategory, SubCategory.id == Product.sub_category_id)
                .where(
                    SubCategory.category_id == category_id,
                    Product.sub_category_id != product.sub_category_id,
                    Product.active.is_(True),
                )
                .order_by(Product.name, Product.id)
                .limit(limit - len(same_sub))
            )
        )
    return summarize_products(session=session, product_ids=same_sub)


def get_product(*, session: Session, product_id: int) -> ProductDetail:
    """A product page: summary, description, stock by location and related products."""
    product = session.get(Product, product_id)
    if product is None or not product.active:
        raise NotFound(f"product {product_id} does not exist")
    summary = summarize_products(session=session, product_ids=[product_id])[0]
    return ProductDetail(
        summary=summary,
        description=product.description,
        size=product.size,
        availability=product_availability(session=session, product_id=product_id),
        related=related_products(session=session, product_id=product_id),
    )


def list_locations(*, session: Session) -> list[Location]:
    return list(session.scalars(select(Location).order_by(Location.name, Location.id)))


def location_id_by_code(*, session: Session, code: str) -> int:
    location_id = session.scalar(select(Location.id).where(Location.code == code.strip().upper()))
    if location_id is None:
        known = ", ".join(session.scalars(select(Location.code).order_by(Location.code)).all())
        raise NotFound(f"there is no location with code {code!r} (known: {known or 'none'})")
    return int(location_id)
