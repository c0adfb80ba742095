"""Seed the demo catalog through the public API (idempotent, a few seconds).

Logs in through the gateway as the admin of .local/secrets.json and creates every product
below whose name is not in the catalog yet, with its initial stock (which the products
service sets in inventory). Running it again creates nothing.

    .venv/bin/python scripts/seed.py [--gateway http://127.0.0.1:8080]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
SECRETS_FILE = ROOT / ".local" / "secrets.json"
CONCURRENCY = 8

# (name, price, stock, description) per category.
CATALOG: dict[str, list[tuple[str, str, int, str]]] = {
    "Electronics": [
        ("Aurora Wireless Headphones", "129.99", 40,
         "Over-ear Bluetooth headphones with active noise cancelling, 30-hour battery and a "
         "fold-flat design for travel."),
        ("Pulse True Wireless Earbuds", "79.00", 120,
         "Compact earbuds with a charging case, sweat resistance and touch controls."),
        ("Nimbus 27-inch 4K Monitor", "349.00", 18,
         "IPS panel with 99% sRGB, USB-C power delivery and a height-adjustable stand."),
        ("Volt 65W USB-C Charger", "39.95", 200,
         "Gallium-nitride charger with two USB-C ports and one USB-A port; charges a laptop "
         "and a phone at once."),
        ("Orbit Smart Speaker", "99.00", 55,
         "Room-filling sound with a far-field microphone array and multi-room playback."),
        ("Keystone Mechanical Keyboard", "119.00", 35,
         "Tenkeyless keyboard with hot-swappable tactile switches and PBT keycaps."),
        ("Glide Wireless Mouse", "49.50", 90,
         "Ergonomic mouse with a silent click, 4000 DPI sensor and a rechargeable battery."),
        ("Lumen 1080p Webcam", "64.99", 0,
         "Full HD webcam with auto light correction and a privacy shutter."),
        ("Atlas Portable SSD 1TB", "109.00", 60,
         "Pocket-sized solid-state drive with read speeds up to 1050 MB/s over USB-C."),
        ("Beacon E-Reader", "139.00", 25,
         "Glare-free 7-inch display, adjustable warm light and weeks of battery life."),
    ],
    "Home & Kitchen": [
        ("Ember Pour-Over Coffee Set", "45.00", 30,
         "Glass carafe, ceramic dripper and 100 paper filters for a clean, bright cup."),
        ("Cast Iron Skillet 12-inch", "34.99", 75,
         "Pre-seasoned cast iron pan that goes from stovetop to oven to campfire."),
        ("Chef's Knife 8-inch", "59.00", 50,
         "High-carbon stainless steel blade with a full tang and a balanced handle."),
        ("Bamboo Cutting Board Set", "24.95", 110,
         "Three boards in graduated sizes with juice grooves."),
        ("Stoneware Dinner Plates (Set of 4)", "42.00", 40,
         "Reactive-glaze plates, dishwasher and microwave safe."),
        ("Electric Kettle 1.7L", "39.00", 65,
         "Stainless steel kettle with variable temperature presets for tea and coffee."),
        ("Linen Duvet Cover Queen", "129.00", 20,
         "Stonewashed French linen that softens with every wash."),
        ("Aroma Diffuser", "29.99", 0,
         "Ultrasonic essential-oil diffuser with a soft night light and auto shut-off."),
        ("Insulated Water Bottle 750ml", "27.50", 150,
         "Double-wall vacuum bottle: cold for 24 hours, hot for 12."),
    ],
    "Books": [
        ("The Pragmatic Programmer", "44.99", 25,
         "Timeless advice on software craftsmanship, from tracer bullets to pragmatic paranoia."),
        ("Designing Data-Intensive Applications", "54.99", 30,
         "The big ideas behind reliable, scalable and maintainable data systems."),
        ("Clean Architecture", "37.99", 15,
         "Principles of software structure and design, from components to boundaries."),
        ("The Art of Slow Cooking", "24.00", 40,
         "Over 120 recipes for braises, stews and stocks that reward patience."),
        ("A Field Guide to Garden Birds", "18.50", 35,
         "Illustrated guide to 200 species with songs, nests and feeding habits."),
        ("Midnight at the Lighthouse", "14.99", 80,
         "A coastal mystery novel: a storm, a missing keeper and a logbook full of secrets."),
        ("Python Crash Course", "39.95", 45,
         "A hands-on, project-based introduction to programming in Python."),
        ("Atlas of Remote Islands", "29.00", 0,
         "Fifty islands you will never visit, with maps and stories of each."),
    ],
    "Clothing": [
        ("Merino Wool Crew Sweater", "89.00", 45,
         "Fine-gauge merino knit that regulates temperature and resists odour."),
        ("Organic Cotton T-Shirt", "24.00", 200,
         "Heavyweight organic cotton tee with a relaxed fit."),
        ("Slim Fit Selvedge Jeans", "98.00", 60,
         "Raw selvedge denim that fades to your wear, with a tapered leg."),
        ("Waterproof Rain Jacket", "149.00", 30,
         "Breathable three-layer shell with taped seams and an adjustable hood."),
        ("Everyday Canvas Sneakers", "65.00", 85,
         "Low-top canvas sneakers with a cushioned insole and a vulcanised sole."),
        ("Down Puffer Vest", "119.00", 0,
         "Lightweight 700-fill down vest that packs into its own pocket."),
        ("Cashmere Beanie", "55.00", 70,
         "Ribbed cashmere hat, soft and warm without bulk."),
        ("Linen Button-Down Shirt", "72.00", 40,
         "Breathable linen shirt for warm days, garment-washed for softness."),
    ],
    "Sports & Outdoors": [
        ("Trailhead 35L Hiking Backpack", "139.00", 25,
         "Ventilated back panel, hip-belt pockets and an integrated rain cover."),
        ("Ultralight Two-Person Tent", "299.00", 12,
         "Freestanding tent under 1.4 kg with two doors and two vestibules."),
        ("Non-Slip Yoga Mat", "38.00", 95,
         "6 mm natural rubber mat with an alignment-line surface."),
        ("Adjustable Dumbbells 24kg", "249.00", 10,
         "Dial-select dumbbells replacing fifteen pairs of weights."),
        ("Running Hydration Vest", "69.00", 40,
         "Bounce-free vest with two soft flasks and room for essentials."),
        ("Carbon Trekking Poles", "89.00", 30,
         "Collapsible carbon poles with cork grips and quick-lock adjustment."),
        ("Insulated Camping Mug", "19.99", 140,
         "Stainless steel mug with a sliding lid, keeps coffee warm at camp."),
        ("Cycling Helmet MIPS", "95.00", 0,
         "Road helmet with MIPS rotational protection and 18 vents."),
        ("Jump Rope Speed Pro", "15.00", 160,
         "Ball-bearing speed rope with an adjustable steel cable."),
    ],
    "Toys & Games": [
        ("Settlers of the Valley Board Game", "49.99", 35,
         "Trade, build and settle in this strategy game for 3-4 players."),
        ("1000-Piece Mountain Jigsaw Puzzle", "22.00", 60,
         "Alpine landscape puzzle printed on thick, glare-free board."),
        ("Wooden Building Blocks (100 pcs)", "39.00", 45,
         "Natural beech blocks in classic shapes, sanded smooth for small hands."),
        ("Remote Control Off-Road Truck", "74.99", 20,
         "4WD truck with oil-filled shocks and a 30-minute rechargeable battery."),
        ("Deck of Cards Classic", "6.50", 300,
         "Casino-quality playing cards with a linen finish."),
        ("Magnetic Drawing Board", "18.00", 0,
         "Mess-free magnetic sketch pad with stamps and a stylus."),
        ("Cooperative Space Mission Game", "34.00", 28,
         "Work together to land on Mars before your oxygen runs out; 1-4 players."),
    ],
    "Beauty & Personal Care": [
        ("Hydrating Face Serum", "32.00", 80,
         "Hyaluronic acid and niacinamide serum for plump, even-toned skin."),
        ("Mineral Sunscreen SPF 50", "21.00", 120,
         "Broad-spectrum zinc sunscreen, reef-safe and fragrance-free."),
        ("Bamboo Toothbrush (4 pack)", "9.99", 250,
         "Compostable bamboo handles with charcoal-infused bristles."),
        ("Shea Butter Hand Cream", "14.00", 90,
         "Rich, non-greasy hand cream with shea butter and vitamin E."),
        ("Sonic Electric Toothbrush", "69.00", 0,
         "Five cleaning modes, a two-minute timer and a travel case."),
        ("Argan Oil Shampoo", "16.50", 100,
         "Sulphate-free shampoo with cold-pressed argan oil for shine."),
        ("Safety Razor Kit", "38.00", 40,
         "Chrome safety razor with a stand and 20 stainless blades."),
    ],
    "Grocery": [
        ("Single-Origin Coffee Beans 1kg", "28.00", 70,
         "Washed Ethiopian beans with notes of jasmine, bergamot and honey."),
        ("Organic Green Tea (50 bags)", "8.99", 160,
         "Japanese sencha in biodegradable pyramid bags."),
        ("Extra Virgin Olive Oil 1L", "18.50", 90,
         "Cold-pressed, early-harvest olive oil from Crete."),
        ("Dark Chocolate 85% (5 bars)", "15.00", 130,
         "Bean-to-bar chocolate made from Peruvian cacao."),
        ("Wildflower Honey 500g", "11.00", 0,
         "Raw, unfiltered honey from small apiaries."),
        ("Sourdough Starter Kit", "19.00", 25,
         "Dried heritage starter, a proofing basket and a step-by-step guide."),
        ("Pink Himalayan Salt Grinder", "7.50", 180,
         "Coarse mineral salt in a refillable ceramic grinder."),
    ],
    "Office": [
        ("Standing Desk Converter", "229.00", 15,
         "Gas-spring desktop riser that turns any desk into a standing desk."),
        ("Ergonomic Office Chair", "389.00", 8,
         "Mesh-back chair with adjustable lumbar support and 4D armrests."),
        ("Dotted Notebook A5", "16.00", 220,
         "Lay-flat notebook with 160 pages of 100 gsm ink-proof paper."),
        ("Fountain Pen Starter Set", "29.00", 45,
         "Steel-nib fountain pen with a converter and five ink cartridges."),
        ("LED Desk Lamp", "49.00", 55,
         "Dimmable lamp with adjustable colour temperature and a USB charging port."),
        ("Monitor Arm Single", "89.00", 0,
         "Gas-spring monitor arm for screens up to 32 inches, with cable management."),
    ],
}


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def products() -> list[dict[str, Any]]:
    out = []
    for category, items in CATALOG.items():
        for name, price, stock, description in items:
            out.append({"name": name, "price": price, "category": category,
                        "description": description, "stock": stock})
    return out


async def existing(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """The active products by name."""
    names: dict[str, dict[str, Any]] = {}
    page = 1
    while True:
        r = await client.get("/api/products", params={"page": page, "page_size": 100,
                                                      "sort": "name"})
        r.raise_for_status()
        body = r.json()
        names.update((p["name"], p) for p in body["items"])
        if page * body["page_size"] >= body["total"]:
            return names
        page += 1


async def seed(gateway: str) -> int:
    secrets = json.loads(SECRETS_FILE.read_text())
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as client:
        r = await client.post("/api/users/login", json={"email": secrets["admin-email"],
                                                        "password": secrets["admin-password"]})
        if r.status_code != 200:
            print(f"seed: admin login failed ({r.status_code}): {r.text[:300]}", file=sys.stderr)
            return 1
        client.headers["Authorization"] = f"Bearer {r.json()['token']}"
        have = await existing(client)
        catalog = products()
        todo = [p for p in catalog if p["name"] not in have]
        without_stock: list[str] = []
        restocked: list[str] = []
        failed: list[str] = []
        gate = asyncio.Semaphore(CONCURRENCY)

        async def restock(product: dict[str, Any], current: dict[str, Any]) -> None:
            """A seeded product that inventory has no record of (it was down when the
            product was created) gets its initial stock now; a sold-out one stays sold out."""
            async with gate:
                r = await client.get(f"/api/inventory/{current['id']}")
                if r.status_code != 404:
                    return
                r = await client.put(f"/api/inventory/{current['id']}",
                                     json={"on_hand": product["stock"]})
                if r.status_code == 200:
                    restocked.append(product["name"])

        async def create(product: dict[str, Any]) -> None:
            async with gate:
                resp = await client.post("/api/products", json=product)
                if resp.status_code in (502, 503):
                    # Inventory could not take the stock: keep the product, without stock.
                    resp = await client.post("/api/products",
                                             json={**product, "stock": None})
                    if resp.status_code == 201:
                        without_stock.append(product["name"])
                        return
                if resp.status_code != 201:
                    failed.append(f"{product['name']}: {resp.status_code} {resp.text[:200]}")

        unstocked = [(p, have[p["name"]]) for p in catalog
                     if p["name"] in have and p["stock"] and not have[p["name"]]["stock_quantity"]]
        await asyncio.gather(*(create(p) for p in todo),
                             *(restock(p, cur) for p, cur in unstocked))
        pictured = await pictures(client, {p["name"]: p["category"] for p in catalog}, gate,
                                  failed)
    created = len(todo) - len(failed)
    print(f"seed: {len(have)} products already there, {created} created"
          + (f", {len(restocked)} given their initial stock" if restocked else "")
          + (f", {pictured} pictures drawn" if pictured else "")
          + (f", {len(without_stock)} without stock (inventory unavailable)"
             if without_stock else ""))
    for line in failed:
        print(f"seed: failed {line}", file=sys.stderr)
    return 1 if failed else 0


async def pictures(client: httpx.AsyncClient, categories: dict[str, str],
                   gate: asyncio.Semaphore, failed: list[str]) -> int:
    """Every demo product without a picture of ours gets one (scripts/product_art.py),
    uploaded through the admin endpoint like any picture (PUT /api/products/{id}/image)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import product_art

    todo = [p for p in (await existing(client)).values()
            if p["name"] in categories and not str(p.get("image_url") or "").startswith("/media/")]

    async def upload(product: dict[str, Any]) -> None:
        async with gate:
            png = await asyncio.to_thread(product_art.draw, product["name"],
                                          categories[product["name"]])
            r = await client.put(f"/api/products/{product['id']}/image", content=png,
                                 headers={"Content-Type": "image/png"})
            if r.status_code != 200:
                failed.append(f"picture of {product['name']}: {r.status_code} {r.text[:200]}")

    await asyncio.gather(*(upload(p) for p in todo))
    return len(todo)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gateway", default="http://127.0.0.1:8080")
    args = parser.parse_args()
    t0 = time.monotonic()
    rc = asyncio.run(seed(args.gateway))
    print(f"seed: done in {time.monotonic() - t0:.1f}s")
    return rc


if __name__ == "__main__":
    sys.exit(main())
