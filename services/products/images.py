"""Product pictures: `PUT /api/products/{id}/image` (admin) takes the raw picture as the body
(Content-Type image/png, image/jpeg or image/webp, at most 1 MiB like every request through
the gateway). Pillow decodes it, checks its size, and re-encodes the pixels as WebP: nothing
of the upload itself is stored, so no script, polyglot or metadata survives. The result goes
through the Dapr `media` output binding (local storage locally, a bucket elsewhere: a YAML
change) under a name that carries its content hash, and the product's `image_url` becomes
`/media/<name>`, which the storefront (services/web/routes/media.py) serves with a fixed
image content type and `nosniff`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import uuid
import warnings
from typing import Any

from litestar import Request, put
from litestar.di import Provide

from services.common.auth import Identity, provide_admin
from services.common.dapr import Sidecar
from services.common.errors import DomainError, InvalidInput, NotFound
from services.common.names import MEDIA
from services.products.schemas import ProductId, ProductPartialUpdate, ProductRead
from services.products.service import ProductsService

MAX_BYTES = 1 << 20
ACCEPTED = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
MIN_SIDE, MAX_SIDE = 32, 6000  # of the upload, in pixels
OUT_SIDE = 1000  # the stored picture fits in OUT_SIDE x OUT_SIDE
QUALITY = 82


class UnsupportedMediaType(DomainError):
    status, title = 415, "Unsupported media type"


class PayloadTooLarge(DomainError):
    status, title = 413, "Payload too large"


def reencode(body: bytes, content_type: str) -> bytes:
    """The upload's pixels as a fresh WebP, or InvalidInput/UnsupportedMediaType."""
    from PIL import Image, UnidentifiedImageError

    expected = ACCEPTED.get(content_type.split(";")[0].strip().lower())
    if expected is None:
        raise UnsupportedMediaType("Send the picture as image/png, image/jpeg or image/webp")
    if not body:
        raise InvalidInput("The body is empty: send the picture itself",
                           errors=[{"field": "body", "message": "empty"}])
    if len(body) > MAX_BYTES:
        raise PayloadTooLarge(f"Pictures are limited to {MAX_BYTES} bytes")
    try:
        with warnings.catch_warnings():
            # A decompression bomb warning is an error here, not a log line.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(body), formats=[expected]) as img:
                width, height = img.size
                if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
                    raise InvalidInput(f"The picture must be {MIN_SIDE} to {MAX_SIDE} pixels "
                                       f"wide and high (it is {width}x{height})",
                                       errors=[{"field": "body", "message": "size"}])
                img.load()
                rgb = img.convert("RGBA" if "A" in img.getbands() else "RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidInput(f"The body is not a valid {expected} picture",
                           errors=[{"field": "body", "message": f"not a {expected} picture"}]
                           ) from exc
    rgb.thumbnail((OUT_SIDE, OUT_SIDE))
    out = io.BytesIO()
    rgb.save(out, "WEBP", quality=QUALITY, method=4)
    return out.getvalue()


def media_name(product_id: uuid.UUID, data: bytes) -> str:
    return f"products/{product_id}-{hashlib.sha256(data).hexdigest()[:16]}.webp"


@put("/api/products/{product_id:str}/image", dependencies={"admin": Provide(provide_admin)},
     tags=["products"], request_max_body_size=MAX_BYTES + 1, raw_body=tuple(ACCEPTED),
     raw_body_max=MAX_BYTES)
async def upload_image(request: Request[Any, Any, Any], service: ProductsService,
                       sidecar: Sidecar, admin: Identity, product_id: ProductId) -> ProductRead:
    """Admin: set the product's picture. The body is the picture (PNG, JPEG or WebP, 32 to
    6000 pixels a side, at most 1 MiB); it is re-encoded as WebP and served at `image_url`."""
    try:
        pid = uuid.UUID(product_id)
    except ValueError:
        raise NotFound(f"No product with id {product_id!r}") from None
    await service.get(pid)  # 404 before anything is stored
    body = await request.body()
    data = await asyncio.to_thread(reencode, body, request.headers.get("content-type", ""))
    name = media_name(pid, data)
    await sidecar.invoke_binding(MEDIA, "create", base64.b64encode(data).decode(),
                                 {"fileName": name})
    return await service.patch(pid, ProductPartialUpdate(image_url=f"/media/{name}"))


ROUTES = [upload_image]
