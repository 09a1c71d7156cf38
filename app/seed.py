"""A deterministic, realistic and fast bulk seed of the catalog.

`build_catalog` generates every row in Python from one `random.Random(seed)` and a fixed epoch (never the
global random, never the clock), so the same seed and size always give the same rows. `seed_catalog` writes
them with SQLAlchemy Core bulk inserts in one transaction, with primary keys assigned in Python so no
RETURNING round trips are needed; the denormalised sort columns of products (min_price, rating_count,
rating_average) are computed while generating, so they agree with the variants and reviews by construction.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import product as cartesian_product
from random import Random
from typing import Any

from sqlalchemy import Table, delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.models import Base

__all__ = [
    "CATALOG_TABLES",
    "CatalogRows",
    "SeedError",
    "SeedReport",
    "build_catalog",
    "catalog_counts",
    "seed_catalog",
]

# Parents before children: the order rows are inserted in (and the reverse of the order they are deleted in).
CATALOG_TABLES = ("categories", "customers", "products", "product_variants", "product_images", "reviews")
CHUNK_SIZE = 5_000
MIN_CUSTOMERS = 20
PRODUCTS_PER_CUSTOMER = 5

EPOCH = datetime(2023, 1, 1, tzinfo=UTC)
CATALOG_SPAN_SECONDS = 730 * 24 * 3600  # products and customers are created over about two years
MAX_UPDATE_DELAY_SECONDS = 120 * 24 * 3600
MIN_REVIEW_DELAY_SECONDS = 3600
MAX_REVIEW_DELAY_SECONDS = 240 * 24 * 3600

STATUS_WEIGHTS = {"ACTIVE": 90, "DRAFT": 6, "ARCHIVED": 4}
VARIANT_COUNTS = (3, 4, 5)
IMAGE_COUNT_WEIGHTS = {1: 10, 2: 15, 3: 25, 4: 25, 5: 15, 6: 10}
REVIEW_COUNT_WEIGHTS = {0: 25, 1: 14, 2: 13, 3: 12, 4: 10, 5: 9, 6: 7, 7: 5, 8: 5}
LIKED_RATING_WEIGHTS = {1: 3, 2: 4, 3: 10, 4: 33, 5: 50}
MIXED_RATING_WEIGHTS = {1: 15, 2: 17, 3: 25, 4: 25, 5: 18}
MIXED_PRODUCT_SHARE = 0.15
ON_SALE_SHARE = 0.30
SOLD_OUT_PRODUCT_SHARE = 0.05
OUT_OF_STOCK_VARIANT_SHARE = 0.105  # with the sold-out products, about 15% of variants have no stock
MAX_STOCK = 250
IMAGE_SIZES = ((1600, 1600), (1200, 1600))
IMAGE_VIEWS = ("front view", "back view", "side view", "detail", "in use", "packaging")
PRICE_ENDINGS = (99, 95, 0)

RATING_PLACES = Decimal("0.001")


class SeedError(ValueError):
    """The catalog cannot be seeded as asked (it already has rows, or the arguments are invalid)."""


@dataclass(frozen=True)
class SeedReport:
    """How many rows of each kind a seed wrote, and how long it took."""

    categories: int
    customers: int
    products: int
    variants: int
    images: int
    reviews: int
    seconds: float


@dataclass
class CatalogRows:
    """Every row of a generated catalog, as dicts ready for Core bulk inserts, keyed like the tables."""

    categories: list[dict[str, Any]] = field(default_factory=list)
    customers: list[dict[str, Any]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    product_variants: list[dict[str, Any]] = field(default_factory=list)
    product_images: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)

    def rows_of(self, table_name: str) -> list[dict[str, Any]]:
        """The rows of the named table."""
        rows: list[dict[str, Any]] = getattr(self, table_name)
        return rows


# --- What the catalog looks like -------------------------------------------------------------------------


@dataclass(frozen=True)
class OptionSpec:
    """A variant option such as Size; each step along `values` raises the price by `price_step_percent`."""

    name: str
    values: tuple[str, ...]
    price_step_percent: int = 0


@dataclass(frozen=True)
class ProductProfile:
    """How products of a category are named, optioned and priced (whole dollars)."""

    nouns: tuple[str, ...]
    materials: tuple[str, ...]
    adjectives: tuple[str, ...]
    options: tuple[OptionSpec, ...]
    price_range: tuple[int, int]


@dataclass(frozen=True)
class CategorySpec:
    """A node of the category tree; without a profile it inherits its parent's."""

    name: str
    description: str
    profile: ProductProfile | None = None
    children: tuple[CategorySpec, ...] = ()


def _options(*specs: OptionSpec) -> tuple[OptionSpec, ...]:
    return specs


