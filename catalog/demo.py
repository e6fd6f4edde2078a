"""Demo catalog for `manage.py seed_demo`: a shop that looks real, built in a few seconds.

A nested category tree (Apparel > Women > Dresses …, Footwear, Electronics, Home, Books,
Grocery), some 370 products and 2,000+ variants: clothes in sizes and colours, shoes in
EU sizes, phones by storage and colour, books as paperback/hardcover, coffee by weight.
Every variant has a valid barcode: EAN-13 under a per-brand GS1 company prefix, ISBN-13
for books, EAN-8 for small grocery items, and a second UPC-A code on some electronics.
VAT is German: 19% standard, 7% reduced for books and food (every demo store is in
Germany, because a variant carries one VAT rate, not one per country). Product names are
distinct within a brand: two products of one brand never share a name.

Deterministic: everything is drawn from the `rng` passed in, iterating lists and dicts
only (never sets, whose order changes between runs), so the same seed gives the same
SKUs, barcodes and names. Fast: rows go in with `bulk_create`, bypassing the per-row
services on purpose. The rows are the ones the services would build — slugs derived the
same way, SKUs unique, each barcode checked with `gtin_kind` (the rule behind
`services.barcode_validate`) and stored with its kind — but one INSERT per table level
instead of several queries per row.
"""

import random
from dataclasses import dataclass
from decimal import Decimal
from typing import TextIO

from django.db import transaction
from django.utils.text import slugify

from catalog.domain import gtin_kind, make_gtin
from catalog.models import Barcode, Category, Product, Variant

STANDARD_VAT = Decimal("19.00")
REDUCED_VAT = Decimal("7.00")

COLOURS = [
    ("Black", "BLK"),
    ("White", "WHT"),
    ("Navy", "NVY"),
    ("Grey", "GRY"),
    ("Beige", "BEI"),
    ("Red", "RED"),
    ("Olive", "OLV"),
    ("Sky blue", "SKY"),
    ("Burgundy", "BRG"),
    ("Mustard", "MUS"),
    ("Pink", "PNK"),
    ("Forest green", "FGR"),
]
ADULT_SIZES = ["XS", "S", "M", "L", "XL", "XXL"]
KIDS_SIZES = ["92", "98", "104", "110", "116", "122", "128", "134", "140", "146"]

# GS1 prefixes by where a brand registers its codes (country of the brand owner).
EUROPE_PREFIXES = ["400", "401", "405", "500", "501", "300", "303", "560", "590", "800", "871"]
ASIA_PREFIXES = ["690", "692", "693", "880", "471", "489"]


@dataclass(frozen=True)
class Axis:
    """One option of a variant (size, colour…): its values and SKU codes, and how many to
    pick per product (`contiguous` picks a run, as sizes come in ranges)."""

    name: str
    values: list[tuple[str, str]]
    pick: tuple[int, int]
    contiguous: bool = False


def _sizes(values: list[str]) -> list[tuple[str, str]]:
    return [(v, v.replace(" ", "")) for v in values]


SIZE = Axis("size", _sizes(ADULT_SIZES), (4, 5), contiguous=True)
KIDS_SIZE = Axis("size", _sizes(KIDS_SIZES), (4, 6), contiguous=True)
COLOUR = Axis("colour", COLOURS, (1, 3))
FEW_COLOURS = Axis("colour", COLOURS, (1, 2))
EU_WOMEN = Axis("size", _sizes([f"EU {n}" for n in range(36, 43)]), (5, 6), contiguous=True)
EU_MEN = Axis("size", _sizes([f"EU {n}" for n in range(40, 47)]), (5, 7), contiguous=True)
EU_KIDS = Axis("size", _sizes([f"EU {n}" for n in range(26, 36)]), (5, 7), contiguous=True)


@dataclass(frozen=True)
class Kind:
    """The products of one leaf category: where they sit, names, brands, options, VAT and
    barcode style (EAN-13, ISBN or EAN-8; some electronics carry a UPC-A code as well)."""

    path: str
    code: str
    nouns: list[str]
    descriptors: list[str]
    brands: list[str]
    axes: list[Axis]
    vat: Decimal = STANDARD_VAT
    barcode: str = "ean13"
    upc_share: float = 0.0
    blurb: str = "{name} by {brand}."


