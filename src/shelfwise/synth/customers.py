"""Customers in segments, named from seeded Faker pools combined with numpy.

Calling Faker once per customer costs tens of microseconds a name; drawing a few hundred first
and last names per country once and combining them by index is as varied and a thousand times
faster. E-mail addresses carry the customer number, so they are unique by construction.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date

import numpy as np
from faker import Faker

from shelfwise.synth.geography import COUNTRIES, Locations
from shelfwise.synth.timeutil import DAY_US, day_us

SEGMENTS = ("consumer", "corporate", "home_office")
SEGMENT_SHARE = (0.52, 0.30, 0.18)  # as in the Superstore data set
POOL = 250
_FOLD = str.maketrans({"ß": "ss", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "æ": "ae", "đ": "d"})


@dataclass(frozen=True)
class Customers:
    """Customers as columns, ordered by (country, signup time); index i is customer id i + 1."""

    name: list[str]
    email: list[str]
    segment: np.ndarray  # index into SEGMENTS
    country: np.ndarray  # index into COUNTRIES
    city: list[str]
    signup_us: np.ndarray
    activity: np.ndarray  # relative ordering frequency

    def __len__(self) -> int:
        return len(self.name)


def ascii_slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(ch for ch in folded.lower() if ch.isascii() and ch.isalnum())


def make_customers(
    count: int,
    locations: Locations,
    start: date,
    days: int,
    rng: np.random.Generator,
    seed: int,
) -> Customers:
    """Customers live in the countries the chain trades in, in proportion to its locations."""
    present = np.unique(locations.country)
    per_country = np.bincount(locations.country, minlength=len(COUNTRIES))[present].astype(float)
    country = np.sort(rng.choice(present, size=count, p=per_country / per_country.sum()))
    first_index = rng.integers(POOL, size=count)
    last_index = rng.integers(POOL, size=count)
    names = np.empty(count, dtype=object)
    locals_ = np.empty(count, dtype=object)
    domains = np.empty(count, dtype=object)
    cities = np.empty(count, dtype=object)
    for c in present:
        spec = COUNTRIES[int(c)]
        faker = Faker(spec.locale)
        faker.seed_instance(seed * 1_000 + int(c))
        firsts = np.array([faker.first_name() for _ in range(POOL)], dtype=object)
        lasts = np.array([faker.last_name() for _ in range(POOL)], dtype=object)
        pool_domains = np.array([faker.free_email_domain() for _ in range(8)], dtype=object)
        first_slug = np.array([ascii_slug(n) or "customer" for n in firsts], dtype=object)
        last_slug = np.array([ascii_slug(n) or "shopper" for n in lasts], dtype=object)
        here = np.flatnonzero(country == c)
        f, la = first_index[here], last_index[here]
        names[here] = firsts[f] + " " + lasts[la]
        locals_[here] = first_slug[f] + "." + last_slug[la]
        domains[here] = pool_domains[rng.integers(len(pool_domains), size=len(here))]
        city_names = [city for _, cs in spec.regions for city in cs]
        weights = 1.0 / np.arange(1, len(city_names) + 1)  # big cities first
        picks = rng.choice(len(city_names), size=len(here), p=weights / weights.sum())
        cities[here] = np.array(city_names, dtype=object)[picks]
    segment = rng.choice(len(SEGMENTS), size=count, p=SEGMENT_SHARE)
    # Most customers signed up before the period; the rest join while it runs.
    before = rng.random(count) < 0.7
    start_us = day_us(start)
    span_us = max(days, 1) * DAY_US
    signup = np.where(
        before,
        start_us - rng.integers(1, 1_100, count) * DAY_US,
        start_us + rng.integers(0, span_us, count),
    )
    signup -= signup % 1_000_000
    order = np.lexsort((signup, country))
    activity = rng.lognormal(0.0, 0.9, count) * np.where(segment == 1, 1.6, 1.0)
    emails = [
        f"{local}{i + 1}@{domain}"
        for i, (local, domain) in enumerate(zip(locals_[order], domains[order], strict=True))
    ]
    return Customers(
        name=names[order].tolist(),
        email=emails,
        segment=segment[order],
        country=country[order],
        city=cities[order].tolist(),
        signup_us=signup[order],
        activity=activity[order],
    )