APPAREL_SIZES = OptionSpec("Size", ("XS", "S", "M", "L", "XL"), 0)
WAIST_SIZES = OptionSpec("Size", ("28", "30", "32", "34", "36", "38"), 0)
APPAREL_COLORS = OptionSpec("Color", ("Black", "White", "Navy", "Heather Grey", "Olive", "Rust", "Sand"))
SHOE_SIZES = OptionSpec("Size", ("US 7", "US 8", "US 9", "US 10", "US 11", "US 12"))
SHOE_COLORS = OptionSpec("Color", ("Black", "White", "Tan", "Brown", "Grey", "Navy"))
SOCK_SIZES = OptionSpec("Size", ("S", "M", "L", "XL"))
HOME_COLORS = OptionSpec("Color", ("Natural", "White", "Charcoal", "Sage", "Terracotta", "Ochre"))
BED_SIZES = OptionSpec("Size", ("Twin", "Full", "Queen", "King", "Cal King"), 12)
FINISHES = OptionSpec("Finish", ("Brass", "Matte Black", "White", "Chrome", "Walnut"))
TECH_COLORS = OptionSpec("Color", ("Black", "White", "Silver", "Sand", "Midnight Blue"))
STORAGE_CAPACITY = OptionSpec("Capacity", ("128 GB", "256 GB", "512 GB", "1 TB", "2 TB"), 45)
BATTERY_CAPACITY = OptionSpec("Capacity", ("5,000 mAh", "10,000 mAh", "20,000 mAh"), 30)
CABLE_LENGTHS = OptionSpec("Length", ("0.5 m", "1 m", "2 m", "3 m"), 15)
CASE_SIZES = OptionSpec("Case Size", ("41 mm", "45 mm"), 10)
PACK_SIZES = OptionSpec("Pack", ("1-Pack", "2-Pack", "3-Pack", "4-Pack", "6-Pack"), 60)
OUTDOOR_COLORS = OptionSpec("Color", ("Forest", "Slate", "Ember", "Glacier", "Black", "Sand"))
TENT_CAPACITY = OptionSpec("Capacity", ("1-Person", "2-Person", "3-Person", "4-Person"), 25)
PACK_VOLUMES = OptionSpec("Capacity", ("18 L", "24 L", "32 L", "45 L", "60 L"), 15)
BEAUTY_VOLUMES = OptionSpec("Size", ("15 ml", "30 ml", "50 ml", "100 ml", "200 ml"), 35)
HAIR_VOLUMES = OptionSpec("Size", ("100 ml", "250 ml", "500 ml", "1 L", "Refill Pouch"), 30)
SHADES = OptionSpec("Shade", ("Porcelain", "Ivory", "Sand", "Honey", "Caramel", "Espresso", "Rose", "Berry"))

APPAREL_ADJECTIVES = ("Classic", "Relaxed", "Slim", "Everyday", "Heavyweight", "Lightweight", "Vintage")
FOOTWEAR_ADJECTIVES = ("Classic", "Lightweight", "All-Weather", "Cushioned", "Low-Top", "High-Top")
HOME_ADJECTIVES = ("Classic", "Modern", "Handmade", "Minimal", "Heirloom", "Everyday", "Rustic")
TECH_ADJECTIVES = ("Wireless", "Compact", "Portable", "Pro", "Ultra", "Smart", "Fast-Charge")
OUTDOOR_ADJECTIVES = ("Ultralight", "Packable", "Waterproof", "Trail", "Alpine", "Expedition", "Weekend")
BEAUTY_ADJECTIVES = ("Daily", "Gentle", "Hydrating", "Brightening", "Nourishing", "Soothing", "Overnight")

