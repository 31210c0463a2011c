"""Suppliers, their terms per product, and how reliably they keep them.

Every product has a primary supplier (the one replenishment orders from) and sometimes a second
one with other terms. Suppliers differ in behaviour the way real ones do: most deliver on the
promised date, some are systematically late, some short-ship (partial receipts, the rest later
or never). The promised lead time is what the database records; the behaviour is hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
from faker import Faker

from shelfwise.synth.catalogue import Catalogue
from shelfwise.synth.timeutil import DAY_US, day_us

RELIABLE, LATE, SHORT = 0, 1, 2
SUPPLIER_COUNTRIES = ("DE", "NL", "PL", "IT", "FR", "ES", "GB", "CN", "TW", "US")


@dataclass(frozen=True)
class Suppliers:
    code: list[str]
    name: list[str]
    country: list[str]
    email: list[str]
    behaviour: np.ndarray  # RELIABLE, LATE or SHORT
    base_lead: np.ndarray  # promised days
    created_us: np.ndarray
    # supplier_products, one row per (supplier, product) pair
    sp_supplier: np.ndarray
    sp_product: np.ndarray
    sp_cost_cents: np.ndarray
    sp_lead: np.ndarray
    sp_moq: np.ndarray
    sp_created_us: np.ndarray
    # per product: the primary supplier's index and terms
    primary: np.ndarray
    lead: np.ndarray
    moq: np.ndarray

    def __len__(self) -> int:
        return len(self.code)


def make_suppliers(
    count: int, catalogue: Catalogue, start: date, rng: np.random.Generator, seed: int
) -> Suppliers:
    faker = Faker("en_GB")
    faker.seed_instance(seed)
    names: list[str] = []
    emails: list[str] = []
    countries: list[str] = []
    for i in range(count):
        company = faker.company()
        country = SUPPLIER_COUNTRIES[int(rng.integers(len(SUPPLIER_COUNTRIES)))]
        names.append(f"{company} {'Trading' if country in ('CN', 'TW') else 'Supply'}")
        slug = "".join(ch for ch in company.lower() if ch.isalnum())[:20] or f"supplier{i}"
        emails.append(f"orders@{slug}.example.com")
        countries.append(country)
    behaviour = rng.choice([RELIABLE, LATE, SHORT], size=count, p=[0.6, 0.25, 0.15])
    far = np.isin(countries, ("CN", "TW", "US"))
    base_lead = np.where(far, rng.integers(18, 35, count), rng.integers(3, 12, count))
    created_us = day_us(start) - rng.integers(200, 2_500, count) * DAY_US + 9 * 3_600_000_000

    products = len(catalogue)
    # Suppliers specialise: each serves a few sub-categories.
    subs = len(catalogue.sub_names)
    home = rng.integers(count, size=subs)
    primary = home[catalogue.sub]
    switch = rng.random(products) < 0.2
    primary = np.where(switch, rng.integers(count, size=products), primary)
    second = (primary + 1 + rng.integers(count - 1, size=products)) % count
    has_second = rng.random(products) < 0.35
    sp_supplier = np.concatenate([primary, second[has_second]])
    sp_product = np.concatenate([np.arange(products), np.arange(products)[has_second]])
    pairs = len(sp_product)
    base_cost = catalogue.cost_cents[sp_product]
    sp_cost = np.maximum(1, np.round(base_cost * rng.uniform(0.94, 1.08, pairs))).astype(np.int64)
    sp_cost[:products] = catalogue.cost_cents  # the primary supplier's price is the book cost
    sp_lead = base_lead[sp_supplier] + rng.integers(0, 4, pairs)
    pack = catalogue.case_pack[sp_product]
    sp_moq = pack * rng.choice([1, 1, 2, 4], size=pairs)
    cheap = catalogue.price_cents[sp_product] < 1_500
    sp_moq = np.where(cheap, np.maximum(sp_moq, pack * 2), sp_moq)
    sp_created = np.maximum(created_us[sp_supplier], catalogue.created_us[sp_product]) + DAY_US
    order = np.lexsort((sp_product, sp_supplier))
    return Suppliers(
        code=[f"SUP-{i + 1:04d}" for i in range(count)],
        name=names,
        country=countries,
        email=emails,
        behaviour=behaviour,
        base_lead=base_lead,
        created_us=created_us,
        sp_supplier=sp_supplier[order],
        sp_product=sp_product[order],
        sp_cost_cents=sp_cost[order],
        sp_lead=sp_lead[order],
        sp_moq=sp_moq[order],
        sp_created_us=sp_created[order],
        primary=primary,
        lead=sp_lead[:products],
        moq=sp_moq[:products],
    )