def leaf(path: str, code: str, nouns: str, words: str, brands: list[str], axes, **extra) -> Kind:
    """A Kind from compact "a|b|c" word lists; `path` is "Root/Child/Leaf"."""
    return Kind(path, code, nouns.split("|"), words.split("|"), brands, axes, **extra)


def axis(name: str, values: str, pick: tuple[int, int], contiguous: bool = False) -> Axis:
    """An Axis from "label=CODE|label=CODE"."""
    pairs = [item.split("=") for item in values.split("|")]
    return Axis(name, [(label, code) for label, code in pairs], pick, contiguous)


APPAREL = ["Northwind", "Urban Thread", "Maison Lune", "Fjord & Co", "Kestrel", "Blue Harbour"]
KIDS = ["Little Pine", "Tiny Tribe", "Sprout & Co"]
SHOES = ["Stride", "Trailhawk", "Pavé", "Runlab", "Alder Boots"]
PHONES = ["Novatek", "Lumio", "Orbis", "Zentra"]
AUDIO = ["Sonique", "Auralis", "Bassline"]
GADGETS = ["Voltix", "Chargely", "Shieldcase"]
COMPUTERS = ["Kyro", "Tesselate", "Novatek"]
HOME = ["Casa Nord", "Hearth & Home", "Lino", "Terra Kitchen"]
PUBLISHERS = ["Penwood Press", "Harbour Books", "Marlow & Finch"]
FOOD = ["Roastery 47", "Leaf & Kettle", "Cacao Atelier"]
ASIAN_BRANDS = PHONES + AUDIO + GADGETS

WEAR = {"blurb": "{name} by {brand}: an everyday piece in a relaxed fit. Machine washable."}
PHONE = {"upc_share": 0.4, "blurb": "{name} by {brand}: OLED screen, dual camera."}
BOOK = {"vat": REDUCED_VAT, "barcode": "isbn", "blurb": "{name}. Published by {brand}."}
FOODSTUFF = {"vat": REDUCED_VAT}
PHONE_COLOURS = Axis("colour", COLOURS[:4] + COLOURS[7:8], (2, 3))
ADULT = [COLOUR, SIZE]
ADULT_FEW = [FEW_COLOURS, SIZE]
CHILD = [FEW_COLOURS, KIDS_SIZE]
FORMATS = [axis("format", "Paperback=PB|Hardcover=HB", (1, 2))]
SML = [axis("size", "Small=S|Medium=M|Large=L", (1, 3), True)]
STORAGE = axis("storage", "128 GB=128|256 GB=256|512 GB=512", (2, 3), True)
POWER = axis("power", "20 W=20W|30 W=30W|45 W=45W|65 W=65W", (1, 3), True)
MEMORY = axis("memory", "8/256 GB=8-256|16/512 GB=16-512|32 GB/1 TB=32-1T", (2, 3), True)
LAYOUT = axis("layout", "US=US|UK=UK|DE=DE|FR=FR|Nordic=NO", (2, 3))
PAN = axis("size", "20 cm=20|24 cm=24|28 cm=28|32 cm=32", (2, 3), True)
BED = axis("size", "Single=SGL|Double=DBL|King=KNG", (2, 3), True)
TOWEL = axis("size", "Hand=HND|Bath=BTH|Sheet=SHT", (2, 3), True)
SCENT = axis("scent", "Vanilla=VAN|Cedarwood=CED|Fig=FIG|Sea salt=SEA|Amber=AMB", (2, 3))
COFFEE = [
    axis("weight", "250 g=250G|1 kg=1KG", (1, 2)),
    axis("grind", "Beans=WB|Ground=GR", (1, 2)),
]
TEA = [axis("pack", "20 bags=20|50 bags=50|100 g loose=100L", (1, 2))]
BAR = [axis("weight", "45 g=45G|100 g=100G", (1, 2))]


# Style and model names make product names read like a shop's, not like a word list.
STYLES = [
    "Alba",
    "Nora",
    "Iris",
    "Milo",
    "Oslo",
    "Lena",
    "Teo",
    "Ada",
    "Noor",
    "Rio",
    "Ivy",
    "Finn",
]
MODEL_LETTERS = "AXSNZ"


