"""The product range: a category → sub-category tree, brands, sizes, prices, costs, life cycles.

The tree extends the Superstore data set's Furniture / Office Supplies / Technology with the
departments of a general merchandise chain. Each sub-category carries what its products share:
a typical price, how many units a customer takes per line, and a yearly demand profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from shelfwise.synth.timeutil import DAY_US, day_number


@dataclass(frozen=True)
class SubCategorySpec:
    name: str
    nouns: tuple[str, ...]
    sizes: tuple[str | None, ...]
    median_price: float  # euros
    units_per_line: float  # mean extra units beyond the first on an order line
    season: str  # key of SEASONS


@dataclass(frozen=True)
class CategorySpec:
    name: str
    code: str
    share: float  # of the product range
    brands: tuple[str, ...]
    subs: tuple[SubCategorySpec, ...]


S = SubCategorySpec
TREE: tuple[CategorySpec, ...] = (
    CategorySpec("Office Supplies", "OFF", 0.38,
        ("Papyra", "Clipwell", "Scriptum", "Officio", "Ledgerline", "Inkwell & Co", "Avalon"), (
        S("Binders", ("Ring Binder", "Lever Arch File", "Presentation Binder", "Report Folder"),
          ("A4", "1 inch", "2 inch", "3 inch"), 8, 1.2, "school"),
        S("Paper", ("Copy Paper", "Notebook", "Sticky Notes", "Legal Pad", "Index Cards"),
          ("A4 500 sheets", "A5", "Letter", "A3 250 sheets"), 11, 1.6, "school"),
        S("Art", ("Pencil Set", "Marker Set", "Highlighters", "Watercolour Set", "Sketchbook"),
          ("6 pcs", "12 pcs", "24 pcs"), 9, 1.0, "school"),
        S("Storage", ("Archive Box", "Storage Cabinet", "File Cart", "Desktop Organizer"),
          (None, "Small", "Large"), 45, 0.4, "flat"),
        S("Labels", ("Address Labels", "Shipping Labels", "Label Tape", "Name Badges"),
          ("100 pcs", "500 pcs", "1000 pcs"), 7, 1.1, "flat"),
        S("Envelopes", ("Envelopes", "Padded Mailers", "Window Envelopes"),
          ("C4", "C5", "DL"), 10, 1.0, "flat"),
        S("Fasteners", ("Paper Clips", "Staples", "Push Pins", "Binder Clips", "Rubber Bands"),
          ("Box of 100", "Box of 1000"), 4, 1.6, "school"),
        S("Supplies", ("Scissors", "Stapler", "Hole Punch", "Letter Opener", "Tape Dispenser"),
          (None,), 14, 0.5, "school"),
        S("Appliances", ("Desk Lamp", "Paper Shredder", "Space Heater", "Desk Fan", "Kettle"),
          (None,), 60, 0.2, "winter"),
    )),
    CategorySpec("Furniture", "FUR", 0.12,
        ("Nordhaus", "Oakridge", "Sitwell", "Linea", "Atelier Mobili", "Brookfield"), (
        S("Chairs", ("Office Chair", "Task Chair", "Stacking Chair", "Executive Chair"),
          ("Black", "Grey", "Blue"), 180, 0.15, "flat"),
        S("Tables", ("Desk", "Conference Table", "Standing Desk", "Side Table", "Folding Table"),
          ("120x60 cm", "140x70 cm", "160x80 cm"), 260, 0.08, "flat"),
        S("Bookcases", ("Bookcase", "Display Shelf", "Ladder Shelf"),
          ("3 shelves", "5 shelves"), 140, 0.08, "spring"),
        S("Furnishings", ("Wall Clock", "Picture Frame", "Desk Mat", "Coat Rack", "Floor Lamp"),
          (None, "Small", "Large"), 30, 0.4, "holiday"),
    )),
    CategorySpec("Technology", "TEC", 0.18,
        ("Voltix", "Quantra", "Pixelon", "Nimbus", "Arcwave", "Teklon", "Orbix"), (
        S("Phones", ("Smartphone", "Desk Phone", "Conference Phone", "Headset"),
          ("64 GB", "128 GB", None), 280, 0.08, "holiday"),
        S("Accessories", ("Wireless Mouse", "Keyboard", "USB Hub", "Webcam", "Power Bank"),
          (None, "1 m", "2 m"), 35, 0.5, "holiday"),
        S("Machines", ("Laser Printer", "Label Printer", "Scanner", "Laminator", "Projector"),
          (None,), 320, 0.05, "flat"),
        S("Copiers", ("Copier", "Multifunction Printer"), (None,), 900, 0.02, "flat"),
        S("Computers", ("Laptop", "Desktop PC", "Tablet", "Chromebook"),
          ("8 GB", "16 GB", "32 GB"), 750, 0.04, "holiday"),
        S("Monitors", ("Monitor", "Portable Monitor"), ("24 inch", "27 inch", "32 inch"),
          220, 0.05, "holiday"),
    )),
    CategorySpec("Home & Kitchen", "HOM", 0.12,
        ("Casa Nova", "Kitchly", "Hearthstone", "Pureform", "Maison Belle"), (
        S("Cookware", ("Frying Pan", "Saucepan", "Stock Pot", "Baking Tray"),
          ("20 cm", "24 cm", "28 cm"), 35, 0.2, "holiday"),
        S("Tableware", ("Dinner Plates", "Mugs", "Glasses", "Cutlery Set"),
          ("Set of 4", "Set of 6"), 25, 0.3, "holiday"),
        S("Cleaning", ("Microfibre Cloths", "Dish Soap", "All-Purpose Cleaner", "Sponges"),
          ("500 ml", "1 l", "Pack of 10"), 5, 1.4, "spring"),
        S("Small Appliances", ("Coffee Machine", "Toaster", "Blender", "Vacuum Cleaner"),
          (None,), 70, 0.05, "holiday"),
    )),
    CategorySpec("Toys & Games", "TOY", 0.07,
        ("Playforge", "Tinkerton", "Joyride", "Puzzlewick"), (
        S("Board Games", ("Strategy Game", "Family Game", "Card Game", "Trivia Game"),
          (None,), 30, 0.15, "holiday"),
        S("Puzzles", ("Jigsaw Puzzle", "3D Puzzle", "Brain Teaser"),
          ("500 pcs", "1000 pcs", "1500 pcs"), 18, 0.15, "holiday"),
        S("Outdoor Toys", ("Kite", "Water Pistol", "Frisbee", "Sand Set", "Bubble Machine"),
          (None,), 15, 0.3, "summer"),
    )),
    CategorySpec("Sports & Outdoors", "SPO", 0.07,
        ("Peakline", "Trailmark", "Velocita", "Corefit"), (
        S("Fitness", ("Yoga Mat", "Dumbbells", "Resistance Bands", "Jump Rope", "Kettlebell"),
          ("2 kg", "5 kg", "8 kg", None), 25, 0.3, "newyear"),
        S("Camping", ("Tent", "Sleeping Bag", "Camping Stove", "Headlamp", "Cooler Box"),
          (None, "2 person", "4 person"), 60, 0.1, "summer"),
        S("Cycling", ("Bike Helmet", "Bike Light", "Bike Lock", "Water Bottle", "Pump"),
          (None, "S", "M", "L"), 25, 0.2, "spring"),
    )),
    CategorySpec("Garden", "GAR", 0.06,
        ("Greenthumb", "Bloomfield", "Terra Verde", "Hedgerow"), (
        S("Garden Tools", ("Pruning Shears", "Garden Hose", "Rake", "Spade", "Watering Can"),
          (None, "15 m", "25 m"), 22, 0.15, "spring"),
        S("Plants & Seeds", ("Seed Mix", "Flower Bulbs", "Herb Kit", "Potting Soil"),
          ("1 kg", "5 l", "20 l"), 6, 1.0, "spring"),
        S("Outdoor Furniture", ("Garden Chair", "Parasol", "Patio Table", "Sun Lounger"),
          (None,), 110, 0.05, "summer"),
    )),
)  # fmt: skip

ADJECTIVES = (
    "Classic", "Premium", "Eco", "Pro", "Essential", "Compact", "Deluxe", "Ergonomic",
    "Heavy-Duty", "Slim", "Smart", "Recycled", "Everyday", "Studio", "Signature", "Ultra",
)  # fmt: skip

# Yearly demand shapes: (peak day of year, amplitude, width in days; None = a full-year cosine).
SEASONS: dict[str, tuple[tuple[int, float, float | None], ...]] = {
    "flat": ((12, 0.12, None),),
    "school": ((242, 0.9, 18.0), (12, 0.35, 14.0)),
    "holiday": ((348, 1.3, 16.0), (330, 0.4, 30.0)),
    "summer": ((185, 0.75, None),),
    "spring": ((110, 0.55, None),),
    "winter": ((15, 0.45, None),),
    "newyear": ((10, 1.0, 16.0), (100, 0.2, None)),
}
SEASON_KEYS = tuple(SEASONS)
CASE_PACKS = np.array([1, 2, 4, 6, 10, 12, 24])


@dataclass(frozen=True)
class Catalogue:
    """Products as columns (index i is product id i + 1) plus the category tree they hang in."""

    category_names: list[str]
    sub_names: list[str]
    sub_category: np.ndarray  # per sub-category: category index
    sku: list[str]
    name: list[str]
    description: list[str]
    brand: list[str]
    size: list[str | None]
    sub: np.ndarray  # sub-category index per product
    price_cents: np.ndarray
    cost_cents: np.ndarray
    units_per_line: np.ndarray  # Poisson mean of extra units per order line
    season: np.ndarray  # index into SEASON_KEYS
    popularity: np.ndarray  # relative demand, heavy-tailed
    growth: np.ndarray  # yearly trend (0.1 = +10 % a year)
    case_pack: np.ndarray
    launch_day: np.ndarray  # day index relative to the start (negative: before)
    retire_day: np.ndarray  # day index, or a large number when still sold
    created_us: np.ndarray
    updated_us: np.ndarray

    def __len__(self) -> int:
        return len(self.sku)


NEVER = 1 << 40


def make_catalogue(count: int, start: date, days: int, rng: np.random.Generator) -> Catalogue:
    """`count` products spread over the tree; a quarter launch during the period, some retire."""
    subs = [(c, s) for c, cat in enumerate(TREE) for s in cat.subs]
    sub_weight = np.array([TREE[c].share / len(TREE[c].subs) for c, _ in subs])
    sub = np.sort(rng.choice(len(subs), size=count, p=sub_weight / sub_weight.sum()))
    sku, name, description, brand, size = [], [], [], [], []
    median = np.array([s.median_price for _, s in subs])[sub]
    price = np.round(median * rng.lognormal(0.0, 0.45, count), 0) - 0.01
    price = np.maximum(price, 0.99)
    cents = np.round(price * 100).astype(np.int64)
    cost = np.round(cents * rng.uniform(0.42, 0.72, count)).astype(np.int64)
    serials = rng.permutation(np.arange(10_000, 10_000 + count * 7))[:count]
    for i in range(count):
        c, spec = subs[sub[i]]
        category = TREE[c]
        noun = spec.nouns[rng.integers(len(spec.nouns))]
        adjective = ADJECTIVES[rng.integers(len(ADJECTIVES))]
        maker = category.brands[rng.integers(len(category.brands))]
        variant = spec.sizes[rng.integers(len(spec.sizes))]
        sku.append(f"{category.code}-{spec.name[:2].upper()}-{serials[i]:08d}")
        name.append(f"{maker} {adjective} {noun}" + (f", {variant}" if variant else ""))
        description.append(
            f"{adjective} {noun.lower()} by {maker} for {category.name.lower()}"
            + (f", {variant}." if variant else ".")
        )
        brand.append(maker)
        size.append(variant)
    units = np.array([s.units_per_line for _, s in subs])[sub]
    season = np.array([SEASON_KEYS.index(s.season) for _, s in subs])[sub]
    popularity = rng.lognormal(0.0, 1.35, count)
    growth = rng.normal(0.06, 0.22, count)
    pack = np.where(
        cents < 2_000, rng.choice(CASE_PACKS[2:], count), rng.choice(CASE_PACKS[:3], count)
    )
    pack = np.where(cents > 15_000, 1, pack)
    # A quarter of the range arrives during the period; the rest was launched before it.
    launched_in_period = rng.random(count) < (0.25 if days >= 60 else 0.0)
    launch_day = np.where(
        launched_in_period,
        rng.integers(0, max(days - 30, 1), count),
        -rng.integers(30, 2_000, count),
    )
    retires = (rng.random(count) < 0.12) & (days >= 120)
    retire_day = np.where(
        retires, np.maximum(launch_day, 0) + rng.integers(90, max(days, 91) + 1, count), NEVER
    )
    retire_day = np.where(retire_day < days, retire_day, NEVER)
    start_us = day_number(start) * DAY_US
    # Catalogue entries are created a few weeks before launch and updated when retired.
    created_us = start_us + (launch_day - rng.integers(7, 40, count)) * DAY_US
    created_us += rng.integers(8 * 3600, 18 * 3600, count) * 1_000_000
    updated_us = np.where(
        retire_day < NEVER, start_us + retire_day * DAY_US + 6 * 3_600_000_000, created_us
    )
    return Catalogue(
        category_names=[c.name for c in TREE],
        sub_names=[s.name for _, s in subs],
        sub_category=np.array([c for c, _ in subs]),
        sku=sku,
        name=name,
        description=description,
        brand=brand,
        size=size,
        sub=sub,
        price_cents=cents,
        cost_cents=cost,
        units_per_line=units,
        season=season,
        popularity=popularity,
        growth=growth,
        case_pack=pack,
        launch_day=launch_day,
        retire_day=retire_day,
        created_us=created_us,
        updated_us=updated_us,
    )


def yearly_profile(season: str, day_of_year: np.ndarray) -> np.ndarray:
    """Multiplier by day of year, averaging about 1 over a year."""
    factor = np.ones(len(day_of_year))
    for peak, amplitude, width in SEASONS[season]:
        distance = np.abs(day_of_year - peak)
        distance = np.minimum(distance, 365.25 - distance)
        if width is None:
            factor += amplitude * np.cos(2 * np.pi * distance / 365.25)
        else:
            bump = np.exp(-0.5 * (distance / width) ** 2)
            factor += amplitude * (bump - width * np.sqrt(2 * np.pi) / 365.25)
    return np.maximum(factor, 0.05)