TEES = ProductProfile(
    ("T-Shirt", "Pocket Tee", "Long Sleeve Tee", "Tank"),
    ("Cotton", "Organic Cotton", "Slub Cotton", "Linen", "Merino"),
    APPAREL_ADJECTIVES,
    _options(APPAREL_SIZES, APPAREL_COLORS),
    (18, 48),
)
KNITWEAR = ProductProfile(
    ("Crew Sweater", "Cardigan", "Turtleneck", "Quarter-Zip", "Hoodie"),
    ("Merino", "Cashmere", "Lambswool", "Cotton", "Alpaca"),
    APPAREL_ADJECTIVES,
    _options(APPAREL_SIZES, APPAREL_COLORS),
    (45, 180),
)
OUTERWEAR = ProductProfile(
    ("Jacket", "Parka", "Rain Shell", "Puffer", "Overcoat", "Anorak"),
    ("Nylon", "Waxed Cotton", "Wool", "Recycled Polyester", "Down"),
    ("Insulated", "Waterproof", "Packable", "Classic", "Storm", "City"),
    _options(APPAREL_SIZES, APPAREL_COLORS),
    (90, 380),
)
PANTS = ProductProfile(
    ("Chinos", "Jeans", "Joggers", "Trousers", "Shorts"),
    ("Cotton Twill", "Selvedge Denim", "Stretch Denim", "Linen", "Corduroy"),
    ("Slim", "Straight", "Relaxed", "Tapered", "Everyday"),
    _options(WAIST_SIZES, APPAREL_COLORS),
    (40, 160),
)
ACCESSORIES = ProductProfile(
    ("Beanie", "Scarf", "Cap", "Belt", "Tote", "Gloves"),
    ("Merino", "Cashmere", "Leather", "Canvas", "Cotton"),
    APPAREL_ADJECTIVES,
    _options(APPAREL_COLORS),
    (15, 90),
)
SNEAKERS = ProductProfile(
    ("Sneaker", "Runner", "Trainer", "Court Shoe", "Slip-On"),
    ("Mesh", "Leather", "Suede", "Knit", "Canvas"),
    FOOTWEAR_ADJECTIVES,
    _options(SHOE_SIZES, SHOE_COLORS),
    (60, 190),
)
BOOTS = ProductProfile(
    ("Chelsea Boot", "Hiking Boot", "Work Boot", "Chukka", "Winter Boot"),
    ("Leather", "Suede", "Waxed Leather", "Nubuck"),
    FOOTWEAR_ADJECTIVES,
    _options(SHOE_SIZES, SHOE_COLORS),
    (110, 320),
)
SANDALS = ProductProfile(
    ("Sandal", "Slide", "Flip-Flop", "Clog"),
    ("Cork", "Rubber", "Leather", "Recycled Foam"),
    FOOTWEAR_ADJECTIVES,
    _options(SHOE_SIZES, SHOE_COLORS),
    (25, 120),
)
SOCKS = ProductProfile(
    ("Crew Sock", "Ankle Sock", "Hiking Sock", "Sock Bundle"),
    ("Merino", "Cotton", "Bamboo", "Recycled Nylon"),
    ("Cushioned", "Everyday", "Lightweight", "Performance"),
    _options(SOCK_SIZES, APPAREL_COLORS),
    (10, 40),
)
KITCHEN = ProductProfile(
    ("Cutting Board", "Utensil Set", "Kettle", "Mixing Bowl Set", "Apron"),
    ("Acacia", "Stainless Steel", "Olive Wood", "Bamboo", "Linen"),
    HOME_ADJECTIVES,
    _options(HOME_COLORS),
    (18, 140),
)
COOKWARE = ProductProfile(
    ("Skillet", "Saucepan", "Dutch Oven", "Saute Pan", "Wok"),
    ("Cast Iron", "Stainless Steel", "Carbon Steel", "Enameled Cast Iron", "Copper"),
    HOME_ADJECTIVES,
    _options(OptionSpec("Size", ("8 in", "10 in", "12 in", "14 in"), 20), HOME_COLORS),
    (35, 320),
)
KNIVES = ProductProfile(
    ("Chef's Knife", "Santoku", "Paring Knife", "Bread Knife", "Knife Set"),
    ("Damascus Steel", "High-Carbon Steel", "Stainless Steel", "Ceramic"),
    ("Forged", "Hand-Sharpened", "Professional", "Classic", "Japanese"),
    _options(OptionSpec("Handle", ("Walnut", "Black Pakka", "Olive Wood", "Maple", "Resin"))),
    (40, 260),
)
TABLEWARE = ProductProfile(
    ("Dinner Plate Set", "Mug", "Bowl Set", "Serving Platter", "Glass Set"),
    ("Stoneware", "Porcelain", "Recycled Glass", "Speckled Clay"),
    HOME_ADJECTIVES,
    _options(HOME_COLORS),
    (22, 150),
)
BEDDING = ProductProfile(
    ("Sheet Set", "Duvet Cover", "Quilt", "Pillowcase Pair", "Throw Blanket"),
    ("Percale", "Sateen", "Linen", "Organic Cotton", "Flannel"),
    HOME_ADJECTIVES,
    _options(BED_SIZES, HOME_COLORS),
    (45, 320),
)
LIGHTING = ProductProfile(
    ("Table Lamp", "Floor Lamp", "Pendant Light", "Wall Sconce", "Desk Lamp"),
    ("Brass", "Ceramic", "Oak", "Glass", "Rattan"),
    HOME_ADJECTIVES,
    _options(FINISHES),
    (45, 420),
)
DECOR = ProductProfile(
    ("Vase", "Planter", "Candle", "Wall Mirror", "Cushion Cover"),
    ("Ceramic", "Stoneware", "Wool", "Soy Wax", "Jute"),
    HOME_ADJECTIVES,
    _options(HOME_COLORS),
    (15, 180),
)
BATH = ProductProfile(
    ("Bath Towel", "Bath Mat", "Robe", "Hand Towel Set", "Shower Curtain"),
    ("Turkish Cotton", "Waffle Cotton", "Linen", "Organic Cotton"),
    HOME_ADJECTIVES,
    _options(HOME_COLORS),
    (18, 140),
)
AUDIO = ProductProfile(
    ("Headphones", "Earbuds", "Bluetooth Speaker", "Soundbar", "Turntable"),
    ("Aluminum", "Walnut", "Matte", "Fabric"),
    TECH_ADJECTIVES,
    _options(TECH_COLORS),
    (40, 450),
)
STORAGE = ProductProfile(
    ("Portable SSD", "Flash Drive", "microSD Card", "External Drive", "NVMe SSD"),
    ("Aluminum", "Rugged", "Metal", "Slim"),
    ("Fast", "Compact", "Pro", "Rugged", "Travel"),
    _options(STORAGE_CAPACITY),
    (15, 180),
)
POWER = ProductProfile(
    ("Power Bank", "USB-C Charger", "Charging Cable", "Wireless Charger", "Charging Dock"),
    ("Braided", "Aluminum", "GaN", "Silicone"),
    TECH_ADJECTIVES,
    _options(BATTERY_CAPACITY, TECH_COLORS),
    (15, 120),
)
WEARABLES = ProductProfile(
    ("Smartwatch", "Fitness Tracker", "Sport Band", "Smart Ring"),
    ("Aluminum", "Titanium", "Stainless Steel", "Ceramic"),
    TECH_ADJECTIVES,
    _options(CASE_SIZES, TECH_COLORS),
    (35, 520),
)
SMART_HOME = ProductProfile(
    ("Smart Plug", "Smart Bulb", "Video Doorbell", "Indoor Camera", "Motion Sensor"),
    ("White", "Matte", "Outdoor", "Mini"),
    TECH_ADJECTIVES,
    _options(PACK_SIZES),
    (15, 180),
)
CAMPING = ProductProfile(
    ("Tent", "Sleeping Bag", "Sleeping Pad", "Camp Chair", "Lantern"),
    ("Ripstop Nylon", "Down", "Recycled Polyester", "Aluminum"),
    OUTDOOR_ADJECTIVES,
    _options(TENT_CAPACITY, OUTDOOR_COLORS),
    (30, 520),
)
CAMP_KITCHEN = ProductProfile(
    ("Camp Stove", "Cook Set", "Insulated Bottle", "Camp Mug", "Cooler"),
    ("Titanium", "Stainless Steel", "Anodized Aluminum", "Enamel"),
    OUTDOOR_ADJECTIVES,
    _options(OUTDOOR_COLORS),
    (15, 260),
)
HIKING = ProductProfile(
    ("Backpack", "Daypack", "Hydration Pack", "Trekking Poles", "Hip Pack"),
    ("Ripstop Nylon", "Dyneema", "Recycled Polyester", "Carbon"),
    OUTDOOR_ADJECTIVES,
    _options(PACK_VOLUMES, OUTDOOR_COLORS),
    (35, 340),
)
CYCLING = ProductProfile(
    ("Helmet", "Bike Light Set", "Cycling Jersey", "Saddle Bag", "Bike Lock"),
    ("Carbon", "Aluminum", "Recycled Polyester", "Merino"),
    ("Aero", "Commuter", "Trail", "Road", "Lightweight"),
    _options(APPAREL_SIZES, OUTDOOR_COLORS),
    (25, 280),
)
WATER_SPORTS = ProductProfile(
    ("Dry Bag", "Paddle", "Life Vest", "Rash Guard", "Snorkel Set"),
    ("PVC-Free Nylon", "Carbon", "Neoprene", "Recycled Polyester"),
    OUTDOOR_ADJECTIVES,
    _options(APPAREL_SIZES, OUTDOOR_COLORS),
    (20, 320),
)
SKINCARE = ProductProfile(
    ("Cleanser", "Moisturizer", "Serum", "Face Oil", "Eye Cream", "Sunscreen"),
    ("Hyaluronic", "Vitamin C", "Niacinamide", "Rosehip", "Ceramide", "Green Tea"),
    BEAUTY_ADJECTIVES,
    _options(BEAUTY_VOLUMES),
    (12, 95),
)
HAIR_CARE = ProductProfile(
    ("Shampoo", "Conditioner", "Hair Oil", "Hair Mask", "Styling Cream"),
    ("Argan", "Coconut", "Rosemary", "Shea", "Keratin"),
    BEAUTY_ADJECTIVES,
    _options(HAIR_VOLUMES),
    (10, 60),
)
FRAGRANCE = ProductProfile(
    ("Eau de Parfum", "Eau de Toilette", "Body Mist", "Solid Perfume"),
    ("Cedar", "Vetiver", "Bergamot", "Fig", "Amber", "Neroli"),
    ("Fresh", "Warm", "Woody", "Citrus", "Floral"),
    _options(BEAUTY_VOLUMES),
    (30, 210),
)
MAKEUP = ProductProfile(
    ("Lipstick", "Lip Balm", "Mascara", "Foundation", "Concealer", "Blush"),
    ("Matte", "Satin", "Sheer", "Cream", "Mineral"),
    ("Long-Wear", "Buildable", "Natural", "Velvet", "Luminous"),
    _options(SHADES),
    (12, 58),
)
BATH_AND_BODY = ProductProfile(
    ("Body Wash", "Hand Cream", "Bar Soap", "Body Lotion", "Bath Salts"),
    ("Lavender", "Oat", "Eucalyptus", "Shea", "Sea Salt", "Citrus"),
    BEAUTY_ADJECTIVES,
    _options(HAIR_VOLUMES),
    (8, 48),
)