def product_name(rng: random.Random, kind: Kind) -> str:
    words = f"{rng.choice(kind.descriptors)} {rng.choice(kind.nouns)}".split()
    name = " ".join(word[:1].upper() + word[1:] for word in words)  # "Snow boots" → "Snow Boots"
    root = kind.path.split("/")[0]
    if root in ("Apparel", "Footwear", "Home"):
        return f"{rng.choice(STYLES)} {name}"
    if root == "Electronics":
        return f"{rng.choice(MODEL_LETTERS)}{rng.randint(2, 20)} {name}"
    return name


def colours(n: int, pick: tuple[int, int]) -> list[Axis]:
    return [Axis("colour", COLOURS[:n], pick)]


# Three levels: Root/Child/Leaf. Products live in the leaves.
# fmt: off
LEAVES = [
    leaf("Apparel/Women/Dresses", "WDR", "Dress",
         "Floral|Linen|Wrap|Midi|Satin", APPAREL, ADULT, **WEAR),
    leaf("Apparel/Women/T-shirts & tops", "WTS", "T-shirt|Top",
         "Striped|Ribbed|Cropped", APPAREL, ADULT, **WEAR),
    leaf("Apparel/Women/Jeans", "WJN", "Jeans",
         "Straight|Skinny|Wide-leg|Bootcut", APPAREL, ADULT_FEW, **WEAR),
    leaf("Apparel/Women/Jackets & coats", "WJK", "Jacket|Coat|Parka",
         "Quilted|Wool blend|Belted", APPAREL, ADULT_FEW),
    leaf("Apparel/Women/Knitwear", "WKN", "Jumper|Cardigan",
         "Merino|Cable-knit|Chunky", APPAREL, ADULT),
    leaf("Apparel/Men/T-shirts", "MTS", "T-shirt|Polo shirt|Henley",
         "Heavyweight|Pocket|Striped", APPAREL, ADULT, **WEAR),
    leaf("Apparel/Men/Shirts", "MSH", "Shirt",
         "Oxford|Linen|Flannel|Denim|Poplin|Check", APPAREL, ADULT),
    leaf("Apparel/Men/Jeans", "MJN", "Jeans",
         "Slim|Straight|Tapered|Relaxed|Selvedge", APPAREL, ADULT_FEW),
    leaf("Apparel/Men/Jackets & coats", "MJK", "Jacket|Overcoat|Parka",
         "Quilted|Wool|Padded|Field", APPAREL, ADULT_FEW),
    leaf("Apparel/Men/Hoodies", "MHD", "Hoodie|Sweatshirt",
         "Zip-up|Loopback|Fleece|Crew-neck", APPAREL, ADULT),
    leaf("Apparel/Kids/T-shirts", "KTS", "T-shirt",
         "Dinosaur|Rainbow|Striped|Space", KIDS, [COLOUR, KIDS_SIZE]),
    leaf("Apparel/Kids/Trousers", "KJN", "Jeans|Joggers|Cargo trousers",
         "Stretch|Pull-on|Slim", KIDS, CHILD),
    leaf("Apparel/Kids/Jackets", "KJK", "Rain jacket|Puffer jacket",
         "Reflective|Hooded|Lightweight", KIDS, CHILD),
    leaf("Apparel/Kids/Pyjamas", "KPJ", "Pyjama set",
         "Cotton|Starry|Fox print|Striped", KIDS, CHILD),
    leaf("Footwear/Women/Sneakers", "FWS", "Sneakers|Trainers",
         "Canvas|Leather|Platform|Retro", SHOES, [FEW_COLOURS, EU_WOMEN]),
    leaf("Footwear/Women/Boots", "FWB", "Ankle boots|Chelsea boots",
         "Suede|Leather|Lug-sole|Heeled", SHOES, [FEW_COLOURS, EU_WOMEN]),
    leaf("Footwear/Women/Sandals", "FWD", "Sandals|Slides",
         "Strappy|Cork|Leather|Woven", SHOES, [FEW_COLOURS, EU_WOMEN]),
    leaf("Footwear/Men/Sneakers", "FMS", "Sneakers|Running shoes",
         "Leather|Suede|Trail|Court", SHOES, [FEW_COLOURS, EU_MEN]),
    leaf("Footwear/Men/Boots", "FMB", "Boots|Chelsea boots|Hiking boots",
         "Leather|Waterproof|Work", SHOES, [FEW_COLOURS, EU_MEN]),
    leaf("Footwear/Men/Sandals", "FMD", "Sandals|Slides",
         "Trek|Leather|Sport", SHOES, [FEW_COLOURS, EU_MEN]),
    leaf("Footwear/Kids/Sneakers", "FKS", "Sneakers",
         "Light-up|Velcro|Canvas|Sporty", SHOES, [FEW_COLOURS, EU_KIDS]),
    leaf("Footwear/Kids/Wellies & boots", "FKB", "Wellies|Snow boots",
         "Frog|Lined|Classic|Rainbow", SHOES, [FEW_COLOURS, EU_KIDS]),
    leaf("Electronics/Phones/Smartphones", "PHN", "Smartphone",
         "5G|Pro|Lite|Max|Mini", PHONES, [STORAGE, PHONE_COLOURS], **PHONE),
    leaf("Electronics/Phones/Cases", "CAS", "Case",
         "Silicone|Clear|Leather|Rugged|Wallet", GADGETS, colours(6, (2, 4))),
    leaf("Electronics/Phones/Chargers & cables", "CHG", "USB-C charger|GaN charger",
         "Fast|Compact|Dual-port", GADGETS, [POWER], upc_share=0.3),
    leaf("Electronics/Audio/Headphones", "HPH", "Headphones|Earbuds",
         "Noise-cancelling|Sport|Studio", AUDIO, colours(4, (1, 3)), upc_share=0.4),
    leaf("Electronics/Audio/Speakers", "SPK", "Bluetooth speaker|Soundbar",
         "Portable|Waterproof|Mini", AUDIO, colours(3, (1, 2)), upc_share=0.3),
    leaf("Electronics/Computers/Laptops", "LAP", "Laptop|Ultrabook",
         '14"|16"|Pro|Air|Creator', COMPUTERS, [MEMORY], upc_share=0.5),
    leaf("Electronics/Computers/Keyboards & mice", "KBM", "Keyboard|Mouse",
         "Wireless|Ergonomic|Compact|Silent", COMPUTERS, [LAYOUT]),
    leaf("Home/Kitchen/Cookware", "CKW", "Frying pan|Saucepan|Wok",
         "Cast iron|Non-stick|Enamelled", HOME, [PAN]),
    leaf("Home/Kitchen/Mugs & cups", "MUG", "Mug|Espresso cup|Tumbler",
         "Stoneware|Speckled|Glazed", HOME, colours(8, (2, 4))),
    leaf("Home/Kitchen/Utensils", "UTN", "Knife|Spatula|Cutting board",
         "Chef's|Olive wood|Bamboo", HOME, SML),
    leaf("Home/Bedding & bath/Bed linen", "BED", "Duvet cover set|Fitted sheet",
         "Percale|Linen|Sateen", HOME, [BED, FEW_COLOURS]),
    leaf("Home/Bedding & bath/Towels", "TWL", "Towel",
         "Cotton|Waffle|Bamboo|Turkish", HOME, [TOWEL, FEW_COLOURS]),
    leaf("Home/Decor/Candles", "CDL", "Scented candle",
         "Soy wax|Three-wick|Travel", HOME, [SCENT]),
    leaf("Home/Decor/Vases", "VAS", "Vase",
         "Ceramic|Glass|Ribbed|Terracotta", HOME, SML),
    leaf("Books/Fiction/Novels", "BKN", "Summer|Harbour|Orchard|Lighthouse",
         "The Last|A Quiet|The Long", PUBLISHERS, FORMATS, **BOOK),
    leaf("Books/Fiction/Crime & thrillers", "BKC", "Alibi|Witness|Verdict|Cipher",
         "The Silent|A Cold|The Hidden", PUBLISHERS, FORMATS, **BOOK),
    leaf("Books/Non-fiction/Cookbooks", "BKK", "Kitchen|Table|Bakes|Suppers",
         "Simple|Green|Nordic", PUBLISHERS, FORMATS, **BOOK),
    leaf("Books/Non-fiction/Travel guides", "BKT", "Lisbon|Iceland|Kyoto|Scotland",
         "Walking|Pocket|Wild", PUBLISHERS, FORMATS, **BOOK),
    leaf("Grocery/Coffee & tea/Coffee", "COF", "Coffee beans|Espresso",
         "Colombia|Ethiopia|House blend|Brazil|Guatemala|Decaf|Kenya", FOOD, COFFEE, **FOODSTUFF),
    leaf("Grocery/Coffee & tea/Tea", "TEA", "Tea",
         "Earl Grey|Green|Chamomile|Breakfast|Rooibos|Peppermint|Chai|Darjeeling",
         FOOD, TEA, **FOODSTUFF),
    leaf("Grocery/Sweets/Chocolate", "CHO", "Chocolate bar",
         "Dark 70%|Milk|Sea salt|Hazelnut|Almond|Orange|Caramel|Raspberry",
         FOOD, BAR, barcode="ean8", **FOODSTUFF),
]
# fmt: on

