"""A picture of its own for every demo product, drawn offline with Pillow (scripts/seed.py
uploads each through the admin endpoint, so the shop looks like a shop with no network).

Deterministic: the same name gives the same picture. Each category has its palette and
motif; the product's name is set on a card below it.
"""

from __future__ import annotations

import hashlib
import io
import math

from PIL import Image, ImageDraw, ImageFont

SIZE = 600
PALETTES: dict[str, tuple[str, str, str]] = {
    "Electronics": ("#1f2a5a", "#3a56d4", "#9fb4ff"),
    "Home & Kitchen": ("#5a2f1f", "#d46a3a", "#ffd0b0"),
    "Books": ("#3b1f5a", "#8a3ad4", "#e2c4ff"),
    "Clothing": ("#5a1f3b", "#d43a7a", "#ffc4dc"),
    "Sports & Outdoors": ("#1f5a3a", "#2fa866", "#b8f0cf"),
    "Toys & Games": ("#5a4a1f", "#e0a020", "#ffe9a8"),
    "Beauty & Personal Care": ("#5a1f52", "#c24fb4", "#f7c8ef"),
    "Grocery": ("#2f5a1f", "#6aa82f", "#dcf5c4"),
    "Office": ("#1f4a5a", "#2f8fa8", "#c4ecf5"),
}
DEFAULT = ("#2b2f3a", "#5a6375", "#dfe3ec")


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t),
            round(a[2] + (b[2] - a[2]) * t))


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
                 "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf"):
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
          width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if draw.textlength(trial, font=font) <= width or not line:
            line = trial
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    return lines[:3]


def draw(name: str, category: str) -> bytes:
    """A 600x600 PNG for the product `name` of `category`."""
    dark, mid, light = (_rgb(c) for c in PALETTES.get(category, DEFAULT))
    seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    img = Image.new("RGB", (SIZE, SIZE), light)
    d = ImageDraw.Draw(img)
    for y in range(SIZE):  # a soft vertical gradient
        d.line([(0, y), (SIZE, y)], fill=_mix(light, (255, 255, 255), 0.6 * (1 - y / SIZE)))
    # A few translucent shapes, placed by the name's hash.
    layer = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    ld = ImageDraw.Draw(layer)
    for i in range(5):
        r = 60 + (seed >> (i * 7)) % 120
        cx = (seed >> (i * 5)) % SIZE
        cy = 40 + (seed >> (i * 3 + 11)) % 300
        colour = (*(mid if i % 2 else dark), 60 if i % 2 else 40)
        if (seed >> i) & 1:
            ld.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
        else:
            pts = [(cx + r * math.cos(a), cy + r * math.sin(a))
                   for a in (k * 2 * math.pi / 6 + i for k in range(6))]
            ld.polygon(pts, fill=colour)
    img.paste(layer, (0, 0), layer)
    # The motif: a big initial in a circle.
    d = ImageDraw.Draw(img)
    d.ellipse([SIZE / 2 - 110, 90, SIZE / 2 + 110, 310], fill=mid, outline=(255, 255, 255),
              width=8)
    initial = name[:1].upper()
    big = _font(130)
    w = d.textlength(initial, font=big)
    d.text((SIZE / 2 - w / 2, 118), initial, font=big, fill=(255, 255, 255))
    # The name on a card.
    d.rounded_rectangle([40, 360, SIZE - 40, SIZE - 40], radius=26, fill=(255, 255, 255))
    font = _font(40)
    lines = _wrap(d, name, font, SIZE - 120)
    y = 360 + (SIZE - 400 - 48 * len(lines) - 34) / 2
    for line in lines:
        w = d.textlength(line, font=font)
        d.text((SIZE / 2 - w / 2, y), line, font=font, fill=dark)
        y += 48
    small = _font(24)
    w = d.textlength(category.upper(), font=small)
    d.text((SIZE / 2 - w / 2, y + 8), category.upper(), font=small, fill=mid)
    out = io.BytesIO()
    img.save(out, "PNG", optimize=True)
    return out.getvalue()