def _narrow(profile: ProductProfile, *nouns: str) -> ProductProfile:
    return replace(profile, nouns=nouns)


CATEGORY_TREE: tuple[CategorySpec, ...] = (
    CategorySpec(
        "Apparel",
        "Everyday clothing made to be worn often and kept for years.",
        children=(
            CategorySpec(
                "T-Shirts",
                "Tees and tanks in soft, breathable fabrics.",
                TEES,
                (
                    CategorySpec("Crew Necks", "Crew neck tees for every day.", _narrow(TEES, "Crew Tee")),
                    CategorySpec("V-Necks", "V-neck tees with a clean neckline.", _narrow(TEES, "V-Neck Tee")),
                    CategorySpec("Long Sleeves", "Long sleeve tees for layering.", _narrow(TEES, "Long Sleeve Tee")),
                ),
            ),
            CategorySpec(
                "Sweaters",
                "Knitwear in natural fibres, from fine merino to chunky wool.",
                KNITWEAR,
                (
                    CategorySpec("Cardigans", "Button-front knits.", _narrow(KNITWEAR, "Cardigan")),
                    CategorySpec("Crewnecks", "Classic crew neck sweaters.", _narrow(KNITWEAR, "Crew Sweater")),
                    CategorySpec("Turtlenecks", "Warm roll and mock necks.", _narrow(KNITWEAR, "Turtleneck")),
                ),
            ),
            CategorySpec(
                "Jackets & Coats",
                "Outerwear for rain, wind and cold.",
                OUTERWEAR,
                (
                    CategorySpec("Rain Jackets", "Waterproof shells.", _narrow(OUTERWEAR, "Rain Shell", "Anorak")),
                    CategorySpec("Puffers", "Insulated jackets.", _narrow(OUTERWEAR, "Puffer", "Parka")),
                    CategorySpec("Wool Coats", "Tailored coats for winter.", _narrow(OUTERWEAR, "Overcoat")),
                ),
            ),
            CategorySpec("Pants", "Chinos, denim and joggers.", PANTS),
            CategorySpec("Accessories", "Hats, scarves, belts and bags.", ACCESSORIES),
        ),
    ),
    CategorySpec(
        "Footwear",
        "Shoes, boots and socks for city streets and trails.",
        children=(
            CategorySpec(
                "Sneakers",
                "Sneakers for running, training and everyday wear.",
                SNEAKERS,
                (
                    CategorySpec("Running", "Cushioned running shoes.", _narrow(SNEAKERS, "Runner", "Trainer")),
                    CategorySpec("Court", "Low-profile court classics.", _narrow(SNEAKERS, "Court Shoe")),
                ),
            ),
            CategorySpec(
                "Boots",
                "Boots built for weather and wear.",
                BOOTS,
                (
                    CategorySpec("Chelsea Boots", "Pull-on boots.", _narrow(BOOTS, "Chelsea Boot")),
                    CategorySpec("Hiking Boots", "Supportive boots for trails.", _narrow(BOOTS, "Hiking Boot")),
                    CategorySpec("Work Boots", "Tough boots for long days.", _narrow(BOOTS, "Work Boot")),
                ),
            ),
            CategorySpec("Sandals & Slides", "Open shoes for warm days.", SANDALS),
            CategorySpec("Socks", "Socks in merino, cotton and bamboo.", SOCKS),
        ),
    ),
    CategorySpec(
        "Home",
        "Well made things for the kitchen, bedroom and living room.",
        children=(
            CategorySpec(
                "Kitchen",
                "Tools and tableware for cooking and hosting.",
                KITCHEN,
                (
                    CategorySpec("Cookware", "Pans and pots that last.", COOKWARE),
                    CategorySpec("Knives", "Sharp, balanced kitchen knives.", KNIVES),
                    CategorySpec("Tableware", "Plates, bowls, mugs and glasses.", TABLEWARE),
                ),
            ),
            CategorySpec(
                "Bedding",
                "Sheets, duvet covers and quilts.",
                BEDDING,
                (
                    CategorySpec("Sheets", "Fitted and flat sheet sets.", _narrow(BEDDING, "Sheet Set")),
                    CategorySpec("Duvet Covers", "Duvet covers with shams.", _narrow(BEDDING, "Duvet Cover")),
                    CategorySpec("Quilts & Throws", "Layers for the bed.", _narrow(BEDDING, "Quilt", "Throw Blanket")),
                ),
            ),
            CategorySpec("Lighting", "Lamps and fixtures for warm, even light.", LIGHTING),
            CategorySpec("Decor", "Vases, candles and finishing touches.", DECOR),
            CategorySpec("Bath", "Towels, mats and robes.", BATH),
        ),
    ),
    CategorySpec(
        "Electronics",
        "Audio, storage, power and smart devices.",
        children=(
            CategorySpec(
                "Audio",
                "Headphones and speakers tuned for music.",
                AUDIO,
                (
                    CategorySpec("Headphones", "Over-ear and on-ear headphones.", _narrow(AUDIO, "Headphones")),
                    CategorySpec("Earbuds", "True wireless earbuds.", _narrow(AUDIO, "Earbuds")),
                    CategorySpec("Speakers", "Portable and home speakers.", _narrow(AUDIO, "Bluetooth Speaker")),
                ),
            ),
            CategorySpec("Storage", "SSDs, cards and drives.", STORAGE),
            CategorySpec("Power & Charging", "Chargers, cables and power banks.", POWER),
            CategorySpec("Wearables", "Watches and trackers.", WEARABLES),
            CategorySpec("Smart Home", "Plugs, bulbs, cameras and sensors.", SMART_HOME),
        ),
    ),
    CategorySpec(
        "Outdoors",
        "Gear for camping, hiking, cycling and the water.",
        children=(
            CategorySpec(
                "Camping",
                "Shelter, sleep and camp kitchen gear.",
                CAMPING,
                (
                    CategorySpec("Tents", "Backpacking and family tents.", _narrow(CAMPING, "Tent")),
                    CategorySpec(
                        "Sleeping Bags",
                        "Bags rated for three seasons and more.",
                        _narrow(CAMPING, "Sleeping Bag"),
                    ),
                    CategorySpec("Camp Kitchen", "Stoves, cook sets and bottles.", CAMP_KITCHEN),
                ),
            ),
            CategorySpec(
                "Hiking",
                "Packs and poles for day hikes and long trails.",
                HIKING,
                (
                    CategorySpec("Backpacks", "Multi-day packs.", _narrow(HIKING, "Backpack")),
                    CategorySpec("Daypacks", "Light packs for a day out.", _narrow(HIKING, "Daypack", "Hip Pack")),
                ),
            ),
            CategorySpec("Cycling", "Helmets, lights and apparel for riders.", CYCLING),
            CategorySpec("Water Sports", "Paddling and swimming gear.", WATER_SPORTS),
        ),
    ),
    CategorySpec(
        "Beauty",
        "Skincare, hair care, fragrance and makeup.",
        children=(
            CategorySpec(
                "Skincare",
                "Cleansers, moisturizers and treatments.",
                SKINCARE,
                (
                    CategorySpec("Cleansers", "Gentle daily cleansers.", _narrow(SKINCARE, "Cleanser")),
                    CategorySpec("Moisturizers", "Creams and lotions.", _narrow(SKINCARE, "Moisturizer")),
                    CategorySpec("Serums", "Targeted treatments.", _narrow(SKINCARE, "Serum", "Face Oil")),
                    CategorySpec("Sun Care", "Daily mineral and chemical sunscreens.", _narrow(SKINCARE, "Sunscreen")),
                ),
            ),
            CategorySpec("Hair Care", "Shampoos, conditioners and treatments.", HAIR_CARE),
            CategorySpec("Fragrance", "Perfumes and mists.", FRAGRANCE),
            CategorySpec(
                "Makeup",
                "Lips, eyes and face.",
                MAKEUP,
                (
                    CategorySpec("Lips", "Lipsticks and balms.", _narrow(MAKEUP, "Lipstick", "Lip Balm")),
                    CategorySpec("Eyes", "Mascaras and liners.", _narrow(MAKEUP, "Mascara")),
                    CategorySpec(
                        "Face",
                        "Foundations, concealers and blush.",
                        _narrow(MAKEUP, "Foundation", "Concealer", "Blush"),
                    ),
                ),
            ),
            CategorySpec("Bath & Body", "Washes, soaps and lotions.", BATH_AND_BODY),
        ),
    ),
)