ROOT_SLUGS = list(dict.fromkeys(slugify(kind.path.split("/")[0]) for kind in LEAVES))


class _Codes:
    """Hands out unique, valid barcodes: one GS1 company prefix per brand, item numbers
    counted up inside it, the check digit computed (and re-checked) by the catalog rules."""

    def __init__(self, rng: random.Random, taken: set[str]) -> None:
        self.rng = rng
        self.taken = taken
        self.companies: dict[tuple[str, str], str] = {}
        self.items: dict[str, int] = {}

    def _company(self, brand: str, style: str) -> str:
        key = (brand, style)
        if key not in self.companies:
            used = list(self.companies.values())
            while True:
                if style == "isbn":
                    company = "9781" + f"{self.rng.randrange(100, 1000)}"
                elif style == "ean8":
                    company = self.rng.choice(["40", "50", "30"]) + str(self.rng.randrange(0, 10))
                elif style == "upc":
                    company = "0" + f"{self.rng.randrange(10000, 100000)}"
                else:
                    prefixes = ASIA_PREFIXES if brand in ASIAN_BRANDS else None
                    prefix = self.rng.choice(prefixes or EUROPE_PREFIXES)
                    company = prefix + f"{self.rng.randrange(1000, 10000)}"
                if company not in used:
                    break
            self.companies[key] = company
        return self.companies[key]

    def next(self, brand: str, style: str) -> str:
        company = self._company(brand, style)
        body_length = {"ean8": 7, "upc": 11}.get(style, 12)
        while True:
            self.items[company] = self.items.get(company, 0) + 1
            body = company + str(self.items[company]).zfill(body_length - len(company))
            code = make_gtin(body)
            if code not in self.taken:
                break
        gtin_kind(code)  # raises if the code is not a valid GTIN: demo data never bends rules
        self.taken.add(code)
        return code


