"""Uploaded product pictures: only real PNG/JPEG/WebP pixels get through, re-encoded."""

from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image

from services.common.errors import InvalidInput
from services.products.images import (
    OUT_SIDE,
    PayloadTooLarge,
    UnsupportedMediaType,
    media_name,
    reencode,
)


def picture(fmt: str, size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 60)).save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize(("fmt", "ctype"), [("PNG", "image/png"), ("JPEG", "image/jpeg"),
                                            ("WEBP", "image/webp")])
def test_a_real_picture_comes_out_as_webp(fmt: str, ctype: str) -> None:
    out = reencode(picture(fmt), ctype)
    with Image.open(io.BytesIO(out)) as img:
        assert img.format == "WEBP"
        assert img.size == (64, 48)


def test_a_large_picture_is_scaled_down() -> None:
    out = reencode(picture("PNG", (2400, 1200)), "image/png")
    with Image.open(io.BytesIO(out)) as img:
        assert img.size == (OUT_SIDE, OUT_SIDE // 2)


def test_html_is_refused_whatever_it_claims() -> None:
    html = b"<html><script>alert(1)</script></html>"
    with pytest.raises(InvalidInput):
        reencode(html, "image/png")
    with pytest.raises(UnsupportedMediaType):
        reencode(html, "text/html")


def test_a_picture_must_be_the_type_it_claims() -> None:
    with pytest.raises(InvalidInput):
        reencode(picture("PNG"), "image/jpeg")


def test_svg_is_not_accepted() -> None:
    with pytest.raises(UnsupportedMediaType):
        reencode(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")


def test_size_limits() -> None:
    with pytest.raises(InvalidInput):
        reencode(picture("PNG", (8, 8)), "image/png")
    with pytest.raises(PayloadTooLarge):
        reencode(b"\x89PNG" + b"\0" * (1 << 20), "image/png")
    with pytest.raises(InvalidInput):
        reencode(b"", "image/png")


def test_a_decompression_bomb_is_refused() -> None:
    # A tiny file that claims enormous dimensions.
    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, "PNG")
    with pytest.raises(InvalidInput):
        reencode(out.getvalue(), "image/png")


def test_the_name_carries_the_content_hash() -> None:
    pid = uuid.uuid4()
    a, b = media_name(pid, b"one"), media_name(pid, b"two")
    assert a != b and a.startswith(f"products/{pid}-") and a.endswith(".webp")