VENDORS_BY_DEPARTMENT: dict[str, tuple[str, ...]] = {
    "Apparel": ("Northwind Outfitters", "Alder & Pine", "Bluebird Basics", "Marlow & Co.", "Fieldnote"),
    "Footwear": ("Kestrel", "Ironbark", "Stride Theory", "Fieldnote"),
    "Home": ("Halcyon Home", "Oakhaven", "Copperleaf", "Everyday Goods", "Marlow & Co."),
    "Electronics": ("Voltwave", "Lumen Labs", "Nimbus Audio", "Circuitry"),
    "Outdoors": ("Ridgeline", "Summit Gear", "Saltwater Supply", "Granite Works", "Tidewell"),
    "Beauty": ("Juniper Skin", "Foxglove Beauty", "Wildmoss", "Quill & Fern", "Cedar & Sage"),
}

FIRST_NAMES = (
    "Ava", "Liam", "Maya", "Noah", "Zoe", "Ethan", "Chloe", "Lucas", "Nora", "Owen", "Isla", "Mateo",
    "Amara", "Leo", "Priya", "Elijah", "Hana", "Samuel", "Ines", "Caleb", "Freya", "Diego", "Layla", "Felix",
    "Sofia", "Arjun", "Mila", "Jonah", "Yara", "Theo", "Grace", "Omar", "Clara", "Kai", "Ruby", "Hugo",
    "Aisha", "Miles", "Elena", "Ravi", "Lena", "Tomas", "June", "Malik", "Iris", "Emil", "Nadia", "Rowan",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Garcia", "Nguyen", "Patel", "Kim", "Johnson", "Silva", "Muller", "Rossi", "Cohen", "Okafor",
    "Tanaka", "Larsen", "Dubois", "Novak", "Khan", "Martin", "Lopez", "Brown", "Wilson", "Haddad", "Ivanova",
    "Reyes", "Chen", "Murphy", "Schmidt", "Andersen", "Costa", "Walker", "Young", "Bauer", "Ali", "Moreau",
    "Park", "Fischer", "Hughes", "Sato", "Mendes", "Clarke", "Wright", "Olsen", "Ortiz", "Baker", "Singh",
)  # fmt: skip

