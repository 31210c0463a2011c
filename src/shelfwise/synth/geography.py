"""Countries, regions and cities of the synthetic chain, and the locations it runs.

The chain trades in European countries only: their business hours (07:00-20:00 UTC here) fall
on the same calendar day in UTC and in local time, so "sales per day" means the same thing in
the shop and in the warehouse, and the per-country public holidays line up with the dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import holidays
import numpy as np

from shelfwise.synth.timeutil import DAY_US, day_us


@dataclass(frozen=True)
class Country:
    code: str  # ISO 3166-1 alpha-2
    locale: str  # Faker locale for people's names
    weight: float  # share of locations and customers
    sunday_closed: bool  # stores closed on Sundays by law
    regions: tuple[tuple[str, tuple[str, ...]], ...]


COUNTRIES: tuple[Country, ...] = (
    Country("DE", "de_DE", 5, True, (
        ("Bavaria", ("Munich", "Nuremberg", "Augsburg")),
        ("Berlin", ("Berlin",)),
        ("Hamburg", ("Hamburg",)),
        ("North Rhine-Westphalia", ("Cologne", "Düsseldorf", "Dortmund", "Essen")),
        ("Hesse", ("Frankfurt am Main", "Wiesbaden")),
        ("Baden-Württemberg", ("Stuttgart", "Karlsruhe")),
        ("Saxony", ("Leipzig", "Dresden")),
    )),
    Country("FR", "fr_FR", 4, False, (
        ("Île-de-France", ("Paris", "Versailles")),
        ("Auvergne-Rhône-Alpes", ("Lyon", "Grenoble")),
        ("Provence-Alpes-Côte d'Azur", ("Marseille", "Nice")),
        ("Occitanie", ("Toulouse", "Montpellier")),
        ("Nouvelle-Aquitaine", ("Bordeaux",)),
        ("Hauts-de-France", ("Lille",)),
    )),
    Country("GB", "en_GB", 4, False, (
        ("England", ("London", "Manchester", "Birmingham", "Leeds", "Bristol")),
        ("Scotland", ("Glasgow", "Edinburgh")),
        ("Wales", ("Cardiff",)),
        ("Northern Ireland", ("Belfast",)),
    )),
    Country("ES", "es_ES", 3, False, (
        ("Madrid", ("Madrid",)),
        ("Catalonia", ("Barcelona",)),
        ("Valencia", ("Valencia",)),
        ("Andalusia", ("Seville", "Málaga")),
        ("Basque Country", ("Bilbao",)),
    )),
    Country("IT", "it_IT", 3, False, (
        ("Lombardy", ("Milan", "Bergamo")),
        ("Lazio", ("Rome",)),
        ("Piedmont", ("Turin",)),
        ("Campania", ("Naples",)),
        ("Tuscany", ("Florence",)),
        ("Emilia-Romagna", ("Bologna",)),
    )),
    Country("NL", "nl_NL", 2, False, (
        ("North Holland", ("Amsterdam", "Haarlem")),
        ("South Holland", ("Rotterdam", "The Hague")),
        ("Utrecht", ("Utrecht",)),
        ("North Brabant", ("Eindhoven",)),
    )),
    Country("PL", "pl_PL", 2, True, (
        ("Masovia", ("Warsaw",)),
        ("Lesser Poland", ("Kraków",)),
        ("Greater Poland", ("Poznań",)),
        ("Lower Silesia", ("Wrocław",)),
        ("Pomerania", ("Gdańsk",)),
    )),
    Country("SE", "sv_SE", 1, False, (
        ("Stockholm County", ("Stockholm",)),
        ("Västra Götaland", ("Gothenburg",)),
        ("Skåne", ("Malmö",)),
    )),
    Country("AT", "de_AT", 1, True, (
        ("Vienna", ("Vienna",)),
        ("Styria", ("Graz",)),
        ("Upper Austria", ("Linz",)),
        ("Salzburg", ("Salzburg",)),
    )),
    Country("BE", "nl_BE", 1, False, (
        ("Brussels-Capital", ("Brussels",)),
        ("Flanders", ("Antwerp", "Ghent")),
        ("Wallonia", ("Liège",)),
    )),
    Country("IE", "en_IE", 1, False, (
        ("Leinster", ("Dublin",)),
        ("Munster", ("Cork", "Limerick")),
        ("Connacht", ("Galway",)),
    )),
    Country("DK", "da_DK", 1, False, (
        ("Capital Region", ("Copenhagen",)),
        ("Central Jutland", ("Aarhus",)),
        ("Southern Denmark", ("Odense",)),
    )),
)  # fmt: skip

STORE, WAREHOUSE = 0, 1
# Day-of-week demand (Monday first): shoppers crowd stores on Saturdays; online and business
# orders, fulfilled by warehouses, come in on working days.
WEEKLY = {
    STORE: np.array([0.88, 0.90, 0.94, 1.00, 1.14, 1.42, 0.72]),
    WAREHOUSE: np.array([1.18, 1.12, 1.08, 1.05, 1.00, 0.62, 0.55]),
}
SUNDAY_CLOSED_FACTOR = 0.04  # a few Sunday sales in stations and airports
HOLIDAY_FACTOR = {STORE: 0.12, WAREHOUSE: 0.70}
EVE_FACTOR = {STORE: 1.25, WAREHOUSE: 1.05}


@dataclass(frozen=True)
class Locations:
    """The chain's stores and warehouses as columns (index i is location id i + 1)."""

    code: list[str]
    name: list[str]
    kind: np.ndarray  # STORE or WAREHOUSE
    country: np.ndarray  # index into COUNTRIES
    region: list[str]
    city: list[str]
    size: np.ndarray  # relative footfall
    opened_us: np.ndarray  # created_at

    def __len__(self) -> int:
        return len(self.code)