def _pick(rng: random.Random, axis: Axis) -> list[tuple[str, str]]:
    count = min(rng.randint(*axis.pick), len(axis.values))
    if axis.contiguous:
        start = rng.randrange(0, len(axis.values) - count + 1)
        return axis.values[start : start + count]
    chosen = rng.sample(range(len(axis.values)), count)
    return [axis.values[i] for i in sorted(chosen)]


def _combinations(picks: list[tuple[str, list[tuple[str, str]]]]):
    """Every combination of the picked option values, first axis outermost."""
    combos: list[list[tuple[str, str, str]]] = [[]]
    for axis_name, values in picks:
        combos = [combo + [(axis_name, label, code)] for combo in combos for label, code in values]
    return combos


def _create_categories() -> list[tuple[Category, Kind]]:
    """The tree from the leaves' paths, one INSERT per level; returns leaves with kinds.

    Slugs follow `services.category_create`: the parent's slug followed by the name.
    """
    by_path: dict[str, Category] = {}
    depth = max(len(kind.path.split("/")) for kind in LEAVES)
    for level in range(1, depth + 1):
        siblings: dict[str, int] = {}
        new: dict[str, Category] = {}
        for kind in LEAVES:
            parts = kind.path.split("/")
            path = "/".join(parts[:level])
            if len(parts) < level or path in new:
                continue
            parent = by_path.get("/".join(parts[: level - 1]))
            name = parts[level - 1]
            position = siblings.setdefault(parent.slug if parent else "", 0)
            siblings[parent.slug if parent else ""] = position + 1
            slug = slugify(f"{parent.slug}-{name}") if parent else slugify(name)
            new[path] = Category(name=name, slug=slug, parent=parent, position=position)
        Category.objects.bulk_create(list(new.values()))
        by_path.update(new)
    return [(by_path[kind.path], kind) for kind in LEAVES]