DESCRIPTION_OPENERS = (
    "The {title} by {vendor}, made from {material}.",
    "{vendor} makes the {title} from {material}, built for everyday use.",
    "Meet the {title}: {material} done right by {vendor}.",
)
DESCRIPTION_DETAILS = (
    "Designed to last for years, not seasons.",
    "Thoughtful details and a clean finish throughout.",
    "Tested by our team for a month before it made the cut.",
    "Responsibly sourced and packed without plastic.",
    "A customer favourite that we restock often.",
    "Backed by a two-year warranty.",
    "Easy to care for and easy to love.",
)
REVIEW_TITLES = {
    5: ("Love it", "Exactly what I wanted", "Worth every penny", "Best purchase this year", "Five stars"),
    4: ("Really good", "Very happy with it", "Great value", "Solid choice", "Would buy again"),
    3: ("It's okay", "Decent but not perfect", "Does the job", "Mixed feelings"),
    2: ("Disappointed", "Not as described", "Expected more", "Meh"),
    1: ("Would not recommend", "Returned it", "Poor quality", "Broke quickly"),
}
REVIEW_SENTENCES = {
    5: (
        "The {noun} is even better in person.",
        "Quality is excellent and it arrived quickly.",
        "I have already recommended it to friends.",
        "Exactly as pictured and beautifully made.",
    ),
    4: (
        "The {noun} is well made and looks great.",
        "Shipping took a little longer than expected.",
        "Good value for the price.",
        "I would buy it again in another color.",
    ),
    3: (
        "The {noun} is fine but nothing special.",
        "It works, though the finish could be better.",
        "Took a while to get used to.",
        "Decent for the price.",
    ),
    2: (
        "The {noun} did not live up to the photos.",
        "Quality feels cheaper than expected.",
        "Customer service was helpful at least.",
        "Not sure I would buy it again.",
    ),
    1: (
        "The {noun} stopped working after a week.",
        "It arrived damaged and the replacement was no better.",
        "Very different from the description.",
        "I sent it back for a refund.",
    ),
}


# --- Generation ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CategoryChoice:
    """A category products can be placed in, with what it needs to name and price them."""

    id: int
    department: str
    profile: ProductProfile


def build_catalog(products: int = 1000, seed: int = 1) -> CatalogRows:
    """Generate every row of the catalog in memory; the same arguments always give the same rows."""
    _check_product_count(products)
    rng = Random(seed)
    catalog = CatalogRows()
    choices = _add_categories(catalog)
    customer_created = _add_customers(catalog, rng, _customer_count(products))
    slugs: dict[str, int] = {}
    for created_at, product_id in zip(_sorted_offsets(rng, products), range(1, products + 1), strict=True):
        _add_product(catalog, rng, product_id, rng.choice(choices), created_at, slugs, customer_created)
    return catalog


def _check_product_count(products: int) -> None:
    if isinstance(products, bool) or not isinstance(products, int) or products < 0:
        raise SeedError(f"products must be a whole number >= 0; got {products!r}")


def _customer_count(products: int) -> int:
    return max(MIN_CUSTOMERS, round(products / PRODUCTS_PER_CUSTOMER))


def _sorted_offsets(rng: Random, count: int) -> list[datetime]:
    """`count` moments over the catalog span in ascending order, so ids follow creation time."""
    offsets = sorted(rng.randint(0, CATALOG_SPAN_SECONDS) for _ in range(count))
    return [EPOCH + timedelta(seconds=offset) for offset in offsets]


def _add_categories(catalog: CatalogRows) -> list[_CategoryChoice]:
    """Add the category tree breadth first (parents before children); return the non-root categories."""
    choices: list[_CategoryChoice] = []
    queue: list[tuple[CategorySpec, int | None, str, str, ProductProfile | None, int]] = [
        (spec, None, "", spec.name, None, position) for position, spec in enumerate(CATEGORY_TREE)
    ]
    for spec, parent_id, parent_slug, department, parent_profile, position in queue:
        category_id = len(catalog.categories) + 1
        slug = f"{parent_slug}-{_slugify(spec.name)}" if parent_slug else _slugify(spec.name)
        catalog.categories.append(
            {
                "id": category_id,
                "slug": slug,
                "name": spec.name,
                "description": spec.description,
                "parent_id": parent_id,
                "position": position,
            }
        )
        profile = spec.profile or parent_profile
        if parent_id is not None and profile is not None:
            choices.append(_CategoryChoice(category_id, department, profile))
        queue.extend(
            (child, category_id, slug, department, profile, child_position)
            for child_position, child in enumerate(spec.children)
        )
    return choices


def _slugify(text_value: str) -> str:
    without_apostrophes = text_value.lower().replace("'", "")
    return re.sub(r"[^a-z0-9]+", "-", without_apostrophes).strip("-")


def _add_customers(catalog: CatalogRows, rng: Random, count: int) -> list[datetime]:
    """Add `count` customers with unique emails; return their creation times by index (id - 1)."""
    created = _sorted_offsets(rng, count)
    for index, created_at in enumerate(created):
        customer_id = index + 1
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        catalog.customers.append(
            {
                "id": customer_id,
                "email": f"{first}.{last}{customer_id}@example.com".lower(),
                "display_name": f"{first} {last[0]}.",
                "created_at": created_at,
            }
        )
    return created