def make_locations(count: int, start: date, rng: np.random.Generator) -> Locations:
    """Stores in the big countries first, about one warehouse for every five locations."""
    weights = np.array([c.weight for c in COUNTRIES], dtype=float)
    countries = _apportion(count, weights)
    code: list[str] = []
    name: list[str] = []
    kind: list[int] = []
    country_of: list[int] = []
    region: list[str] = []
    city: list[str] = []
    sequence = {STORE: 0, WAREHOUSE: 0}
    for index, country in enumerate(COUNTRIES):
        cities = [(r, c) for r, cs in country.regions for c in cs]
        for n in range(countries[index]):
            is_warehouse = n == 1 or (n > 1 and n % 5 == 1)
            kind_here = WAREHOUSE if is_warehouse else STORE
            region_name, city_name = cities[n % len(cities)]
            sequence[kind_here] += 1
            letter = "W" if is_warehouse else "S"
            code.append(f"{country.code}-{letter}{sequence[kind_here]:03d}")
            label = "Distribution Centre" if is_warehouse else "Store"
            suffix = f" {n // len(cities) + 1}" if n >= len(cities) else ""
            name.append(f"Shelfwise {city_name} {label}{suffix}")
            kind.append(kind_here)
            country_of.append(index)
            region.append(region_name)
            city.append(city_name)
    kinds = np.array(kind, dtype=np.int8)
    if count >= 2 and not (kinds == WAREHOUSE).any():
        kinds[-1] = WAREHOUSE
        code[-1] = code[-1].replace("-S", "-W")
        name[-1] = name[-1].replace("Store", "Distribution Centre")
    size = rng.lognormal(0.0, 0.45, count) * np.where(kinds == WAREHOUSE, 2.2, 1.0)
    opened_days = rng.integers(400, 3_000, count)
    opened_us = day_us(start) - opened_days * DAY_US + rng.integers(8, 17, count) * 3_600_000_000
    return Locations(
        code=code,
        name=name,
        kind=kinds,
        country=np.array(country_of, dtype=np.int16),
        region=region,
        city=city,
        size=size,
        opened_us=opened_us,
    )


def _apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """Split `total` by weights (largest remainder), every country first gets one if it can."""
    share = weights / weights.sum() * total
    counts = np.floor(share).astype(int)
    order = np.argsort(-(share - counts), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return np.asarray(counts)


def location_day_factors(locations: Locations, start: date, days: int) -> np.ndarray:
    """Demand multiplier per location and day: weekly pattern, Sunday closing, holidays."""
    dates = [date.fromordinal(start.toordinal() + d) for d in range(days)]
    dow = np.array([d.weekday() for d in dates])
    years = sorted({d.year for d in dates} | {dates[-1].year + 1})
    factors = np.empty((len(locations), days), dtype=np.float64)
    calendars: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for index in np.unique(locations.country):
        country = COUNTRIES[int(index)]
        calendar = holidays.country_holidays(country.code, years=years)
        is_holiday = np.array([d in calendar for d in dates])
        tomorrow = [date.fromordinal(d.toordinal() + 1) for d in dates]
        is_eve = np.array([t in calendar for t in tomorrow]) & ~is_holiday
        calendars[int(index)] = (is_holiday, is_eve)
    for i in range(len(locations)):
        kind = int(locations.kind[i])
        country = COUNTRIES[int(locations.country[i])]
        row = WEEKLY[kind][dow].copy()
        if kind == STORE and country.sunday_closed:
            row[dow == 6] = SUNDAY_CLOSED_FACTOR
        is_holiday, is_eve = calendars[int(locations.country[i])]
        row[is_holiday] *= HOLIDAY_FACTOR[kind]
        row[is_eve] *= EVE_FACTOR[kind]
        factors[i] = row
    return factors