@transaction.atomic
def seed(*, rng: random.Random, stdout: TextIO) -> None:
    """Create the demo catalog; does nothing when its top-level categories already exist."""
    if Category.objects.filter(slug__in=ROOT_SLUGS, parent=None).exists():
        stdout.write("  catalog: demo categories already exist; skipping")
        return
    taken_slugs = set(Product.objects.values_list("slug", flat=True))
    taken_skus = set(Variant.objects.values_list("sku", flat=True))
    codes = _Codes(rng, set(Barcode.objects.values_list("code", flat=True)))

    names_taken = set(Product.objects.values_list("brand", "name"))
    leaves = _create_categories()
    products: list[Product] = []
    variant_specs: list[list[tuple[str, str, dict[str, str], bool, list[str]]]] = []
    vat_rates: list[Decimal] = []
    number = 0
    for category, kind in leaves:
        for _ in range(rng.randint(7, 11)):
            number += 1
            brand = rng.choice(kind.brands)
            name = product_name(rng, kind)
            for _retry in range(20):  # a brand does not sell two products of one name
                if (brand, name) not in names_taken:
                    break
                brand, name = rng.choice(kind.brands), product_name(rng, kind)
            else:
                name = f"{name} {len(names_taken)}"
            names_taken.add((brand, name))
            slug = base = slugify(f"{brand} {name}")
            n = 1
            while slug in taken_slugs:
                n += 1
                slug = f"{base}-{n}"
            taken_slugs.add(slug)
            products.append(
                Product(
                    name=name,
                    slug=slug,
                    brand=brand,
                    category=category,
                    description=kind.blurb.format(name=name, brand=brand),
                    is_active=rng.random() > 0.02,
                )
            )
            vat_rates.append(kind.vat)
            picks = [(axis.name, _pick(rng, axis)) for axis in kind.axes]
            specs = []
            for combo in _combinations(picks):
                sku = "-".join([kind.code, f"{number:04d}", *(code for _a, _l, code in combo)])
                while sku in taken_skus:
                    sku += "X"
                taken_skus.add(sku)
                options = {axis_name: label for axis_name, label, _code in combo}
                barcodes = [codes.next(brand, kind.barcode)]
                if kind.upc_share and rng.random() < kind.upc_share:
                    barcodes.append(codes.next(brand, "upc"))
                specs.append(
                    (sku, " / ".join(options.values()), options, rng.random() > 0.03, barcodes)
                )
            variant_specs.append(specs)

    products = Product.objects.bulk_create(products, batch_size=500)
    variants: list[Variant] = []
    variant_codes: list[list[str]] = []
    for product, specs, vat in zip(products, variant_specs, vat_rates, strict=True):
        for position, (sku, name, options, is_active, barcodes) in enumerate(specs):
            variants.append(
                Variant(
                    product=product,
                    sku=sku,
                    name=name,
                    options=options,
                    vat_rate=vat,
                    is_active=is_active,
                    position=position,
                )
            )
            variant_codes.append(barcodes)
    variants = Variant.objects.bulk_create(variants, batch_size=500)
    barcodes = Barcode.objects.bulk_create(
        [
            Barcode(variant=variant, code=code, kind=gtin_kind(code))
            for variant, codes_of_variant in zip(variants, variant_codes, strict=True)
            for code in codes_of_variant
        ],
        batch_size=1000,
    )
    stdout.write(
        f"  catalog: {len(leaves)} leaf categories, {len(products)} products, "
        f"{len(variants)} variants, {len(barcodes)} barcodes"
    )