def _add_product(
    catalog: CatalogRows,
    rng: Random,
    product_id: int,
    category: _CategoryChoice,
    created_at: datetime,
    slugs: dict[str, int],
    customer_created: Sequence[datetime],
) -> None:
    """Add one product with its variants, images and reviews, and the denormalised columns they imply."""
    profile = category.profile
    noun, material = rng.choice(profile.nouns), rng.choice(profile.materials)
    title = _product_title(rng, profile, material, noun)
    slug = _unique_slug(_slugify(title), slugs)
    vendor = rng.choice(VENDORS_BY_DEPARTMENT[category.department])
    on_sale = rng.random() < ON_SALE_SHARE
    prices = _add_variants(catalog, rng, product_id, profile, on_sale)
    _add_images(catalog, rng, product_id, slug, title)
    ratings = _add_reviews(catalog, rng, product_id, noun, created_at, customer_created)
    catalog.products.append(
        {
            "id": product_id,
            "slug": slug,
            "title": title,
            "description": _product_description(rng, title, vendor, material),
            "vendor": vendor,
            "category_id": category.id,
            "status": _weighted(rng, STATUS_WEIGHTS),
            "tags": _product_tags(rng, category.department, material, on_sale, created_at),
            "min_price": min(prices),
            "rating_average": _rating_average(ratings),
            "rating_count": len(ratings),
            "created_at": created_at,
            "updated_at": created_at + timedelta(seconds=rng.randint(0, MAX_UPDATE_DELAY_SECONDS)),
        }
    )


def _product_title(rng: Random, profile: ProductProfile, material: str, noun: str) -> str:
    if rng.random() < 0.4:
        return f"{rng.choice(profile.adjectives)} {material} {noun}"
    return f"{material} {noun}"


def _unique_slug(base: str, slugs: dict[str, int]) -> str:
    """`base` the first time, then `base-2`, `base-3`..."""
    seen = slugs.get(base, 0) + 1
    slugs[base] = seen
    return base if seen == 1 else f"{base}-{seen}"


def _product_description(rng: Random, title: str, vendor: str, material: str) -> str:
    opener = rng.choice(DESCRIPTION_OPENERS).format(title=title, vendor=vendor, material=material.lower())
    details = rng.sample(DESCRIPTION_DETAILS, rng.randint(0, 2))
    return " ".join([opener, *details])


def _product_tags(rng: Random, department: str, material: str, on_sale: bool, created_at: datetime) -> list[str]:
    """1 to 4 tags: the department first, then a few that describe the product."""
    extras = [_slugify(material), "gift-idea", "bestseller", "staff-pick"]
    if on_sale:
        extras.append("sale")
    if created_at > EPOCH + timedelta(seconds=CATALOG_SPAN_SECONDS - 90 * 24 * 3600):
        extras.append("new-arrival")
    return [_slugify(department), *rng.sample(extras, rng.randint(0, 3))]


def _add_variants(
    catalog: CatalogRows, rng: Random, product_id: int, profile: ProductProfile, on_sale: bool
) -> list[Decimal]:
    """Add 3 to 5 variants; return their prices."""
    combinations = _variant_combinations(rng, profile.options, rng.choice(VARIANT_COUNTS))
    base_cents = rng.randint(*profile.price_range) * 100
    ending = rng.choice(PRICE_ENDINGS)
    discount_percent = rng.randint(10, 40)
    sold_out = rng.random() < SOLD_OUT_PRODUCT_SHARE
    prices: list[Decimal] = []
    for position, value_indexes in enumerate(combinations):
        price_cents = _price_point(_scaled_cents(base_cents, profile.options, value_indexes), ending)
        values = [option.values[index] for option, index in zip(profile.options, value_indexes, strict=True)]
        catalog.product_variants.append(
            {
                "id": len(catalog.product_variants) + 1,
                "product_id": product_id,
                "sku": f"SKU-{product_id:06d}-{position + 1:02d}",
                "title": " / ".join(values),
                "selected_options": [
                    {"name": option.name, "value": value} for option, value in zip(profile.options, values, strict=True)
                ],
                "price": _money(price_cents),
                "compare_at_price": _money(_compare_at_cents(price_cents, discount_percent)) if on_sale else None,
                "stock_quantity": _stock_quantity(rng, sold_out),
                "position": position,
            }
        )
        prices.append(_money(price_cents))
    return prices


def _variant_combinations(rng: Random, options: Sequence[OptionSpec], count: int) -> list[tuple[int, ...]]:
    """`count` distinct combinations of option value indexes, in the natural order of the values."""
    every_combination = list(cartesian_product(*(range(len(option.values)) for option in options)))
    return sorted(rng.sample(every_combination, count))


def _scaled_cents(base_cents: int, options: Sequence[OptionSpec], value_indexes: Sequence[int]) -> int:
    percent = 100 + sum(option.price_step_percent * index for option, index in zip(options, value_indexes, strict=True))
    return base_cents * percent // 100


def _price_point(cents: int, ending: int) -> int:
    """Round to a shop-like price: whole dollars ending in .99, .95 or .00 (never below $1.00)."""
    dollars = max(cents // 100, 1)
    if ending == 0 or dollars == 1:
        return dollars * 100
    return (dollars - 1) * 100 + ending


def _compare_at_cents(price_cents: int, discount_percent: int) -> int:
    """The "was" price of a sale: about `discount_percent` above the price, always strictly higher."""
    raised = price_cents * (100 + discount_percent) // 100
    return max(_price_point(raised + 100, 99), price_cents + 100)


def _money(cents: int) -> Decimal:
    """Exact money with two places, built from integer cents (never from a float)."""
    return Decimal(cents).scaleb(-2)


def _stock_quantity(rng: Random, sold_out: bool) -> int:
    if sold_out or rng.random() < OUT_OF_STOCK_VARIANT_SHARE:
        return 0
    return min(MAX_STOCK, 1 + int(rng.expovariate(1 / 40)))


def _add_images(catalog: CatalogRows, rng: Random, product_id: int, slug: str, title: str) -> None:
    width, height = rng.choice(IMAGE_SIZES)
    for position in range(_weighted(rng, IMAGE_COUNT_WEIGHTS)):
        catalog.product_images.append(
            {
                "id": len(catalog.product_images) + 1,
                "product_id": product_id,
                "url": f"https://images.example.com/products/{slug}/{position + 1}.jpg",
                "alt_text": f"{title}, {IMAGE_VIEWS[position]}",
                "width": width,
                "height": height,
                "position": position,
            }
        )


def _add_reviews(
    catalog: CatalogRows,
    rng: Random,
    product_id: int,
    noun: str,
    product_created: datetime,
    customer_created: Sequence[datetime],
) -> list[int]:
    """Add 0 to 8 reviews, each by a different customer, after the product and the customer exist."""
    weights = MIXED_RATING_WEIGHTS if rng.random() < MIXED_PRODUCT_SHARE else LIKED_RATING_WEIGHTS
    count = _weighted(rng, REVIEW_COUNT_WEIGHTS)
    noun_in_sentence = _in_sentence(noun)
    ratings: list[int] = []
    for customer_index in rng.sample(range(len(customer_created)), count):
        rating = _weighted(rng, weights)
        after = max(product_created, customer_created[customer_index])
        delay = rng.randint(MIN_REVIEW_DELAY_SECONDS, MAX_REVIEW_DELAY_SECONDS)
        catalog.reviews.append(
            {
                "id": len(catalog.reviews) + 1,
                "product_id": product_id,
                "customer_id": customer_index + 1,
                "rating": rating,
                "title": rng.choice(REVIEW_TITLES[rating]),
                "body": _review_body(rng, rating, noun_in_sentence),
                "created_at": after + timedelta(seconds=delay),
            }
        )
        ratings.append(rating)
    return ratings


def _review_body(rng: Random, rating: int, noun: str) -> str:
    sentences = rng.sample(REVIEW_SENTENCES[rating], rng.randint(1, 3))
    return " ".join(sentence.format(noun=noun) for sentence in sentences)


def _in_sentence(noun: str) -> str:
    """Lower-case a noun for use mid-sentence, except words with inner capitals (USB-C, NVMe, T-Shirt)."""
    return " ".join(word if any(c.isupper() for c in word[1:]) else word.lower() for word in noun.split())


def _rating_average(ratings: Sequence[int]) -> Decimal:
    """The mean rating rounded half-up to three places; 0.000 without ratings."""
    if not ratings:
        return Decimal(0).quantize(RATING_PLACES)
    return (Decimal(sum(ratings)) / Decimal(len(ratings))).quantize(RATING_PLACES, rounding=ROUND_HALF_UP)


def _weighted(rng: Random, weights: dict[Any, int]) -> Any:
    return rng.choices(tuple(weights), weights=tuple(weights.values()))[0]


# --- Writing ---------------------------------------------------------------------------------------------


async def seed_catalog(engine: AsyncEngine, *, products: int = 1000, seed: int = 1, reset: bool = False) -> SeedReport:
    """Fill the catalog with `products` generated products (and their categories, customers, variants,
    images and reviews) in one transaction.

    With `reset` the existing catalog rows are deleted first, in the same transaction; without it a
    catalog that already has rows raises SeedError and is left untouched. The schema must already exist
    (run the migrations first).
    """
    started = time.perf_counter()
    catalog = build_catalog(products, seed)
    async with engine.begin() as connection:
        if reset:
            await _delete_catalog(connection)
        else:
            await _refuse_existing_catalog(connection)
        for table_name in CATALOG_TABLES:
            await _insert_rows(connection, _table(table_name), catalog.rows_of(table_name))
        if connection.dialect.name == "postgresql":
            await _reset_sequences(connection)
    await _analyze(engine)
    return SeedReport(
        categories=len(catalog.categories),
        customers=len(catalog.customers),
        products=len(catalog.products),
        variants=len(catalog.product_variants),
        images=len(catalog.product_images),
        reviews=len(catalog.reviews),
        seconds=time.perf_counter() - started,
    )


async def _analyze(engine: AsyncEngine) -> None:
    # Fresh planner statistics: without them PostgreSQL picks sequential scans and sorts for the
    # keyset and IN-list queries after a bulk load (measured: 10 ms instead of 0.2 ms per listing).
    async with engine.begin() as connection:
        for table_name in CATALOG_TABLES:
            await connection.execute(text(f"ANALYZE {table_name}"))


async def catalog_counts(engine: AsyncEngine) -> dict[str, int]:
    """The number of rows of each catalog table, keyed by table name."""
    async with engine.connect() as connection:
        return {name: await _count(connection, name) for name in CATALOG_TABLES}


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


async def _count(connection: AsyncConnection, table_name: str) -> int:
    result = await connection.execute(select(func.count()).select_from(_table(table_name)))
    return int(result.scalar_one())


async def _refuse_existing_catalog(connection: AsyncConnection) -> None:
    existing_products = await _count(connection, "products")
    if existing_products:
        raise SeedError(f"the catalog already has {existing_products} products; pass --reset to replace it")
    for table_name in CATALOG_TABLES:
        existing = 0 if table_name == "products" else await _count(connection, table_name)
        if existing:
            raise SeedError(f"the catalog already has {existing} {table_name}; pass --reset to replace it")


async def _delete_catalog(connection: AsyncConnection) -> None:
    """Delete every catalog row, children first; categories are unlinked first (parent_id is RESTRICT)."""
    for table_name in reversed(CATALOG_TABLES):
        if table_name == "categories":
            await connection.execute(update(_table(table_name)).values(parent_id=None))
        await connection.execute(delete(_table(table_name)))


async def _insert_rows(connection: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    for chunk in _chunks(rows, CHUNK_SIZE):
        await connection.execute(insert(table), chunk)


def _chunks(rows: Sequence[dict[str, Any]], size: int) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


async def _reset_sequences(connection: AsyncConnection) -> None:
    """Move each id sequence past the ids inserted explicitly (to 1 again for an empty table)."""
    for table_name in CATALOG_TABLES:
        await connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table_name}', 'id'), "
                f"COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table_name}"
            )
        )
